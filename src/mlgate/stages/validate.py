"""The validate stage: read both data files, then check the expectations and drift."""

from __future__ import annotations

from mlgate.results import ValidateResult, Verdict
from mlgate.stages._session import Session


def run(session: Session) -> ValidateResult:
    from mlgate.validation.check import check_data

    if session.project.config.validation.engine == "spark":
        from mlgate.validation.spark_read import load_for_validate

        frames, files = load_for_validate(session)  # no pandas read: Spark reads the files
    else:
        files = session.load_data()
        frames = session.frames
    task = session.task
    assert task is not None
    checked = check_data(
        session.project,
        frames,
        files,
        task,
        registry=session.registry,
        champion_data=session.from_host.get("champion_training_data"),
    )
    if session.project.config.validation.engine == "spark":
        from mlgate.validation.spark_read import release

        release(frames)
    rows = " · ".join(
        f"{role} {info.rows:,} row{'' if info.rows == 1 else 's'}" for role, info in files.items()
    )
    summary = (
        f"{rows} · {task.kind}"
        + (" (inferred)" if task.inferred else "")
        + f" · {checked.summary()}"
    )
    return ValidateResult(
        verdict=Verdict.PASSED if checked.passed else Verdict.FAILED,
        summary=summary,
        files={role: info.record() for role, info in files.items()},
        task=task.record(),
        expectations=checked.expectations(),
        drift=checked.drift_record(),
    )
