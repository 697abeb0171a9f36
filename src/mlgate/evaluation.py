"""The evaluate stage: the candidate against the champion, on the same validation rows.

The champion is the registered version behind `evaluation.champion_alias` (default
`production`). Both models score the same rows; a paired bootstrap (seeded from
`evaluation.bootstrap`) gives an interval for each candidate metric and for each
difference, McNemar's test compares their mistakes (classification), and the gates
are judged (`mlgate.gates`). Plots go to `plots/` in the run directory (`mlgate.plots`).

`evaluate.json`, beside the common `stage`, `verdict`, `summary`, `seconds`:

- `task`: "classification" or "regression"; `rows`: validation rows scored.
- `metrics`: {metric: candidate figure}, in `evaluation.metrics` order then gated ones.
- `intervals`: {metric: {"low", "high"} or null}: the candidate figure's bootstrap
  interval (null when too few draws were defined, e.g. a class missing from most).
- `confidence`, `noise_aware`: `evaluation.bootstrap.confidence` and `evaluation.noise_aware`.
- `bootstrap`: {"n", "seed", "confidence", "seconds"}: how the intervals were drawn.
- `champion`: null when there is none (see `champion_status`), else {"alias", "version",
  "run_id", "metrics": {metric: figure or null}, "unavailable": {metric: why}}.
- `champion_status`: "found", "none" (no version behind the alias yet: comparative
  gates pass) or "unreachable" (the registry failed and no comparative gate needed it);
  `champion_note`: that status in words, for reports.
- `comparison`: {metric: {"candidate", "champion", "difference" (candidate − champion),
  "interval": {"low", "high"} or null, "relative" (difference / |champion|) or null,
  "relative_interval", "lower_is_better"}}; empty without a champion.
- `mcnemar`: null, or {"candidate_only_correct", "champion_only_correct", "statistic",
  "p_value", "method"} (classification with a champion).
- `gates`: [GateResult.to_dict()]: "metric", "bound", "limit", "value" (candidate),
  "verdict", "message", and for comparative bounds "champion", "difference", "low",
  "high" (interval of the difference; relative when "relative"), "noise_aware".
- `importance`: {"method": "model" | "permutation", "source", "features": [{"name",
  "importance", "std"}]} (`mlgate.importance`), or null.
- `plots`: {"files": {kind: path relative to the run directory}, "skipped": {kind: why}}.

`evaluation_sections(result)` turns that dict into the report's `Section`s.
"""

from __future__ import annotations

import time
from typing import Any

from mlgate import markdown
from mlgate.errors import InputError, ServiceError
from mlgate.gates import GateResult, judge, overall
from mlgate.metrics import Predictions
from mlgate.results import EvaluateResult, Verdict

NO_CHAMPION, FOUND, UNREACHABLE = "none", "found", "unreachable"


def evaluate(session: Any, pipeline: Any) -> tuple[EvaluateResult, Predictions]:
    """Score, compare, judge and draw; the stage result and the candidate's predictions."""
    from mlgate.comparison import bootstrap, mcnemar
    from mlgate.metrics import compute_metrics, metric_names, predict

    project, task = session.project, session.task
    evaluation = project.config.evaluation
    validation = session.frames["validation"]
    features = validation[list(project.spec.model_inputs)]
    y_true = validation[project.spec.target].to_numpy()
    y_pred, scores = predict(pipeline, features, task)
    candidate = Predictions(y_true, y_pred, scores, tuple(getattr(pipeline, "classes_", ())))
    names = metric_names(evaluation.metrics, list(evaluation.gates), task)
    metrics = compute_metrics(names, candidate, task)

    comparative = any(gate.is_comparative for gate in evaluation.gates.values())
    found = _find_champion(session, validation, y_true, required=comparative)
    champion, champion_predictions = found["champion"], found["predictions"]
    if champion_predictions is not None:
        champion["metrics"], champion["unavailable"] = _champion_metrics(
            names, champion_predictions, task
        )

    settings = evaluation.bootstrap
    started = time.perf_counter()
    drawn = bootstrap(
        names,
        task,
        candidate,
        metrics,
        champion=champion_predictions,
        champion_metrics=champion["metrics"] if champion else None,
        n=settings.n,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    bootstrap_seconds = time.perf_counter() - started
    tested = None
    if task.kind == "classification" and champion_predictions is not None:
        tested = mcnemar(y_true, candidate.y_pred, champion_predictions.y_pred)

    gate_results = judge(
        metrics,
        evaluation.gates,
        champion["metrics"] if champion else None,
        differences=drawn.differences,
        noise_aware=evaluation.noise_aware,
        confidence=settings.confidence,
        intervals=drawn.candidate,
    )
    if tested is not None:
        gate_results = [_with_mcnemar(gate, tested) for gate in gate_results]

    importance, plots = _pictures(session, pipeline, features, y_true, candidate, found)
    verdict = overall(gate_results)
    details = {
        "task": task.kind,
        "rows": len(validation.index),
        "metrics": metrics,
        "intervals": {
            name: interval.to_dict() if interval else None
            for name, interval in drawn.candidate.items()
        },
        "confidence": settings.confidence,
        "noise_aware": evaluation.noise_aware,
        "bootstrap": {
            "n": settings.n,
            "seed": settings.seed,
            "confidence": settings.confidence,
            "seconds": round(bootstrap_seconds, 3),
        },
        "champion": champion,
        "champion_status": found["status"],
        "champion_note": found["note"],
        "comparison": {name: d.to_dict() for name, d in drawn.differences.items()},
        "mcnemar": tested.to_dict() if tested else None,
        "gates": [result.to_dict() for result in gate_results],
        "importance": importance,
        "plots": plots,
    }
    summary = _summary(metrics, gate_results, found)
    return EvaluateResult(verdict=verdict, summary=summary, **details), candidate


# --- the champion -----------------------------------------------------------------------


def _find_champion(session: Any, validation: Any, y_true: Any, *, required: bool) -> dict:
    """The champion's version and predictions, or why there are none.

    A registry failure matters only when a comparative gate needs the champion;
    otherwise the comparison is left out and the reason kept for the report.
    """
    from mlgate.metrics import predict

    project = session.project
    alias = project.config.evaluation.champion_alias
    where = f"alias '{alias}' of {project.registry_name}"
    try:
        found = session.registry().champion(alias)
    except ServiceError as exc:
        if required:
            raise
        return _no_champion(UNREACHABLE, f"no comparison: the registry failed ({exc.message})")
    if found is None:
        return _no_champion(
            NO_CHAMPION,
            f"no champion yet (no version behind {where}): comparative gates pass, "
            "absolute gates apply",
        )
    columns = list(getattr(found.model, "feature_names_in_", project.spec.model_inputs))
    missing = [column for column in columns if column not in validation.columns]
    if missing:
        raise InputError(
            f"the champion ({where}, version {found.version}) needs column(s) "
            f"{', '.join(missing[:5])} that the validation data lacks; keep them in the data, "
            "or set evaluation.champion_alias to a version that does not need them",
            file=project.location(project.config.data.validation_data_path),
        )
    y_pred, scores = predict(found.model, validation[columns], session.task)
    classes = tuple(getattr(found.model, "classes_", ()))
    return {
        "champion": {
            "alias": alias,
            "version": found.version,
            "run_id": found.run_id,
            "metrics": {},
            "unavailable": {},
        },
        "predictions": Predictions(y_true, y_pred, scores, classes),
        "status": FOUND,
        "note": f"compared with version {found.version} ({where}) on the same rows",
    }


def _no_champion(status: str, note: str) -> dict:
    return {"champion": None, "predictions": None, "status": status, "note": note}


def _champion_metrics(
    names: list[str], predictions: Predictions, task: Any
) -> tuple[dict[str, float | None], dict[str, str]]:
    """The champion's figures; one it cannot give (no probabilities, other classes) is None."""
    from mlgate.errors import ConfigError
    from mlgate.metrics import compute_metrics

    figures: dict[str, float | None] = {}
    unavailable: dict[str, str] = {}
    for name in names:
        try:
            figures[name] = compute_metrics([name], predictions, task)[name]
        except (ConfigError, InputError, ValueError) as exc:
            figures[name] = None
            unavailable[name] = " ".join(str(getattr(exc, "message", exc)).split())[:200]
    return figures, unavailable


def _with_mcnemar(gate: GateResult, tested: Any) -> GateResult:
    """Accuracy's comparative verdicts also quote McNemar's test on the same rows."""
    if gate.metric != "accuracy" or gate.champion is None:
        return gate
    from dataclasses import replace

    note = f" (McNemar p = {tested.p_value:.3g})"
    return replace(gate, message=gate.message + note)


# --- plots ------------------------------------------------------------------------------


def _pictures(
    session: Any, pipeline: Any, features: Any, y_true: Any, candidate: Predictions, found: dict
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    from mlgate.importance import feature_importance
    from mlgate.plots import draw_plots

    seed = session.project.config.evaluation.bootstrap.seed
    importance = feature_importance(pipeline, features, y_true, session.task, seed=seed)
    champion = found["champion"]
    plots = draw_plots(
        session.run_dir.path,
        session.task,
        candidate,
        champion=found["predictions"],
        champion_name=f"champion v{champion['version']}" if champion else "champion",
        importance=importance,
    )
    return importance, plots


# --- the one-line summary ---------------------------------------------------------------


def _summary(metrics: dict[str, float], gates: list[GateResult], found: dict) -> str:
    failed = [g for g in gates if g.verdict is Verdict.FAILED]
    if failed:
        return " · ".join(g.message for g in failed)
    gated = {g.metric for g in gates}
    parts = [g.message for g in gates if g.bound in ("min", "max")]
    parts += [f"{name} {value:.4g}" for name, value in metrics.items() if name not in gated]
    parts += [g.message for g in gates if g.bound not in ("min", "max")]
    comparative = any(g.bound in ("max_drop", "min_gain") for g in gates)
    if found["status"] == NO_CHAMPION and not comparative:  # else its verdict line says so
        parts.append("no champion yet")
    if found["status"] == UNREACHABLE:
        parts.append("no champion comparison: the registry could not be read")
    return " · ".join(parts)


# --- report sections --------------------------------------------------------------------

_MARK = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}
# Metrics charted on one 0-to-1 axis; log loss and the regression errors have no bound.
_UNIT_INTERVAL = frozenset(
    {"accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier"}
)


def evaluation_sections(result: dict[str, Any]) -> list[markdown.Section]:
    """The evaluation's part of the PR report (from evaluate.json): verdicts and table,
    the candidate-vs-champion chart, and the plots and feature importance (folded)."""
    sections = [
        markdown.Section(
            "evaluation", "Evaluation", _verdicts_and_table(result), markdown.ESSENTIAL
        )
    ]
    chart = mermaid_chart(result)
    if chart:
        title = "Candidate vs champion" if result.get("champion") else "Candidate metrics"
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


def _verdicts_and_table(result: dict[str, Any]) -> str:
    lines = [
        f"- {_MARK.get(gate['verdict'], '')} {markdown.text(gate['message'])}"
        for gate in result.get("gates", [])
    ]
    if not lines:
        lines.append("- no evaluation gates are configured")
    confidence = result.get("confidence", 0.95)
    boot = result.get("bootstrap") or {}
    champion = result.get("champion")
    rows = markdown.count(int(result.get("rows", 0)))
    if champion:
        intro = (
            f"Compared with the champion, version {markdown.text(champion['version'])} behind "
            f"alias {markdown.code(champion['alias'])}, on the same {rows} validation rows."
        )
    else:
        intro = f"{markdown.text(result.get('champion_note', 'no champion'))}."
    intro += (
        f" Intervals: {confidence:.0%} paired bootstrap, {markdown.count(int(boot.get('n', 0)))}"
        f" draws (seed {markdown.text(boot.get('seed', 0))})."
    )
    comparison = result.get("comparison") or {}
    intervals = result.get("intervals") or {}
    width = f"{confidence:.0%}"
    headers = ["Metric", "Candidate", f"{width} interval"]
    if champion:
        headers += ["Champion", "Difference", f"{width} interval of difference"]
    table_rows = []
    for name, value in result.get("metrics", {}).items():
        row = [markdown.code(name), _figure(value), _interval(intervals.get(name))]
        if champion:
            compared = comparison.get(name)
            if compared:
                row += [
                    _figure(compared["champion"]),
                    markdown.signed(compared["difference"]),
                    _interval(compared["interval"], signed=True),
                ]
            else:
                row += ["–", "–", markdown.text(champion.get("unavailable", {}).get(name, "–"))]
        table_rows.append(row)
    body = "\n".join(lines) + "\n\n" + intro + "\n\n"
    body += markdown.table(headers, table_rows, align="lrrrrr"[: len(headers)])
    tested = result.get("mcnemar")
    if tested:
        body += (
            f"\nMcNemar's test on accuracy: the candidate alone is right on "
            f"{markdown.count(tested['candidate_only_correct'])} rows, the champion alone on "
            f"{markdown.count(tested['champion_only_correct'])}; p = {tested['p_value']:.3g} "
            f"({markdown.text(tested['method'])}).\n"
        )
    return body


def _figure(value: float | None) -> str:
    if value is None:
        return "–"
    if value != 0 and (abs(value) >= 1000 or abs(value) < 0.001):
        return f"{value:.4g}"
    return markdown.number(value)


def _interval(interval: dict[str, float] | None, *, signed: bool = False) -> str:
    if not interval:
        return "–"
    show = markdown.signed if signed else markdown.number
    return f"[{show(interval['low'])}, {show(interval['high'])}]"


def mermaid_chart(result: dict[str, Any]) -> str | None:
    """A Mermaid xychart: candidate figures as bars, the champion's as a line.

    Only metrics on a 0-to-1 scale are charted (one axis). Names come from the metric
    catalogue and versions from the registry, so nothing untrusted reaches the chart.
    """
    metrics = result.get("metrics", {})
    champion = result.get("champion") or {}
    theirs = champion.get("metrics", {}) if champion else {}
    charted = [
        name
        for name in metrics
        if name in _UNIT_INTERVAL
        and 0 <= metrics[name] <= 1
        and (not champion or (theirs.get(name) is not None and 0 <= theirs[name] <= 1))
    ]
    if not charted:
        return None
    values = [metrics[name] for name in charted]
    if champion:
        values += [theirs[name] for name in charted]
    low = max(0.0, int(min(values) * 10) / 10 - 0.1) if min(values) > 0.2 else 0.0
    if champion:
        title = f"Candidate (bars) vs champion v{_safe(champion['version'])} (line)"
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


def _safe(value: Any) -> str:
    return "".join(char for char in str(value) if char.isalnum() or char in "._-")


def _plots_and_importance(result: dict[str, Any]) -> str:
    parts = []
    importance = result.get("importance")
    if importance and importance.get("features"):
        how = (
            "the model's own importances"
            if importance["method"] == "model"
            else "permutation importance on the validation rows"
        )
        parts.append(f"Feature importance ({how}, {markdown.text(importance['source'])}):")
        rows = [
            [
                markdown.text(item["name"]),
                f"{item['importance']:.4f}",
                f"{item['std']:.4f}" if item.get("std") is not None else "–",
            ]
            for item in importance["features"][:10]
        ]
        parts.append(markdown.table(["Feature", "Importance", "Spread (std)"], rows, "lrr"))
    plots = result.get("plots") or {}
    files = plots.get("files") or {}
    if files:
        listed = ", ".join(markdown.code(path) for path in files.values())
        parts.append(
            f"Plots in the run directory and in the MLflow run (under `mlgate/`): {listed}."
        )
    for kind, why in (plots.get("skipped") or {}).items():
        parts.append(f"No {markdown.text(kind.replace('_', ' '))} plot: {markdown.text(why)}.")
    return "\n\n".join(part.strip() for part in parts) + "\n" if parts else ""
