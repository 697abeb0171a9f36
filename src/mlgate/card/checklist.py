"""The checklist as far as a run's evidence goes: the card stage ticks it, registration again.

At the card stage the model is not registered yet, so the registry box and the
logged requirements wait for `registered`; the rollback target is the champion the
evaluate stage compared with (the version the alias held when this run started).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from mlgate.checklist import Facts, Review, tick
from mlgate.results import (
    EvaluateResult,
    FairnessResult,
    StageResult,
    TrainResult,
    ValidateResult,
)
from mlgate.results.card import ChecklistBox
from mlgate.results.fairness import CheckVerdict

__all__ = ["run_facts", "tick", "with_registration"]


def run_facts(
    results: Mapping[str, StageResult | None],
    *,
    commit: str | None,
    dirty: bool | None,
    review: Review | None,
    review_unknown: str,
    image: str | None,
) -> Facts:
    validate = results.get("validate")
    train = results.get("train")
    trained_in = train.image if isinstance(train, TrainResult) else None
    evaluate = results.get("evaluate")
    fairness = results.get("fairness")
    training = validation = None
    if isinstance(validate, ValidateResult):
        training = validate.files.get("training")
        validation = validate.files.get("validation")
    metrics: tuple[str, ...] = ()
    previous = None
    if isinstance(evaluate, EvaluateResult):
        metrics = tuple(evaluate.metrics)
        previous = evaluate.champion.version if evaluate.champion else None
    features: tuple[str, ...] = ()
    verdict = None
    if isinstance(fairness, FairnessResult):
        features = tuple(
            feature.name
            for feature in fairness.features
            if any(check.verdict is not CheckVerdict.NOT_JUDGED for check in feature.checks)
        )
        verdict = fairness.verdict.value
    return Facts(
        commit=commit,
        dirty=dirty,
        review=review,
        review_unknown=review_unknown or None,
        training_uri=training.uri if training else None,
        training_sha256=training.sha256 if training else None,
        training_version_id=getattr(training, "version_id", None),
        training_dvc_md5=training.dvc.md5 if training and training.dvc else None,
        metrics=metrics,
        # Scored on its own file, whose bytes differ from the training file's.
        held_out=bool(training and validation and training.sha256 != validation.sha256),
        sensitive_features=features,
        fairness_verdict=verdict,
        image=image,
        training_image=trained_in.pinned if trained_in else None,
        training_image_by_digest=bool(trained_in and trained_in.by_digest),
        previous_production=previous,
    )


def with_registration(
    boxes: tuple[ChecklistBox, ...] | None,
    *,
    version: str,
    requirements: list[str],
    champion: str | None,
) -> tuple[ChecklistBox, ...] | None:
    """The boxes once the version is registered with its logged requirements.

    The rollback target is the champion the run compared with, unless registration found
    these inputs already registered as that very version: then it is no earlier version.
    """
    if boxes is None:
        return None
    filled = {"registry", "dependencies"} | ({"rollback"} if champion == version else set())
    facts = Facts(version=version, requirements=tuple(requirements))
    ticked = {box.key: box for box in tick(facts) if box.key in filled}
    return tuple(
        replace(box, **_fields(ticked[box.key])) if box.key in ticked else box for box in boxes
    )


def _fields(box: ChecklistBox) -> dict[str, object]:
    return {"ticked": box.ticked, "evidence": box.evidence}
