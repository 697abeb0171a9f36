"""The config file: the typed model of every section, validated with file and line in errors.

Every section of PRODUCT.md is modelled here, also those whose stage lands later,
so that a complete config is valid today and a typo anywhere is caught at once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlgate._catalogue import ALL_METRICS, fairness_threshold_names
from mlgate.compute.reference import image_reference
from mlgate.serving.plan import pinned_image

SUPPORTED_MAJOR_VERSION = 1

# A model.type under this package is a Spark MLlib estimator: it trains on Spark (mlgate._spark_ml).
SPARK_MODEL_PREFIX = "pyspark.ml."


def is_spark_model(model_type: str) -> bool:
    """Whether `model.type` (or a trained estimator's class) names a Spark MLlib estimator."""
    return model_type.startswith(SPARK_MODEL_PREFIX)


# compute.stages: what can run in compute.docker_image, and what stays on the host.
IMAGE_STAGES = ("validate", "train", "evaluate")
HOST_STAGES = ("fairness", "card", "register")

# MLflow names travel inside `models:/NAME@ALIAS` URIs, so they cannot hold the
# separators of that syntax.
_REGISTRY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,254}$")


def usable_registry_name(name: str) -> bool:
    """Whether MLflow can register (and `models:/` URIs can name) a model called `name`."""
    return bool(_REGISTRY_NAME.match(name))


_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,254}$")


MetricName = Annotated[str, AfterValidator(lambda name: _check_metric_name(name))]
FairnessMetricName = Annotated[str, AfterValidator(lambda name: _check_fairness_metric_name(name))]
AliasName = Annotated[str, AfterValidator(lambda alias: _check_alias(alias))]


class Section(BaseModel):
    # strict: YAML already gives real types, so `seed: yes` must not become 1.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True)


class DataSection(Section):
    training_data_path: str = Field(min_length=1)
    validation_data_path: str = Field(min_length=1)
    feature_spec: str = Field(min_length=1)


class SearchRange(Section):
    """A range `kind: random` samples from: integers when both ends are, log-scaled if asked."""

    low: int | float
    high: int | float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> SearchRange:
        if self.low >= self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low above 0, got {self.low}")
        return self


class SearchSection(Section):
    """`model.search`: the hyperparameter search scikit-learn runs (on compute.cluster if set)."""

    # Each parameter of the estimator: the values to try, or (random only) a range.
    params: dict[str, Annotated[list[Any], Field(min_length=1)] | SearchRange] = Field(min_length=1)
    kind: Literal["grid", "random"] = "grid"
    n_iter: int | None = Field(default=None, ge=1, le=10_000)  # random: candidates to draw
    cv: int = Field(default=5, ge=2, le=50)  # folds
    metric: MetricName | None = None  # default: the first of evaluation.metrics
    seed: int | None = None  # default: model.seed

    @model_validator(mode="after")
    def _fits_kind(self) -> SearchSection:
        if self.kind == "grid":
            if self.n_iter is not None:
                raise ValueError("n_iter is for kind: random; a grid tries every combination")
            ranges = [
                name for name, values in self.params.items() if isinstance(values, SearchRange)
            ]
            if ranges:
                raise ValueError(
                    f"a grid needs lists of values; {', '.join(ranges)} gives a range, which "
                    "only kind: random can sample"
                )
        return self


class ModelSection(Section):
    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    # Used as `random_state` when the estimator takes one and params do not set it,
    # so the same inputs give the same model.
    seed: int = 42
    # Installed packages (by module prefix) a class path or factory may come from, besides
    # scikit-learn and the model repository's own modules: the config names code to run.
    trusted_packages: list[Annotated[str, Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")]] = (
        Field(default_factory=list)
    )
    # Repository folders or files (relative to mlgate.yaml) holding code a model factory
    # imports, e.g. `../common` shared by several models: each one's folder goes on sys.path
    # while the factory is imported, and each is logged with the model (MLflow code_paths).
    code_paths: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    search: SearchSection | None = None


class DriftSection(Section):
    enabled: bool = True
    reference: str = "champion"
    psi_threshold: float = Field(default=0.2, gt=0)
    pvalue_threshold: float = Field(default=0.01, gt=0, lt=1)
    min_rows: int = Field(default=200, ge=1)
    bins: int = Field(default=10, ge=2, le=100)
    features: list[str] | None = None


class ValidationSection(Section):
    suite: str | None = None
    engine: Literal["pandas", "spark", "pandera"] = "pandas"
    strict_columns: bool = False
    max_sample_values: int = Field(default=5, ge=0, le=50)
    show_sensitive_values: bool = False
    drift: DriftSection = Field(default_factory=DriftSection)

    @property
    def suite_file(self) -> str | None:
        """The suite's file: `schema.py:schema` (a Pandera schema's attribute) names schema.py."""
        if self.suite and re.fullmatch(r".+\.py:[A-Za-z_][A-Za-z0-9_]*", self.suite):
            return self.suite.rsplit(":", 1)[0]
        return self.suite


class Gate(Section):
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)
    min_gain: float | None = None
    relative: bool = False

    @model_validator(mode="after")
    def _has_a_bound(self) -> Gate:
        if all(v is None for v in (self.min, self.max, self.max_drop, self.min_gain)):
            raise ValueError("a gate needs at least one of min, max, max_drop, min_gain")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    @property
    def is_comparative(self) -> bool:
        return self.max_drop is not None or self.min_gain is not None


class BootstrapSection(Section):
    n: int = Field(default=1000, ge=50, le=100_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    seed: int = 0


class EvaluationSection(Section):
    metrics: list[MetricName] = Field(default_factory=list)
    gates: dict[MetricName, Gate] = Field(default_factory=dict)
    champion_alias: AliasName = "production"
    noise_aware: bool = True
    bootstrap: BootstrapSection = Field(default_factory=BootstrapSection)
    # Scoring the model on the rows it was trained on flatters it; refused unless asked for.
    allow_training_data: bool = False

    @field_validator("metrics")
    @classmethod
    def _once_each(cls, names: list[str]) -> list[str]:
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return names


class FairnessSection(Section):
    # Each entry is a sensitive feature, or a list of them judged as one intersection.
    sensitive_features: list[str | list[str]] | None = None
    # A difference or a ratio: below 0 no model could ever pass.
    thresholds: dict[FairnessMetricName, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict
    )
    policy: Literal["point", "confident"] = "point"
    mode: Literal["block", "warn"] = "block"
    min_group_size: int = Field(default=30, ge=1)
    n_boot: int = Field(default=500, ge=0, le=100_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    seed: int = 0


class CardSection(Section):
    owners: list[str] = Field(default_factory=list)
    description: str = ""
    intended_use: str = ""
    out_of_scope_uses: str = ""
    limitations: str = ""
    ethical_considerations: str = ""
    caveats_and_recommendations: str = ""
    license: str | None = None
    template: str | None = None


class ComputeSection(Section):
    # Any text loads (the seed's `gpu-cluster-medium`); mlgate._spark says what it can use.
    cluster: str | None = None
    # Spark properties for the application mlgate starts there (spark.executor.memory, ...).
    spark_conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # The train stage runs in this image (mlgate.compute): by digest, or a tag resolved
    # to one when the stage runs. network, cpus and memory are that container's.
    docker_image: Annotated[str, AfterValidator(image_reference)] | None = None
    # The stages that run in the image (None: train alone). After docker_image: its
    # validator reads it.
    stages: list[str] | None = None
    network: bool = False
    cpus: float | None = Field(default=None, gt=0, le=1024)
    memory: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,12}[bkmg]?$")

    @property
    def image_stages(self) -> tuple[str, ...]:
        """The stages that run in docker_image, in the pipeline's order (none without it)."""
        if self.docker_image is None:
            return ()
        chosen = self.stages or ["train"]
        return tuple(name for name in IMAGE_STAGES if name in chosen)

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        allowed = ", ".join(IMAGE_STAGES)
        for name in value:
            if name in HOST_STAGES:
                raise ValueError(
                    f"{name} runs where mlgate runs, not in the image: list only {allowed} "
                    "(fairness, card and register read the registry and the repository's Git "
                    "history and reach the network)"
                )
            if name not in IMAGE_STAGES:
                raise ValueError(f"'{name}' is not a stage that runs in the image: use {allowed}")
        if "train" not in value:
            raise ValueError(
                "list train too: docker_image is where the model trains, and validate and "
                "evaluate can run there beside it"
            )
        if "docker_image" in info.data and info.data["docker_image"] is None:
            raise ValueError(
                "the stages run in compute.docker_image: set docker_image too, or remove stages"
            )
        return value

    @field_validator("cpus", mode="before")
    @classmethod
    def _whole_cpus(cls, value: Any) -> Any:
        # `cpus: 2` is as natural as `cpus: 1.5`; strict mode would refuse the int.
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _limits_need_an_image(self) -> ComputeSection:
        given = [key for key in ("network", "cpus", "memory") if key in self.model_fields_set]
        if given and self.docker_image is None:
            many = len(given) > 1
            raise ValueError(
                f"{', '.join(given)} {'apply' if many else 'applies'} to the training "
                f"container: set docker_image too, or remove {'them' if many else 'it'}"
            )
        return self


class TrackingSection(Section):
    experiment_name: str | None = Field(default=None, min_length=1)
    registry_name: str | None = None
    tracking_uri: str | None = None
    # auto: register on a push to the default branch in GitHub Actions, always elsewhere.
    registration: Literal["auto", "always", "never"] = "auto"
    candidate_alias: AliasName = "candidate"

    @field_validator("registry_name")
    @classmethod
    def _registry_name(cls, name: str | None) -> str | None:
        if name is not None and not usable_registry_name(name):
            raise ValueError(
                f"'{name}' is not a usable registered model name: use letters, digits, "
                "'.', '_', '-' or spaces (no '/', ':' or '@')"
            )
        return name


class PromotionSection(Section):
    aliases: list[AliasName] = Field(
        default_factory=lambda: ["staging", "canary", "production", "shadow"]
    )
    require_gates: bool = True
    canary_percent: float = Field(default=10, gt=0, lt=100)
    # Boxes of the pre-deployment checklist (mlgate.checklist) a version must have ticked.
    require_checklist: list[
        Literal[
            "code",
            "data",
            "dependencies",
            "evaluation",
            "bias",
            "environment",
            "registry",
            "rollback",
        ]
    ] = Field(default_factory=list)


class ServingAlertsSection(Section):
    """`serving.alerts`: when the Prometheus rules of `build-image --monitoring-out` fire."""

    error_ratio: float = Field(default=0.05, gt=0, le=1)  # failed share of /invocations
    p99_seconds: float = Field(default=0.5, gt=0)
    # How long a condition holds before its alert fires (a Prometheus duration).
    for_: str = Field(default="5m", alias="for", pattern=r"^[1-9][0-9]{0,8}[smhdw]$")
    # The largest change of a class's share (or KS distance of the values) against a day ago.
    prediction_shift: float = Field(default=0.1, gt=0, le=1)
    shadow_agreement: float = Field(default=0.9, gt=0, le=1)  # lowest agreement (classifiers)
    # Highest mean |shadow - primary| (regressors); no rule unless set: it has the target's unit.
    shadow_abs_difference: float | None = Field(default=None, gt=0)
    runbook_url: str | None = Field(default=None, pattern=r"^https?://\S+$")


class ServingSection(Section):
    """`mlgate build-image`: how a registered version becomes a serving image."""

    base_image: Annotated[str, AfterValidator(pinned_image)] | None = None
    repository: str | None = Field(default=None, min_length=1)  # where --push sends it
    wheels: str | None = Field(default=None, min_length=1)  # offline: a local wheel directory
    template: str | None = Field(default=None, min_length=1)  # a team's own Dockerfile.j2
    port: int = Field(default=8080, ge=1, le=65535)
    # Histogram buckets for a regression model's predictions on /metrics.
    prediction_buckets: list[float] | None = Field(default=None, min_length=1)
    # sklearn: MLflow's pyfunc server; onnx: the version's model.onnx on onnxruntime only
    # (export.onnx logs it), without scikit-learn or MLflow in the image.
    flavor: Literal["sklearn", "onnx"] = "sklearn"

    # The prediction log: this fraction of the rows scored (0: off), written as JSON Lines
    # to a folder in the container or an s3://bucket/prefix/, in batches of log_batch_rows
    # rows or every log_flush_seconds, whichever comes first.
    log_sample: float = Field(default=0.0, ge=0, le=1)
    log_to: str | None = Field(default=None, min_length=1)
    log_batch_rows: int = Field(default=1000, ge=1, le=1_000_000)
    log_flush_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # build-image --shadow: the share of requests the shadow model scores too (off the
    # request path); MLGATE_SHADOW_SAMPLE in the container replaces it, 0 turns it off.
    shadow_sample: float = Field(default=1.0, ge=0, le=1)
    alerts: ServingAlertsSection = Field(default_factory=ServingAlertsSection)

    @field_validator("prediction_buckets")
    @classmethod
    def _increasing(cls, buckets: list[float] | None) -> list[float] | None:
        from itertools import pairwise

        if buckets is not None and any(a >= b for a, b in pairwise(buckets)):
            raise ValueError(f"bucket bounds must increase, got {buckets}")
        return buckets

    @field_validator("log_to")
    @classmethod
    def _log_destination(cls, where: str | None) -> str | None:
        if where is None or re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?", where):
            return where
        # A folder inside the container: the image makes it, so only plain characters.
        parts = [part for part in where.split("/") if part]
        if not re.fullmatch(r"/[A-Za-z0-9._/-]+", where) or not parts or {".", ".."} & {*parts}:
            raise ValueError(
                f"expected s3://BUCKET/PREFIX/ or an absolute folder path in the container "
                f"(letters, digits, . _ - /), got {where!r}"
            )
        return where

    @model_validator(mode="after")
    def _log_needs_a_destination(self) -> ServingSection:
        if self.log_sample > 0 and self.log_to is None:
            raise ValueError("log_sample above 0 needs log_to: a folder or an s3:// prefix")
        return self


class ExportSection(Section):
    """`export:` the trained pipeline converted to other formats, checked against it."""

    onnx: bool = False  # convert with skl2onnx and check parity with onnxruntime
    # Largest absolute difference allowed between the two models' probabilities (or a
    # regressor's predictions) on any validation row; labels must be identical.
    onnx_tolerance: float = Field(default=1e-5, gt=0)

    @field_validator("onnx_tolerance", mode="before")
    @classmethod
    def _exponent(cls, value: Any) -> Any:
        # YAML 1.1 reads `1e-5` (no dot) as text; a tolerance is naturally written so.
        if isinstance(value, str) and re.fullmatch(r"[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+", value):
            return float(value)
        return value


class ReportSection(Section):
    # When true, a PR comment that cannot be posted (GitHub down, no token) fails the
    # report step (exit 3); by default it is a warning and the gates decide the exit code.
    required: bool = False


# A time span: a whole number and a unit (s, m, h, d or w), like "24h" or "7d".
_SPAN = re.compile(r"^([1-9][0-9]{0,8})([smhdw])$")
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def span_seconds(text: str) -> int:
    """The seconds in a time span like "24h" or "7d" (ValueError when it is not one)."""
    match = _SPAN.match(text)
    if not match:
        raise ValueError(
            f"'{text}' is not a time span: write a whole number and a unit s, m, h, d or w, "
            "like 24h or 7d"
        )
    return int(match.group(1)) * _SPAN_SECONDS[match.group(2)]


def _check_span(text: str) -> str:
    span_seconds(text)
    return text


TimeSpan = Annotated[str, AfterValidator(_check_span)]


class MonitoringSection(Section):
    """`mlgate monitor`: production data compared with the production version's training data.

    The GitHub keys (close_after, retrain, retrain_workflow, retrain_cooldown, issue_labels)
    are read by the monitor workflow's issue and retrain step."""

    # A file, a glob, or an s3://bucket/prefix/ (objects read newest first).
    data: str | None = Field(default=None, min_length=1)
    # The newest rows to compare: a number of rows, or a time span like "24h" or "7d".
    window: Annotated[int, Field(ge=1)] | TimeSpan = 10_000
    timestamp_column: str | None = Field(default=None, min_length=1)
    # The label's column in the data or the feedback file; default the feature spec's target.
    label_column: str | None = Field(default=None, min_length=1)
    # A file of labels that arrive later, joined to the production rows on id_columns.
    feedback: str | None = Field(default=None, min_length=1)
    id_columns: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    # The largest fall of a gated metric below its figure at registration: one number for
    # all, or one per metric (metrics not named use the evaluation gate's max_drop, else 0).
    max_drop: (
        Annotated[float, Field(ge=0)] | dict[MetricName, Annotated[float, Field(ge=0)]] | None
    ) = None
    reference_alias: AliasName = "production"
    close_after: int = Field(default=3, ge=1)
    retrain: bool = False
    retrain_workflow: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ya?ml$"
    )
    retrain_cooldown: TimeSpan = "24h"
    issue_labels: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=lambda: ["mlgate-monitor"]
    )

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        # One clear message for either form, not one per branch of the union.
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError(f"a window of rows must be at least 1, got {value}")
            return value
        if isinstance(value, str):
            return _check_span(value)
        raise ValueError(f"expected a number of rows or a time span like 24h, got {value!r}")

    @field_validator("max_drop", mode="before")
    @classmethod
    def _max_drop(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name, drop in value.items():
                _check_metric_name(str(name))
                if isinstance(drop, bool) or not isinstance(drop, (int, float)) or drop < 0:
                    raise ValueError(f"max_drop for {name} must be a number ≥ 0, got {drop!r}")
        elif value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            raise ValueError(
                f"expected a number ≥ 0 or a mapping of metric to number, got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MonitoringSection:
        if self.feedback is not None and not self.id_columns:
            raise ValueError("feedback needs id_columns: the columns that join it to the data")
        if self.retrain and self.retrain_workflow is None:
            raise ValueError("retrain: true needs retrain_workflow: the workflow file to start")
        return self

    @property
    def window_rows(self) -> int | None:
        """The window as a number of rows, or None when it is a time span."""
        return self.window if isinstance(self.window, int) else None

    @property
    def window_seconds(self) -> int | None:
        """The window as seconds, or None when it is a number of rows."""
        return None if isinstance(self.window, int) else span_seconds(self.window)

    @property
    def retrain_cooldown_seconds(self) -> int:
        return span_seconds(self.retrain_cooldown)


# What `alerts.<destination>.events` may list (mlgate.alerts.events.Cause).
ALERT_EVENTS = (
    "gate_failure",
    "drift",
    "degraded",
    "promotion_refused",
    "promotion_forced",
    "rollback",
)
AlertEvent = Literal[
    "gate_failure", "drift", "degraded", "promotion_refused", "promotion_forced", "rollback"
]
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Variables of the runner and of mlgate's other services: never an alert's secret.
_OTHER_CREDENTIALS = ("GITHUB_", "ACTIONS_", "RUNNER_", "AWS_", "MLFLOW_", "MLGATE_")


def _check_secret_variable(name: str) -> str:
    """The name of an environment variable that holds a secret, never the secret itself.

    The messages never repeat the value: it may be the webhook URL or routing key that
    must not reach a log.
    """
    if "://" in name or name.lower().startswith(("http", "hooks.", "www.")):
        raise ValueError(
            "this is a URL, not the name of an environment variable: put the URL in a "
            "secret and name its variable here (e.g. SLACK_WEBHOOK_URL); a secret must "
            "never be written in mlgate.yaml"
        )
    if re.fullmatch(r"[A-Za-z0-9]{20,}", name) and re.search(r"[0-9]", name):
        raise ValueError(
            "this looks like a key, not the name of an environment variable: put the key in "
            "a secret and name its variable here (e.g. PAGERDUTY_ROUTING_KEY); a secret must "
            "never be written in mlgate.yaml"
        )
    if not _VARIABLE_NAME.match(name):
        raise ValueError(
            "expected the name of an environment variable (letters, digits and '_', not "
            "starting with a digit), e.g. SLACK_WEBHOOK_URL"
        )
    if name.upper().startswith(_OTHER_CREDENTIALS):
        # A config in a pull request could otherwise send the token or the MLflow or AWS
        # keys of the job to a webhook as if they were its URL or routing key.
        raise ValueError(
            f"{name} holds the runner's or mlgate's own credentials, not an alert secret: "
            "name the variable that holds the webhook URL or routing key, e.g. "
            "SLACK_WEBHOOK_URL"
        )
    return name


SecretVariable = Annotated[str, AfterValidator(_check_secret_variable)]


class _AlertDestination(Section):
    @field_validator("events", check_fields=False)
    @classmethod
    def _once_each(cls, names: list[str]) -> list[str]:
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return names


class SlackAlerts(_AlertDestination):
    """A Slack incoming webhook: its URL is read from the variable `webhook_env` names."""

    webhook_env: SecretVariable = "SLACK_WEBHOOK_URL"
    events: list[AlertEvent] = Field(default_factory=lambda: list(ALERT_EVENTS))


class PagerDutyAlerts(_AlertDestination):
    """PagerDuty Events API v2: the integration's routing key is read from `routing_key_env`.

    By default only conditions that a later check ends are sent, so that every alert
    mlgate opens is also resolved by mlgate."""

    routing_key_env: SecretVariable = "PAGERDUTY_ROUTING_KEY"
    severity: Literal["critical", "error", "warning", "info"] = "error"
    events: list[AlertEvent] = Field(default_factory=lambda: ["gate_failure", "drift", "degraded"])


class AlertsSection(Section):
    """Messages on a gate failure, drift or degradation, a refused or forced promotion and
    a rollback. Webhook URLs and routing keys come only from environment variables."""

    slack: SlackAlerts | None = None
    pagerduty: PagerDutyAlerts | None = None
    # When true, an alert that cannot be delivered fails the command (exit 3); by default
    # it is a warning and the command's own verdict decides the exit code.
    required: bool = False
    # Gate failures of pull-request runs: the PR report shows them; alert on them too?
    pull_requests: bool = False

    @model_validator(mode="before")
    @classmethod
    def _mappings(cls, value: Any) -> Any:
        # A URL or key pasted in place of a mapping must not be echoed in the error.
        hint = (
            "expected a mapping like {slack: {webhook_env: SLACK_WEBHOOK_URL}}; webhook URLs "
            "and routing keys are never written in mlgate.yaml, only the names of the "
            "environment variables that hold them"
        )
        if isinstance(value, AlertsSection):
            return value
        if not isinstance(value, dict):
            raise ValueError(hint)
        for key in ("slack", "pagerduty"):
            if value.get(key) is not None and not isinstance(value[key], dict):
                raise ValueError(f"{key}: {hint}")
        return value


class Config(Section):
    version: str = "1.0"
    data: DataSection
    model: ModelSection
    validation: ValidationSection = Field(default_factory=ValidationSection)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    fairness: FairnessSection = Field(default_factory=FairnessSection)
    card: CardSection = Field(default_factory=CardSection)
    compute: ComputeSection = Field(default_factory=ComputeSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    promotion: PromotionSection = Field(default_factory=PromotionSection)
    report: ReportSection = Field(default_factory=ReportSection)
    serving: ServingSection = Field(default_factory=ServingSection)
    export: ExportSection = Field(default_factory=ExportSection)
    monitoring: MonitoringSection = Field(default_factory=MonitoringSection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        # The seed writes `version: 1.0`, which YAML reads as a float.
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"expected a version like 1.0, got {value!r}")
        text = str(value)
        major = text.split(".", 1)[0]
        if not major.isdigit():
            raise ValueError(f"expected a version like 1.0, got {text!r}")
        if int(major) != SUPPORTED_MAJOR_VERSION:
            raise ValueError(
                f"config version {text} is not supported; this mlgate reads version "
                f"{SUPPORTED_MAJOR_VERSION}.x"
            )
        return text


def did_you_mean(word: str, choices: Any) -> str:
    import difflib

    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _check_metric_name(name: str) -> str:
    if name not in ALL_METRICS:
        raise ValueError(
            f"unknown metric '{name}'{did_you_mean(name, ALL_METRICS)}; "
            f"known metrics: {', '.join(ALL_METRICS)}"
        )
    return name


def _check_fairness_metric_name(name: str) -> str:
    known = fairness_threshold_names()
    if name not in known:
        raise ValueError(
            f"unknown fairness metric '{name}'{did_you_mean(name, known)}; "
            f"known: {', '.join(known[:5])}, or <group metric>_difference / _ratio"
        )
    return name


def _check_alias(alias: str) -> str:
    if not _ALIAS.match(alias) or alias == "latest" or re.fullmatch(r"v\d+", alias):
        raise ValueError(
            f"'{alias}' is not a valid alias: start with a letter, then letters, digits, "
            "'_' or '-' ('latest' and 'v<number>' are reserved by MLflow)"
        )
    return alias


def resolve_location(base: Path, value: str) -> str | Path:
    """A data location as written: URIs stay strings, paths resolve against `base`."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        return value
    path = base / Path(value).expanduser()
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: left as written, reported as not found
        return Path(os.path.abspath(path))
