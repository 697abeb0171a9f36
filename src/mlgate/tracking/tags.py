"""Every `mlgate.*` key that mlgate writes on MLflow runs, versions and models (and on images).

The register stage writes a version's lineage and gates with these keys; promotion,
`mlgate lineage`, build-image, the drift reference and the card read them back. A key is
named here once; everyone else imports it.
"""

from __future__ import annotations

from typing import Any

PREFIX = "mlgate."

# --- a registered version's lineage (also on its MLflow run) ---------------------------
FINGERPRINT = PREFIX + "fingerprint"  # the inputs' hash: one version per fingerprint
RUN_ID = PREFIX + "run_id"  # mlgate's run directory id
MLFLOW_RUN_ID = PREFIX + "mlflow_run_id"  # on the version: the MLflow run that made it
REUSED_VERSION = PREFIX + "reused_version"  # on a run: the version that already held it
GIT_PREFIX = PREFIX + "git."
GIT_COMMIT = GIT_PREFIX + "commit"
GIT_REPOSITORY = GIT_PREFIX + "repository"
GIT_DIRTY = GIT_PREFIX + "dirty"
CI_PREFIX = PREFIX + "ci."
CI_RUN_URL = CI_PREFIX + "run_url"
CI_EVENT = CI_PREFIX + "event"
CI_REF = CI_PREFIX + "ref"
ACTOR = PREFIX + "actor"
CONFIG_SHA256 = PREFIX + "config.sha256"
FEATURE_SPEC_SHA256 = PREFIX + "feature_spec.sha256"
MODEL_PREFIX = PREFIX + "model."
MODEL_TYPE = MODEL_PREFIX + "type"
MODEL_ESTIMATOR = MODEL_PREFIX + "estimator"
TASK = PREFIX + "task"
DATA_PREFIX = PREFIX + "data."  # mlgate.data.<role>.<field>
# The fields of a DVC-tracked data file (mlgate.data.<role>.dvc_md5, ...): the md5 its
# pointer records, the DVC remote's URL (no credentials), the pointer file (.dvc or
# dvc.lock, from the DVC repo's root) and the commit that last changed it.
DATA_DVC_MD5 = "dvc_md5"
DATA_DVC_REMOTE = "dvc_remote"
DATA_DVC_POINTER = "dvc_pointer"
DATA_DVC_COMMIT = "dvc_commit"
ENV_PREFIX = PREFIX + "env."  # mlgate.env.<package>: the versions that trained it
# compute.docker_image: the image it trained in, NAME@sha256:... (or a local image id),
# and whether that is a registry digest ("True"/"False").
TRAINING_IMAGE = PREFIX + "compute.image"
TRAINING_IMAGE_BY_DIGEST = TRAINING_IMAGE + ".by_digest"
# compute.stages: the stages that ran in it, comma-separated in the pipeline's order.
IMAGE_STAGES = TRAINING_IMAGE + ".stages"

# model.search: on each candidate's child run, whether it won ("true"/"false").
SEARCH_WINNER = PREFIX + "search.winner"

# --- its gates --------------------------------------------------------------------------
GATE_PREFIX = PREFIX + "gate."  # mlgate.gate.<name>: a gate's verdict
METRIC_PREFIX = PREFIX + "metric."  # mlgate.metric.<name>: a headline figure
GATES = PREFIX + "gates"  # the evaluation gates' checks, as compact JSON
FAIRNESS = PREFIX + "fairness"  # the fairness checks, as compact JSON
FAIRNESS_POLICY = FAIRNESS + ".policy"

# --- its model card, among the run's artifacts -----------------------------------------
CARD = PREFIX + "card"
CARD_FACTS = CARD + ".facts"

# --- its serving image ------------------------------------------------------------------
IMAGE = PREFIX + "image"  # the pushed image, REPOSITORY@sha256:...

# --- a monitoring run (`mlgate monitor`), one per check -----------------------------------
MONITOR_PREFIX = PREFIX + "monitor."
MONITOR_MODEL = MONITOR_PREFIX + "model"  # the registered model checked
MONITOR_VERSION = MONITOR_PREFIX + "version"  # its version behind the alias
MONITOR_ALIAS = MONITOR_PREFIX + "alias"
MONITOR_VERDICT = MONITOR_PREFIX + "verdict"  # ok, drift or degraded

# --- a registered model's promotion ledger (see mlgate.promotion.ledger) ---------------
LEDGER_PREFIX = PREFIX + "ledger."  # mlgate.ledger.<seq>: one move
LEDGER_HEAD = LEDGER_PREFIX + "head"
LEDGER_CLAIM_PREFIX = LEDGER_PREFIX + "claim."  # mlgate.ledger.claim.<seq>
CANARY_PERCENT = PREFIX + "canary.percent"

# --- labels of a serving image, beside the version's tags it copies ---------------------
LABEL_MODEL_NAME = MODEL_PREFIX + "name"
LABEL_MODEL_VERSION = MODEL_PREFIX + "version"
LABEL_MODEL_URI = MODEL_PREFIX + "uri"
LABEL_BUILT_BY = IMAGE + ".built_by"
LABEL_SHADOW_URI = IMAGE + ".shadow"  # build-image --shadow: models:/NAME/VERSION

# The lineage an audit needs: what code, what data, what config (promotion checks them).
LINEAGE_REQUIRED = {
    GIT_COMMIT: "git commit",
    CONFIG_SHA256: "config hash",
    FEATURE_SPEC_SHA256: "feature spec hash",
    DATA_PREFIX + "training.uri": "training data URI",
    DATA_PREFIX + "training.sha256": "training data hash",
    DATA_PREFIX + "validation.uri": "validation data URI",
    DATA_PREFIX + "validation.sha256": "validation data hash",
}


def data_key(role: str, field: str) -> str:
    """`mlgate.data.<role>.<field>`: one fact about a data file (uri, sha256, rows, ...)."""
    return f"{DATA_PREFIX}{role}.{field}"


def gate_key(name: str) -> str:
    return GATE_PREFIX + name


def metric_key(name: str) -> str:
    return METRIC_PREFIX + name


def env_key(package: str) -> str:
    return ENV_PREFIX + package


def ledger_entry_key(seq: int) -> str:
    return f"{LEDGER_PREFIX}{seq:06d}"


def ledger_claim_key(seq: int) -> str:
    return f"{LEDGER_CLAIM_PREFIX}{seq:06d}"


def with_prefix(key: str, prefix: str) -> str | None:
    """What follows `prefix` in `key`, or None when `key` does not start with it."""
    return key[len(prefix) :] if key.startswith(prefix) else None


def typed(key: str, value: str) -> Any:
    """A tag's value as what it was written from: MLflow keeps every tag as text.

    A data file's row count is an int, a headline metric a float, `git.dirty` a bool;
    every other tag, and a value that does not read as its type, stays text.
    """
    try:
        if key in (GIT_DIRTY, TRAINING_IMAGE_BY_DIGEST):
            return {"True": True, "False": False}[value]
        if key.startswith(DATA_PREFIX) and key.endswith(".rows"):
            return int(value)
        if key.startswith(METRIC_PREFIX):
            return float(value)
    except (KeyError, ValueError):
        pass
    return value
