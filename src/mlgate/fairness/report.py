"""The fairness part of the PR report and model card, and its bar chart.

`sections()` is pure: it turns the stage's result dict (fairness.json) into
markdown Sections, escaping every group name and feature name, which come from data.
`write_chart()` draws the per-group rates as a PNG in the run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate import markdown as md
from mlgate.fairness.verdicts import format_limit

MARKS = {"passed": "✅", "failed": "❌", "warned": "⚠️", "not_judged": "–", "reported": ""}
VERDICT_WORDS = {
    "passed": "within",
    "failed": "failed",
    "warned": "warning",
    "not_judged": "not judged",
    "reported": "reported",
}
COLUMN_TITLES = {
    "count": "rows",
    "selection_rate": "selection rate",
    "accuracy": "accuracy",
    "true_positive_rate": "TPR",
    "false_positive_rate": "FPR",
    "precision": "precision",
    "recall": "recall",
    "mean_prediction": "mean prediction",
    "mean_absolute_error": "MAE",
    "mean_squared_error": "MSE",
}
# The per-group figures of the compact table (the folded one has them all).
COMPACT_METRICS = {
    "classification": ("count", "selection_rate", "true_positive_rate", "false_positive_rate"),
    "regression": ("count", "mean_prediction", "mean_absolute_error"),
}
# Which per-group rates the chart shows, by task.
CHART_METRICS = {
    "classification": ("selection_rate", "true_positive_rate", "false_positive_rate"),
    "regression": ("mean_prediction", "mean_absolute_error"),
}


def sections(result: dict[str, Any]) -> list[md.Section]:
    """One section per judged feature (its groups and disparities), then all figures folded.

    A feature with a failed or warned check is essential; the folded section with
    every per-group figure and the gate's settings is the first to go when space is short.
    """
    features = result.get("features") or []
    if not features:
        return [md.Section("fairness", "Fairness", md.text(result.get("summary", "")), md.DETAIL)]
    found = []
    for index, feature in enumerate(features):
        flagged = any(c["verdict"] in ("failed", "warned") for c in feature["checks"])
        found.append(
            md.Section(
                "fairness" if index == 0 else f"fairness-{index + 1}",
                f"Fairness · {md.text(feature['name'])}",
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


def _feature_body(result: dict[str, Any], feature: dict[str, Any]) -> str:
    compact = COMPACT_METRICS[result["task"]]
    parts = [_group_table(feature, compact), _disparity_table(result, feature)]
    prefix = f"{feature['name']}:"
    notes = [
        check["message"]
        for check in feature["checks"]
        if check["verdict"] in ("failed", "warned", "not_judged")
    ]
    notes += [w for w in result.get("warnings") or [] if w.startswith(prefix) and w not in notes]
    if notes:
        parts.append("\n".join(f"- {md.text(note)}" for note in notes) + "\n")
    return "\n".join(parts)


def _group_table(feature: dict[str, Any], metrics: tuple[str, ...]) -> str:
    present = _metric_names(feature)
    shown = [name for name in metrics if name in present]
    headers = ["group", *(COLUMN_TITLES[name] for name in shown), "note"]
    rows = []
    for group in feature["groups"]:
        cells = [md.text(group["group"])]
        for name in shown:
            value = group["metrics"].get(name)
            cells.append(md.count(int(value)) if name == "count" else md.number(value))
        cells.append("too small to judge" if group["too_small"] else "")
        rows.append(cells)
    return md.table(headers, rows, "l" + "r" * len(shown) + "l")


def _disparity_table(result: dict[str, Any], feature: dict[str, Any]) -> str:
    champion = result.get("champion")
    headers = ["disparity", "value", f"{result['confidence']:.0%} interval", "threshold"]
    if champion:
        headers += [f"champion v{md.text(champion['version'])}", "change"]
    headers.append("verdict")
    rows = []
    for check in feature["checks"]:
        interval = (
            f"{md.number(check['interval'][0])} – {md.number(check['interval'][1])}"
            if check["interval"]
            else "–"
        )
        bound = "≤" if check["bound"] == "max" else "≥"
        threshold = (
            f"{bound} {format_limit(check['threshold'])}" if check["threshold"] is not None else "–"
        )
        row = [md.code(check["metric"]), md.number(check["value"]), interval, threshold]
        if champion:
            row += [md.number(check["champion"]), md.signed(check["change"])]
        mark = MARKS.get(check["verdict"], "")
        words = VERDICT_WORDS.get(check["verdict"], md.text(check["verdict"]))
        row.append(f"{mark} {words}".strip())
        rows.append(row)
    return md.table(headers, rows, "lrrr" + ("rr" if champion else "") + "l")


def _details_body(result: dict[str, Any]) -> str:
    policy = (
        "fails only when the whole interval lies past the threshold, warns when it straddles it"
        if result["policy"] == "confident"
        else "the point estimate decides"
    )
    interval = (
        f"{result['confidence']:.0%} bootstrap intervals ({md.text(result['n_boot'])} "
        f"resamples, seed {md.text(result['seed'])})"
        if result["n_boot"]
        else "no bootstrap intervals (n\\_boot 0)"
    )
    champion = result.get("champion")
    against = (
        f"champion: v{md.text(champion['version'])} ({md.code(champion['alias'])}), "
        "on the same rows"
        if champion
        else "no champion to compare"
    )
    lines = [
        f"Policy {md.code(result['policy'])}: {policy} · mode {md.code(result['mode'])} · "
        f"{interval} · groups under {md.text(result['min_group_size'])} rows are reported, "
        "not judged · "
        f"{md.count(result['rows'])} validation rows · {against}",
        "",
    ]
    for feature in result["features"]:
        lines.append(f"**{md.text(feature['name'])}**\n")
        lines.append(_group_table(feature, tuple(COLUMN_TITLES)))
    if result.get("chart"):
        lines.append(f"Chart: {md.code(result['chart'])} in the run directory and the MLflow run.")
    return "\n".join(lines)


def _metric_names(feature: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for group in feature["groups"]:
        names.update(group["metrics"])
    return names


def write_chart(result: dict[str, Any], path: Path) -> bool:
    """Per-group bars for each judged feature; groups too small to judge are hatched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    features = result["features"]
    metrics = CHART_METRICS[result["task"]]
    if not features:
        return False
    widest = max(len(feature["groups"]) for feature in features)
    figure, axes = plt.subplots(
        len(features),
        1,
        # Wide enough for the groups, but bounded: an intersection can have dozens.
        figsize=(min(24.0, max(6.0, 0.55 * widest * len(metrics) + 2)), 3.4 * len(features)),
        squeeze=False,
    )
    try:
        for axis, feature in zip(axes[:, 0], features, strict=True):
            groups = feature["groups"]
            positions = np.arange(len(groups))
            width = 0.8 / len(metrics)
            for index, name in enumerate(metrics):
                values = [_plotted(group["metrics"].get(name)) for group in groups]
                bars = axis.bar(
                    positions + (index - (len(metrics) - 1) / 2) * width,
                    values,
                    width,
                    label=COLUMN_TITLES[name],
                )
                for bar, group in zip(bars, groups, strict=True):
                    if group["too_small"]:
                        bar.set_hatch("//")
                        bar.set_alpha(0.4)
            axis.set_xticks(positions)
            crowded = len(groups) > 8
            axis.set_xticklabels(
                [_tick(group) for group in groups],
                fontsize=7 if crowded else 8,
                rotation=45 if crowded else 0,
                ha="right" if crowded else "center",
            )
            axis.set_title(f"{_literal(feature['name'])}: per-group rates", fontsize=10)
            axis.legend(fontsize=8)
            axis.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        figure.savefig(path, format="png", dpi=100)
    finally:
        plt.close(figure)
    return True


def _tick(group: dict[str, Any]) -> str:
    note = ", too small" if group["too_small"] else ""
    return f"{_literal(group['group'])}\n(n={group['count']}{note})"


def _literal(text: str) -> str:
    """Group names come from data: a `$` must not start matplotlib's math mode."""
    return str(text).replace("$", r"\$")


def _plotted(value: float | None) -> float:
    return float("nan") if value is None else float(value)


# MLflow caps a tag value at 5,000 characters (model version tags); keep well under it.
TAG_LIMIT = 4000


def tags(result: dict[str, Any]) -> dict[str, str]:
    """Registry tags: the gate's verdict and every judged figure (the failed ones if too long)."""
    import json

    checks = [
        {
            "feature": check["feature"],
            "metric": check["metric"],
            "value": None if check["value"] is None else round(check["value"], 4),
            "interval": [round(end, 4) for end in check["interval"]] if check["interval"] else None,
            "threshold": check["threshold"],
            "verdict": check["verdict"],
        }
        for feature in result.get("features") or []
        for check in feature["checks"]
        if check["threshold"] is not None
    ]
    text = json.dumps(checks, separators=(",", ":"))
    if len(text) > TAG_LIMIT:
        kept = [check for check in checks if check["verdict"] != "passed"]
        text = json.dumps(kept, separators=(",", ":"))[:TAG_LIMIT]
    found = {"mlgate.gate.fairness": str(result.get("verdict", "")), "mlgate.fairness": text}
    if result.get("policy"):
        found["mlgate.fairness.policy"] = f"{result['policy']}/{result['mode']}"
    return found
