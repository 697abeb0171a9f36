"""What the stages of one command share: the project, the run directory and their inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate._ci_context import CiContext, ci_context
from mlgate.config import is_spark_model
from mlgate.errors import InputError, RunDirError
from mlgate.project import Project
from mlgate.results import StageResult, TrainResult, ValidateResult, read
from mlgate.rundir import MODEL_FILE, RunDir

if TYPE_CHECKING:
    import pandas as pd

    from mlgate._s3 import S3Object
    from mlgate._training import Task, TrainedModel
    from mlgate.data import DataFile
    from mlgate.tracking.registry import Registry


@dataclass
class Session:
    """What the stages of one command share in memory."""

    project: Project
    run_dir: RunDir
    ci: CiContext = field(default_factory=ci_context)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)  # role -> table
    task: Task | None = None
    trained: TrainedModel | None = None
    results: dict[str, StageResult] = field(default_factory=dict)
    use_cache: bool = True
    data_hashes: dict[str, str] = field(default_factory=dict)  # role -> sha256, for the cache
    fetched_s3: dict[str, S3Object] = field(default_factory=dict)  # role -> downloaded object
    champion_probe: str | None = None  # the champion's version as the cache last read it
    # compute.docker_image resolved on the engine (mlgate.compute.image.ResolvedImage).
    training_image: Any = None
    stage_cache: Path | None = None  # --stage-cache: a store of this run's stages only
    # In compute.docker_image: what the host read for this stage (mlgate.compute.handoff).
    from_host: dict[str, Any] = field(default_factory=dict)
    # `mlgate run`: the stages run in processes of their own (mlgate.stage_process), by name.
    stage_processes: dict[str, Any] = field(default_factory=dict)
    _registry: Registry | None = None

    def stage_store(self) -> Path:
        """Where the stage cache lives: --stage-cache, else beside the embedded registry."""
        return self.stage_cache or self.project.state_dir / "cache" / "stages"

    def registry(self) -> Registry:
        """The MLflow registry, connected once per command (evaluate and register share it)."""
        if self._registry is None:
            from mlgate.tracking.registry import Registry

            self._registry = Registry.connect(self.project)
        return self._registry

    def champion_absent(self) -> bool:
        """True when no version is behind the champion alias, as read without MLflow: the
        stage cache's probe, read once per command (SQLite or a tracking server's REST API).

        Then evaluate and fairness skip the lookup, and MLflow's start-up with it. False when
        there is a version or the store cannot be read that way: the stage asks MLflow.
        """
        from mlgate._cache import NO_CHAMPION, champion_version

        if self.champion_probe is None:
            from mlgate.tracking.uri import tracking_uri

            project = self.project
            self.champion_probe = champion_version(
                tracking_uri(project),
                project.registry_name,
                project.config.evaluation.champion_alias,
            )
        return self.champion_probe == NO_CHAMPION

    def result(self, stage: str, needed_by: str) -> StageResult:
        """An earlier stage's result: this command's, else the run directory's."""
        if stage in self.results:
            return self.results[stage]
        stored = self.run_dir.read_result(stage, needed_by=needed_by)
        try:
            return read(stage, stored)
        except ValueError as exc:
            raise RunDirError(
                f"{self.run_dir.file(f'{stage}.json')} is not a result mlgate can read "
                f"({_first_line(exc)}); rerun the {stage} stage"
            ) from None

    def optional_result(self, stage: str) -> StageResult | None:
        """A stage's result, or None when it did not run in this run."""
        if stage in self.results:
            return self.results[stage]
        if not self.run_dir.file(f"{stage}.json").is_file():
            return None
        return self.result(stage, stage)

    # --- inputs a later command reloads --------------------------------------------------

    def load_data(self) -> dict[str, DataFile]:
        """Read both data files and check them against the spec (bad input raises, exit 2)."""
        from mlgate._training import infer_task
        from mlgate.data import load_table

        project = self.project
        frames, files = {}, {}
        for role in ("training", "validation"):
            try:
                frames[role], files[role] = load_table(  # the stage cache looked a moment ago
                    project,
                    role,
                    known_sha256=self.data_hashes.get(role),
                    fetched=self.fetched_s3.get(role),
                )
            except MemoryError:
                frames.clear()  # what was read so far, so that the message can be made
                raise _too_big(project, role) from None
            self.data_hashes[role] = files[role].sha256
        training_path = project.location(project.config.data.training_data_path)
        task = infer_task(project, frames["training"], training_path)
        project.check_task_metrics(task.kind)
        if task.kind == "classification":
            _check_validation_labels(project, frames["validation"], task)
        self.frames, self.task = frames, task
        return files

    def ensure_data(self, needed_by: str) -> None:
        """Reload the data in a later command; refuse if it changed since the validate stage."""
        if self.frames:
            return
        recorded = self.result("validate", needed_by)
        assert isinstance(recorded, ValidateResult)
        if is_spark_model(self.project.config.model.type):  # a Spark MLlib model
            from mlgate._spark_model import load_validation

            load_validation(self, recorded)  # pandas never reads the training file
            return
        fresh = self.load_data()
        for role, info in fresh.items():
            before = recorded.files.get(role)
            if before is None or before.sha256 != info.sha256:
                raise RunDirError(
                    f"the {role} data changed since this run's validate stage ({info.uri}); "
                    "start a new run with `mlgate run`"
                )

    def ensure_model(self, needed_by: str) -> Any:
        """The trained pipeline: this command's, else the run directory's if still current."""
        if self.trained is not None:
            return self.trained.pipeline
        from mlgate._reuse import stage_inputs

        trained = self.result("train", needed_by)
        assert isinstance(trained, TrainResult)
        project = self.project
        recorded = trained.cache.fingerprint if trained.cache else None
        # In the image, the host's: only the host can ask the engine for the image's digest.
        current = self.from_host.get("train_fingerprint")
        current = current or stage_inputs(self, "train").fingerprint()
        if recorded != current:
            raise RunDirError(
                f"the training data, the model section of {project.config_path.name}, the "
                "feature spec or the code changed since this run's model was trained; start a "
                "new run with `mlgate run` (or `mlgate train`)"
            )
        if is_spark_model(trained.estimator_class):  # a Spark MLlib model
            from mlgate._spark_model import load_checked

            return load_checked(self, trained)
        import joblib

        from mlgate._cache import file_sha256

        path = self.run_dir.file(MODEL_FILE)
        try:
            # A pickle runs code as it loads: only the file the train stage wrote.
            if trained.model_sha256 is not None and file_sha256(path) != trained.model_sha256:
                raise RunDirError(
                    f"{path} is not the model this run's train stage wrote (its SHA-256 "
                    "differs from train.json's model_sha256); rerun `mlgate train`"
                )
            return joblib.load(path)
        except FileNotFoundError:
            raise RunDirError(f"{path} is missing; rerun `mlgate train`") from None


def _too_big(project: Project, role: str) -> InputError:
    """A data file pandas ran out of memory reading (past the reader: typing, checks)."""
    from mlgate.data import ROLES, too_big

    return too_big(project.location(getattr(project.config.data, ROLES[role])), role)


def _check_validation_labels(project: Project, validation: Any, task: Any) -> None:
    seen = set(validation[project.spec.target].dropna().unique().tolist())
    unknown = sorted(seen - set(task.classes), key=str)
    if unknown:
        raise InputError(
            f"target column '{project.spec.target}' has label(s) {unknown[:5]} that the "
            "training data never shows; the model cannot predict them",
            file=project.location(project.config.data.validation_data_path),
        )
    if validation[project.spec.target].isna().any():
        raise InputError(
            f"target column '{project.spec.target}' has missing values; drop or label those rows",
            file=project.location(project.config.data.validation_data_path),
        )


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]
