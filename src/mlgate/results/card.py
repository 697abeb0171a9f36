"""The card stage's result: the card's files and the facts they were rendered from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlgate.results._base import StageResult


@dataclass(frozen=True, kw_only=True)
class CardResult(StageResult):
    STAGE = "card"

    files: dict[str, str]
    template: str | None
    facts: dict[str, Any]
