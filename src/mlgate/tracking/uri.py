"""Which tracking server: the one resolver of the tracking URI, and how to show it.

With no `tracking.tracking_uri` and no MLFLOW_TRACKING_URI, MLflow runs on a local
SQLite file under `.mlgate/`, so everything works without a server.

The resolver also refuses, as a config error (exit 2) before anything runs:
- a URI MLflow cannot use (`not a uri at all`, an unknown scheme, an `http://` with no
  host), which MLflow itself would only refuse after training;
- a URI from mlgate.yaml alone while MLflow credentials are in the environment: a pull
  request may edit mlgate.yaml, and MLflow sends those credentials to whatever server
  the URI names. The workflow's own secret MLFLOW_TRACKING_URI must name it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mlgate.project import Project

EMBEDDED_DB = "mlflow.db"
EMBEDDED_ARTIFACTS = "mlartifacts"

# Variables whose value MLflow's client sends to (or uses to sign in at) the tracking
# server (MLflow's and Databricks' own names).
CREDENTIAL_VARIABLES = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_AUTH",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_PASSWORD",
)
# Schemes of MLflow's tracking stores: its REST server, its SQLAlchemy databases (with an
# optional `+driver`), Databricks; `file:` and plain paths are its file store.
SERVER_SCHEMES = ("http", "https")
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
DATABRICKS_SCHEMES = ("databricks", "databricks-uc", "uc")
# The MLflow UI's address for links, when the tracking URI is a secret (set by the actions
# from their `mlflow-ui-url` input).
UI_URL_VARIABLE = "MLGATE_MLFLOW_UI_URL"


def tracking_uri(project: Project | None) -> str:
    """MLFLOW_TRACKING_URI first, then the config's URI, then the project's local store.

    The environment wins so that every command talks to the same server, and so that a
    pull request's edit of mlgate.yaml cannot send the job's MLflow credentials (which
    come with MLFLOW_TRACKING_URI from the workflow's secrets) to a host of its choosing.
    Without a project (a command run with no config) the environment must name one.
    """
    from mlgate.errors import ConfigError

    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        check_uri(configured, "MLFLOW_TRACKING_URI")
        return configured
    if project is not None and project.config.tracking.tracking_uri:
        configured = project.config.tracking.tracking_uri
        where = f"tracking.tracking_uri in {project.config_path.name}"
        check_uri(configured, where)
        credentials = credentials_in(os.environ)
        if credentials:
            raise ConfigError(
                f"{where} names the tracking server while {credentials[0]} is set: mlgate "
                "sends MLflow credentials only to the server MLFLOW_TRACKING_URI names "
                "(mlgate.yaml can be edited by a pull request); set MLFLOW_TRACKING_URI"
            )
        return configured
    if project is None:
        raise ConfigError(
            "no tracking server: set MLFLOW_TRACKING_URI, or pass --config mlgate.yaml "
            "(its tracking.tracking_uri, or the local store beside it)"
        )
    return embedded_uri(project)


def credentials_in(environ: Mapping[str, str]) -> list[str]:
    """The MLflow credential variables set (non-empty) in `environ`."""
    return [name for name in CREDENTIAL_VARIABLES if environ.get(name)]


def check_uri(uri: str, where: str) -> None:
    """Refuse a tracking URI MLflow cannot use (ConfigError, exit 2), naming where it is from."""
    from mlgate.errors import ConfigError

    shown = display_uri(uri)
    if uri != uri.strip():
        raise ConfigError(f"{where} {shown!r} has spaces around it; remove them")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in SERVER_SCHEMES:
        if not parts.hostname:
            raise ConfigError(f"{where} {shown!r} names no host; use {scheme}://HOST[:PORT]")
        return
    if scheme.split("+", 1)[0] in DATABASE_SCHEMES or scheme in DATABRICKS_SCHEMES:
        return
    if uri in DATABRICKS_SCHEMES:  # `databricks`: the default profile
        return
    windows_drive = len(scheme) == 1 and uri[1:3] in (":\\", ":/")
    plain_path = not scheme and not any(c.isspace() for c in uri)
    if scheme == "file" or plain_path or windows_drive:
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() in ("1", "true"):
            return
        raise ConfigError(
            f"{where} {shown!r} is a local path, MLflow's file store, which it serves only "
            "with MLFLOW_ALLOW_FILE_STORE=true; use sqlite:///PATH/mlflow.db instead"
        )
    raise ConfigError(
        f"{where} {shown!r} is not a tracking URI: use http(s)://HOST, sqlite:///FILE, "
        "postgresql://..., mysql://..., mssql://..., databricks, or leave it unset for "
        "the local store"
    )


def embedded_db(project: Project) -> Path:
    """The local store's SQLite file, beside the project's runs."""
    return project.state_dir / EMBEDDED_DB


def embedded_uri(project: Project) -> str:
    return f"sqlite:///{embedded_db(project)}"


def is_embedded(uri: str, project: Project) -> bool:
    """`uri` is the project's own local store."""
    return uri.startswith("sqlite:///") and uri.endswith(str(embedded_db(project)))


def nothing_registered_yet(project: Project) -> bool:
    """The project uses its local store and it was never created: no champion, no version.

    Lets a stage skip starting MLflow (seconds) when there is nothing to read.
    """
    return tracking_uri(project) == embedded_uri(project) and not embedded_db(project).exists()


def display_uri(uri: str) -> str:
    """The tracking URI without credentials, fit for logs and reports."""
    from mlgate._redact import without_credentials

    return without_credentials(uri)


def ui_base(uri: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The base address of links to MLflow's UI for a server at `uri`, or None for no link.

    MLGATE_MLFLOW_UI_URL when set (a non-secret address); else the tracking URI itself when
    it names a web server, except in GitHub Actions when it came from MLFLOW_TRACKING_URI: a
    secret there, and the runner masks a secret's value wherever it is printed, so the link
    would read `***/#/experiments/...`. No link is better than that; the run id is shown.
    """
    from mlgate.errors import ConfigError

    env = os.environ if environ is None else environ
    given = env.get(UI_URL_VARIABLE, "").strip()
    if given:
        parts = urlsplit(given)
        if parts.scheme.lower() not in SERVER_SCHEMES or not parts.hostname:
            raise ConfigError(
                f"{UI_URL_VARIABLE} {display_uri(given)!r} is not the address of a web page: "
                "use http(s)://HOST[:PORT][/PATH] (the mlflow-ui-url input)"
            )
        return display_uri(given).rstrip("/")
    if not uri.startswith(("http://", "https://")):
        return None
    if env.get("GITHUB_ACTIONS") == "true" and env.get("MLFLOW_TRACKING_URI") == uri:
        return None
    return display_uri(uri).rstrip("/")


def run_page(base: str, experiment_id: str, run_id: str) -> str:
    """The address of a run's page in the MLflow UI at `base`."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def location(uri: str, project: Project) -> str:
    """Where the runs go, as a reader wants to see it."""
    if is_embedded(uri, project):
        db = embedded_db(project)
        try:
            return f"local store {db.relative_to(Path.cwd())}"
        except ValueError:
            return f"local store {db}"
    return display_uri(uri)
