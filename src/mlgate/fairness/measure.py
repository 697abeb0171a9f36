"""Figures per group and disparities between groups, computed with Fairlearn's MetricFrame.

The per-group table comes from Fairlearn's `MetricFrame.by_group`, a disparity from
`MetricFrame.difference()` / `.ratio()` (between groups), and its interval from the
resamples `MetricFrame(n_boot=..., ci_quantiles=..., random_state=seed)` draws,
counted in `mlgate.fairness.bootstrap`. Labels arrive as 0/1 (1 = the positive
label), so Fairlearn's rates need no `pos_label`. Equalized odds is the worse of two
disparities (true- and false-positive rate), per resample as well.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlgate._catalogue import FAIRNESS_DISPARITIES

# Per-group metrics of the table, by task; `count` is Fairlearn's.
CLASSIFICATION_TABLE = (
    "count",
    "selection_rate",
    "accuracy",
    "true_positive_rate",
    "false_positive_rate",
    "precision",
    "recall",
)
REGRESSION_TABLE = ("count", "mean_prediction", "mean_absolute_error", "mean_squared_error")
TABLE_METRICS = {"classification": CLASSIFICATION_TABLE, "regression": REGRESSION_TABLE}

# The disparities reported for every judged feature, thresholded or not.
DEFAULT_DISPARITIES = {
    "classification": FAIRNESS_DISPARITIES,
    "regression": ("mean_prediction_difference", "mean_absolute_error_difference"),
}

# A disparity is an aggregate ("difference": max - min, "ratio": min / max) of one or
# more per-group metrics; with several, the worst of them counts.
_COMPOSITES: dict[str, tuple[str, tuple[str, ...]]] = {
    "demographic_parity_difference": ("difference", ("selection_rate",)),
    "demographic_parity_ratio": ("ratio", ("selection_rate",)),
    "equalized_odds_difference": ("difference", ("true_positive_rate", "false_positive_rate")),
    "equalized_odds_ratio": ("ratio", ("true_positive_rate", "false_positive_rate")),
    "equal_opportunity_difference": ("difference", ("true_positive_rate",)),
}


@dataclass(frozen=True)
class Disparity:
    metric: str
    value: float | None  # None when undefined (e.g. no positives in a group)
    interval: tuple[float, float] | None  # None without bootstrap or when undefined

    @property
    def higher_is_worse(self) -> bool:
        return definition(self.metric)[0] == "difference"


def definition(name: str) -> tuple[str, tuple[str, ...]]:
    """How a disparity is aggregated and from which per-group metrics."""
    if name in _COMPOSITES:
        return _COMPOSITES[name]
    for kind in ("difference", "ratio"):
        suffix = f"_{kind}"
        if name.endswith(suffix):
            return kind, (name[: -len(suffix)],)
    raise KeyError(name)


def metric_functions(names: tuple[str, ...] | list[str]) -> dict[str, Callable[..., Any]]:
    from functools import partial

    from fairlearn import metrics as fl
    from sklearn import metrics as skm

    known: dict[str, Callable[..., Any]] = {
        "count": fl.count,
        "selection_rate": fl.selection_rate,
        "accuracy": skm.accuracy_score,
        "true_positive_rate": fl.true_positive_rate,
        "false_positive_rate": fl.false_positive_rate,
        "precision": partial(skm.precision_score, zero_division=0.0),
        "recall": partial(skm.recall_score, zero_division=0.0),
        "mean_prediction": fl.mean_prediction,
        "mean_absolute_error": skm.mean_absolute_error,
        "mean_squared_error": skm.mean_squared_error,
    }
    return {name: known[name] for name in names}


def group_table(y_true: Any, y_pred: Any, groups: Any, kind: str) -> dict[str, dict[str, float]]:
    """Every table metric for every group (small groups too): {group: {metric: value}}."""
    from fairlearn.metrics import MetricFrame

    with _quiet():
        frame = MetricFrame(
            metrics=metric_functions(TABLE_METRICS[kind]),
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups,
        )
    table = frame.by_group
    return {
        str(group): {name: _number(table.loc[group, name]) for name in table.columns}
        for group in table.index
    }


def disparities(
    y_true: Any,
    y_pred: Any,
    groups: Any,
    names: list[str],
    *,
    n_boot: int,
    confidence: float,
    seed: int,
    kind: str = "classification",
) -> dict[str, Disparity]:
    """Each named disparity between the groups given, with a bootstrap interval when n_boot > 0.

    The point estimate is Fairlearn's `MetricFrame.difference()` / `.ratio()`; the
    interval is that of `MetricFrame(n_boot=n_boot, ci_quantiles=..., random_state=seed)`
    (see `mlgate.fairness.bootstrap`).
    """
    import numpy as np
    from fairlearn.metrics import MetricFrame

    components = list(dict.fromkeys(part for name in names for part in definition(name)[1]))
    with _quiet():
        frame = MetricFrame(
            metrics=metric_functions(components),
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups,
        )
        point = {"difference": frame.difference(), "ratio": frame.ratio()}
    samples: dict[str, Any] = {}
    if n_boot > 0:
        from mlgate.fairness import bootstrap

        labels = np.asarray(groups, dtype=object)
        present, codes = np.unique(labels, return_inverse=True)
        truth, said = np.asarray(y_true), np.asarray(y_pred)
        chunks = [
            bootstrap.group_metric_samples(
                truth, said, codes, len(present), indices, components, kind
            )
            for indices in bootstrap.resample_chunks(len(labels), n_boot, seed)
        ]
        per_group = {part: np.concatenate([chunk[part] for chunk in chunks]) for part in components}
        samples = {
            (kind_, part): bootstrap.spread(values, kind_)
            for part, values in per_group.items()
            for kind_ in ("difference", "ratio")
        }
    result = {}
    for name in names:
        aggregate, parts = definition(name)
        worst = max if aggregate == "difference" else min
        value = _combine(worst, [point[aggregate][part] for part in parts])
        interval = None
        if samples:
            stacked = np.stack([samples[(aggregate, part)] for part in parts])
            per_sample = stacked.max(axis=0) if aggregate == "difference" else stacked.min(axis=0)
            interval = bootstrap.quantiles(per_sample, confidence)
        result[name] = Disparity(name, value, interval)
    return result


def _combine(worst: Callable[..., float], values: list[Any]) -> float | None:
    numbers = [_number(value) for value in values]
    if any(number is None for number in numbers):
        return None
    return float(worst(numbers))


def _number(value: Any) -> float | None:
    import math

    number = float(value)
    return None if math.isnan(number) else number


class _quiet(warnings.catch_warnings):
    """A group (or a bootstrap sample of it) without positives makes a rate undefined.

    That shows as a missing value in the result, not as a warning on the console.
    """

    def __enter__(self) -> Any:
        result = super().__enter__()
        from sklearn.exceptions import UndefinedMetricWarning

        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return result
