"""Standard metrics of a fitted model on a table, for classification and regression."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlgate._catalogue import DEFAULT_METRICS
from mlgate._training import Task
from mlgate.errors import ConfigError, InputError


@dataclass(frozen=True)
class Predictions:
    """What the model said about each row: labels (or values), and class probabilities."""

    y_true: Any
    y_pred: Any
    scores: Any | None  # (n_rows, n_classes) probabilities in `classes` order, or None
    classes: tuple[Any, ...]


def predict(pipeline: Any, features: Any, task: Task) -> tuple[Any, Any | None]:
    y_pred = pipeline.predict(features)
    if task.kind != "classification":
        return y_pred, None
    if hasattr(pipeline, "predict_proba"):
        try:
            return y_pred, pipeline.predict_proba(features)
        except AttributeError:  # e.g. SVC(probability=False) exposes the method but refuses
            pass
    return y_pred, None


def metric_names(requested: list[str], gated: list[str], task: Task) -> list[str]:
    """The metrics to compute: those asked for (or the task's defaults), then any gated ones."""
    names = list(requested) or list(DEFAULT_METRICS[task.kind])
    names += [name for name in gated if name not in names]
    return names


def compute_metrics(names: list[str], predictions: Predictions, task: Task) -> dict[str, float]:
    return {name: _compute(name, predictions, task) for name in names}


def _compute(name: str, p: Predictions, task: Task) -> float:
    import numpy as np
    from sklearn import metrics as m

    if task.kind == "regression":
        y_true = np.asarray(p.y_true, dtype=float)
        y_pred = np.asarray(p.y_pred, dtype=float)
        if name == "mae":
            return float(m.mean_absolute_error(y_true, y_pred))
        if name == "rmse":
            return float(np.sqrt(m.mean_squared_error(y_true, y_pred)))
        if name == "r2":
            return float(m.r2_score(y_true, y_pred))
        if name == "mape":
            return float(m.mean_absolute_percentage_error(y_true, y_pred))
        raise AssertionError(name)

    binary = task.is_binary
    average = "binary" if binary else "macro"
    positive = task.positive_label if binary else 1
    labels = list(p.classes)  # the column order of `scores`
    if name == "accuracy":
        return float(m.accuracy_score(p.y_true, p.y_pred))
    if name == "balanced_accuracy":
        return float(m.balanced_accuracy_score(p.y_true, p.y_pred))
    if name in ("precision", "recall", "f1"):
        function = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}
        return float(
            function[name](
                p.y_true,
                p.y_pred,
                average=average,
                pos_label=positive,
                labels=labels,
                zero_division=0,
            )
        )
    scores = _require_scores(name, p)
    present = set(np.unique(np.asarray(p.y_true, dtype=object)).tolist())
    if len(present) < 2:
        raise InputError(
            f"{name} needs at least two classes in the validation data, found {len(present)}"
        )
    absent = [label for label in labels if label not in present]
    if absent and not binary:
        raise InputError(
            f"{name} is undefined when the validation data lacks a class; missing: "
            f"{', '.join(map(str, absent))}; add rows of every class or drop {name}"
        )
    onehot = np.asarray([[label == c for c in labels] for label in p.y_true], dtype=float)
    if name == "roc_auc":
        if binary:
            return float(
                m.roc_auc_score(
                    onehot[:, _index(labels, positive)], scores[:, _index(labels, positive)]
                )
            )
        return float(m.roc_auc_score(p.y_true, scores, multi_class="ovr", labels=labels))
    if name == "pr_auc":
        if binary:
            column = _index(labels, positive)
            return float(m.average_precision_score(onehot[:, column], scores[:, column]))
        return float(m.average_precision_score(onehot, scores, average="macro"))
    if name == "log_loss":
        return float(m.log_loss(p.y_true, scores, labels=labels))
    if name == "brier":
        if binary:
            column = _index(labels, positive)
            return float(np.mean((scores[:, column] - onehot[:, column]) ** 2))
        # Multi-class Brier score: mean squared distance between probability and one-hot rows.
        return float(np.mean(np.sum((scores - onehot) ** 2, axis=1)))
    raise AssertionError(name)


def _require_scores(name: str, p: Predictions) -> Any:
    if p.scores is None:
        raise ConfigError(
            f"{name} needs predicted probabilities, and this model gives none; "
            "drop it from evaluation.metrics or pick a model with predict_proba"
        )
    return p.scores


def _index(labels: list[Any], label: Any) -> int:
    return labels.index(label)
