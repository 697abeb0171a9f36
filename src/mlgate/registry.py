"""The MLflow edge: tracking runs, registered versions and aliases.

With no `tracking.tracking_uri` and no MLFLOW_TRACKING_URI, MLflow runs on a
local SQLite file under `.mlgate/`, so everything works without a server.
Every call to MLflow goes through `_calls`, which turns MLflow's and the
network's exceptions into ServiceError (exit 3).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import ServiceError
from mlgate.project import Project

EMBEDDED_DB = "mlflow.db"
EMBEDDED_ARTIFACTS = "mlartifacts"
MODEL_NAME_IN_RUN = "model"

# MLflow's own settings, as mlgate's defaults; a value already in the environment wins.
MLFLOW_DEFAULTS = {
    # Bounded retries against a tracking server: about 15 s before giving up, not minutes.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    # mlgate prints its own one-line summary per stage; MLflow's progress lines are noise.
    "MLFLOW_LOGGING_LEVEL": "ERROR",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # MLflow prints run links to stdout for HTTP servers, which would corrupt `--json`.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # A CI step should not phone home.
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


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


def tracking_uri_for(project: Project) -> str:
    """MLFLOW_TRACKING_URI first, as `mlgate promote` reads it, then the config's URI.

    The environment wins so that every command talks to the same server, and so that a
    pull request's edit of mlgate.yaml cannot send the job's MLflow credentials (which
    come with MLFLOW_TRACKING_URI from the workflow's secrets) to a host of its choosing.
    """
    configured = os.environ.get("MLFLOW_TRACKING_URI") or project.config.tracking.tracking_uri
    if configured:
        return configured
    return f"sqlite:///{project.state_dir / EMBEDDED_DB}"


def display_uri(uri: str) -> str:
    """The tracking URI without credentials, fit for logs and reports."""
    from mlgate.redact import without_credentials

    return without_credentials(uri)


class Registry:
    def __init__(self, project: Project, uri: str, client: Any) -> None:
        self.project = project
        self.uri = uri
        self.client = client
        self.name = project.registry_name

    @classmethod
    def connect(cls, project: Project) -> Registry:
        uri = tracking_uri_for(project)
        return cls(project, uri, open_client(uri, project.state_dir))

    @property
    def location(self) -> str:
        """Where the runs go, as a reader wants to see it."""
        if self.is_embedded:
            db = self.project.state_dir / EMBEDDED_DB
            try:
                return f"local store {db.relative_to(Path.cwd())}"
            except ValueError:
                return f"local store {db}"
        return display_uri(self.uri)

    @property
    def is_embedded(self) -> bool:
        return self.uri.startswith("sqlite:///") and self.uri.endswith(
            str(self.project.state_dir / EMBEDDED_DB)
        )

    # --- reading --------------------------------------------------------------------

    def champion(self, alias: str) -> Champion | None:
        """The version behind `alias`, loaded, or None when there is none yet."""
        with _calls(self.uri, f"read alias {alias} of {self.name}"):
            from mlflow.exceptions import MlflowException

            try:
                aliases = self.client.get_registered_model(self.name).aliases
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return None
                raise
            if alias not in aliases:
                return None
            version = self.client.get_model_version(self.name, str(aliases[alias]))
            import mlflow.sklearn

            model = mlflow.sklearn.load_model(f"models:/{self.name}/{version.version}")
        return Champion(version=str(version.version), run_id=version.run_id, model=model)

    def find_version(self, fingerprint: str) -> Any | None:
        """The version registered earlier from exactly these inputs, if any."""
        with _calls(self.uri, f"search versions of {self.name}"):
            # Registry names cannot hold quotes (config validation), fingerprints are hex.
            query = f"name = '{self.name}' and tags.`mlgate.fingerprint` = '{fingerprint}'"
            versions = self.client.search_model_versions(query)
        ready = [v for v in versions if getattr(v, "status", "READY") != "FAILED_REGISTRATION"]
        return min(ready, key=lambda v: int(v.version)) if ready else None

    # --- writing --------------------------------------------------------------------

    def experiment_id(self) -> str:
        name = self.project.experiment_name
        with _calls(self.uri, f"open experiment {name}"):
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
    ) -> LoggedRun:
        experiment_id = self.experiment_id()
        with _calls(self.uri, f"log the run to experiment {self.project.experiment_name}"):
            import mlflow

            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
                mlflow.log_params({k: _param_text(v) for k, v in params.items()})
                if metrics:
                    mlflow.log_metrics(metrics)
                mlflow.set_tags(tags)
                for path in artifacts:
                    if path.is_file():
                        mlflow.log_artifact(str(path), artifact_path="mlgate")
                    elif path.is_dir():  # e.g. the evaluation's plots/: kept as a folder
                        mlflow.log_artifacts(str(path), artifact_path=f"mlgate/{path.name}")
                model_uri = model_id = None
                if model is not None:
                    info = _log_sklearn_model(model, input_example, pip_requirements, code_paths)
                    model_uri, model_id = info.model_uri, info.model_id
        run_id = run.info.run_id
        return LoggedRun(
            run_id=run_id,
            experiment_id=experiment_id,
            url=self.run_url(experiment_id, run_id),
            model_uri=model_uri,
            model_id=model_id,
        )

    def register(self, run: LoggedRun, tags: dict[str, str]) -> str:
        """Create a version with its lineage tags in the same call, so none is half-tagged."""
        with _calls(self.uri, f"register a version of {self.name}"):
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
                tags=tags,
                model_id=run.model_id,
            )
        return self._keep_first(tags.get("mlgate.fingerprint"), str(version.version))

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
        with _calls(self.uri, f"delete duplicate version {created} of {self.name}"):
            self.client.delete_model_version(self.name, created)
        return str(first.version)

    def set_alias(self, alias: str, version: str) -> None:
        with _calls(self.uri, f"set alias {alias} of {self.name}"):
            self.client.set_registered_model_alias(self.name, alias, version)

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        if self.uri.startswith(("http://", "https://")):
            base = display_uri(self.uri).rstrip("/")
            return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
        return None


def open_client(uri: str, state_dir: Path | None = None) -> Any:
    """An MlflowClient on `uri` with mlgate's MLflow defaults (also for commands with no project).

    `state_dir` holds the lock that serialises the first use of a local SQLite store.
    """
    for key, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(key, value)
    _check_retry_settings()
    with _calls(uri, "connect"):
        import mlflow
        from mlflow import MlflowClient

        # MLflow reads MLFLOW_LOGGING_LEVEL once, when it is first imported, which may
        # have been before mlgate set it (a host process that imported MLflow first).
        _quiet_mlflow_logs(os.environ["MLFLOW_LOGGING_LEVEL"])
        # The sqlite store resolves `models:/m-...` sources through the global URI.
        # MLflow 3 also exports it as MLFLOW_TRACKING_URI, which mlgate reads as the
        # user's choice (tracking_uri_for): keep the environment as the user set it.
        exported = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(uri)
        if exported is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = exported
        client = MlflowClient(tracking_uri=uri)
        if uri.startswith("sqlite:///"):
            _initialise_sqlite(client, state_dir or Path(uri[len("sqlite:///") :]).parent)
    return client


def _quiet_mlflow_logs(level: str) -> None:
    import contextlib
    import logging

    with contextlib.suppress(ValueError):  # not a level name: MLflow itself reports it
        logging.getLogger("mlflow").setLevel(level.upper())


# MLflow reads these when a request is sent and fails deep inside it on a bad value.
_RETRY_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": int,
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": int,
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": float,
    "MLFLOW_HTTP_REQUEST_TIMEOUT": int,
}


def _check_retry_settings() -> None:
    from mlgate.errors import ConfigError

    for name, kind in _RETRY_SETTINGS.items():
        value = os.environ.get(name, "")
        try:
            number = kind(value)
        except ValueError:
            number = -1
        if number < 0:
            what = "a whole number" if kind is int else "a number"
            raise ConfigError(f"{name} must be {what} of 0 or more, got {value!r}")


def _log_sklearn_model(
    model: Any, input_example: Any, pip_requirements: list[str], code_paths: list[Path]
) -> Any:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    # A pandas-3 `str` column index trips a deprecation inside MLflow's example writer.
    input_example = input_example.copy()
    input_example.columns = input_example.columns.astype(object)
    signature = infer_signature(input_example, model.predict(input_example))
    return mlflow.sklearn.log_model(
        model,
        name=MODEL_NAME_IN_RUN,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        # cloudpickle: skops would need an allow-list per estimator (numpy.dtype for the
        # imputer, Tree for tree ensembles, ...) and cannot load a team's own classes.
        serialization_format="cloudpickle",
        # A team's factory module travels with the model, so it loads anywhere.
        code_paths=[str(path) for path in code_paths] or None,
    )


def _param_text(value: Any) -> str:
    text = str(value)
    # MLflow caps a parameter value at 6,000 characters; a longer one is not a parameter.
    return text if len(text) <= 500 else text[:497] + "..."


def _initialise_sqlite(client: Any, state_dir: Path) -> None:
    """Create and migrate the embedded store under a lock.

    Two processes migrating a fresh SQLite store at once can leave it broken for
    good, so the first queries (which run the migrations) are serialised.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; first use is not serialised
        fcntl = None
    with (state_dir / "mlflow.db.lock").open("w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _calls(uri: str, action: str) -> Iterator[None]:
    """MLflow and network failures as one ServiceError line that names the server.

    MLflow's own warnings (its use of pandas and SQLAlchemy, its type hints) are
    nothing our users can act on, so they are not shown.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except ServiceError:
        raise
    except Exception as exc:
        if not _is_service_failure(exc):
            raise
        raise ServiceError(
            f"MLflow at {display_uri(uri)} failed to {action}: {_reason(exc)}"
        ) from exc


# The same guard for other edges of MLflow (the promotion ledger's store).
mlflow_calls = _calls


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "Max retries exceeded" in text or "Connection refused" in text:
        retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "?")
        return (
            f"no connection after {retries} retries; check that the server is up and "
            "MLFLOW_TRACKING_URI (or tracking.tracking_uri) points at it"
        )
    return text if len(text) <= 300 else text[:297] + "..."


def _is_service_failure(exc: Exception) -> bool:
    module = type(exc).__module__
    return module.startswith(
        ("mlflow", "requests", "urllib3", "sqlalchemy", "botocore")
    ) or isinstance(exc, (ConnectionError, TimeoutError, OSError))
