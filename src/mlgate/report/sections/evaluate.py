"""The evaluation's part of the PR report: verdicts and table, the candidate-vs-champion
chart, and the plots and feature importance (folded), from the evaluate stage's result."""

from __future__ import annotations

from mlgate import _markdown as markdown
from mlgate.results import EvaluateResult
from mlgate.results.evaluate import Interval

_MARK = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}
# Metrics charted on one 0-to-1 axis; log loss and the regression errors have no bound.
_UNIT_INTERVAL = frozenset(
    {"accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier"}
)


def evaluation_sections(result: EvaluateResult) -> list[markdown.Section]:
    """The evaluation's sections: verdicts and table, the chart, plots and importance."""
    sections = [
        markdown.Section(
            "evaluation", "Evaluation", _verdicts_and_table(result), markdown.ESSENTIAL
        )
    ]
    chart = mermaid_chart(result)
    if chart:
        title = "Candidate vs champion" if result.champion else "Candidate metrics"
        sections.append(markdown.Section("chart", title, chart, markdown.IMPORTANT))
    details = _plots_and_importance(result)
    if details:
        sections.append(
            markdown.Section(
                "evaluation-details",
                "Evaluation plots and feature importance",
                details,
                markdown.DETAIL,
                folded=True,
            )
        )
    return sections


def _verdicts_and_table(result: EvaluateResult) -> str:
    lines = [
        f"- {_MARK.get(gate.verdict.value, '')} {markdown.text(gate.message)}"
        for gate in result.gates
    ]
    if not lines:
        lines.append("- no evaluation gates are configured")
    confidence = result.confidence
    champion = result.champion
    rows = markdown.count(int(result.rows))
    if champion:
        intro = (
            f"Compared with the champion, version {markdown.text(champion.version)} behind "
            f"alias {markdown.code(champion.alias)}, on the same {rows} validation rows."
        )
    else:
        intro = f"{markdown.text(result.champion_note)}."
    intro += (
        f" Intervals: {confidence:.0%} paired bootstrap,"
        f" {markdown.count(int(result.bootstrap.n))}"
        f" draws (seed {markdown.text(result.bootstrap.seed)})."
    )
    width = f"{confidence:.0%}"
    headers = ["Metric", "Candidate", f"{width} interval"]
    if champion:
        headers += ["Champion", "Difference", f"{width} interval of difference"]
    table_rows = []
    for name, value in result.metrics.items():
        row = [markdown.code(name), _figure(value), _interval(result.intervals.get(name))]
        if champion:
            compared = result.comparison.get(name)
            if compared:
                row += [
                    _figure(compared.champion),
                    markdown.signed(compared.difference),
                    _interval(compared.interval, signed=True),
                ]
            else:
                row += ["–", "–", markdown.text(champion.unavailable.get(name, "–"))]
        table_rows.append(row)
    body = "\n".join(lines) + "\n\n" + intro + "\n\n"
    body += markdown.table(headers, table_rows, align="lrrrrr"[: len(headers)])
    tested = result.mcnemar
    if tested:
        body += (
            f"\nMcNemar's test on accuracy: the candidate alone is right on "
            f"{markdown.count(tested.candidate_only_correct)} rows, the champion alone on "
            f"{markdown.count(tested.champion_only_correct)}; p = {tested.p_value:.3g} "
            f"({markdown.text(tested.method)}).\n"
        )
    return body


def _figure(value: float | None) -> str:
    if value is None:
        return "–"
    if value != 0 and (abs(value) >= 1000 or abs(value) < 0.001):
        return f"{value:.4g}"
    return markdown.number(value)


def _interval(interval: Interval | None, *, signed: bool = False) -> str:
    if not interval:
        return "–"
    show = markdown.signed if signed else markdown.number
    return f"[{show(interval.low)}, {show(interval.high)}]"


def mermaid_chart(result: EvaluateResult) -> str | None:
    """A Mermaid xychart: candidate figures as bars, the champion's as a line.

    Only metrics on a 0-to-1 scale are charted (one axis). Names come from the metric
    catalogue and versions from the registry, so nothing untrusted reaches the chart.
    """
    metrics = result.metrics
    champion = result.champion
    theirs = champion.metrics if champion else {}
    charted = [
        name
        for name in metrics
        if name in _UNIT_INTERVAL
        and 0 <= metrics[name] <= 1
        and (not champion or _unit(theirs.get(name)))
    ]
    if not charted:
        return None
    values = [metrics[name] for name in charted]
    if champion:
        values += [theirs[name] for name in charted]  # type: ignore[misc]
    low = max(0.0, int(min(values) * 10) / 10 - 0.1) if min(values) > 0.2 else 0.0
    if champion:
        title = f"Candidate (bars) vs champion v{_safe(champion.version)} (line)"
    else:
        title = "Candidate (no champion yet)"
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "{title}"',
        "    x-axis [" + ", ".join(f'"{name}"' for name in charted) + "]",
        f'    y-axis "score" {low:.1f} --> 1',
        "    bar [" + ", ".join(f"{metrics[name]:.4f}" for name in charted) + "]",
    ]
    if champion:
        lines.append("    line [" + ", ".join(f"{theirs[name]:.4f}" for name in charted) + "]")
    lines.append("```")
    return "\n".join(lines) + "\n"


def _unit(value: float | None) -> bool:
    return value is not None and 0 <= value <= 1


def _safe(value: object) -> str:
    return "".join(char for char in str(value) if char.isalnum() or char in "._-")


def _plots_and_importance(result: EvaluateResult) -> str:
    parts = []
    importance = result.importance
    if importance and importance.features:
        how = (
            "the model's own importances"
            if importance.method == "model"
            else "permutation importance on the validation rows"
        )
        parts.append(f"Feature importance ({how}, {markdown.text(importance.source)}):")
        rows = [
            [
                markdown.text(item.name),
                f"{item.importance:.4f}",
                f"{item.std:.4f}" if item.std is not None else "–",
            ]
            for item in importance.features[:10]
        ]
        parts.append(markdown.table(["Feature", "Importance", "Spread (std)"], rows, "lrr"))
    files = result.plots.files
    if files:
        listed = ", ".join(markdown.code(path) for path in files.values())
        parts.append(
            f"Plots in the run directory and in the MLflow run (under `mlgate/`): {listed}."
        )
    for kind, why in result.plots.skipped.items():
        parts.append(f"No {markdown.text(kind.replace('_', ' '))} plot: {markdown.text(why)}.")
    return "\n\n".join(part.strip() for part in parts) + "\n" if parts else ""
