"""The stages of `mlgate run`, in order, each leaving a JSON result in the run directory.

A stage reads what earlier stages left (in memory within one process, or from
the run directory when stages run as separate commands) and returns a
`StageResult`. Later issues add stages to `STAGES` in the same way.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlgate.errors import InputError, RunDirError
from mlgate.gates import Verdict
from mlgate.lineage import CiContext, ci_context
from mlgate.project import Project
from mlgate.rundir import RunDir

MODEL_FILE = "model.joblib"
PREDICTIONS_FILE = "predictions.csv"


@dataclass(frozen=True)
class StageResult:
    stage: str
    verdict: Verdict
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> StageResult:
        details = {
            k: v for k, v in stored.items() if k not in ("stage", "verdict", "summary", "seconds")
        }
        return cls(stored["stage"], Verdict(stored["verdict"]), stored["summary"], details)

    @property
    def reused(self) -> bool:
        return bool((self.details.get("cache") or {}).get("reused"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "verdict": self.verdict.value,
            "summary": self.summary,
            "seconds": round(self.seconds, 3),
            **self.details,
        }


@dataclass
class Session:
    """What the stages of one command share in memory."""

    project: Project
    run_dir: RunDir
    ci: CiContext = field(default_factory=ci_context)
    frames: dict[str, Any] = field(default_factory=dict)
    task: Any = None
    trained: Any = None
    results: dict[str, StageResult] = field(default_factory=dict)
    use_cache: bool = True
    data_hashes: dict[str, str] = field(default_factory=dict)  # role -> sha256, for the cache
    fetched_s3: dict[str, Any] = field(default_factory=dict)  # role -> s3.S3Object
    champion_probe: str | None = None  # the champion's version as the cache last read it
    _registry: Any = None

    def registry(self) -> Any:
        """The MLflow registry, connected once per command (evaluate and register share it)."""
        if self._registry is None:
            from mlgate.registry import Registry

            self._registry = Registry.connect(self.project)
        return self._registry

    def result(self, stage: str, needed_by: str) -> dict[str, Any]:
        if stage in self.results:
            return self.results[stage].to_dict()
        return self.run_dir.read_result(stage, needed_by=needed_by)


# --- validate ---------------------------------------------------------------------------


def stage_validate(session: Session) -> StageResult:
    from mlgate.validation import check_data

    files = _load_data(session)
    task = session.task
    checked = check_data(session.project, session.frames, files, task, registry=session.registry)
    rows = " · ".join(f"{role} {info.rows:,} rows" for role, info in files.items())
    details = {
        "files": {role: info.to_dict() for role, info in files.items()},
        "task": task.to_dict(),
        **checked.to_dict(),
    }
    return StageResult(
        "validate",
        Verdict.PASSED if checked.passed else Verdict.FAILED,
        f"{rows} · {task.kind}"
        + (" (inferred)" if task.inferred else "")
        + f" · {checked.summary()}",
        details,
    )


def _load_data(session: Session) -> dict[str, Any]:
    """Read both data files and check them against the spec (bad input raises, exit 2)."""
    from mlgate.data import load_table
    from mlgate.training import infer_task

    project = session.project
    frames, files = {}, {}
    for role in ("training", "validation"):
        frames[role], files[role] = load_table(  # the stage cache looked a moment ago
            project,
            role,
            known_sha256=session.data_hashes.get(role),
            fetched=session.fetched_s3.get(role),
        )
        session.data_hashes[role] = files[role].sha256
    training_path = project.location(project.config.data.training_data_path)
    task = infer_task(project, frames["training"], training_path)
    project.check_task_metrics(task.kind)
    if task.kind == "classification":
        _check_validation_labels(project, frames["validation"], task)
    session.frames, session.task = frames, task
    return files


def _check_validation_labels(project: Project, validation: Any, task: Any) -> None:
    seen = set(validation[project.spec.target].dropna().unique().tolist())
    unknown = sorted(seen - set(task.classes), key=str)
    if unknown:
        raise InputError(
            f"target column '{project.spec.target}' has label(s) {unknown[:5]} that the "
            "training data never shows; the model cannot predict them",
            file=project.location(project.config.data.validation_data_path),
        )
    if validation[project.spec.target].isna().any():
        raise InputError(
            f"target column '{project.spec.target}' has missing values; drop or label those rows",
            file=project.location(project.config.data.validation_data_path),
        )


def _ensure_data(session: Session, needed_by: str) -> None:
    """Reload the data in a later command, and refuse if it changed since the data stage."""
    if session.frames:
        return
    recorded = session.result("validate", needed_by)
    fresh = _load_data(session)
    for role, info in fresh.items():
        before = recorded["files"].get(role, {}).get("sha256")
        if before != info.sha256:
            raise RunDirError(
                f"the {role} data changed since this run's validate stage ({info.uri}); "
                "start a new run with `mlgate run`"
            )


# --- train ------------------------------------------------------------------------------


def stage_train(session: Session) -> StageResult:
    import joblib

    from mlgate.training import train_model

    _ensure_data(session, "train")
    trained = train_model(session.project, session.frames["training"], session.task)
    # A temporary name, then a rename: an interrupt never leaves half a model behind.
    model_path = session.run_dir.file(MODEL_FILE)
    partial = model_path.with_name(f".{MODEL_FILE}.partial")
    try:
        joblib.dump(trained.pipeline, partial)
        os.replace(partial, model_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    session.trained = trained
    choice = trained.estimator
    summary = f"{choice.name} on {len(trained.feature_columns)} features in {trained.seconds:.1f}s"
    if trained.warnings:
        summary += f" · warning: {trained.warnings[0]}"
        if len(trained.warnings) > 1:
            summary += f" (+{len(trained.warnings) - 1} more in train.json)"
    return StageResult(
        "train",
        Verdict.PASSED,
        summary,
        {
            "estimator": choice.name,
            "estimator_class": f"{type(choice.estimator).__module__}."
            f"{type(choice.estimator).__qualname__}",
            "params": {k: _jsonable(v) for k, v in choice.params.items()},
            "feature_columns": trained.feature_columns,
            "code_paths": list(choice.code_paths),
            "config_sha256": session.project.config_sha256,
            "feature_spec_sha256": session.project.spec_sha256,
            "training_seconds": round(trained.seconds, 3),
            "warnings": trained.warnings,
        },
    )


def _ensure_model(session: Session, needed_by: str) -> Any:
    if session.trained is not None:
        return session.trained.pipeline
    from mlgate.reuse import stage_inputs

    trained = session.result("train", needed_by)
    project = session.project
    recorded = (trained.get("cache") or {}).get("fingerprint")
    if recorded != stage_inputs(session, "train").fingerprint():
        raise RunDirError(
            f"the training data, the model section of {project.config_path.name}, the feature "
            "spec or the code changed since this run's model was trained; start a new run "
            "with `mlgate run` (or `mlgate train`)"
        )
    import joblib

    path = session.run_dir.file(MODEL_FILE)
    try:
        return joblib.load(path)
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing; rerun `mlgate train`") from None


# --- evaluate ---------------------------------------------------------------------------


def stage_evaluate(session: Session) -> StageResult:
    from mlgate.evaluation import evaluate

    _ensure_data(session, "evaluate")
    pipeline = _ensure_model(session, "evaluate")
    result, predictions = evaluate(session, pipeline)
    _save_predictions(session, session.frames["validation"], predictions)
    return result


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
    path = session.run_dir.file(PREDICTIONS_FILE)
    table.to_csv(path, index=False)


# --- fairness ---------------------------------------------------------------------------


def stage_fairness(session: Session) -> StageResult:
    from mlgate.fairness import run_fairness

    _ensure_data(session, "fairness")  # the champion is judged on the same validation rows
    return run_fairness(session)


# --- card -------------------------------------------------------------------------------


def stage_card(session: Session) -> StageResult:
    from mlgate.card.stage import stage_card as build_card

    return build_card(session)


# --- register ---------------------------------------------------------------------------


def stage_register(session: Session) -> StageResult:
    from mlgate.publish import publish

    _ensure_data(session, "register")
    pipeline = _ensure_model(session, "register")
    return publish(session, pipeline)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


Stage = Callable[[Session], StageResult]

# The order of `mlgate run`. A stage whose verdict is FAILED does not stop the
# ones after it unless it is listed in STOPS_THE_RUN (bad data must never reach training).
STAGES: dict[str, Stage] = {
    "validate": stage_validate,
    "train": stage_train,
    "evaluate": stage_evaluate,
    "fairness": stage_fairness,
    "card": stage_card,
    "register": stage_register,
}
STOPS_THE_RUN = frozenset({"validate"})


def clear_outputs(run_dir: RunDir) -> None:
    """A new run in a reused directory must not show an earlier run's results."""
    from mlgate.card import CARD_FILES

    results = [f"{stage}.json" for stage in STAGES]
    for name in [*results, MODEL_FILE, PREDICTIONS_FILE, "fairness.png", *CARD_FILES]:
        run_dir.file(name).unlink(missing_ok=True)
    for plot in run_dir.file("plots").glob("*.png"):  # the evaluate stage's (mlgate.plots)
        plot.unlink()


def run_stages(
    session: Session, names: list[str], on_result: Callable[[StageResult], None] | None = None
) -> list[StageResult]:
    results = []
    for name in names:
        started = time.perf_counter()
        result = _reused_or_run(session, name)
        _annotate(name, result)
        result = StageResult(
            result.stage,
            result.verdict,
            result.summary,
            result.details,
            time.perf_counter() - started,
        )
        session.results[name] = result
        session.run_dir.write_result(name, result.to_dict())
        results.append(result)
        if on_result is not None:
            on_result(result)
        if result.verdict is Verdict.FAILED and name in STOPS_THE_RUN:
            break
    return results


def _annotate(name: str, result: StageResult) -> None:
    """In GitHub Actions, one `::error` per failed expectation (a reused result too)."""
    if name == "validate" and os.environ.get("GITHUB_ACTIONS") == "true":
        from mlgate.validation import annotations

        for line in annotations(result.to_dict()):  # stderr: stdout may carry --json
            print(line, file=sys.stderr, flush=True)


def _reused_or_run(session: Session, name: str) -> StageResult:
    """Restore the stage from the cache when its inputs are unchanged, else run and store it."""
    from mlgate.cache import StageCache
    from mlgate.reuse import stage_inputs, still_valid

    store = StageCache(session.project.state_dir / "cache" / "stages")
    if not session.use_cache:  # run first: the stage hashes the data while reading it
        result = STAGES[name](session)
        inputs = stage_inputs(session, name)
        fingerprint = inputs.fingerprint() if inputs.cacheable else None
        return _stored(session, store, name, fingerprint, result)
    inputs = stage_inputs(session, name)
    fingerprint = inputs.fingerprint() if inputs.cacheable else None
    if fingerprint:
        cached = store.lookup(name, fingerprint)
        if cached is not None and still_valid(session, cached):
            cached.restore(session.run_dir.path)
            result = StageResult.from_dict(cached.result)
            from_run = (result.details.get("cache") or {}).get("run_id")
            cache = {"fingerprint": fingerprint, "reused": True, "from_run": from_run}
            return StageResult(
                result.stage, result.verdict, result.summary, {**result.details, "cache": cache}
            )
    return _stored(session, store, name, fingerprint, STAGES[name](session))


def _stored(
    session: Session, store: Any, name: str, fingerprint: str | None, result: StageResult
) -> StageResult:
    """The stage's fresh result, marked with its fingerprint and kept for a later run."""
    from mlgate.reuse import READS

    cache = {"fingerprint": fingerprint, "reused": False, "run_id": session.run_dir.run_id}
    result = StageResult(
        result.stage, result.verdict, result.summary, {**result.details, "cache": cache}
    )
    if fingerprint:
        store.store(name, fingerprint, result.to_dict(), session.run_dir.path, READS[name].outputs)
    return result
