"""The train stage's result: the estimator, its parameters and what it was trained on."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import JsonValue

from mlgate.results._base import Number, StageResult, omit_if_none


@dataclass(frozen=True, kw_only=True)
class TrainResult(StageResult):
    STAGE = "train"

    estimator: str
    estimator_class: str
    params: dict[str, JsonValue]  # the estimator's parameters; repr() where not JSON
    feature_columns: tuple[str, ...]
    code_paths: tuple[str, ...]
    config_sha256: str
    feature_spec_sha256: str
    training_seconds: Number
    warnings: tuple[str, ...]
    # SHA-256 of model.joblib as written: checked before the pickle is loaded again
    # (absent in files written before it was recorded).
    model_sha256: str | None = omit_if_none()
