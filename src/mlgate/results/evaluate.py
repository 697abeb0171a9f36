"""The evaluate stage's result: figures, intervals, the champion and the gates judged.

`evaluate.json`, beside the common `stage`, `verdict`, `summary`, `seconds`:

- `task`: "classification" or "regression"; `rows`: validation rows scored.
- `metrics`: {metric: candidate figure}, in `evaluation.metrics` order then gated ones.
- `intervals`: {metric: `Interval` or null}: the candidate figure's bootstrap interval
  (null when too few draws were defined, e.g. a class missing from most).
- `confidence`, `noise_aware`: `evaluation.bootstrap.confidence` and `evaluation.noise_aware`.
- `bootstrap`: `BootstrapRecord`, how the intervals were drawn.
- `champion`: null when there is none (see `champion_status`), else a `Champion`.
- `champion_status`: "found", "none" (no version behind the alias yet: comparative
  gates pass) or "unreachable" (the registry failed and no comparative gate needed it);
  `champion_note`: that status in words, for reports.
- `comparison`: {metric: `Comparison`}; empty without a champion.
- `mcnemar`: null, or `McNemar` (classification with a champion).
- `gates`: [`GateResult`], in config order.
- `importance`: `Importance` (`mlgate._importance`), or null.
- `plots`: `Plots`: {"files": {kind: path relative to the run directory}, "skipped": {kind: why}}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlgate.results._base import STRICT, Number, StageResult, TaskKind, Verdict, omit_if_none
from mlgate.results.train import TrainingImage

# A gate's bound: absolute, or against the champion.
Bound = Literal["min", "max", "max_drop", "min_gain"]

# `champion_status`: a champion was compared, there is none yet, or the registry failed.
FOUND, NO_CHAMPION, UNREACHABLE = "found", "none", "unreachable"


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval: `low` and `high` at the run's confidence."""

    __pydantic_config__ = STRICT

    low: Number
    high: Number


@dataclass(frozen=True)
class GateResult:
    """One bound of one gate. `value` is the candidate's figure.

    Comparative bounds also carry the champion's figure, the difference
    (candidate − champion, in the metric's own units, or as a fraction of the
    champion's figure when `relative`) and its bootstrap interval (`low`, `high`),
    and whether the verdict was taken on the interval (`noise_aware`).
    """

    __pydantic_config__ = STRICT

    metric: str
    bound: Bound
    limit: Number
    value: Number | None
    verdict: Verdict
    message: str
    champion: Number | None = None
    difference: Number | None = None
    low: Number | None = None
    high: Number | None = None
    relative: bool = False
    noise_aware: bool | None = None

    @property
    def comparative(self) -> bool:
        return self.bound in ("max_drop", "min_gain")


@dataclass(frozen=True)
class BootstrapRecord:
    """How the intervals were drawn: `n` paired draws from `seed`, and how long they took."""

    __pydantic_config__ = STRICT

    n: int
    seed: int
    confidence: Number
    seconds: Number


@dataclass(frozen=True)
class Champion:
    """The registered version compared with, and its figures on the same rows.

    A figure the champion cannot give (no probabilities, other classes) is None in
    `metrics`, with the reason in `unavailable`.
    """

    __pydantic_config__ = STRICT

    alias: str
    version: str
    run_id: str | None
    metrics: dict[str, Number | None]
    unavailable: dict[str, str]


@dataclass(frozen=True)
class Comparison:
    """candidate − champion for one metric, with its paired-bootstrap interval.

    `relative` is the difference as a fraction of the champion's figure (None when the
    champion's figure is 0). Intervals are None when too few draws were defined.
    """

    __pydantic_config__ = STRICT

    candidate: Number
    champion: Number
    difference: Number
    interval: Interval | None
    relative: Number | None
    relative_interval: Interval | None
    lower_is_better: bool


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on the rows where exactly one of the two models is right."""

    __pydantic_config__ = STRICT

    candidate_only_correct: int
    champion_only_correct: int
    statistic: Number | None  # chi-square statistic; None for the exact test
    p_value: Number
    method: str  # "exact binomial" or "chi-square with continuity correction"


@dataclass(frozen=True)
class FeatureImportance:
    __pydantic_config__ = STRICT

    name: str
    importance: Number
    std: Number | None  # the spread over the shuffles; None for the model's own figures


@dataclass(frozen=True)
class Importance:
    """Which input columns the model leans on, largest first (`mlgate._importance`)."""

    __pydantic_config__ = STRICT

    method: str  # "model" (the estimator's own figures) or "permutation"
    source: str
    features: tuple[FeatureImportance, ...]


@dataclass(frozen=True)
class Plots:
    """The plots drawn (kind → path under the run directory) and why others were not."""

    __pydantic_config__ = STRICT

    files: dict[str, str]
    skipped: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class EvaluateResult(StageResult):
    STAGE = "evaluate"

    task: TaskKind
    rows: int
    metrics: dict[str, Number]
    intervals: dict[str, Interval | None]
    confidence: Number
    noise_aware: bool
    bootstrap: BootstrapRecord
    champion: Champion | None
    champion_status: str
    champion_note: str
    comparison: dict[str, Comparison]
    mcnemar: McNemar | None
    gates: tuple[GateResult, ...]
    importance: Importance | None
    plots: Plots
    # compute.stages: the image it ran in (absent: on the machine mlgate ran on).
    image: TrainingImage | None = omit_if_none()  # noqa: RUF009
