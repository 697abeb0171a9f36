"""The validate stage's result: the data files read, the task, expectations and drift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlgate.results._base import StageResult


@dataclass(frozen=True, kw_only=True)
class ValidateResult(StageResult):
    STAGE = "validate"

    files: dict[str, dict[str, Any]]
    task: dict[str, Any]
    expectations: dict[str, Any]
    drift: dict[str, Any]
