"""The register stage: log the run to MLflow, and register the model when allowed.

Order matters for "nothing half-registered": the version is created with all its
lineage tags in one call, and found again by its fingerprint on a re-run, so a
crash between "version created" and "alias set" is repaired by running again.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, TypeVar

from mlgate import _ci_context as ci_context
from mlgate import pipeline
from mlgate.results import (
    EvaluateResult,
    FairnessResult,
    RegisterResult,
    TrainResult,
    ValidateResult,
    Verdict,
)
from mlgate.rundir import CARD_FILES, FAIRNESS_CHART, ONNX_FILE, PLOTS_DIR
from mlgate.stages._session import Session
from mlgate.tracking import tags as keys
from mlgate.tracking.uri import display_uri

R = TypeVar("R")

# Promotion refuses a version without its commit (mlgate.promotion.rules.check_lineage).
NO_COMMIT = (
    "lineage incomplete: missing git commit, so promoting it will need --force --reason TEXT "
    "(commit the repository and run again)"
)

# The earlier stages' results, logged with the run.
RESULT_FILES = tuple(pipeline.BY_NAME[name].result_file for name in pipeline.before("card"))


def run(session: Session) -> RegisterResult:
    session.ensure_data("register")
    pipeline_model = session.ensure_model("register")
    return register(session, pipeline_model)


def registration_decision(policy: str, ci: ci_context.CiContext) -> tuple[bool, str]:
    """Whether this run may register, and why not when it may not."""
    if policy == "never":
        return False, "tracking.registration is 'never'"
    if policy == "always" or not ci.in_github:
        return True, ""
    if ci.is_default_branch_push:
        return True, ""
    if ci.event_name in ("pull_request", "pull_request_target", "merge_group"):
        return False, "pull request runs are logged, not registered"
    return False, f"only a push to the default branch registers (this run: {ci.event_name})"


def register(session: Session, model: Any) -> RegisterResult:
    from mlgate.card import registration as card_stage
    from mlgate.fairness.tags import tags as fairness_tags

    project = session.project
    data = _result(session, "validate", ValidateResult)
    train = _result(session, "train", TrainResult)
    evaluation = _result(session, "evaluate", EvaluateResult)
    fairness = _result(session, "fairness", FairnessResult)
    gates_passed = (
        data.verdict is Verdict.PASSED
        and train.verdict is not Verdict.FAILED  # export.onnx: converted, parity held
        and evaluation.verdict is Verdict.PASSED
        and fairness.verdict is not Verdict.FAILED
    )
    allowed, why_not = registration_decision(project.config.tracking.registration, session.ci)

    code = ci_context.code_version(project.root, session.ci)
    fingerprint = ci_context.fingerprint(
        {
            "data": {role: info.sha256 for role, info in data.files.items()},
            "config": project.config_sha256,
            "feature_spec": project.spec_sha256,
            "commit": code.commit,
            "mlgate": ci_context.environment()["mlgate"],
        }
    )
    tags = lineage_tags(session, data, train, evaluation, code, fingerprint)
    tags.update(fairness_tags(fairness))
    with_card = card_stage.has_card(session.run_dir)
    if with_card:
        tags.update(card_stage.card_tags())  # where the card is among the run's artifacts

    registry = session.registry()
    existing = registry.find_version(fingerprint) if gates_passed and allowed else None
    features = session.frames["validation"][list(train.feature_columns)]
    logged = registry.log_run(
        run_name=f"mlgate-{session.run_dir.run_id}",
        params=_params(train, data),
        metrics=dict(evaluation.metrics),
        tags={**tags, **({keys.REUSED_VERSION: str(existing.version)} if existing else {})},
        artifacts=[
            *(session.run_dir.file(name) for name in RESULT_FILES),
            *(session.run_dir.file(name) for name in CARD_FILES),
            session.run_dir.file(PLOTS_DIR),  # the evaluation's PNGs, as mlgate/plots/
            session.run_dir.file(FAIRNESS_CHART),
        ],
        # A version with this fingerprint already holds this very model: do not log it twice.
        model=None if existing else model,
        input_example=features.head(5),
        pip_requirements=pip_requirements(),
        code_paths=[project.root / path for path in train.code_paths],
        onnx_model=_onnx_model(session, train),
        # A run directory of this repo is over: mlgate holds the repo's lock.
        left_behind=lambda run_id: (session.run_dir.path.parent / run_id).is_dir(),
    )
    if train.search is not None:
        registry.log_candidates(logged, train.search)
    details: dict[str, Any] = {
        "tracking_uri": display_uri(registry.uri),
        "experiment": project.experiment_name,
        "mlflow_run_id": logged.run_id,
        "mlflow_run_url": logged.url,
        "fingerprint": fingerprint,
        "registered_model": project.registry_name,
        "version": None,
        "reused": False,
        "alias": None,
    }
    where = f"run {logged.run_id[:8]} in {registry.location}"
    if not gates_passed:
        return RegisterResult(
            verdict=Verdict.SKIPPED,
            summary=f"not registered: a gate failed · {where}",
            reason="a gate failed",
            **details,
        )
    if not allowed:
        return RegisterResult(
            verdict=Verdict.SKIPPED,
            summary=f"not registered: {why_not} · {where}",
            reason=why_not,
            **details,
        )

    alias = project.config.tracking.candidate_alias
    reused = existing is not None
    if reused:
        version = str(existing.version)
        if existing.run_id:  # the version's own run, not this one that found it again
            details.update(
                mlflow_run_id=existing.run_id,
                mlflow_run_url=registry.url_of_run(existing.run_id),
            )
            where = f"run {existing.run_id[:8]} in {registry.location}"
    else:
        version = registry.register(logged, {**tags, keys.MLFLOW_RUN_ID: logged.run_id})
    registry.set_alias(alias, version)
    if with_card:  # the card was written before the version existed: name it, log it again
        stamped = card_stage.stamp_registration(session, version, alias, pip_requirements())
        card_stage.log_card_files(registry, logged.run_id, stamped)
    details.update(version=version, reused=reused, alias=alias)
    said = "already registered for these inputs" if reused else "registered"
    summary = f"{project.registry_name} v{version} {said} · alias {alias} · {where}"
    if not code.commit:
        summary += f" · {NO_COMMIT}"
    return RegisterResult(verdict=Verdict.PASSED, summary=summary, **details)


def lineage_tags(
    session: Session,
    data: ValidateResult,
    train: TrainResult,
    evaluation: EvaluateResult,
    code: ci_context.CodeVersion,
    fingerprint: str,
) -> dict[str, str]:
    """The version's lineage and gates as `mlgate.*` tags (None values left out)."""
    project, ci = session.project, session.ci
    tags: dict[str, Any] = {
        keys.FINGERPRINT: fingerprint,
        keys.RUN_ID: session.run_dir.run_id,
        keys.GIT_COMMIT: code.commit,
        keys.GIT_REPOSITORY: code.repository,
        keys.GIT_DIRTY: code.dirty,
        keys.CI_RUN_URL: ci.run_url,
        keys.CI_EVENT: ci.event_name,
        keys.CI_REF: ci.ref,
        keys.ACTOR: ci.actor,
        keys.CONFIG_SHA256: project.config_sha256,
        keys.FEATURE_SPEC_SHA256: project.spec_sha256,
        keys.MODEL_TYPE: project.config.model.type,
        keys.MODEL_ESTIMATOR: train.estimator_class,
        keys.TASK: data.task.kind,
    }
    for role, info in data.files.items():
        tags[keys.data_key(role, "uri")] = info.uri
        tags[keys.data_key(role, "sha256")] = info.sha256
        tags[keys.data_key(role, "rows")] = info.rows
        # An s3:// source: the object version and ETag that were read (absent locally).
        tags[keys.data_key(role, "version_id")] = getattr(info, "version_id", None)
        tags[keys.data_key(role, "etag")] = getattr(info, "etag", None)
        if info.dvc is not None:  # a DVC-tracked file: its pointer's md5, remote and commit
            tags[keys.data_key(role, keys.DATA_DVC_MD5)] = info.dvc.md5
            tags[keys.data_key(role, keys.DATA_DVC_REMOTE)] = info.dvc.remote
            tags[keys.data_key(role, keys.DATA_DVC_POINTER)] = info.dvc.pointer
            tags[keys.data_key(role, keys.DATA_DVC_COMMIT)] = info.dvc.commit
    environment = ci_context.environment()
    if train.image is not None:  # trained in compute.docker_image: its versions
        environment.update(python=train.image.python, **train.image.packages)
        tags[keys.TRAINING_IMAGE] = train.image.pinned
        tags[keys.TRAINING_IMAGE_BY_DIGEST] = train.image.by_digest
        ran = {"validate": data, "train": train, "evaluate": evaluation}
        tags[keys.IMAGE_STAGES] = ",".join(name for name, r in ran.items() if r.image is not None)
    for name, version in environment.items():
        tags[keys.env_key(name)] = version
    # Promotion re-checks every recorded gate.
    tags[keys.gate_key("validation")] = data.verdict.value
    tags[keys.gate_key("evaluation")] = evaluation.verdict.value
    for name, value in evaluation.metrics.items():
        tags[keys.metric_key(name)] = f"{value:.6g}"
    tags[keys.GATES] = json.dumps(
        [
            {
                "metric": gate.metric,
                "bound": gate.bound,
                "limit": gate.limit,
                "value": gate.value,
                "verdict": gate.verdict.value,
            }
            for gate in evaluation.gates
        ],
        separators=(",", ":"),
    )
    return {key: str(value) for key, value in tags.items() if value is not None}


def pip_requirements() -> list[str]:
    """The model's own runtime, pinned to what trained it (no slow inference by MLflow)."""
    env = ci_context.environment()
    pins = [
        f"{package}=={env[package]}"
        for package in ("scikit-learn", "pandas", "numpy")
        if package in env
    ]
    from importlib import metadata

    with contextlib.suppress(metadata.PackageNotFoundError):
        pins.append(f"cloudpickle=={metadata.version('cloudpickle')}")
    return pins


def _onnx_model(session: Session, train: TrainResult) -> Path | None:
    """model.onnx as the train stage wrote it, logged beside the scikit-learn model."""
    if train.onnx is None or not train.onnx.passed:
        return None
    from mlgate._cache import file_sha256
    from mlgate.errors import RunDirError

    path = session.run_dir.file(ONNX_FILE)
    try:
        if file_sha256(path) == train.onnx.sha256:
            return path
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing; rerun `mlgate train`") from None
    raise RunDirError(
        f"{path} is not the model this run's train stage wrote (its SHA-256 differs from "
        "train.json's onnx.sha256); rerun `mlgate train`"
    )


def _result(session: Session, stage: str, kind: type[R]) -> R:
    result = session.result(stage, "register")
    assert isinstance(result, kind)
    return result


def _params(train: TrainResult, data: ValidateResult) -> dict[str, Any]:
    params = {f"model.{key}": value for key, value in train.params.items()}
    params["model.estimator"] = train.estimator
    params["task"] = data.task.kind
    params["features"] = len(train.feature_columns)
    return params
