"""Which inputs each stage reads, so that a re-run can reuse what has not changed.

The table `READS` is the whole policy: change a gate threshold and only the stages
that read `evaluation` (and those that read their results) run again; change the
validation file and training is reused, since training never reads it. The
fingerprints themselves and the store are in `mlgate._cache`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate import __version__
from mlgate._cache import NO_CHAMPION, UNKNOWN, StageInputs, champion_version
from mlgate.config import is_spark_model
from mlgate.pipeline import before
from mlgate.rundir import (
    CARD_FILES,
    FAIRNESS_CHART,
    MODEL_FILE,
    ONNX_FILE,
    PLOTS_DIR,
    PREDICTIONS_FILE,
    SPARK_MODEL_DIR,
)

if TYPE_CHECKING:
    from mlgate._cache import CachedStage
    from mlgate.stages import Session


@dataclass(frozen=True)
class Reads:
    """What one stage reads and writes."""

    config: tuple[str, ...] = ()  # dotted paths into mlgate.yaml
    data: tuple[str, ...] = ()  # data roles whose bytes it reads
    upstream: tuple[str, ...] = ()  # earlier stages whose outputs it reads
    packages: tuple[str, ...] = ()  # libraries that shape its result
    files: tuple[str, ...] = ()  # config keys naming files in the model repo
    champion: bool = False  # compares with the version behind the champion alias
    code: bool = False  # runs the model repo's own code (a model factory)
    ci: bool = False  # depends on the event that started the run
    outputs: tuple[str, ...] = ()  # files and folders it leaves in the run directory


_CORE = ("pandas", "numpy")
READS: dict[str, Reads] = {
    "validate": Reads(
        config=("data", "validation"),
        data=("training", "validation"),
        packages=(*_CORE, "pyarrow", "great-expectations", "scipy"),
        # The reference may name a data file ("champion" and "training" name no file).
        files=("validation.suite", "validation.drift.reference"),
        champion=True,  # drift may compare with the champion's training data
    ),
    "train": Reads(
        config=("data.feature_spec", "model"),
        data=("training",),
        packages=(*_CORE, "scikit-learn"),
        code=True,
        outputs=(MODEL_FILE, ONNX_FILE, SPARK_MODEL_DIR),
    ),
    "evaluate": Reads(
        config=("evaluation",),
        data=("validation",),
        upstream=("train",),
        packages=(*_CORE, "scikit-learn", "scipy", "matplotlib"),
        champion=True,
        outputs=(PREDICTIONS_FILE, PLOTS_DIR),
    ),
    "fairness": Reads(
        config=("fairness", "evaluation.champion_alias"),
        data=("validation",),
        upstream=("train",),
        packages=(*_CORE, "scikit-learn", "fairlearn", "matplotlib"),
        champion=True,
        outputs=(FAIRNESS_CHART,),
    ),
    "card": Reads(
        config=("card", "tracking", "evaluation.champion_alias"),
        upstream=before("card"),
        packages=("jinja2",),
        files=("card.template",),
        champion=True,  # the card shows what changed against the champion's
        ci=True,  # its checklist shows the commit and the review the event allows
        outputs=CARD_FILES,
    ),
    "register": Reads(
        config=("tracking", "promotion"),
        upstream=before("register"),
        # mlflow-skinny carries MLflow's version whether the full package is installed or not.
        packages=("mlflow-skinny", "scikit-learn"),
        ci=True,
        # It stamps the card with the version it registered.
        outputs=CARD_FILES,
    ),
}

# With export.onnx the train stage also converts the model and checks it on the
# validation rows; without it, its fingerprint stays what it was.
ONNX_READS = Reads(
    config=("export",), data=("validation",), packages=("skl2onnx", "onnxruntime", "onnx")
)


def _reads(project: Any, stage: str) -> Reads:
    reads = READS[stage]
    from dataclasses import replace

    if stage == "validate" and project.config.validation.engine == "pandera":
        return replace(reads, packages=(*reads.packages, "pandera"))
    if stage == "train" and is_spark_model(project.config.model.type):
        # A Spark MLlib model: where it trains and pyspark's version shape it too.
        spark = ("compute.cluster", "compute.spark_conf")
        return replace(reads, config=(*reads.config, *spark), packages=(*reads.packages, "pyspark"))
    if stage in project.config.compute.image_stages:
        # Run in the image: its limits and network count, and the image (`_image`).
        reads = replace(reads, config=(*reads.config, "compute"))
    if stage != "train" or not project.config.export.onnx:
        return reads

    return replace(
        reads,
        config=(*reads.config, *ONNX_READS.config),
        data=(*reads.data, *ONNX_READS.data),
        packages=(*reads.packages, *ONNX_READS.packages),
    )


def stage_inputs(session: Session, stage: str) -> StageInputs:
    """The inputs of `stage` in this session; upstream fingerprints come from its results."""
    from mlgate._cache import package_versions

    project = session.project
    reads = _reads(project, stage)
    config = {path: _config_value(project.config, path) for path in reads.config}
    files = {f"data.{role}": _data_sha256(session, role) for role in reads.data}
    for role in reads.data:  # the validate stage records the DVC lineage: all of it counts
        files.update(_dvc_inputs(project, role, lineage=stage == "validate"))
    files["feature_spec"] = project.spec_sha256
    for key in reads.files:
        value = _config_value(project.config, key)
        if key == "validation.suite" and value != project.config.validation.suite_file:
            files[key] = _schema_code(project)  # `schema.py:schema` and what it imports
            continue
        if value and value not in ("champion", "training"):
            files[key] = _file_sha256(project.location(str(value)))
    if "compute" in reads.config:
        files["compute.docker_image"] = _image(session)
    upstream = {name: _upstream_fingerprint(session, name) for name in reads.upstream}
    return StageInputs(
        stage=stage,
        config=config,
        files=files,
        upstream=upstream,
        packages={"mlgate": __version__, **package_versions(reads.packages)},
        code=_model_code(project) if reads.code else None,
        champion=_champion(session) if reads.champion else None,
        context=_ci(session) if reads.ci else {},
    )


def still_valid(session: Session, cached: CachedStage) -> bool:
    """A stored result that points into the registry is reused only while that holds true."""
    if cached.stage != "register":
        return True
    version = cached.result.get("version")
    if not version:
        return True  # nothing was registered (a pull request's run, or a failed gate)
    project = session.project
    alias = project.config.tracking.candidate_alias
    from mlgate.tracking.uri import tracking_uri

    current = champion_version(tracking_uri(project), project.registry_name, alias)
    return current == str(version)


def _image(session: Session) -> str:
    """The training image by digest (or local id): a moved tag is another environment."""
    from mlgate.compute.container import training_image

    resolved = training_image(session)
    return f"{resolved.pinned} {resolved.image_id}"


def _model_code(project: Any) -> str | None:
    """The team's own model code, file by file, when `model.type` is `package.module:factory`.

    Only that code: the rest of the repository (its config, its README, a new commit that
    changes neither) must not force retraining. A scikit-learn class is pinned by the
    library versions instead. The factory's top-level package (or module file) is what
    mlgate ships with the model as its code_paths.
    """
    import hashlib

    written = project.config.model.type
    if ":" not in written:
        return None
    top = project.root / written.split(":")[0].split(".")[0]
    digest = hashlib.sha256()
    # model.code_paths (code shared with other models) ships with the model too.
    shared = [project.root / path for path in project.config.model.code_paths]
    for place in (top, top.with_suffix(".py"), *shared):
        files = sorted(place.rglob("*.py")) if place.is_dir() else [place] * place.is_file()
        for path in files:
            digest.update(str(path.relative_to(project.root)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _schema_code(project: Any) -> str:
    """A Pandera schema.py and the repository's modules it imports, file by file."""
    import hashlib

    from mlgate.monorepo.depends import python_imports

    path = project.location(project.config.validation.suite_file)
    if not path.is_file():
        return UNKNOWN  # the stage runs and reports the missing file itself
    root = Path(project.root).resolve()
    digest = hashlib.sha256()
    for name in python_imports(root, path, [path.parent, root]):
        place = root / name
        for file in sorted(place.rglob("*.py")) if place.is_dir() else [place]:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _config_value(config: Any, dotted: str) -> Any:
    value = config
    for part in dotted.split("."):
        value = getattr(value, part, None)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _data_sha256(session: Session, role: str) -> str:
    memo = session.data_hashes
    if role not in memo:
        project = session.project
        written = str(getattr(project.config.data, f"{role}_data_path"))
        if "://" not in written:
            digest = _file_sha256(project.location(written))
            if digest != UNKNOWN:
                memo[role] = digest
            return digest
        from mlgate import _s3 as s3
        from mlgate.data import is_readable_name
        from mlgate.errors import ConfigError, InputError

        # A URI the loader would refuse is left to the stage, which names the config key;
        # so is an object that cannot be read for a reason of the user's (exit 2). An
        # unreachable store (exit 3) stops here: the stage could only fail the same way.
        if not s3.is_s3_uri(written) or not is_readable_name(written):
            return UNKNOWN
        try:
            fetched = s3.fetch(written, project.state_dir / "cache" / "s3")
        except (ConfigError, InputError):
            return UNKNOWN
        session.fetched_s3[role], memo[role] = fetched, fetched.sha256
    return memo[role]


def _dvc_inputs(project: Any, role: str, *, lineage: bool) -> dict[str, str]:
    """A DVC-tracked data file's md5, and with `lineage` its pointer, remote and commit.

    Nothing for a file DVC does not track, so those fingerprints stay what they were.
    """
    from mlgate.data import dvc_tracked
    from mlgate.errors import MlgateError

    try:
        tracked = dvc_tracked(project, role)
    except MlgateError:
        return {f"data.{role}.dvc": UNKNOWN}  # the stage runs and reports it
    if tracked is None:
        return {}
    if not lineage:
        return {f"data.{role}.dvc": tracked.md5}
    record = [tracked.md5, tracked.pointer, tracked.remote, tracked.commit]
    return {f"data.{role}.dvc": json.dumps(record, separators=(",", ":"))}


def _file_sha256(path: Any) -> str:
    from mlgate._cache import file_sha256

    try:
        return file_sha256(path)
    except OSError:
        return UNKNOWN  # the stage runs and reports the missing file itself


def _upstream_fingerprint(session: Session, stage: str) -> str:
    result = session.results.get(stage)
    if result is not None:
        return (result.cache.fingerprint if result.cache else None) or UNKNOWN
    # A stage command continuing an earlier run: that stage's result counts only if its
    # inputs are still what they were (else this stage runs and says what is stale).
    recorded = session.run_dir.peek_result(stage).get("cache") or {}
    fingerprint = recorded.get("fingerprint")
    if not fingerprint or fingerprint != stage_inputs(session, stage).fingerprint():
        return UNKNOWN
    return fingerprint


def _champion(session: Session) -> str:
    project = session.project
    if session.champion_probe is None:
        from mlgate.tracking.uri import tracking_uri

        alias = project.config.evaluation.champion_alias
        session.champion_probe = champion_version(
            tracking_uri(project), project.registry_name, alias
        )
    return session.champion_probe


def _ci(session: Session) -> dict[str, Any]:
    from mlgate._ci_context import git_output

    ci = session.ci
    return {
        "event": ci.event_name,
        "ref": ci.ref,
        "default_branch": ci.default_branch,
        "sha": ci.sha,
        "repository": ci.repository,
        # The commit the version is tagged with: once the repo has one, a version
        # registered without it (which promotion refuses) is not reused.
        "commit": ci.sha or git_output(session.project.root, "rev-parse", "HEAD"),
    }


__all__ = ["NO_CHAMPION", "READS", "Reads", "stage_inputs", "still_valid"]
