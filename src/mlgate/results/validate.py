"""The validate stage's result: the data files read, the task, expectations and drift.

Two parts of `validate.json` have a shape that depends on what was read: a data file
from S3 records the object's version and ETag (written, as null when the bucket keeps no
versions) where a local file records neither, and a drift check that is switched off
records only that. Each shape is a dataclass of its own, so the JSON keeps every key
it had and a reader knows which fields it may use (`isinstance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from pydantic import JsonValue

from mlgate.results._base import STRICT, Number, StageResult, omit_if_none
from mlgate.results.train import TrainingImage

# A class label as the target column holds it (text, a number or true/false).
Label = Union[bool, int, float, str]  # noqa: UP007 (pydantic reads the alias at run time on 3.10)
# Where an expectation comes from: the feature spec's baseline, or `validation.suite`.
Origin = Literal["baseline", "suite"]
# Why an expectation failed.
Reason = Literal["unexpected", "missing-column", "no-rows", "error"]


@dataclass(frozen=True, kw_only=True)
class DvcRecord:
    """A DVC-tracked data file: its pointer, the md5 it records and where DVC keeps it."""

    __pydantic_config__ = STRICT

    pointer: str  # the .dvc file or dvc.lock, relative to the DVC repo's root
    md5: str  # DVC's md5 of the file's bytes, as the pointer records it (and the file has)
    remote: str | None  # the DVC remote's URL, without credentials; None: no remote
    commit: str | None  # the commit that last changed the pointer; None: uncommitted


@dataclass(frozen=True, kw_only=True)
class DataFileRecord:
    """What lineage records of one local data file."""

    __pydantic_config__ = STRICT

    role: str  # training or validation
    uri: str
    sha256: str
    size_bytes: int
    rows: int
    columns: int
    # A DVC-tracked file only (the key is left out of the JSON otherwise).
    dvc: DvcRecord | None = omit_if_none()  # noqa: RUF009


@dataclass(frozen=True, kw_only=True)
class S3DataFileRecord(DataFileRecord):
    """A data file read from an s3:// object: also the version and ETag that were read."""

    __pydantic_config__ = STRICT

    version_id: str | None  # None: the bucket keeps no versions
    etag: str | None


@dataclass(frozen=True, kw_only=True)
class TaskRecord:
    """The learning task, as the training data showed it (or the config declared it)."""

    __pydantic_config__ = STRICT

    kind: Literal["classification", "regression"]
    inferred: bool
    classes: tuple[Label, ...] = ()
    positive_label: Label | None = None


@dataclass(frozen=True, kw_only=True)
class FailureSample:
    """One value that failed an expectation (as shown), and how many rows held it."""

    __pydantic_config__ = STRICT

    value: str
    count: int


@dataclass(frozen=True, kw_only=True)
class ExpectationFailure:
    """One failed expectation on one data file."""

    __pydantic_config__ = STRICT

    role: str  # training or validation
    expectation: str
    origin: Origin
    column: str | None
    reason: Reason
    message: str
    failed_rows: int | None = None
    total_rows: int | None = None
    samples: tuple[FailureSample, ...] = ()
    samples_hidden: bool = False
    arguments: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Expectations:
    """The expectations checked on each data file, and those that failed."""

    __pydantic_config__ = STRICT

    engine: str
    suite: str | None  # the suite file as the config names it; None: the baseline only
    checked: dict[str, int]  # data role -> expectations checked
    failed: tuple[ExpectationFailure, ...]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.checked.values())


@dataclass(frozen=True, kw_only=True)
class DriftFeature:
    """How far one feature moved from the reference in one data file."""

    __pydantic_config__ = STRICT

    role: str  # the data file compared with the reference
    feature: str
    kind: Literal["numeric", "categorical"]
    reference_rows: int
    current_rows: int
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    drifted: bool = False
    skipped: str | None = None  # why it was not checked
    biggest_change: str | None = None  # the bucket whose share moved most


@dataclass(frozen=True, kw_only=True)
class DriftedFeature:
    """A feature that drifted, with its PSI rounded for the report."""

    __pydantic_config__ = STRICT

    role: str
    feature: str
    psi: Number


@dataclass(frozen=True, kw_only=True)
class DriftChecked:
    """Drift against the reference, feature by feature."""

    __pydantic_config__ = STRICT

    enabled: Literal[True] = True
    reference: str  # how the report names the reference
    reference_uri: str
    note: str | None  # why the configured reference could not be used
    psi_threshold: Number
    pvalue_threshold: Number
    min_rows: int
    features: tuple[DriftFeature, ...]
    drifted: tuple[DriftedFeature, ...]
    seconds: float


@dataclass(frozen=True, kw_only=True)
class DriftOff:
    """The drift check is switched off (`validation.drift.enabled: false`)."""

    __pydantic_config__ = STRICT

    enabled: Literal[False] = False
    features: tuple[DriftFeature, ...] = ()
    drifted: tuple[DriftedFeature, ...] = ()
    seconds: float = 0.0


Drift = Union[DriftChecked, DriftOff]  # noqa: UP007


@dataclass(frozen=True, kw_only=True)
class ValidateResult(StageResult):
    STAGE = "validate"

    # The S3 shape first: a local file's record would not validate as it (no version).
    files: dict[str, S3DataFileRecord | DataFileRecord]
    task: TaskRecord
    expectations: Expectations
    drift: Drift
    # compute.stages: the image it ran in (absent: on the machine mlgate ran on).
    image: TrainingImage | None = omit_if_none()  # noqa: RUF009
