"""`mlgate monitor`'s result: production data against the production version's training data.

`monitor.json` in the monitoring run's directory. Not a stage of `mlgate run` (a check
of a deployed version, in a run directory of its own), so not in `RESULT_TYPES` and never
in a pull request's report artifact; it shares the stages' JSON conventions
(`_base.to_json`, a strict `from_json`).

- `verdict`: "ok", "drift" (a feature or the predictions moved) or "degraded" (a gated
  metric on labelled production rows is, over its whole bootstrap interval, worse than
  the figure recorded at registration by more than `monitoring.max_drop`); degraded wins
  over drift. `reasons`: one line per cause, empty when ok.
- `model`, `version`, `alias`: the registered version checked (`monitoring.reference_alias`).
- `window`: the production rows read; `reference`: the data they were compared with.
- `features`: one `DriftFeature` per feature (role "production"), the same records and
  the same computation as `validate.json`'s drift; `drifted`: the features that drifted.
- `prediction`: the prediction distribution's drift, or None when no prediction could be
  had (with the reason in `prediction_note`).
- `concept`: the gated metrics on labelled rows, or why there were none.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from mlgate.results._base import STRICT, Number, _adapter, omit_if_none, to_json
from mlgate.results.evaluate import Interval
from mlgate.results.validate import DriftedFeature, DriftFeature

MonitorVerdict = Literal["ok", "drift", "degraded"]
OK, DRIFT, DEGRADED = "ok", "drift", "degraded"

# The role production data has in drift records (validate's are "training"/"validation").
PRODUCTION = "production"


@dataclass(frozen=True, kw_only=True)
class MonitorWindow:
    """The production rows compared: newest first, up to the window."""

    __pydantic_config__ = STRICT

    source: str  # monitoring.data as written
    window: str  # "10000 rows" or a time span like "24h"
    rows: int
    files_read: tuple[str, ...]  # files or s3:// objects, newest first
    files_found: int  # files matching the source (not all read when the window was full)
    prediction_log: bool  # rows came from the serving image's prediction log
    first_timestamp: str | None  # ISO-8601 UTC; None when the rows carry no time
    last_timestamp: str | None


@dataclass(frozen=True, kw_only=True)
class MonitorReference:
    """The data production is compared with."""

    __pydantic_config__ = STRICT

    uri: str
    version_id: str | None  # the S3 object version read back, when recorded
    sha256: str | None
    rows: int
    recorded: bool  # the training data recorded on the version; False: the fallback
    note: str | None  # why the recorded training data was not used


@dataclass(frozen=True, kw_only=True)
class PredictionDrift:
    """How far the predictions moved: production's against the model's on the reference."""

    __pydantic_config__ = STRICT

    source: Literal["logged", "scored"]  # from the prediction log, or scored here
    drift: DriftFeature  # feature "prediction"


@dataclass(frozen=True, kw_only=True)
class MetricCheck:
    """One gated metric on labelled production rows against its figure at registration.

    `limit` is recorded − max_drop (recorded + max_drop when lower is better);
    `degraded` only when the whole interval is past it."""

    __pydantic_config__ = STRICT

    metric: str
    value: Number
    interval: Interval | None  # None when too few bootstrap draws were defined
    recorded: Number | None  # None: the version has no figure for it (never degraded)
    max_drop: Number
    limit: Number | None
    lower_is_better: bool
    degraded: bool
    note: str | None = omit_if_none()


@dataclass(frozen=True, kw_only=True)
class ConceptDrift:
    """The gated metrics on production rows that carry a label, or why none were computed."""

    __pydantic_config__ = STRICT

    labelled_rows: int
    label_source: Literal["column", "feedback"] | None  # None: no labels
    confidence: Number
    n_boot: int
    metrics: tuple[MetricCheck, ...]
    note: str | None  # "no labels", or why the metrics could not be computed


@dataclass(frozen=True, kw_only=True)
class DriftThresholds:
    """The drift settings used (`validation.drift`), as the validate stage uses them."""

    __pydantic_config__ = STRICT

    psi_threshold: Number
    pvalue_threshold: Number
    min_rows: int
    bins: int


@dataclass(frozen=True, kw_only=True)
class MonitorResult:
    __pydantic_config__ = STRICT

    verdict: MonitorVerdict
    summary: str  # the one verdict line the console prints
    reasons: tuple[str, ...]
    model: str
    version: str
    alias: str
    window: MonitorWindow
    reference: MonitorReference
    thresholds: DriftThresholds
    features: tuple[DriftFeature, ...]
    drifted: tuple[DriftedFeature, ...]
    prediction: PredictionDrift | None
    prediction_note: str | None
    concept: ConceptDrift
    created_at: str  # ISO-8601 UTC
    seconds: float = 0.0
    mlflow_run_id: str | None = None  # the monitoring run logged for this check

    @property
    def ok(self) -> bool:
        return self.verdict == OK

    @property
    def degraded_metrics(self) -> tuple[MetricCheck, ...]:
        return tuple(check for check in self.concept.metrics if check.degraded)

    def replace(self, **changes: Any) -> MonitorResult:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = {"kind": "monitor"}
        data.update(to_json({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}))
        data["seconds"] = round(self.seconds, 3)
        return data

    @classmethod
    def from_json(cls, data: Any) -> MonitorResult:
        """The result read back; raises `ValueError` (pydantic's) when malformed."""
        if isinstance(data, dict) and "kind" in data:
            if data["kind"] != "monitor":
                raise ValueError(f"expected a monitor result, got kind {data['kind']!r}")
            data = {key: value for key, value in data.items() if key != "kind"}
        return _adapter(cls).validate_python(data)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        return _adapter(cls).json_schema()
