"""The register stage: log the run to MLflow, and register the model when allowed."""

from __future__ import annotations

from mlgate.results import RegisterResult
from mlgate.stages._session import Session


def run(session: Session) -> RegisterResult:
    from mlgate.publish import publish

    session.ensure_data("register")
    pipeline = session.ensure_model("register")
    return publish(session, pipeline)
