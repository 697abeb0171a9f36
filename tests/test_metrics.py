"""Every metric of the catalogue, checked against its definition computed here with numpy.

Small fixed arrays stand in for a model's output: binary with text labels (either label
positive) and with integer labels, three classes, and regression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.svm import SVC

from mlgate._catalogue import CLASSIFICATION_METRICS, DEFAULT_METRICS, REGRESSION_METRICS
from mlgate._metrics import Predictions, compute_metrics, metric_names, predict
from mlgate._training import Task
from mlgate.errors import ConfigError, InputError

# --- fixed model outputs ----------------------------------------------------------------

# Binary: 12 rows, distinct scores, three mistakes (one missed "yes", two false "yes").
BINARY_TRUE = ["yes", "no", "no", "yes", "yes", "no", "no", "yes", "no", "no", "yes", "no"]
BINARY_PRED = ["yes", "no", "no", "yes", "no", "no", "yes", "yes", "no", "yes", "yes", "no"]
P_YES = [0.91, 0.22, 0.35, 0.62, 0.41, 0.12, 0.57, 0.83, 0.31, 0.46, 0.74, 0.05]

# Three classes of unequal size (4 birds, 5 cats, 3 dogs, so a macro average differs from
# a weighted one): 12 rows of probabilities in class order, distinct within each column,
# four mistakes; every class is predicted at least once.
MULTI_CLASSES = ("bird", "cat", "dog")
MULTI_TRUE = [
    "cat",
    "dog",
    "bird",
    "cat",
    "dog",
    "bird",
    "cat",
    "bird",
    "dog",
    "cat",
    "bird",
    "cat",
]
MULTI_SCORES = [
    [0.10, 0.70, 0.20],
    [0.15, 0.24, 0.61],
    [0.62, 0.30, 0.08],
    [0.28, 0.47, 0.25],
    [0.21, 0.52, 0.27],
    [0.55, 0.14, 0.31],
    [0.33, 0.41, 0.26],
    [0.44, 0.18, 0.38],
    [0.05, 0.12, 0.83],
    [0.47, 0.36, 0.17],
    [0.39, 0.43, 0.18],
    [0.26, 0.32, 0.42],
]

REGRESSION_TRUE = [3.0, -0.5, 2.0, 7.0, 4.2, 1.5, 10.0, 6.3]
REGRESSION_PRED = [2.5, 0.0, 2.1, 7.8, 3.9, 1.0, 9.1, 6.0]


def _labels(values: list[Any]) -> np.ndarray:
    """Labels as a model and pandas hand them over: text as objects, integers as int64."""
    array = np.array(values)
    return array.astype(object) if array.dtype.kind == "U" else array


def _binary(positive: Any, as_label: Callable[[str], Any] = str) -> tuple[Task, Predictions]:
    classes = tuple(sorted(as_label(label) for label in ("no", "yes")))
    assert classes[1] == as_label("yes")  # so P_YES is the second column
    p_yes = np.array(P_YES)
    task = Task("classification", inferred=True, classes=classes, positive_label=positive)
    predictions = Predictions(
        y_true=_labels([as_label(v) for v in BINARY_TRUE]),
        y_pred=_labels([as_label(v) for v in BINARY_PRED]),
        scores=np.column_stack([1 - p_yes, p_yes]),
        classes=classes,
    )
    return task, predictions


def _multiclass() -> tuple[Task, Predictions]:
    scores = np.array(MULTI_SCORES)
    y_pred = np.array([MULTI_CLASSES[i] for i in scores.argmax(axis=1)], dtype=object)
    task = Task("classification", inferred=True, classes=MULTI_CLASSES)
    predictions = Predictions(
        y_true=_labels(MULTI_TRUE),
        y_pred=y_pred,
        scores=scores,
        classes=MULTI_CLASSES,
    )
    return task, predictions


def _regression() -> tuple[Task, Predictions]:
    predictions = Predictions(
        y_true=np.array(REGRESSION_TRUE),
        y_pred=np.array(REGRESSION_PRED),
        scores=None,
        classes=(),
    )
    return Task("regression", inferred=True), predictions


CLASSIFICATION_CASES = {
    "binary-text-positive-yes": lambda: _binary("yes"),
    # The lesser label as positive: scikit-learn's default would pick the other one.
    "binary-text-positive-no": lambda: _binary("no"),
    "binary-integer-positive-1": lambda: _binary(1, lambda v: int(v == "yes")),
    "binary-integer-positive-0": lambda: _binary(0, lambda v: int(v == "yes")),
    "three-classes": _multiclass,
}
REGRESSION_CASES = {"regression": _regression}


# --- the definitions, in numpy ----------------------------------------------------------


def _classes_to_score(task: Task) -> list[Any]:
    """The one positive class of a binary task; every class (macro average) otherwise."""
    return [task.positive_label] if task.is_binary else list(task.classes)


def _counts(p: Predictions, label: Any) -> tuple[int, int, int]:
    actual = p.y_true == label
    said = p.y_pred == label
    return int(np.sum(actual & said)), int(np.sum(~actual & said)), int(np.sum(actual & ~said))


def _precision(p: Predictions, label: Any) -> float:
    tp, fp, _ = _counts(p, label)
    return tp / (tp + fp)


def _recall(p: Predictions, label: Any) -> float:
    tp, _, fn = _counts(p, label)
    return tp / (tp + fn)


def _f1(p: Predictions, label: Any) -> float:
    precision, recall = _precision(p, label), _recall(p, label)
    return 2 * precision * recall / (precision + recall)


def _auc(is_positive: np.ndarray, score: np.ndarray) -> float:
    """The chance that a positive row outscores a negative one (ties count half)."""
    pos, neg = score[is_positive], score[~is_positive]
    wins = np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :])
    return float(wins / (len(pos) * len(neg)))


def _average_precision(is_positive: np.ndarray, score: np.ndarray) -> float:
    """Mean, over the positive rows, of the precision at that row's rank (distinct scores)."""
    hits = is_positive[np.argsort(-score)]
    precision_at_rank = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at_rank[hits].mean())


def _is(p: Predictions, label: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `label`, and the scores of its column."""
    return p.y_true == label, p.scores[:, list(p.classes).index(label)]


def _onehot(p: Predictions) -> np.ndarray:
    return np.column_stack([p.y_true == label for label in p.classes]).astype(float)


def _mean_over(task: Task, p: Predictions, per_class: Callable[..., float]) -> float:
    return float(np.mean([per_class(p, label) for label in _classes_to_score(task)]))


def _log_loss(p: Predictions) -> float:
    """Mean negative log of the probability given to the true class."""
    rows = np.arange(len(p.y_true))
    columns = [list(p.classes).index(label) for label in p.y_true]
    return float(-np.mean(np.log(p.scores[rows, columns])))


def _brier(task: Task, p: Predictions) -> float:
    """Binary: squared error of the positive class's probability. Multi-class: Brier's
    original sum over the classes, per row."""
    if task.is_binary:
        is_positive, score = _is(p, task.positive_label)
        return float(np.mean((score - is_positive) ** 2))
    return float(np.mean(np.sum((p.scores - _onehot(p)) ** 2, axis=1)))


Reference = Callable[[Task, Predictions], float]

CLASSIFICATION_REFERENCE: dict[str, Reference] = {
    "accuracy": lambda t, p: float(np.mean(p.y_true == p.y_pred)),
    "balanced_accuracy": lambda t, p: float(
        np.mean([_recall(p, label) for label in np.unique(p.y_true)])
    ),
    "precision": lambda t, p: _mean_over(t, p, _precision),
    "recall": lambda t, p: _mean_over(t, p, _recall),
    "f1": lambda t, p: _mean_over(t, p, _f1),
    "roc_auc": lambda t, p: _mean_over(t, p, lambda p, label: _auc(*_is(p, label))),
    "pr_auc": lambda t, p: _mean_over(t, p, lambda p, label: _average_precision(*_is(p, label))),
    "log_loss": lambda t, p: _log_loss(p),
    "brier": _brier,
}


REGRESSION_REFERENCE: dict[str, Reference] = {
    "mae": lambda t, p: float(np.mean(np.abs(p.y_true - p.y_pred))),
    "rmse": lambda t, p: float(np.sqrt(np.mean((p.y_true - p.y_pred) ** 2))),
    "r2": lambda t, p: float(
        1 - np.sum((p.y_true - p.y_pred) ** 2) / np.sum((p.y_true - p.y_true.mean()) ** 2)
    ),
    "mape": lambda t, p: float(np.mean(np.abs((p.y_true - p.y_pred) / p.y_true))),
}


# --- every metric agrees with its definition --------------------------------------------


@pytest.mark.parametrize(
    ("case", "name"),
    [
        *(
            pytest.param(case, name, id=f"{case}-{name}")
            for case in CLASSIFICATION_CASES
            for name in CLASSIFICATION_METRICS
        ),
        *(
            pytest.param(case, name, id=f"{case}-{name}")
            for case in REGRESSION_CASES
            for name in REGRESSION_METRICS
        ),
    ],
)
def test_metric_agrees_with_its_definition(case: str, name: str) -> None:
    task, predictions = {**CLASSIFICATION_CASES, **REGRESSION_CASES}[case]()
    reference = {**CLASSIFICATION_REFERENCE, **REGRESSION_REFERENCE}[name]

    result = compute_metrics([name], predictions, task)

    assert result == {name: pytest.approx(reference(task, predictions), rel=1e-12, abs=1e-12)}
    assert type(result[name]) is float


def test_every_catalogue_metric_has_a_definition_here() -> None:
    assert set(CLASSIFICATION_REFERENCE) == set(CLASSIFICATION_METRICS)
    assert set(REGRESSION_REFERENCE) == set(REGRESSION_METRICS)


def test_positive_label_changes_the_binary_figures() -> None:
    """The fixed data is asymmetric, so a metric that ignored the positive label fails."""
    names = ["precision", "recall", "f1", "roc_auc", "pr_auc", "brier"]
    yes = compute_metrics(names, *_swap(_binary("yes")))
    no = compute_metrics(names, *_swap(_binary("no")))
    assert yes["roc_auc"] == pytest.approx(no["roc_auc"])  # symmetric by definition
    for name in ("precision", "recall", "f1", "pr_auc"):
        assert yes[name] != pytest.approx(no[name]), name


def _swap(pair: tuple[Task, Predictions]) -> tuple[Predictions, Task]:
    task, predictions = pair
    return predictions, task


def test_metrics_come_back_in_the_order_asked() -> None:
    task, predictions = _multiclass()
    names = ["f1", "accuracy", "log_loss", "roc_auc"]
    assert list(compute_metrics(names, predictions, task)) == names


# --- which metrics ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "requested", "gated", "expected"),
    [
        pytest.param(
            "classification", [], [], list(DEFAULT_METRICS["classification"]), id="clf-defaults"
        ),
        pytest.param("regression", [], [], ["rmse", "mae", "r2"], id="reg-defaults"),
        pytest.param(
            "classification",
            [],
            ["brier", "accuracy"],
            ["roc_auc", "accuracy", "f1", "brier"],
            id="defaults-then-new-gated",
        ),
        pytest.param(
            "classification",
            ["f1"],
            ["log_loss", "f1"],
            ["f1", "log_loss"],
            id="requested-then-gated-once",
        ),
        pytest.param("regression", ["mape"], [], ["mape"], id="requested-replaces-defaults"),
        pytest.param("regression", ["mae"], ["r2"], ["mae", "r2"], id="reg-gated-appended"),
    ],
)
def test_metric_names(
    kind: str, requested: list[str], gated: list[str], expected: list[str]
) -> None:
    assert metric_names(requested, gated, Task(kind, inferred=True)) == expected


def test_default_metrics_are_the_catalogue_defaults() -> None:
    assert DEFAULT_METRICS == {
        "classification": ("roc_auc", "accuracy", "f1"),
        "regression": ("rmse", "mae", "r2"),
    }


# --- metrics that cannot be computed ----------------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        pytest.param(RidgeClassifier(), id="ridge-classifier"),
        pytest.param(SVC(), id="svc"),
    ],
)
def test_model_without_predict_proba_cannot_give_roc_auc(estimator: Any) -> None:
    task, fixed = _binary("yes")
    features = np.array(P_YES).reshape(-1, 1)
    model = estimator.fit(features, fixed.y_true)

    y_pred, scores = predict(model, features, task)
    predictions = Predictions(fixed.y_true, y_pred, scores, tuple(model.classes_))

    assert scores is None
    assert set(compute_metrics(["accuracy"], predictions, task)) == {"accuracy"}
    with pytest.raises(ConfigError, match="roc_auc needs predicted probabilities"):
        compute_metrics(["accuracy", "roc_auc"], predictions, task)


@pytest.mark.parametrize("name", ["roc_auc", "pr_auc", "log_loss", "brier"])
def test_score_metrics_without_scores_are_a_config_error(name: str) -> None:
    task, fixed = _binary("yes")
    predictions = Predictions(fixed.y_true, fixed.y_pred, None, fixed.classes)
    with pytest.raises(ConfigError, match=f"{name} needs predicted probabilities"):
        compute_metrics([name], predictions, task)


@pytest.mark.parametrize(
    ("case", "name"),
    [
        pytest.param("binary-text-positive-yes", "roc_auc", id="binary-roc_auc"),
        pytest.param("binary-text-positive-yes", "pr_auc", id="binary-pr_auc"),
        pytest.param("three-classes", "roc_auc", id="three-classes-roc_auc"),
    ],
)
def test_single_class_validation_is_an_input_error(case: str, name: str) -> None:
    task, fixed = CLASSIFICATION_CASES[case]()
    only = fixed.y_true[0]
    keep = fixed.y_true == only
    predictions = Predictions(
        fixed.y_true[keep], fixed.y_pred[keep], fixed.scores[keep], fixed.classes
    )

    assert compute_metrics(["accuracy"], predictions, task)["accuracy"] >= 0
    with pytest.raises(InputError, match=f"{name} needs at least two classes .* found 1"):
        compute_metrics([name], predictions, task)


def test_multiclass_scores_need_every_class_in_the_validation_data() -> None:
    task, predictions = _multiclass()
    keep = np.asarray(predictions.y_true) != "dog"
    without_dogs = Predictions(
        y_true=np.asarray(predictions.y_true)[keep],
        y_pred=np.asarray(predictions.y_pred)[keep],
        scores=np.asarray(predictions.scores)[keep],
        classes=predictions.classes,
    )
    with pytest.raises(InputError, match="lacks a class; missing: dog"):
        compute_metrics(["roc_auc"], without_dogs, task)
