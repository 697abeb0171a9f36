"""What the host reads for a stage in the image, handed in through the run directory.

The image has no MLflow and, by default, no network, so the registry is read here, where
the stage would have read it: the evaluate stage's champion (its version, and the model
itself as a joblib file in the run directory, checked by SHA-256 before it is loaded
inside), the validate stage's drift reference (the champion's recorded training data),
and the train stage's fingerprint, against which the evaluate stage checks the model is
still current (the image cannot ask the engine for its own digest). The same functions
the stages use on the host decide each answer, so a stage in the image sees what it
would have seen here. Called by the orchestrator (`mlgate.run`) around the container;
the stage inside reads its part (`mlgate.stages.evaluate.handed_champion`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlgate.stages import Session


def prepare(session: Session, stage: str) -> dict[str, Any]:
    """What `stage` in the image needs from the registry, read here (JSON for the job)."""
    if stage == "validate":
        return {"champion_training_data": _champion_training_data(session)}
    if stage == "evaluate":
        from mlgate._reuse import stage_inputs

        return {
            "champion": _champion(session),
            "train_fingerprint": stage_inputs(session, "train").fingerprint(),
        }
    return {}


def cleanup(session: Session) -> None:
    from mlgate.stages.evaluate import CHAMPION_FILE

    session.run_dir.file(CHAMPION_FILE).unlink(missing_ok=True)


def _champion_training_data(session: Session) -> list[Any] | None:
    """The champion's training data record and note, as reference.choose_reference reads it."""
    drift = session.project.config.validation.drift
    if not drift.enabled or drift.reference != "champion":
        return None
    from mlgate.validation.reference import _champion_training_data as read

    recorded, note = read(session.project, session.registry)
    return [list(recorded) if recorded else None, note]


def _champion(session: Session) -> dict[str, Any]:
    """The evaluate stage's champion: its version and model file, or why there is none."""
    import joblib

    from mlgate._cache import file_sha256
    from mlgate.results.evaluate import FOUND
    from mlgate.stages.evaluate import CHAMPION_FILE, _Found, comparative, lookup_champion

    found = lookup_champion(session, required=comparative(session.project))
    if isinstance(found, _Found):
        return {"status": found.status, "note": found.note}
    target = session.run_dir.file(CHAMPION_FILE)
    partial = target.with_name(f"{CHAMPION_FILE}.{os.getpid()}.partial")
    try:
        joblib.dump(found.model, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return {
        "status": FOUND,
        "version": found.version,
        "run_id": found.run_id,
        "sha256": file_sha256(target),
    }
