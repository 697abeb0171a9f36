"""The evaluate stage's result: figures, intervals, the champion and the gates judged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlgate.results._base import Number, StageResult


@dataclass(frozen=True, kw_only=True)
class EvaluateResult(StageResult):
    STAGE = "evaluate"

    task: str
    rows: int
    metrics: dict[str, Number]
    intervals: dict[str, Any]
    confidence: Number
    noise_aware: bool
    bootstrap: dict[str, Any]
    champion: dict[str, Any] | None
    champion_status: str
    champion_note: str
    comparison: dict[str, Any]
    mcnemar: dict[str, Any] | None
    gates: list[dict[str, Any]]
    importance: dict[str, Any] | None
    plots: dict[str, Any]
