"""The fairness stage: judge the evaluated model's predictions group by group."""

from __future__ import annotations

from mlgate.results import FairnessResult
from mlgate.stages._session import Session


def run(session: Session) -> FairnessResult:
    from mlgate.fairness import run_fairness

    session.ensure_data("fairness")  # the champion is judged on the same validation rows
    return run_fairness(session)
