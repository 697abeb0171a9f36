"""Which fairness thresholds apply to a task, and the checks of the `fairness:` section
that pydantic cannot make before the task is known."""

from __future__ import annotations

from typing import Any

from mlgate._catalogue import FAIRNESS_DISPARITIES, FAIRNESS_GROUP_METRICS_BY_TASK
from mlgate.fairness.verdicts import bound_of

# Per-group metrics whose spread (`<metric>_difference` / `_ratio`) applies to each task.
SPREAD_METRICS = FAIRNESS_GROUP_METRICS_BY_TASK


def applicable_thresholds(kind: str) -> tuple[str, ...]:
    spreads = tuple(
        f"{metric}_{aggregate}"
        for metric in SPREAD_METRICS[kind]
        for aggregate in ("difference", "ratio")
    )
    return (FAIRNESS_DISPARITIES if kind == "classification" else ()) + spreads


def not_judged(classes: int) -> str:
    """Why a multi-class target's fairness is not judged: one wording for every message."""
    return (
        "not judged: the fairness gate judges binary classification and regression, "
        f"and this target has {classes} classes"
    )


def check_for_task(project: Any, kind: str, classes: int | None, features: bool) -> None:
    """The `fairness:` section against the task; `classes` is None when not yet known.

    `features`: whether any sensitive feature is judged. The preflight runs this before
    the first stage, the fairness stage again on the data it judges.
    """
    fairness = project.config.fairness
    if not features and fairness.thresholds:
        raise project.config_error(
            ("fairness", "thresholds"),
            "thresholds are set but there is no sensitive feature to judge; declare them "
            "under sensitive_features in the feature spec (or remove the thresholds)",
        )
    if kind == "classification" and classes is not None and classes != 2:
        if fairness.thresholds:
            raise project.config_error(
                ("fairness", "thresholds"), f"{not_judged(classes)}; remove the thresholds"
            )
        return
    if features:
        check_config(project, kind)


def check_config(project: Any, kind: str) -> None:
    """What pydantic cannot know before the task is known: names and bounds per task."""
    fairness = project.config.fairness
    allowed = applicable_thresholds(kind)
    for name, limit in fairness.thresholds.items():
        key = ("fairness", "thresholds", name)
        if name not in allowed:
            raise project.config_error(
                key,
                f"'{name}' does not apply to {kind}; {kind} fairness metrics: "
                f"{', '.join(allowed[:6])}, ... (any of {', '.join(SPREAD_METRICS[kind])} "
                "with _difference or _ratio)",
            )
        if bound_of(name) == "min" and not 0 < limit <= 1:
            raise project.config_error(
                key, f"a ratio threshold is a minimum between 0 and 1 (e.g. 0.8), got {limit:g}"
            )
        if bound_of(name) == "max" and limit < 0:
            raise project.config_error(
                key, f"a difference threshold is a maximum of at least 0, got {limit:g}"
            )
    if fairness.policy == "confident" and fairness.n_boot == 0:
        raise project.config_error(
            ("fairness", "n_boot"),
            "policy 'confident' judges bootstrap intervals; set n_boot to at least 50 "
            "(or use policy 'point')",
        )
