"""The fairness stage's result: each sensitive feature's groups and checks.

`fairness.json`, beside the common `stage`, `verdict`, `summary`, `seconds`:

- `task`, `positive_label`, `rows`: what was judged, on how many validation rows.
- `policy`, `mode`, `min_group_size`, `n_boot`, `confidence`, `seed`, `thresholds`:
  the `fairness:` settings the gate judged with.
- `predictions`: the file of the evaluate stage the figures come from.
- `champion`: `ChampionRef`, the version whose predictions on the same rows were
  measured beside the candidate's, or null.
- `features`: [`FeatureFairness`], one per judged feature.
- `warnings`: what the gate could not judge, in words; `chart`: the bar chart's file.

A stage that did not judge (no sensitive feature, a multi-class target) writes
`features` only, an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from mlgate.results._base import STRICT, Number, StageResult, TaskKind
from mlgate.results.validate import Label


class CheckVerdict(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"  # straddles the threshold, or would fail in mode warn
    NOT_JUDGED = "not_judged"  # undefined figure, or fewer than two groups large enough
    REPORTED = "reported"  # no threshold: shown, not judged


@dataclass(frozen=True)
class FairnessCheck:
    """One disparity of one judged feature, against its threshold (if one is set).

    `bound` is `max` for a difference, `min` for a ratio; `champion` is the champion's
    figure on the same rows and `change` the candidate's minus it.
    """

    __pydantic_config__ = STRICT

    feature: str
    metric: str
    value: Number | None  # None when undefined (e.g. a group without positives)
    interval: tuple[Number, Number] | None  # None without bootstrap or when undefined
    threshold: Number | None
    bound: str
    verdict: CheckVerdict
    message: str
    champion: Number | None
    change: Number | None


@dataclass(frozen=True)
class GroupFigures:
    """One group of a judged feature: its rows and every per-group figure."""

    __pydantic_config__ = STRICT

    group: str
    count: int
    too_small: bool  # fewer rows than `min_group_size`: reported, not judged
    metrics: dict[str, Number | None]


@dataclass(frozen=True)
class FeatureFairness:
    """A judged feature (one sensitive column, or an intersection of several)."""

    __pydantic_config__ = STRICT

    name: str
    columns: tuple[str, ...]
    groups: tuple[GroupFigures, ...]
    excluded_groups: tuple[str, ...]  # the groups too small to judge
    checks: tuple[FairnessCheck, ...]


@dataclass(frozen=True)
class ChampionRef:
    """The registered version whose predictions were measured beside the candidate's."""

    __pydantic_config__ = STRICT

    alias: str
    version: str


@dataclass(frozen=True, kw_only=True)
class FairnessResult(StageResult):
    STAGE = "fairness"

    # None when the stage did not judge (no sensitive features, a multi-class target):
    # the result then carries `features` only.
    task: TaskKind | None = None
    positive_label: Label | None = None
    rows: int | None = None
    policy: str | None = None
    mode: str | None = None
    min_group_size: int | None = None
    n_boot: int | None = None
    confidence: Number | None = None
    seed: int | None = None
    thresholds: dict[str, Number] | None = None
    predictions: str | None = None
    champion: ChampionRef | None = None
    features: tuple[FeatureFairness, ...]
    warnings: tuple[str, ...] | None = None
    chart: str | None = None

    @property
    def judged(self) -> bool:
        return self.task is not None

    @property
    def checks(self) -> tuple[FairnessCheck, ...]:
        """Every check of every judged feature, in order."""
        return tuple(check for feature in self.features for check in feature.checks)

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.judged:
            return data
        kept = ("stage", "verdict", "summary", "seconds", "features", "cache")
        return {key: data[key] for key in kept if key in data}
