"""The register stage's side of MLflow: runs, registered versions, the champion.

`Registry` is one project's registered model on its tracking server, connected once
per command (`Session.registry()`): the evaluate and fairness stages read the
champion through it, the card reads the champion's card, the register stage logs the
run and registers the version.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.tracking import tags as tag_keys
from mlgate.tracking.aliases import alias_model_version
from mlgate.tracking.aliases import set_alias as _set_alias
from mlgate.tracking.client import calls, open_client
from mlgate.tracking.uri import (
    EMBEDDED_ARTIFACTS,
    is_embedded,
    run_page,
    tracking_uri,
    ui_base,
)
from mlgate.tracking.uri import location as runs_location

if TYPE_CHECKING:
    from mlgate.project import Project
    from mlgate.results.train import SearchRecord

MODEL_NAME_IN_RUN = "model"
ONNX_MODEL_FILE = "model.onnx"  # export.onnx: in the model's folder, its onnx flavour
# A run still RUNNING this long after it started is over: GitHub Actions ends a job at 6 h.
ABANDONED_AFTER_MS = 6 * 3600 * 1000


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str | None
    model: Any


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    experiment_id: str
    url: str | None
    model_uri: str | None
    model_id: str | None


class Registry:
    def __init__(self, project: Project, uri: str, client: Any) -> None:
        self.project = project
        self.uri = uri
        self.client = client
        self.name = project.registry_name
        # Checked now, before anything is logged: a bad MLGATE_MLFLOW_UI_URL is exit 2.
        self.ui_base = ui_base(uri)

    @classmethod
    def connect(cls, project: Project) -> Registry:
        uri = tracking_uri(project)
        return cls(project, uri, open_client(uri, project.state_dir))

    @property
    def location(self) -> str:
        """Where the runs go, as a reader wants to see it."""
        return runs_location(self.uri, self.project)

    @property
    def is_embedded(self) -> bool:
        return is_embedded(self.uri, self.project)

    # --- reading --------------------------------------------------------------------

    def champion(self, alias: str) -> Champion | None:
        """The version behind `alias`, loaded, or None when there is none yet."""
        with calls(self.uri, f"read alias {alias} of {self.name}"):
            version = alias_model_version(self.client, self.name, alias)
            if version is None:
                return None
            uri = f"models:/{self.name}/{version.version}"
            model = _load_model(uri)
        return Champion(version=str(version.version), run_id=version.run_id, model=model)

    def find_version(self, fingerprint: str) -> Any | None:
        """The version registered earlier from exactly these inputs, if any."""
        with calls(self.uri, f"search versions of {self.name}"):
            # Registry names cannot hold quotes (config validation), fingerprints are hex.
            query = f"name = '{self.name}' and tags.`{tag_keys.FINGERPRINT}` = '{fingerprint}'"
            versions = self.client.search_model_versions(query)
        ready = [v for v in versions if getattr(v, "status", "READY") != "FAILED_REGISTRATION"]
        return min(ready, key=lambda v: int(v.version)) if ready else None

    def version_file_text(self, version: str, tag: str, what: str) -> str | None:
        """The text of the run artifact that tag `tag` of `version` names, or None.

        None when the version has no such tag, no run, or the run no such file.
        """
        import os
        import tempfile

        # MLflow draws a progress bar on stderr for every download; mlgate prints its own.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        with calls(self.uri, f"read {what} of {self.name} v{version}"):
            model_version = self.client.get_model_version(self.name, version)
            path = (model_version.tags or {}).get(tag)
            if not path or not model_version.run_id:
                return None
            folder = path.rsplit("/", 1)[0] if "/" in path else ""
            listed = {
                item.path for item in self.client.list_artifacts(model_version.run_id, folder)
            }
            if path not in listed:
                return None
            with tempfile.TemporaryDirectory(prefix="mlgate-") as temporary:
                local = self.client.download_artifacts(model_version.run_id, path, temporary)
                return Path(local).read_text(encoding="utf-8")

    # --- writing --------------------------------------------------------------------

    def experiment_id(self) -> str:
        name = self.project.experiment_name
        with calls(self.uri, f"open experiment {name}"):
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                if experiment.lifecycle_stage == "deleted":
                    self.client.restore_experiment(experiment.experiment_id)
                return experiment.experiment_id
            location = None
            if self.is_embedded:
                location = (self.project.state_dir / EMBEDDED_ARTIFACTS).resolve().as_uri()
            try:
                return self.client.create_experiment(name, artifact_location=location)
            except Exception as exc:  # created meanwhile by a parallel run
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise exc from None
                return experiment.experiment_id

    def log_run(
        self,
        *,
        run_name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        artifacts: list[Path],
        model: Any | None,
        input_example: Any,
        pip_requirements: list[str],
        code_paths: list[Path],
        left_behind: Callable[[str], bool] = lambda run_id: False,
        onnx_model: Path | None = None,
    ) -> LoggedRun:
        """Log one run; it ends FINISHED, or FAILED (KILLED on an interrupt) when logging fails.

        The run is created with its tags, so a run that a dead server left RUNNING can be
        found by its fingerprint: the next run of the same inputs ends it FAILED (see
        `end_abandoned_runs`; `left_behind` says which mlgate run ids are known to be over).
        `onnx_model` (export.onnx) goes into the model's folder as its onnx flavour.
        """
        experiment_id = self.experiment_id()
        fingerprint = tags.get(tag_keys.FINGERPRINT)
        if fingerprint:
            self.end_abandoned_runs(experiment_id, fingerprint, left_behind)
        with calls(self.uri, f"log the run to experiment {self.project.experiment_name}"):
            import mlflow

            run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
            try:
                mlflow.log_params({k: _param_text(v) for k, v in params.items()})
                if metrics:
                    mlflow.log_metrics(metrics)
                for path in artifacts:
                    if path.is_file():
                        mlflow.log_artifact(str(path), artifact_path="mlgate")
                    elif path.is_dir():  # e.g. the evaluation's plots/: kept as a folder
                        mlflow.log_artifacts(str(path), artifact_path=f"mlgate/{path.name}")
                model_uri = model_id = None
                if model is not None and hasattr(model, "spark_model"):
                    info = _log_spark_model(model, input_example, pip_requirements)
                    model_uri, model_id = info.model_uri, info.model_id
                elif model is not None:
                    info = _log_sklearn_model(
                        model, input_example, pip_requirements, code_paths, onnx_model
                    )
                    model_uri, model_id = info.model_uri, info.model_id
                mlflow.end_run()
            except BaseException as exc:
                status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
                _end_once(self.client, run.info.run_id, status)
                raise
        run_id = run.info.run_id
        return LoggedRun(
            run_id=run_id,
            experiment_id=experiment_id,
            url=self.run_url(experiment_id, run_id),
            model_uri=model_uri,
            model_id=model_id,
        )

    def log_candidates(self, parent: LoggedRun, search: SearchRecord) -> list[str]:
        """`model.search`: each candidate as a child run of `parent`, with its parameters,
        its cross-validated score (mean and standard deviation over the folds) and rank."""
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        children = []
        count = len(search.candidates)
        with calls(self.uri, f"log {count} search candidates to run {parent.run_id}"):
            now = int(time.time() * 1000)
            for index, candidate in enumerate(search.candidates, 1):
                run = self.client.create_run(
                    parent.experiment_id,
                    run_name=f"candidate-{index}",
                    tags={MLFLOW_PARENT_RUN_ID: parent.run_id},
                )
                run_id = run.info.run_id
                metric = f"cv_{search.metric}"
                self.client.log_batch(
                    run_id,
                    metrics=[
                        Metric(metric, float(candidate.score), now, 0),
                        Metric(f"{metric}_std", float(candidate.score_std), now, 0),
                        Metric("rank", float(candidate.rank), now, 0),
                    ],
                    params=[
                        Param(name, _param_text(value)) for name, value in candidate.params.items()
                    ],
                    tags=[RunTag(tag_keys.SEARCH_WINNER, str(candidate.rank == 1).lower())],
                )
                self.client.set_terminated(run_id, "FINISHED")
                children.append(run_id)
        return children

    def end_abandoned_runs(
        self, experiment_id: str, fingerprint: str, left_behind: Callable[[str], bool]
    ) -> list[str]:
        """End FAILED the runs of these inputs left RUNNING by an mlgate that is gone.

        Gone means: its mlgate run id is one `left_behind` knows to be over (a run directory
        of this repo, whose lock mlgate now holds), or it started longer ago than any CI job
        may last. A run of the same inputs still logging elsewhere is left alone.
        """
        query = f"attributes.status = 'RUNNING' and tags.`{tag_keys.FINGERPRINT}` = '{fingerprint}'"
        ended = []
        with calls(self.uri, f"end abandoned runs in experiment {self.project.experiment_name}"):
            now_ms = time.time() * 1000
            for run in self.client.search_runs([experiment_id], query, max_results=100):
                mlgate_run = run.data.tags.get(tag_keys.RUN_ID)
                started = run.info.start_time or 0
                if (
                    mlgate_run and left_behind(mlgate_run)
                ) or now_ms - started > ABANDONED_AFTER_MS:
                    self.client.set_terminated(run.info.run_id, "FAILED")
                    ended.append(run.info.run_id)
        return ended

    def url_of_run(self, run_id: str) -> str | None:
        """The web page of run `run_id` (of any experiment), None when there is no UI to link."""
        if self.ui_base is None:
            return None
        with calls(self.uri, f"read run {run_id}"):
            experiment_id = str(self.client.get_run(run_id).info.experiment_id)
        return self.run_url(experiment_id, run_id)

    def log_files(self, run_id: str, paths: list[Path], folder: str, what: str) -> None:
        """Log `paths` into `folder` among the run's artifacts (replacing files of that name)."""
        with calls(self.uri, f"log {what} to run {run_id}"):
            for path in paths:
                self.client.log_artifact(run_id, str(path), folder)

    def register(self, run: LoggedRun, version_tags: dict[str, str]) -> str:
        """Create a version with its lineage tags in the same call, so none is half-tagged."""
        with calls(self.uri, f"register a version of {self.name}"):
            from mlflow.exceptions import MlflowException

            try:
                self.client.create_registered_model(self.name)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            version = self.client.create_model_version(
                self.name,
                source=run.model_uri,
                run_id=run.run_id,
                tags=version_tags,
                model_id=run.model_id,
            )
        return self._keep_first(version_tags.get(tag_keys.FINGERPRINT), str(version.version))

    def _keep_first(self, fingerprint: str | None, created: str) -> str:
        """One version per fingerprint, even when the create was sent twice.

        MLflow retries a POST whose answer was lost (a 503 from a gateway after the server
        did the work), and two jobs with the same inputs may register at the same moment:
        either way the lowest version with this fingerprint stays, later ones are deleted.
        """
        if not fingerprint:
            return created
        first = self.find_version(fingerprint)
        if first is None or str(first.version) == created:
            return created
        with calls(self.uri, f"delete duplicate version {created} of {self.name}"):
            self.client.delete_model_version(self.name, created)
        return str(first.version)

    def set_alias(self, alias: str, version: str) -> None:
        with calls(self.uri, f"set alias {alias} of {self.name}"):
            _set_alias(self.client, self.name, alias, version)

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        """The run's page in the MLflow UI (`tracking.uri.ui_base`), or None for no link."""
        if self.ui_base is None:
            return None
        return run_page(self.ui_base, experiment_id, run_id)


def _load_model(uri: str) -> Any:
    """A registered version: scikit-learn's, or a Spark MLlib pipeline behind the same face."""
    from mlflow.models import get_model_info

    if "spark" in get_model_info(uri).flavors:
        import mlflow.spark

        from mlgate._spark import spark_session
        from mlgate._spark_model import wrap_registered

        spark_session()  # the active one, or local[2]: mlflow.spark loads into it
        return wrap_registered(mlflow.spark.load_model(uri))
    import mlflow.sklearn

    return mlflow.sklearn.load_model(uri)


def _log_spark_model(model: Any, input_example: Any, pip_requirements: list[str]) -> Any:
    """A Spark MLlib pipeline (mlgate._spark_ml.SparkPipeline) in MLflow's spark flavour."""
    from importlib import metadata

    import mlflow.spark
    from mlflow.models import infer_signature

    input_example = input_example.copy()
    input_example.columns = input_example.columns.astype(object)
    signature = infer_signature(input_example, model.predict(input_example))
    requirements = [
        *(r for r in pip_requirements if not r.startswith(("scikit-learn", "cloudpickle"))),
        f"pyspark=={metadata.version('pyspark')}",
    ]
    return mlflow.spark.log_model(
        model.spark_model,
        MODEL_NAME_IN_RUN,
        signature=signature,
        input_example=input_example,
        pip_requirements=requirements,
    )


def _log_sklearn_model(
    model: Any,
    input_example: Any,
    pip_requirements: list[str],
    code_paths: list[Path],
    onnx_model: Path | None = None,
) -> Any:
    import mlflow.sklearn
    from mlflow.models import Model, infer_signature

    # A pandas-3 `str` column index trips a deprecation inside MLflow's example writer.
    input_example = input_example.copy()
    input_example.columns = input_example.columns.astype(object)
    signature = infer_signature(input_example, model.predict(input_example))
    settings: dict[str, Any] = {
        "name": MODEL_NAME_IN_RUN,
        "signature": signature,
        "input_example": input_example,
        "pip_requirements": pip_requirements,
        # cloudpickle: skops would need an allow-list per estimator (numpy.dtype for the
        # imputer, Tree for tree ensembles, ...) and cannot load a team's own classes.
        "serialization_format": "cloudpickle",
        # A team's factory module travels with the model, so it loads anywhere.
        "code_paths": [str(path) for path in code_paths] or None,
    }
    if onnx_model is None:
        return mlflow.sklearn.log_model(model, **settings)
    # mlflow.sklearn.log_model is Model.log with the sklearn flavour; this flavour's save
    # adds the onnx one too, so both sit in the one logged model.
    return Model.log(
        artifact_path=None, flavor=_sklearn_and_onnx(onnx_model), sk_model=model, **settings
    )


def _sklearn_and_onnx(onnx_model: Path) -> Any:
    """A flavour module for `Model.log`: mlflow.sklearn's save, then the onnx flavour.

    model.onnx lands beside the pickled pipeline and MLmodel names it as MLflow's own
    onnx flavour does (`data: model.onnx`), so `mlflow.onnx.load_model("models:/NAME/V")`
    loads it and `mlgate build-image` finds it; pyfunc stays the scikit-learn model.
    """
    import shutil
    from importlib import metadata
    from types import SimpleNamespace

    import mlflow.sklearn

    def save_model(path: str, mlflow_model: Any, **kwargs: Any) -> None:
        mlflow.sklearn.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        shutil.copyfile(onnx_model, Path(path) / ONNX_MODEL_FILE)
        mlflow_model.add_flavor(
            "onnx",
            onnx_version=metadata.version("onnx"),
            # The runtime parity was checked with: the ONNX serving image pins it.
            onnxruntime_version=metadata.version("onnxruntime"),
            data=ONNX_MODEL_FILE,
            providers=["CPUExecutionProvider"],
            code=None,
        )
        mlflow_model.save(str(Path(path) / "MLmodel"))

    return SimpleNamespace(__name__=mlflow.sklearn.__name__, save_model=save_model)


_ONE_SHORT_TRY = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def _end_once(client: Any, run_id: str, status: str) -> None:
    """End run `run_id` with `status`, trying once: when even that fails (the server is
    gone), the next run of the same inputs ends it (`Registry.end_abandoned_runs`)."""
    import mlflow

    # One short try: an interrupted user, or a job being cancelled, does not wait.
    saved = {name: os.environ.get(name) for name in _ONE_SHORT_TRY}
    os.environ.update(_ONE_SHORT_TRY)
    try:
        active = mlflow.active_run()
        with contextlib.suppress(Exception):
            if active is not None and active.info.run_id == run_id:
                mlflow.end_run(status)  # off MLflow's stack of active runs even if it fails
            else:  # off the stack already: its FINISHED could not be sent
                client.set_terminated(run_id, status)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _param_text(value: Any) -> str:
    text = str(value)
    # MLflow caps a parameter value at 6,000 characters; a longer one is not a parameter.
    return text if len(text) <= 500 else text[:497] + "..."
