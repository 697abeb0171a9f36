"""Typed stage results: what each stage leaves in the run directory, and every reader's view.

The stages build these; the orchestrator writes `to_json()` to `<stage>.json`; the
report, the card, the registry tags, the cache and the fork artifact read them back
with `read()`, never as raw dicts. `StoppedRun` records a run that an error stopped
midway: which stage, the exit code and the one line. Nothing here imports more than
the standard library and pydantic.
"""

from __future__ import annotations

from typing import Any

from mlgate.results._base import CacheRecord, Number, StageResult, Verdict, to_json
from mlgate.results.card import CardResult
from mlgate.results.evaluate import EvaluateResult
from mlgate.results.fairness import FairnessResult
from mlgate.results.monitor import MonitorResult
from mlgate.results.register import RegisterResult
from mlgate.results.stopped import StoppedRun
from mlgate.results.train import TrainResult
from mlgate.results.validate import ValidateResult

RESULT_TYPES: dict[str, type[StageResult]] = {
    cls.STAGE: cls
    for cls in (
        ValidateResult,
        TrainResult,
        EvaluateResult,
        FairnessResult,
        CardResult,
        RegisterResult,
    )
}


def read(stage: str, data: Any) -> StageResult:
    """A stage's result from its JSON; `ValueError` (pydantic's included) when malformed."""
    return RESULT_TYPES[stage].from_json(data)


__all__ = [
    "RESULT_TYPES",
    "CacheRecord",
    "CardResult",
    "EvaluateResult",
    "FairnessResult",
    "MonitorResult",
    "Number",
    "RegisterResult",
    "StageResult",
    "StoppedRun",
    "TrainResult",
    "ValidateResult",
    "Verdict",
    "read",
    "to_json",
]
