"""The register stage's result: the MLflow run, and the version registered (if any)."""

from __future__ import annotations

from dataclasses import dataclass

from mlgate.results._base import StageResult, omit_if_none


@dataclass(frozen=True, kw_only=True)
class RegisterResult(StageResult):
    STAGE = "register"

    tracking_uri: str
    experiment: str
    mlflow_run_id: str
    mlflow_run_url: str | None
    fingerprint: str
    registered_model: str
    version: str | None
    reused: bool  # the version already held a model with these inputs
    alias: str | None
    reason: str | None = omit_if_none()  # why nothing was registered
