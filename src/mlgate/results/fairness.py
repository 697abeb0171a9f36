"""The fairness stage's result: each sensitive feature's groups and checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlgate.results._base import Number, StageResult


@dataclass(frozen=True, kw_only=True)
class FairnessResult(StageResult):
    STAGE = "fairness"

    # None when the stage did not judge (no sensitive features, a multi-class target):
    # the result then carries `features` only.
    task: str | None = None
    positive_label: str | None = None
    rows: int | None = None
    policy: str | None = None
    mode: str | None = None
    min_group_size: int | None = None
    n_boot: int | None = None
    confidence: Number | None = None
    seed: int | None = None
    thresholds: dict[str, Number] | None = None
    predictions: str | None = None
    champion: dict[str, Any] | None = None
    features: list[dict[str, Any]]
    warnings: list[str] | None = None
    chart: str | None = None

    @property
    def judged(self) -> bool:
        return self.task is not None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.judged:
            return data
        kept = ("stage", "verdict", "summary", "seconds", "features", "cache")
        return {key: data[key] for key in kept if key in data}
