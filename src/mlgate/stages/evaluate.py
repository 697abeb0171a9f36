"""The evaluate stage: the candidate against the champion, on the same validation rows.

The champion is the registered version behind `evaluation.champion_alias` (default
`production`). Both models score the same rows; a paired bootstrap (seeded from
`evaluation.bootstrap`) gives an interval for each candidate metric and for each
difference, McNemar's test compares their mistakes (classification), and the gates
are judged (`mlgate._gates`). Plots go to `plots/` in the run directory (`mlgate._plots`,
drawn beside the bootstrap in a process of their own: `mlgate._forked`), and the
validation rows' labels and scores to `predictions.csv` (for the fairness stage).
What `evaluate.json` holds: `mlgate.results.evaluate`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate._metrics import Predictions
from mlgate.errors import InputError, RunDirError, ServiceError
from mlgate.results import EvaluateResult, Verdict
from mlgate.results.evaluate import (
    FOUND,
    NO_CHAMPION,
    UNREACHABLE,
    BootstrapRecord,
    Champion,
    FeatureImportance,
    GateResult,
    Importance,
    Plots,
)
from mlgate.rundir import PREDICTIONS_FILE
from mlgate.stages._session import Session

if TYPE_CHECKING:
    from mlgate._forked import Forked


def run(session: Session) -> EvaluateResult:
    session.ensure_data("evaluate")
    pipeline = session.ensure_model("evaluate")
    result, predictions = evaluate(session, pipeline)
    _save_predictions(session, session.frames["validation"], predictions)
    return result


def evaluate(session: Session, pipeline: Any) -> tuple[EvaluateResult, Predictions]:
    """Score, compare, judge and draw; the stage result and the candidate's predictions."""
    from mlgate._comparison import bootstrap, mcnemar
    from mlgate._gates import judge, overall
    from mlgate._metrics import compute_metrics, metric_names, predict

    project, task = session.project, session.task
    evaluation = project.config.evaluation
    validation = session.frames["validation"]
    features = validation[list(project.spec.model_inputs)]
    y_true = validation[project.spec.target].to_numpy()
    y_pred, scores = predict(pipeline, features, task)
    candidate = Predictions(y_true, y_pred, scores, tuple(getattr(pipeline, "classes_", ())))
    names = metric_names(evaluation.metrics, list(evaluation.gates), task)
    metrics = compute_metrics(names, candidate, task)

    found = _find_champion(session, validation, y_true, required=comparative(project))
    champion = None
    if found.predictions is not None:
        figures, unavailable = _champion_metrics(names, found.predictions, task)
        champion = Champion(
            alias=found.alias,
            version=found.version,
            run_id=found.run_id,
            metrics=figures,
            unavailable=unavailable,
        )

    # The plots are drawn beside the bootstrap, in a process of their own.
    importance, drawing = _pictures(session, pipeline, features, y_true, candidate, found)
    with contextlib.closing(drawing):  # a stage that stops here does not wait for it
        settings = evaluation.bootstrap
        started = time.perf_counter()
        drawn = bootstrap(
            names,
            task,
            candidate,
            metrics,
            champion=found.predictions,
            champion_metrics=champion.metrics if champion else None,
            n=settings.n,
            confidence=settings.confidence,
            seed=settings.seed,
        )
        bootstrap_seconds = time.perf_counter() - started
        tested = None
        if task.kind == "classification" and found.predictions is not None:
            tested = mcnemar(y_true, candidate.y_pred, found.predictions.y_pred)

        gate_results = judge(
            metrics,
            evaluation.gates,
            champion.metrics if champion else None,
            differences=drawn.differences,
            noise_aware=evaluation.noise_aware,
            confidence=settings.confidence,
            intervals=drawn.candidate,
        )
        if tested is not None:
            gate_results = [_with_mcnemar(gate, tested) for gate in gate_results]

        plots = drawing.result()
    result = EvaluateResult(
        verdict=overall(gate_results),
        summary=_summary(metrics, gate_results, found.status),
        task=task.kind,
        rows=len(validation.index),
        metrics=metrics,
        intervals=dict(drawn.candidate),
        confidence=settings.confidence,
        noise_aware=evaluation.noise_aware,
        bootstrap=BootstrapRecord(
            n=settings.n,
            seed=settings.seed,
            confidence=settings.confidence,
            seconds=round(bootstrap_seconds, 3),
        ),
        champion=champion,
        champion_status=found.status,
        champion_note=found.note,
        comparison={name: d.to_result() for name, d in drawn.differences.items()},
        mcnemar=tested,
        gates=tuple(gate_results),
        importance=importance,
        plots=plots,
    )
    return result, candidate


# --- the champion -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """What the registry gave: the champion's version and predictions, or why there are none."""

    status: str
    note: str
    alias: str = ""
    version: str = ""
    run_id: str | None = None
    predictions: Predictions | None = None


def comparative(project: Any) -> bool:
    """Whether a gate compares with the champion (then the registry must answer)."""
    return any(gate.is_comparative for gate in project.config.evaluation.gates.values())


def lookup_champion(session: Session, *, required: bool) -> Any:
    """The registry's champion (version, run id, model), or a `_Found` saying why none.

    A registry failure matters only when a comparative gate needs the champion;
    otherwise the comparison is left out and the reason kept for the report.
    """
    project = session.project
    none_yet = _Found(
        NO_CHAMPION,
        f"no champion yet (no version behind {_where(project)}): comparative gates pass, "
        "absolute gates apply",
    )
    if session.champion_absent():  # known without MLflow: do not pay for starting it
        return none_yet
    try:
        found = session.registry().champion(project.config.evaluation.champion_alias)
    except ServiceError as exc:
        if required:
            raise
        return _Found(UNREACHABLE, f"no comparison: the registry failed ({exc.message})")
    return none_yet if found is None else found


# compute.stages: the champion the host read for evaluate in the image (mlgate.compute.handoff),
# removed when the container ends.
CHAMPION_FILE = ".champion.container.joblib"


@dataclass(frozen=True)
class HandedChampion:
    """The registry's champion as the image sees it (MLflow stays on the host)."""

    version: str
    run_id: str | None
    model: Any


def handed_champion(session: Session, handed: dict[str, Any]) -> _Found | HandedChampion:
    """In the image: the champion the host read, as `lookup_champion` would have answered."""
    if handed["status"] != FOUND:
        return _Found(handed["status"], handed["note"])
    import joblib

    from mlgate._cache import file_sha256

    path = session.run_dir.file(CHAMPION_FILE)
    # A pickle runs code as it loads: only the file the host wrote for this container.
    if not path.is_file() or file_sha256(path) != handed["sha256"]:
        raise RunDirError(
            f"{path} is not the champion mlgate handed to the evaluate stage's container "
            "(missing, or its SHA-256 differs); rerun `mlgate evaluate`"
        )
    return HandedChampion(handed["version"], handed["run_id"], joblib.load(path))


def _where(project: Any) -> str:
    return f"alias '{project.config.evaluation.champion_alias}' of {project.registry_name}"


def _find_champion(session: Session, validation: Any, y_true: Any, *, required: bool) -> _Found:
    """The champion's version and predictions, or why there are none."""
    from mlgate._metrics import predict

    project = session.project
    alias = project.config.evaluation.champion_alias
    where = _where(project)
    handed = session.from_host.get("champion")
    if handed is not None:  # in compute.docker_image: the host read the registry
        found = handed_champion(session, handed)
    else:
        found = lookup_champion(session, required=required)
    if isinstance(found, _Found):
        return found
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
    return _Found(
        FOUND,
        f"compared with version {found.version} ({where}) on the same rows",
        alias=alias,
        version=found.version,
        run_id=found.run_id,
        predictions=Predictions(y_true, y_pred, scores, classes),
    )


def _champion_metrics(
    names: list[str], predictions: Predictions, task: Any
) -> tuple[dict[str, float | None], dict[str, str]]:
    """The champion's figures; one it cannot give (no probabilities, other classes) is None."""
    from mlgate._metrics import compute_metrics
    from mlgate.errors import ConfigError

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
    note = f" (McNemar p = {tested.p_value:.3g})"
    return replace(gate, message=gate.message + note)


# --- plots ------------------------------------------------------------------------------


def _pictures(
    session: Session,
    pipeline: Any,
    features: Any,
    y_true: Any,
    candidate: Predictions,
    found: _Found,
) -> tuple[Importance | None, Forked[Plots]]:
    """The importance, and the plots begun: laying out and encoding them need not hold up
    the bootstrap. The importance is computed here (it may predict, and a model's thread
    pool is not safe to use after a fork)."""
    from mlgate._forked import beside
    from mlgate._importance import feature_importance

    seed = session.project.config.evaluation.bootstrap.seed
    ranked = feature_importance(pipeline, features, y_true, session.task, seed=seed)
    drawing = beside(
        _draw,
        session.run_dir.path,
        session.task,
        candidate,
        found.predictions,
        f"champion v{found.version}" if found.predictions else "champion",
        ranked,
    )
    importance = None
    if ranked is not None:
        importance = Importance(
            method=ranked["method"],
            source=ranked["source"],
            features=tuple(FeatureImportance(**item) for item in ranked["features"]),
        )
    return importance, drawing


def _draw(
    run_dir: Path,
    task: Any,
    candidate: Predictions,
    champion: Predictions | None,
    champion_name: str,
    ranked: dict[str, Any] | None,
) -> Plots:
    from mlgate._plots import draw_plots

    drawn = draw_plots(
        run_dir,
        task,
        candidate,
        champion=champion,
        champion_name=champion_name,
        importance=ranked,
    )
    return Plots(files=drawn["files"], skipped=drawn["skipped"])


# --- the one-line summary ---------------------------------------------------------------


def _summary(metrics: dict[str, float], gates: list[GateResult], status: str) -> str:
    failed = [g for g in gates if g.verdict is Verdict.FAILED]
    if failed:
        return " · ".join(g.message for g in failed)
    gated = {g.metric for g in gates}
    parts = [g.message for g in gates if g.bound in ("min", "max")]
    parts += [f"{name} {value:.4g}" for name, value in metrics.items() if name not in gated]
    parts += [g.message for g in gates if g.bound not in ("min", "max")]
    if status == NO_CHAMPION and not any(g.comparative for g in gates):
        parts.append("no champion yet")  # else its verdict line says so
    if status == UNREACHABLE:
        parts.append("no champion comparison: the registry could not be read")
    return " · ".join(parts)


def _save_predictions(session: Session, validation: Any, predictions: Any) -> None:
    import pandas as pd

    spec = session.project.spec
    keep = [*spec.id_columns, *spec.sensitive_features]
    table = validation[keep].copy() if keep else pd.DataFrame(index=validation.index)
    table["y_true"] = predictions.y_true
    table["y_pred"] = predictions.y_pred
    if predictions.scores is not None:
        for index, label in enumerate(predictions.classes):
            table[f"score_{label}"] = predictions.scores[:, index]
    table.to_csv(session.run_dir.file(PREDICTIONS_FILE), index=False)
