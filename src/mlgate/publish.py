"""The register stage: log the run to MLflow, and register the model when allowed.

Order matters for "nothing half-registered": the version is created with all its
lineage tags in one call, and found again by its fingerprint on a re-run, so a
crash between "version created" and "alias set" is repaired by running again.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from mlgate import ci_context
from mlgate.card import CARD_FILES
from mlgate.card import stage as card_stage
from mlgate.fairness import CHART_FILE as FAIRNESS_CHART
from mlgate.fairness import tags as fairness_tags
from mlgate.plots import PLOTS_DIR
from mlgate.registry import display_uri
from mlgate.results import RegisterResult, Verdict

TAG_PREFIX = "mlgate."
RESULT_FILES = ("validate.json", "train.json", "evaluate.json", "fairness.json")


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


def publish(session: Any, pipeline: Any) -> RegisterResult:
    project = session.project
    data = session.result("validate", "register").to_json()
    train = session.result("train", "register").to_json()
    evaluation = session.result("evaluate", "register").to_json()
    fairness = session.result("fairness", "register").to_json()
    gates_passed = (
        data["verdict"] == Verdict.PASSED.value
        and evaluation["verdict"] == Verdict.PASSED.value
        and fairness["verdict"] != Verdict.FAILED.value
    )
    allowed, why_not = registration_decision(project.config.tracking.registration, session.ci)

    code = ci_context.code_version(project.root, session.ci)
    fingerprint = ci_context.fingerprint(
        {
            "data": {role: info["sha256"] for role, info in data["files"].items()},
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
    features = session.frames["validation"][train["feature_columns"]]
    logged = registry.log_run(
        run_name=f"mlgate-{session.run_dir.run_id}",
        params=_params(train, data),
        metrics=evaluation["metrics"],
        tags={
            **tags,
            **({f"{TAG_PREFIX}reused_version": str(existing.version)} if existing else {}),
        },
        artifacts=[
            *(session.run_dir.file(name) for name in RESULT_FILES),
            *(session.run_dir.file(name) for name in CARD_FILES),
            session.run_dir.file(PLOTS_DIR),  # the evaluation's PNGs, as mlgate/plots/
            session.run_dir.file(FAIRNESS_CHART),
        ],
        # A version with this fingerprint already holds this very model: do not log it twice.
        model=None if existing else pipeline,
        input_example=features.head(5),
        pip_requirements=pip_requirements(),
        code_paths=[project.root / path for path in train.get("code_paths", [])],
    )
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
        details["reason"] = "a gate failed"
        return RegisterResult(
            verdict=Verdict.SKIPPED, summary=f"not registered: a gate failed · {where}", **details
        )
    if not allowed:
        details["reason"] = why_not
        return RegisterResult(
            verdict=Verdict.SKIPPED, summary=f"not registered: {why_not} · {where}", **details
        )

    alias = project.config.tracking.candidate_alias
    reused = existing is not None
    if reused:
        version = str(existing.version)
    else:
        version = registry.register(logged, {**tags, f"{TAG_PREFIX}mlflow_run_id": logged.run_id})
    registry.set_alias(alias, version)
    if with_card:  # the card was written before the version existed: name it, log it again
        stamped = card_stage.stamp_registration(session, version, alias)
        card_stage.log_card_files(registry, logged.run_id, stamped)
    details.update(version=version, reused=reused, alias=alias)
    said = "already registered for these inputs" if reused else "registered"
    summary = f"{project.registry_name} v{version} {said} · alias {alias} · {where}"
    return RegisterResult(verdict=Verdict.PASSED, summary=summary, **details)


def lineage_tags(
    session: Any,
    data: dict[str, Any],
    train: dict[str, Any],
    evaluation: dict[str, Any],
    code: ci_context.CodeVersion,
    fingerprint: str,
) -> dict[str, str]:
    project, ci = session.project, session.ci
    tags: dict[str, Any] = {
        "fingerprint": fingerprint,
        "run_id": session.run_dir.run_id,
        "git.commit": code.commit,
        "git.repository": code.repository,
        "git.dirty": code.dirty,
        "ci.run_url": ci.run_url,
        "ci.event": ci.event_name,
        "ci.ref": ci.ref,
        "actor": ci.actor,
        "config.sha256": project.config_sha256,
        "feature_spec.sha256": project.spec_sha256,
        "model.type": project.config.model.type,
        "model.estimator": train["estimator_class"],
        "task": data["task"]["kind"],
    }
    for role, info in data["files"].items():
        tags[f"data.{role}.uri"] = info["uri"]
        tags[f"data.{role}.sha256"] = info["sha256"]
        tags[f"data.{role}.rows"] = info["rows"]
        # An s3:// source: the object version and ETag that were read (absent locally).
        tags[f"data.{role}.version_id"] = info.get("version_id")
        tags[f"data.{role}.etag"] = info.get("etag")
    for name, version in ci_context.environment().items():
        tags[f"env.{name}"] = version
    tags["gate.validation"] = data["verdict"]  # promotion re-checks every recorded gate
    tags["gate.evaluation"] = evaluation["verdict"]
    for name, value in evaluation["metrics"].items():
        tags[f"metric.{name}"] = f"{value:.6g}"
    tags["gates"] = json.dumps(
        [
            {k: gate[k] for k in ("metric", "bound", "limit", "value", "verdict")}
            for gate in evaluation["gates"]
        ],
        separators=(",", ":"),
    )
    return {f"{TAG_PREFIX}{key}": str(value) for key, value in tags.items() if value is not None}


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


def _params(train: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    params = {f"model.{key}": value for key, value in train["params"].items()}
    params["model.estimator"] = train["estimator"]
    params["task"] = data["task"]["kind"]
    params["features"] = len(train["feature_columns"])
    return params
