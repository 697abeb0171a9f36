"""`monitor.md`: a monitoring check in words, from its `MonitorResult`.

Every value that came from data, the config or the registry goes through
`_markdown.text()` / `code()`, so a feature named `<img>` or `| a |` shows as itself.
"""

from __future__ import annotations

from mlgate import _markdown as md
from mlgate.results.monitor import MonitorResult
from mlgate.results.validate import DriftFeature

VERDICT_WORDS = {
    "ok": "✓ ok: no drift, no degradation",
    "drift": "✗ drift",
    "degraded": "✗ degraded",
}


def render(result: MonitorResult) -> str:
    lines = [
        f"# Monitoring: {md.text(result.model)} version {md.text(result.version)} "
        f"({md.code(result.alias)})",
        "",
        f"**{VERDICT_WORDS[result.verdict]}** · checked {md.text(result.created_at)}",
        "",
    ]
    lines += [f"- {md.text(reason)}" for reason in result.reasons] or ["Nothing to report."]
    lines += ["", "## Data", "", _data(result), "", "## Feature drift", ""]
    lines.append(
        f"PSI ≥ {result.thresholds.psi_threshold:g} or KS p < "
        f"{result.thresholds.pvalue_threshold:g} is drift; fewer than "
        f"{result.thresholds.min_rows} rows on a side is not checked."
    )
    lines += ["", feature_table(result.features), "", "## Predictions", ""]
    if result.prediction is not None:
        source = {"logged": "as the server logged them", "scored": "scored here"}
        lines.append(f"Production predictions {source[result.prediction.source]}.")
        lines += ["", feature_table((result.prediction.drift,))]
    else:
        lines.append(md.text(result.prediction_note or "not checked"))
    lines += ["", "## Performance on labelled rows", "", _concept(result)]
    return "\n".join(lines) + "\n"


def feature_table(features: tuple[DriftFeature, ...]) -> str:
    rows = []
    for item in features:
        if item.skipped:
            rows.append(
                [md.text(item.feature), "–", "–", "–", f"not checked: {md.text(item.skipped)}"]
            )
            continue
        pvalue = "–" if item.ks_pvalue is None else f"{item.ks_pvalue:.2g}"
        statistic = "–" if item.ks_statistic is None else md.number(item.ks_statistic)
        rows.append(
            [
                md.text(item.feature),
                md.number(item.psi),
                statistic,
                pvalue,
                ("**drift**" if item.drifted else "ok")
                + (f" ({md.text(item.biggest_change)})" if item.biggest_change else ""),
            ]
        )
    return md.table(["feature", "PSI", "KS", "KS p", "verdict"], rows, "lrrrl")


def _data(result: MonitorResult) -> str:
    window, reference = result.window, result.reference
    times = ""
    if window.first_timestamp and window.last_timestamp:
        times = f", {md.text(window.first_timestamp)} to {md.text(window.last_timestamp)}"
    log = " (the serving image's prediction log)" if window.prediction_log else ""
    read = f"{len(window.files_read)} of {window.files_found} file(s)"
    version = f" (object version {md.code(reference.version_id)})" if reference.version_id else ""
    where = (
        "training data recorded on the version" if reference.recorded else "project's training file"
    )
    lines = [
        f"- Production: {md.count(window.rows)} rows from {md.code(window.source)}{log}, "
        f"window {md.text(window.window)}, {read}{times}",
        f"- Reference: {md.count(reference.rows)} rows, the {where}: "
        f"{md.code(reference.uri)}{version}",
    ]
    if reference.note:
        lines.append(f"- Note: {md.text(reference.note)}")
    return "\n".join(lines)


def _concept(result: MonitorResult) -> str:
    concept = result.concept
    if not concept.metrics:
        return md.text(concept.note or "no labels")
    rows = []
    for check in concept.metrics:
        interval = (
            f"{md.number(check.interval.low)}–{md.number(check.interval.high)}"
            if check.interval
            else "–"
        )
        recorded = md.number(check.recorded) if check.recorded is not None else "–"
        limit = md.number(check.limit) if check.limit is not None else "–"
        verdict = "**degraded**" if check.degraded else "ok"
        if check.note:
            verdict += f" ({md.text(check.note)})"
        rows.append(
            [md.text(check.metric), md.number(check.value), interval, recorded, limit, verdict]
        )
    head = (
        f"{md.count(concept.labelled_rows)} labelled rows ({concept.label_source}); "
        f"{concept.confidence:.0%} bootstrap intervals of {concept.n_boot} draws."
    )
    table = md.table(
        ["metric", "value", "interval", "at registration", "limit", "verdict"], rows, "lrrrrl"
    )
    tail = f"\n\n{md.text(concept.note)}" if concept.note else ""
    return f"{head}\n\n{table}{tail}"
