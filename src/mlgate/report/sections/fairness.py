"""The fairness part of the PR report, from the fairness stage's result.

Pure: every group name and feature name comes from data and goes through
`markdown.text()`; one section per judged feature, then every figure folded.
"""

from __future__ import annotations

from mlgate import _markdown as md
from mlgate.fairness.chart import COLUMN_TITLES
from mlgate.fairness.verdicts import format_limit
from mlgate.results import FairnessResult
from mlgate.results.fairness import CheckVerdict, FeatureFairness

MARKS = {
    CheckVerdict.PASSED: "✅",
    CheckVerdict.FAILED: "❌",
    CheckVerdict.WARNED: "⚠️",
    CheckVerdict.NOT_JUDGED: "–",
    CheckVerdict.REPORTED: "",
}
VERDICT_WORDS = {
    CheckVerdict.PASSED: "within",
    CheckVerdict.FAILED: "failed",
    CheckVerdict.WARNED: "warning",
    CheckVerdict.NOT_JUDGED: "not judged",
    CheckVerdict.REPORTED: "reported",
}
# The per-group figures of the compact table (the folded one has them all).
COMPACT_METRICS = {
    "classification": ("count", "selection_rate", "true_positive_rate", "false_positive_rate"),
    "regression": ("count", "mean_prediction", "mean_absolute_error"),
}
_FLAGGED = (CheckVerdict.FAILED, CheckVerdict.WARNED)


def sections(result: FairnessResult) -> list[md.Section]:
    """One section per judged feature (its groups and disparities), then all figures folded.

    A feature with a failed or warned check is essential; the folded section with
    every per-group figure and the gate's settings is the first to go when space is short.
    """
    if not result.features:
        return [md.Section("fairness", "Fairness", md.text(result.summary), md.DETAIL)]
    found = []
    for index, feature in enumerate(result.features):
        flagged = any(check.verdict in _FLAGGED for check in feature.checks)
        found.append(
            md.Section(
                "fairness" if index == 0 else f"fairness-{index + 1}",
                f"Fairness · {md.text(feature.name)}",
                _feature_body(result, feature),
                md.ESSENTIAL if flagged else md.IMPORTANT,
            )
        )
    found.append(
        md.Section(
            "fairness-details",
            "Fairness: every figure per group, and how the gate judges",
            _details_body(result),
            md.DETAIL,
            folded=True,
        )
    )
    return found


def _feature_body(result: FairnessResult, feature: FeatureFairness) -> str:
    compact = COMPACT_METRICS[str(result.task)]
    parts = [_group_table(feature, compact), _disparity_table(result, feature)]
    prefix = f"{feature.name}:"
    notes = [
        check.message
        for check in feature.checks
        if check.verdict in (*_FLAGGED, CheckVerdict.NOT_JUDGED)
    ]
    notes += [w for w in result.warnings or () if w.startswith(prefix) and w not in notes]
    if notes:
        parts.append("\n".join(f"- {md.text(note)}" for note in notes) + "\n")
    return "\n".join(parts)


def _group_table(feature: FeatureFairness, metrics: tuple[str, ...]) -> str:
    present = {name for group in feature.groups for name in group.metrics}
    shown = [name for name in metrics if name in present]
    headers = ["group", *(COLUMN_TITLES[name] for name in shown), "note"]
    rows = []
    for group in feature.groups:
        cells = [md.text(group.group)]
        for name in shown:
            value = group.metrics.get(name)
            cells.append(md.count(int(value)) if name == "count" else md.number(value))
        cells.append("too small to judge" if group.too_small else "")
        rows.append(cells)
    return md.table(headers, rows, "l" + "r" * len(shown) + "l")


def _disparity_table(result: FairnessResult, feature: FeatureFairness) -> str:
    champion = result.champion
    headers = ["disparity", "value", f"{result.confidence:.0%} interval", "threshold"]
    if champion:
        headers += [f"champion v{md.text(champion.version)}", "change"]
    headers.append("verdict")
    rows = []
    for check in feature.checks:
        interval = (
            f"{md.number(check.interval[0])} – {md.number(check.interval[1])}"
            if check.interval
            else "–"
        )
        bound = "≤" if check.bound == "max" else "≥"
        threshold = (
            f"{bound} {format_limit(check.threshold)}" if check.threshold is not None else "–"
        )
        row = [md.code(check.metric), md.number(check.value), interval, threshold]
        if champion:
            row += [md.number(check.champion), md.signed(check.change)]
        mark = MARKS.get(check.verdict, "")
        words = VERDICT_WORDS.get(check.verdict, md.text(check.verdict.value))
        row.append(f"{mark} {words}".strip())
        rows.append(row)
    return md.table(headers, rows, "lrrr" + ("rr" if champion else "") + "l")


def _details_body(result: FairnessResult) -> str:
    policy = (
        "fails only when the whole interval lies past the threshold, warns when it straddles it"
        if result.policy == "confident"
        else "the point estimate decides"
    )
    interval = (
        f"{result.confidence:.0%} bootstrap intervals ({md.text(result.n_boot)} "
        f"resamples, seed {md.text(result.seed)})"
        if result.n_boot
        else "no bootstrap intervals (n\\_boot 0)"
    )
    champion = result.champion
    against = (
        f"champion: v{md.text(champion.version)} ({md.code(champion.alias)}), on the same rows"
        if champion
        else "no champion to compare"
    )
    lines = [
        f"Policy {md.code(result.policy)}: {policy} · mode {md.code(result.mode)} · "
        f"{interval} · groups under {md.text(result.min_group_size)} rows are reported, "
        "not judged · "
        f"{md.count(result.rows)} validation rows · {against}",
        "",
    ]
    for feature in result.features:
        lines.append(f"**{md.text(feature.name)}**\n")
        lines.append(_group_table(feature, tuple(COLUMN_TITLES)))
    if result.chart:
        lines.append(f"Chart: {md.code(result.chart)} in the run directory and the MLflow run.")
    return "\n".join(lines)
