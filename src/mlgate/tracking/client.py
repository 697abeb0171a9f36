"""Opening an MlflowClient with mlgate's MLflow settings, and the guard around every call.

Every call to MLflow runs inside `calls`, which turns MLflow's and the network's
exceptions into ServiceError (exit 3); MLflow's own retries
(MLFLOW_HTTP_REQUEST_MAX_RETRIES, set below) run first.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlgate.errors import ServiceError
from mlgate.tracking.uri import EMBEDDED_DB, display_uri

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


def open_client(uri: str, state_dir: Path | None = None) -> Any:
    """An MlflowClient on `uri` with mlgate's MLflow defaults (also for commands with no project).

    `state_dir` holds the lock that serialises the first use of a local SQLite store.
    """
    for key, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(key, value)
    _check_retry_settings()
    with calls(uri, "connect"):
        import mlflow
        from mlflow import MlflowClient

        # MLflow reads MLFLOW_LOGGING_LEVEL once, when it is first imported, which may
        # have been before mlgate set it (a host process that imported MLflow first).
        _quiet_mlflow_logs(os.environ["MLFLOW_LOGGING_LEVEL"])
        # The sqlite store resolves `models:/m-...` sources through the global URI.
        # MLflow 3 also exports it as MLFLOW_TRACKING_URI, which mlgate reads as the
        # user's choice (tracking.uri.tracking_uri): keep the environment as the user set it.
        exported = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(uri)
        if exported is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = exported
        if not uri.startswith("sqlite:///"):
            return MlflowClient(tracking_uri=uri)
        path = Path(uri[len("sqlite:///") :])
        return _initialise_sqlite(uri, path, state_dir or path.parent, mlflow.__version__)


@contextmanager
def calls(uri: str, action: str) -> Iterator[None]:
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


def error_code(exc: BaseException) -> str | None:
    """MLflow's error code (RESOURCE_DOES_NOT_EXIST, ...) of `exc`, or None for another error."""
    from mlflow.exceptions import MlflowException

    return exc.error_code if isinstance(exc, MlflowException) else None


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


def _initialise_sqlite(uri: str, path: Path, state_dir: Path, version: str) -> Any:
    """A client on the embedded store, created and migrated under a lock.

    Two processes migrating a fresh SQLite store at once can leave it broken for good,
    so opening it (MLflow's client migrates when it is made) and its first queries are
    serialised. A new store starts from the schema file made for this MLflow version,
    when there is one, instead of MLflow's migrations (seconds on every fresh CI runner;
    tools/mlflow_schema.py): it is written before the client opens the file.
    """
    from mlflow import MlflowClient

    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; first use is not serialised
        fcntl = None
    with (state_dir / f"{EMBEDDED_DB}.lock").open("w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not path.exists():
                _restore_schema(path, version)
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)
    return client


def _restore_schema(path: Path, version: str) -> None:
    """A new store made from `schema/mlflow-<version>.sql`, whole or not at all."""
    import sqlite3
    from contextlib import closing

    schema = Path(__file__).with_name("schema") / f"mlflow-{version}.sql"
    if not schema.is_file():
        return  # another MLflow: its own migrations make the store
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(partial)) as db:
            db.executescript(schema.read_text(encoding="utf-8"))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


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
