"""Which tracking server: the one resolver of the tracking URI, and how to show it.

With no `tracking.tracking_uri` and no MLFLOW_TRACKING_URI, MLflow runs on a local
SQLite file under `.mlgate/`, so everything works without a server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlgate.project import Project

EMBEDDED_DB = "mlflow.db"
EMBEDDED_ARTIFACTS = "mlartifacts"


def tracking_uri(project: Project | None) -> str:
    """MLFLOW_TRACKING_URI first, then the config's URI, then the project's local store.

    The environment wins so that every command talks to the same server, and so that a
    pull request's edit of mlgate.yaml cannot send the job's MLflow credentials (which
    come with MLFLOW_TRACKING_URI from the workflow's secrets) to a host of its choosing.
    Without a project (a command run with no config) the environment must name one.
    """
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if not configured and project is not None:
        configured = project.config.tracking.tracking_uri
    if configured:
        return configured
    if project is None:
        from mlgate.errors import ConfigError

        raise ConfigError(
            "no tracking server: set MLFLOW_TRACKING_URI, or pass --config mlgate.yaml "
            "(its tracking.tracking_uri, or the local store beside it)"
        )
    return embedded_uri(project)


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


def location(uri: str, project: Project) -> str:
    """Where the runs go, as a reader wants to see it."""
    if is_embedded(uri, project):
        db = embedded_db(project)
        try:
            return f"local store {db.relative_to(Path.cwd())}"
        except ValueError:
            return f"local store {db}"
    return display_uri(uri)
