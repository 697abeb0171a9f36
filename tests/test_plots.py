"""The evaluation's plots are real images, and feature importance speaks of raw columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlgate._importance import feature_importance
from mlgate._metrics import Predictions
from mlgate._plots import PLOTS_DIR, draw_plots
from mlgate._training import Task

ROWS = 300


def _predictions(classes: tuple[Any, ...], seed: int, *, scores: bool = True) -> Predictions:
    rng = np.random.default_rng(seed)
    y_true = np.array(rng.choice(classes, ROWS), dtype=object)
    raw = rng.dirichlet(np.ones(len(classes)), ROWS)
    raw += np.column_stack([y_true == label for label in classes])
    raw /= raw.sum(axis=1, keepdims=True)
    y_pred = np.array([classes[i] for i in raw.argmax(axis=1)], dtype=object)
    return Predictions(y_true, y_pred, raw if scores else None, classes)


def _open(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def _assert_real_picture(path: Path) -> None:
    image = _open(path)
    assert image.format == "PNG"
    assert image.width >= 300
    assert image.height >= 200
    # Not a blank canvas: a drawn chart has many distinct colours.
    assert len(image.convert("RGB").getcolors(1 << 24)) > 50


IMPORTANCE = {
    "method": "model",
    "source": "feature_importances_",
    "features": [
        {"name": "tenure", "importance": 0.6, "std": None},
        {"name": "plan", "importance": 0.4, "std": None},
    ],
}


def test_binary_with_a_champion_draws_every_plot(tmp_path: Path) -> None:
    classes = ("no", "yes")
    task = Task("classification", inferred=True, classes=classes, positive_label="yes")

    drawn = draw_plots(
        tmp_path,
        task,
        _predictions(classes, 1),
        champion=_predictions(classes, 2),
        champion_name="champion v3",
        importance=IMPORTANCE,
    )

    assert drawn["skipped"] == {}
    assert set(drawn["files"]) == {
        "roc",
        "precision_recall",
        "calibration",
        "confusion_matrix",
        "feature_importance",
    }
    for relative in drawn["files"].values():
        assert relative.startswith(f"{PLOTS_DIR}/")
        _assert_real_picture(tmp_path / relative)
    # Side by side: the champion's confusion matrix doubles the width.
    alone = draw_plots(tmp_path / "alone", task, _predictions(classes, 1))
    assert (
        _open(tmp_path / drawn["files"]["confusion_matrix"]).width
        > 1.5 * _open(tmp_path / "alone" / alone["files"]["confusion_matrix"]).width
    )


def test_multiclass_labels_are_drawn_as_written(tmp_path: Path) -> None:
    classes = ("$x$", "a_b", "c^2")  # mathtext would render or reject these
    task = Task("classification", inferred=True, classes=classes)

    drawn = draw_plots(tmp_path, task, _predictions(classes, 3), champion=_predictions(classes, 4))

    assert {"roc", "precision_recall", "calibration", "confusion_matrix"} <= set(drawn["files"])
    for relative in drawn["files"].values():
        _assert_real_picture(tmp_path / relative)


@pytest.mark.parametrize("classes", [(0, 1), (False, True), (1.5, 2.5, 4.0)], ids=str)
def test_number_and_bool_labels_get_a_confusion_matrix(tmp_path: Path, classes: tuple) -> None:
    # A 0/1 target read from CSV: an object array of numbers, which scikit-learn's
    # confusion_matrix refuses as an "unknown" target type.
    task = Task("classification", inferred=False, classes=classes, positive_label=classes[-1])

    drawn = draw_plots(tmp_path, task, _predictions(classes, 5))

    assert "confusion_matrix" in drawn["files"], drawn["skipped"]
    _assert_real_picture(tmp_path / drawn["files"]["confusion_matrix"])


def test_a_model_without_probabilities_gets_no_curves_and_says_why(tmp_path: Path) -> None:
    classes = ("no", "yes")
    task = Task("classification", inferred=True, classes=classes, positive_label="yes")

    drawn = draw_plots(tmp_path, task, _predictions(classes, 5, scores=False))

    assert set(drawn["files"]) == {"confusion_matrix"}
    assert drawn["skipped"]["roc"] == "the model gives no probabilities (no predict_proba)"
    assert "feature_importance" in drawn["skipped"]


def test_regression_draws_predicted_against_actual(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    truth = rng.normal(50, 10, ROWS)
    candidate = Predictions(truth, truth + rng.normal(0, 3, ROWS), None, ())
    champion = Predictions(truth, truth + rng.normal(0, 5, ROWS), None, ())

    drawn = draw_plots(
        tmp_path,
        Task("regression", inferred=True),
        candidate,
        champion=champion,
        importance=IMPORTANCE,
    )

    assert set(drawn["files"]) == {"predicted_vs_actual", "feature_importance"}
    for relative in drawn["files"].values():
        _assert_real_picture(tmp_path / relative)


def test_a_new_drawing_replaces_the_old_files(tmp_path: Path) -> None:
    classes = ("no", "yes")
    task = Task("classification", inferred=True, classes=classes, positive_label="yes")
    draw_plots(tmp_path, task, _predictions(classes, 1), importance=IMPORTANCE)
    (tmp_path / PLOTS_DIR / "fairness.png").write_bytes(b"another stage's picture")

    draw_plots(tmp_path, task, _predictions(classes, 1, scores=False))

    assert sorted(p.name for p in (tmp_path / PLOTS_DIR).iterdir()) == [
        "confusion_matrix.png",
        "fairness.png",  # not one of this module's: left alone
    ]


# --- feature importance -----------------------------------------------------------------


def _table(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """`signal` decides the label; `plan` (three categories) matters a little; `noise` not."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "signal": rng.normal(0, 1, ROWS),
            "noise": rng.normal(0, 1, ROWS),
            "plan": rng.choice(["basic", "plus", "premium"], ROWS),
        }
    )
    logit = 3 * frame["signal"] + 0.8 * (frame["plan"] == "premium")
    labels = np.where(logit + rng.normal(0, 0.5, ROWS) > 0, "yes", "no").astype(object)
    return frame, labels


def _pipeline(estimator: Any) -> Pipeline:
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), ["signal", "noise"]),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


TASK = Task("classification", inferred=True, classes=("no", "yes"), positive_label="yes")


@pytest.mark.parametrize(
    ("estimator", "source"),
    [
        pytest.param(
            GradientBoostingClassifier(n_estimators=30, random_state=0),
            "feature_importances_",
            id="tree-ensemble",
        ),
        pytest.param(LogisticRegression(), "|coef_|", id="linear"),
    ],
)
def test_the_models_own_importances_add_up_per_raw_column(estimator: Any, source: str) -> None:
    frame, labels = _table()
    pipeline = _pipeline(estimator).fit(frame, labels)

    found = feature_importance(pipeline, frame, labels, TASK, seed=0)

    assert found["method"] == "model"
    assert found["source"] == source
    names = [item["name"] for item in found["features"]]
    assert sorted(names) == ["noise", "plan", "signal"]  # plan_basic etc. added back up
    assert names[0] == "signal"
    if source == "feature_importances_":
        total = sum(item["importance"] for item in found["features"])
        assert total == pytest.approx(1.0)
        model = pipeline[-1]
        plan_columns = [
            i for i, n in enumerate(pipeline[:-1].get_feature_names_out()) if "plan_" in n
        ]
        plan = next(item for item in found["features"] if item["name"] == "plan")
        assert plan["importance"] == pytest.approx(model.feature_importances_[plan_columns].sum())


def test_a_model_without_importances_gets_permutation_importance() -> None:
    frame, labels = _table(1)
    target = np.where(labels == "yes", 1.0, 0.0) + frame["signal"].to_numpy()
    regressor = _pipeline(KNeighborsRegressor(n_neighbors=10)).fit(frame, target)

    found = feature_importance(regressor, frame, target, Task("regression", inferred=True), seed=0)
    again = feature_importance(regressor, frame, target, Task("regression", inferred=True), seed=0)

    assert found == again  # seeded
    assert found["method"] == "permutation"
    assert found["source"] == "r2, 5 shuffles"
    assert found["features"][0]["name"] == "signal"
    assert all(item["std"] is not None for item in found["features"])
    noise = next(item for item in found["features"] if item["name"] == "noise")
    assert noise["importance"] < found["features"][0]["importance"] / 5
