"""The train stage: fit the configured pipeline and keep it in the run directory."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from pydantic import JsonValue

from mlgate.results import TrainResult, Verdict
from mlgate.results.train import OnnxExport, SearchCandidate, SearchRecord
from mlgate.rundir import MODEL_FILE, ONNX_FILE, SPARK_MODEL_DIR
from mlgate.stages._session import Session


def run(session: Session) -> TrainResult:
    import shutil

    import joblib

    from mlgate._cache import file_sha256
    from mlgate._training import train_model
    from mlgate.config import is_spark_model

    if is_spark_model(session.project.config.model.type):
        from mlgate.stages import _spark_train

        return _spark_train.run(session)
    # A Spark model an earlier train of this run directory left is not this run's.
    shutil.rmtree(session.run_dir.file(SPARK_MODEL_DIR), ignore_errors=True)
    session.ensure_data("train")
    assert session.task is not None
    trained = train_model(session.project, session.frames["training"], session.task)
    # A temporary name, then a rename: an interrupt never leaves half a model behind.
    model_path = session.run_dir.file(MODEL_FILE)
    partial = model_path.with_name(f".{MODEL_FILE}.partial")
    try:
        joblib.dump(trained.pipeline, partial)
        model_sha256 = file_sha256(partial)
        os.replace(partial, model_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    session.trained = trained
    onnx = _export_onnx(session, trained) if session.project.config.export.onnx else None
    choice = trained.estimator
    count = len(trained.feature_columns)
    features = f"{count} feature{'' if count == 1 else 's'}"
    summary = f"{choice.name} on {features} in {trained.seconds:.1f}s"
    if trained.search is not None:
        summary += f" · {_search_summary(trained.search)}"
    if trained.warnings:
        summary += f" · warning: {trained.warnings[0]}"
        if len(trained.warnings) > 1:
            summary += f" (+{len(trained.warnings) - 1} more in train.json)"
    if onnx is not None:
        summary += f" · {_onnx_summary(onnx)}"
    estimator_type = type(choice.estimator)
    return TrainResult(
        verdict=Verdict.PASSED if onnx is None or onnx.passed else Verdict.FAILED,
        summary=summary,
        estimator=choice.name,
        estimator_class=f"{estimator_type.__module__}.{estimator_type.__qualname__}",
        params={key: _jsonable(value) for key, value in choice.params.items()},
        feature_columns=tuple(trained.feature_columns),
        code_paths=tuple(choice.code_paths),
        config_sha256=session.project.config_sha256,
        feature_spec_sha256=session.project.spec_sha256,
        training_seconds=round(trained.seconds, 3),
        warnings=tuple(trained.warnings),
        model_sha256=model_sha256,
        onnx=onnx,
        search=_search_record(trained.search) if trained.search is not None else None,
    )


def _search_summary(search: Any) -> str:
    where = "this machine" if search.where == "local" else search.where
    count = len(search.candidates)
    return (
        f"best of {count} candidate{'' if count == 1 else 's'} by {search.metric} "
        f"{search.best_score:.4g} ({search.cv}-fold cv, on {where})"
    )


def _search_record(search: Any) -> SearchRecord:
    return SearchRecord(
        kind=search.kind,
        metric=search.metric,
        cv=search.cv,
        where=search.where,
        best_params={key: _jsonable(value) for key, value in search.best_params.items()},
        best_score=search.best_score,
        candidates=tuple(
            SearchCandidate(
                params={key: _jsonable(value) for key, value in candidate.params.items()},
                score=candidate.score,
                score_std=candidate.score_std,
                rank=candidate.rank,
            )
            for candidate in search.candidates
        ),
    )


def _export_onnx(session: Session, trained: Any) -> OnnxExport:
    """`export.onnx`: convert, check parity on the validation rows, keep model.onnx."""
    from mlgate import _onnx
    from mlgate._cache import file_sha256
    from mlgate.rundir import atomic_write_bytes

    columns = trained.feature_columns
    inputs = session.project.spec.model_inputs
    exported = _onnx.export(
        trained.pipeline,
        session.frames["training"][columns],
        session.frames["validation"][columns],
        [name for name in columns if inputs[name].is_numeric],
        classification=trained.task.kind == "classification",
        tolerance=session.project.config.export.onnx_tolerance,
    )
    target = session.run_dir.file(ONNX_FILE)
    if exported.model is None or not exported.record.passed:
        target.unlink(missing_ok=True)  # a model that misses parity is never served
        return exported.record
    atomic_write_bytes(target, exported.model)
    return dataclasses.replace(exported.record, sha256=file_sha256(target))


def _onnx_summary(onnx: OnnxExport) -> str:
    if not onnx.passed:
        return f"ONNX export failed: {onnx.reason}"
    gap = f"max |Δ| {onnx.max_abs_diff:.2g}" if onnx.max_abs_diff is not None else "labels"
    return f"ONNX parity on {onnx.rows:,} validation rows ({gap} ≤ {onnx.tolerance:g})"


def _jsonable(value: Any) -> JsonValue:
    """A parameter as JSON: containers kept, anything else as its repr()."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if getattr(value, "shape", None) == () and callable(getattr(value, "item", None)):
        return _jsonable(value.item())  # a numpy scalar (a value drawn by a random search)
    return repr(value)
