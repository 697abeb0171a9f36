"""Model choice and training on a tiny synthetic model repo: the task, the estimator, the pipeline.

Each test writes mlgate.yaml, features.yaml, a seeded CSV and a team module to tmp_path,
loads them as `mlgate run` would, and trains on a few hundred rows (no MLflow).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from mlgate._training import Task, TrainedModel, infer_task, train_model
from mlgate.data import load_table
from mlgate.errors import ConfigError, InputError
from mlgate.project import Project, load_project

ROWS = 240
INPUTS = ["x1", "x2", "plan"]
PLANS = ["basic", "plus", "premium"]

# A module of the team's own code, looked up from the model repo by `module:factory`.
TEAM_MODULE = "team_models"
TEAM_MODELS = """\
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler


def build(C=1.0):
    return LogisticRegression(C=C)


def own_pipeline(C=1.0):
    return make_pipeline(MinMaxScaler(), LogisticRegression(C=C))


def broken(C=1.0):
    raise ValueError(f"C={C} is not supported")


def quits():
    import sys

    sys.exit(4)


def not_an_estimator():
    return "LogisticRegression"


class Exploding(LogisticRegression):
    def fit(self, X, y):
        raise RuntimeError("the team's solver gave up")


def exploding():
    return Exploding()
"""


def _synthetic_rows(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Customers with one hidden signal behind every target column, so models can learn."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.uniform(0, 10, size=rows)
    plan = rng.choice(PLANS, size=rows)
    signal = 2.0 * x1 - 0.4 * (x2 - 5) + np.where(plan == "premium", 1.0, 0.0)
    x2[rng.random(rows) < 0.05] = np.nan  # a nullable feature
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(rows)],
            "x1": x1.round(4),
            "x2": x2.round(4),
            "plan": plan,
            "group": rng.choice(["f", "m"], size=rows),
            "churned": np.where(signal + rng.logistic(scale=0.5, size=rows) > 0, "yes", "no"),
            "spend": (10 + 3 * signal + rng.normal(scale=0.5, size=rows)).round(3),
            "grade": np.digitize(signal, [-1.0, 1.0]),  # the integers 0, 1, 2
            "visits": rng.integers(0, 60, size=rows),  # integers, but many of them
            "flag": (signal > 0).astype(int),  # the integers 0 and 1
        }
    )


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return _synthetic_rows()


WriteRepo = Callable[..., Path]


@pytest.fixture
def write_repo(tmp_path: Path, rows: pd.DataFrame):
    """Write a model repo under tmp_path; returns the path of its mlgate.yaml."""

    def write(
        *,
        target: str = "churned",
        model: dict[str, Any] | None = None,
        spec: dict[str, Any] | None = None,
        spec_text: str = "",
        folder: str = "repo",
    ) -> Path:
        root = tmp_path / folder
        root.mkdir()
        rows.to_csv(root / "train.csv", index=False)
        (root / f"{TEAM_MODULE}.py").write_text(TEAM_MODELS)
        config = {
            "version": "1.0",
            "data": {
                "training_data_path": "train.csv",
                "validation_data_path": "train.csv",
                "feature_spec": "features.yaml",
            },
            "model": model or {"type": "GradientBoosting"},
        }
        features = {
            "target": target,
            "id_columns": ["customer_id"],
            "features": {
                "x1": "numeric",
                "x2": {"type": "numeric", "nullable": True},
                "plan": {"type": "categorical", "values": PLANS},
            },
            "sensitive_features": {"group": {"type": "categorical"}},
            **(spec or {}),
        }
        (root / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (root / "features.yaml").write_text(yaml.safe_dump(features, sort_keys=False) + spec_text)
        return root / "mlgate.yaml"

    yield write
    # The factory module is imported by name; never let one test's copy serve another.
    sys.modules.pop(TEAM_MODULE, None)


def _load(config_path: Path) -> tuple[Project, pd.DataFrame]:
    project = load_project(config_path)
    train, _ = load_table(project, "training")
    return project, train


def _task(config_path: Path) -> Task:
    project, train = _load(config_path)
    return infer_task(project, train, config_path.parent / "train.csv")


def _fit(config_path: Path) -> tuple[TrainedModel, pd.DataFrame]:
    project, train = _load(config_path)
    task = infer_task(project, train, config_path.parent / "train.csv")
    return train_model(project, train, task), train


def _line_of(path: Path, key: str) -> int:
    """The line where a dotted key is written, read with PyYAML's own node marks."""
    node = yaml.compose(path.read_text())
    key_node = None
    for part in key.split("."):
        key_node, node = next((k, v) for k, v in node.value if k.value == part)
    assert key_node is not None
    return key_node.start_mark.line + 1


def _assert_points_at(error: ConfigError, path: Path, key: str) -> None:
    assert error.file == path
    assert error.key == key
    assert error.line == _line_of(path, key)


# --- the task ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(
            "churned",
            Task("classification", inferred=True, classes=("no", "yes"), positive_label="yes"),
            id="string-labels-classification",
        ),
        pytest.param("spend", Task("regression", inferred=True), id="float-target-regression"),
        pytest.param(
            "grade",
            Task("classification", inferred=True, classes=(0, 1, 2)),
            id="three-integers-classification",
        ),
        pytest.param(
            "flag",
            Task("classification", inferred=True, classes=(0, 1), positive_label=1),
            id="two-integers-binary-greater-is-positive",
        ),
        pytest.param("visits", Task("regression", inferred=True), id="many-integers-regression"),
    ],
)
def test_task_is_inferred_from_the_target(
    write_repo: WriteRepo, target: str, expected: Task
) -> None:
    assert _task(write_repo(target=target)) == expected


def test_task_in_the_spec_overrides_inference(write_repo: WriteRepo, rows: pd.DataFrame) -> None:
    as_regression = _task(write_repo(target="grade", spec={"task": "regression"}, folder="a"))
    assert as_regression == Task("regression", inferred=False)

    as_classes = _task(write_repo(target="visits", spec={"task": "classification"}, folder="b"))
    assert as_classes.kind == "classification"
    assert not as_classes.inferred
    assert as_classes.classes == tuple(sorted(rows["visits"].unique().tolist()))


def test_regression_of_text_labels_is_an_input_error(write_repo: WriteRepo) -> None:
    with pytest.raises(InputError, match="set task: classification"):
        _task(write_repo(target="churned", spec={"task": "regression"}))


@pytest.mark.parametrize(
    ("target", "written", "positive"),
    [
        pytest.param("churned", "yes", "yes", id="string-greater-label"),
        pytest.param("churned", "no", "no", id="string-lesser-label"),
        pytest.param("flag", "1", 1, id="integer-label-written-as-text"),
        pytest.param("flag", 0, 0, id="integer-label-written-as-integer"),
        pytest.param("flag", 1.0, 1, id="integer-label-written-as-float"),
    ],
)
def test_positive_label_matches_a_target_label(
    write_repo: WriteRepo, target: str, written: Any, positive: Any
) -> None:
    task = _task(write_repo(target=target, spec={"positive_label": written}))
    assert task.positive_label == positive
    # The label itself, as the model predicts it: an int stays an int.
    assert type(task.positive_label) is type(positive)
    assert task.is_binary


def test_unquoted_yes_positive_label_is_a_config_error_suggesting_quotes(
    write_repo: WriteRepo,
) -> None:
    config_path = write_repo(spec_text="positive_label: yes\n")
    with pytest.raises(ConfigError) as raised:
        _task(config_path)
    _assert_points_at(raised.value, config_path.parent / "features.yaml", "positive_label")
    assert 'quote it: "yes"' in raised.value.message


def test_positive_label_that_is_no_label_lists_the_labels(write_repo: WriteRepo) -> None:
    config_path = write_repo(spec={"positive_label": "maybe"})
    with pytest.raises(ConfigError, match=r"'maybe' is not one of .*'no', 'yes'") as raised:
        _task(config_path)
    _assert_points_at(raised.value, config_path.parent / "features.yaml", "positive_label")


# --- the estimator ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("short_name", "target", "estimator_class"),
    [
        pytest.param("GradientBoosting", "churned", GradientBoostingClassifier, id="gb-clf"),
        pytest.param("RandomForest", "churned", RandomForestClassifier, id="rf-clf"),
        pytest.param("LogisticRegression", "churned", LogisticRegression, id="logreg-clf"),
        pytest.param("DecisionTree", "churned", DecisionTreeClassifier, id="tree-clf"),
        pytest.param("KNeighbors", "churned", KNeighborsClassifier, id="knn-clf"),
        pytest.param(
            "HistGradientBoosting", "churned", HistGradientBoostingClassifier, id="hgb-clf"
        ),
        pytest.param("NaiveBayes", "churned", GaussianNB, id="naive-bayes-clf"),
        pytest.param("LinearRegression", "spend", LinearRegression, id="linear-reg"),
        pytest.param("Ridge", "spend", Ridge, id="ridge-reg"),
        pytest.param("RandomForest", "spend", RandomForestRegressor, id="rf-reg"),
        pytest.param("GradientBoosting", "spend", GradientBoostingRegressor, id="gb-reg"),
    ],
)
def test_short_name_picks_the_model_of_the_task_and_fits(
    write_repo: WriteRepo, short_name: str, target: str, estimator_class: type
) -> None:
    trained, train = _fit(write_repo(target=target, model={"type": short_name}))

    assert trained.estimator.name == estimator_class.__name__
    assert type(trained.pipeline.named_steps["model"]) is estimator_class
    predicted = trained.pipeline.predict(train[INPUTS])
    actual = train[target].to_numpy()
    if trained.task.kind == "classification":
        assert np.mean(predicted == actual) > 0.75
    else:
        r2 = 1 - np.sum((actual - predicted) ** 2) / np.sum((actual - actual.mean()) ** 2)
        assert r2 > 0.75


@pytest.mark.parametrize(
    ("short_name", "target", "message"),
    [
        pytest.param(
            "LogisticRegression",
            "spend",
            r"LogisticRegression is a classification model .*regression task",
            id="classifier-only-on-regression",
        ),
        pytest.param(
            "NaiveBayes",
            "spend",
            r"NaiveBayes is a classification model .*regression task",
            id="naive-bayes-on-regression",
        ),
        pytest.param(
            "LinearRegression",
            "churned",
            r"LinearRegression is a regression model .*classification task",
            id="regressor-only-on-classification",
        ),
    ],
)
def test_short_name_of_the_other_task_is_a_config_error(
    write_repo: WriteRepo, short_name: str, target: str, message: str
) -> None:
    config_path = write_repo(target=target, model={"type": short_name})
    with pytest.raises(ConfigError, match=message) as raised:
        _fit(config_path)
    _assert_points_at(raised.value, config_path, "model.type")


def test_unknown_short_name_suggests_the_close_one(write_repo: WriteRepo) -> None:
    config_path = write_repo(model={"type": "RandomForrest"})
    with pytest.raises(ConfigError, match="did you mean 'RandomForest'") as raised:
        _fit(config_path)
    _assert_points_at(raised.value, config_path, "model.type")


def test_full_class_path_is_imported_and_seeded(write_repo: WriteRepo) -> None:
    config_path = write_repo(
        model={
            "type": "sklearn.ensemble.ExtraTreesClassifier",
            "params": {"n_estimators": 20},
            "seed": 5,
        }
    )
    trained, train = _fit(config_path)

    model = trained.pipeline.named_steps["model"]
    assert type(model) is ExtraTreesClassifier
    assert trained.estimator.name == "ExtraTreesClassifier"
    assert model.get_params()["n_estimators"] == 20
    assert model.get_params()["random_state"] == 5
    assert set(trained.pipeline.predict(train[INPUTS])) <= {"no", "yes"}


@pytest.mark.parametrize(
    ("class_path", "message"),
    [
        pytest.param(
            "sklearn.ensemble.ExtraTreesRegressor",
            r"ExtraTreesRegressor is a regressor .*classification task",
            id="regressor-class-on-classification",
        ),
        pytest.param(
            "sklearn.ensemble.NoSuchForest",
            r"cannot import sklearn\.ensemble\.NoSuchForest",
            id="missing-class",
        ),
        pytest.param(
            "sklearn.ensemble.RandomForestClassifier.fit",
            r"cannot import sklearn\.ensemble\.RandomForestClassifier\.fit",
            id="method-not-class",
        ),
    ],
)
def test_unusable_class_path_is_a_config_error(
    write_repo: WriteRepo, class_path: str, message: str
) -> None:
    config_path = write_repo(model={"type": class_path})
    with pytest.raises(ConfigError, match=message) as raised:
        _fit(config_path)
    _assert_points_at(raised.value, config_path, "model.type")


def test_factory_from_the_model_repo_gets_its_params(write_repo: WriteRepo) -> None:
    config_path = write_repo(model={"type": f"{TEAM_MODULE}:build", "params": {"C": 0.25}})
    trained, train = _fit(config_path)

    model = trained.pipeline.named_steps["model"]
    assert type(model) is LogisticRegression
    assert model.C == 0.25
    assert trained.estimator.name == "LogisticRegression"
    assert trained.estimator.params == {"C": 0.25}
    # The repo is on sys.path only while the factory is imported.
    assert str(config_path.parent) not in sys.path
    assert set(trained.pipeline.predict(train[INPUTS])) <= {"no", "yes"}


@pytest.mark.parametrize(
    ("model", "key", "message"),
    [
        pytest.param(
            {"type": f"{TEAM_MODULE}:build", "params": {"penalty": 2}},
            "model.params.penalty",
            r"team_models:build has no parameter 'penalty'",
            id="unknown-parameter",
        ),
        pytest.param(
            {"type": f"{TEAM_MODULE}:broken", "params": {"C": 3}},
            "model.type",
            r"team_models:broken.* raised ValueError: C=3 is not supported",
            id="factory-raises",
        ),
        pytest.param(
            {"type": f"{TEAM_MODULE}:quits"},
            "model.type",
            r"team_models:quits.* raised SystemExit: 4",
            id="factory-exits",
        ),
        pytest.param(
            {"type": f"{TEAM_MODULE}:not_an_estimator"},
            "model.type",
            r"team_models:not_an_estimator returned str, not an estimator",
            id="returns-non-estimator",
        ),
        pytest.param(
            {"type": f"{TEAM_MODULE}:missing"},
            "model.type",
            r"cannot load team_models:missing",
            id="no-such-factory",
        ),
    ],
)
def test_unusable_factory_is_a_config_error(
    write_repo: WriteRepo, model: dict[str, Any], key: str, message: str
) -> None:
    config_path = write_repo(model=model)
    with pytest.raises(ConfigError, match=message) as raised:
        _fit(config_path)
    _assert_points_at(raised.value, config_path, key)


def test_a_module_that_exits_on_import_is_a_config_error(write_repo: WriteRepo) -> None:
    config_path = write_repo(model={"type": "exits_on_import:build"})
    (config_path.parent / "exits_on_import.py").write_text("import sys\n\nsys.exit(0)\n")
    with pytest.raises(ConfigError, match=r"importing exits_on_import raised SystemExit: 0"):
        _fit(config_path)


def test_a_team_estimator_that_fails_to_fit_is_an_input_error(write_repo: WriteRepo) -> None:
    config_path = write_repo(model={"type": f"{TEAM_MODULE}:exploding"})
    with pytest.raises(InputError, match="RuntimeError: the team's solver gave up") as raised:
        _fit(config_path)
    assert raised.value.file == config_path.parent / "train.csv"


# --- the pipeline -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_type", "numeric_steps"),
    [
        pytest.param("LogisticRegression", ["impute", "scale"], id="logreg-scaled"),
        pytest.param("KNeighbors", ["impute", "scale"], id="knn-scaled"),
        pytest.param("GradientBoosting", ["impute"], id="gb-unscaled"),
        pytest.param("RandomForest", ["impute"], id="rf-unscaled"),
        pytest.param(f"{TEAM_MODULE}:build", ["impute", "scale"], id="factory-logreg-scaled"),
        # A team's own pipeline brings its own scaling; mlgate adds none on top.
        pytest.param(f"{TEAM_MODULE}:own_pipeline", ["impute"], id="factory-pipeline-unscaled"),
    ],
)
def test_scaler_only_for_scale_sensitive_models(
    write_repo: WriteRepo, model_type: str, numeric_steps: list[str]
) -> None:
    trained, train = _fit(write_repo(model={"type": model_type}))

    preprocess = trained.pipeline.named_steps["preprocess"]
    numeric = preprocess.named_transformers_["numeric"]
    assert [name for name, _ in numeric.steps] == numeric_steps
    scaled = preprocess.transform(train[INPUTS])[:, :2]  # x1, x2 come first
    if "scale" in numeric_steps:
        assert isinstance(numeric.named_steps["scale"], StandardScaler)
        np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-9)
    else:
        # Unscaled: x2 keeps its 0..10 range (missing values filled with the median).
        assert scaled[:, 1].min() >= 0
        assert scaled[:, 1].max() > 9


@pytest.mark.parametrize(
    "model_type",
    [
        pytest.param("LogisticRegression", id="logreg"),
        pytest.param("GradientBoosting", id="gb"),
    ],
)
def test_pipeline_takes_raw_rows_with_gaps_and_unseen_categories(
    write_repo: WriteRepo, model_type: str
) -> None:
    trained, _ = _fit(write_repo(model={"type": model_type}))
    request = pd.DataFrame(
        {
            "x1": [0.3, 0.3, -1.2],
            "x2": [np.nan, np.nan, 4.0],
            "plan": ["enterprise", np.nan, "basic"],
        }
    )

    predicted = trained.pipeline.predict(request)
    probabilities = trained.pipeline.predict_proba(request)

    assert set(predicted) <= {"no", "yes"}
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1)
    # An unseen category counts as no known category at all, like a missing one.
    np.testing.assert_allclose(probabilities[0], probabilities[1])


def test_training_twice_gives_the_same_model(write_repo: WriteRepo) -> None:
    config_path = write_repo(model={"type": "RandomForest", "params": {"n_estimators": 20}})
    first, train = _fit(config_path)
    second, _ = _fit(config_path)

    np.testing.assert_array_equal(
        first.pipeline.predict(train[INPUTS]), second.pipeline.predict(train[INPUTS])
    )
    np.testing.assert_array_equal(
        first.pipeline.predict_proba(train[INPUTS]), second.pipeline.predict_proba(train[INPUTS])
    )


def test_another_seed_gives_another_model(write_repo: WriteRepo) -> None:
    """The seed reaches the estimator: without it the test above would pass by luck."""
    forest = {"type": "RandomForest", "params": {"n_estimators": 20}}
    first, train = _fit(write_repo(model={**forest, "seed": 1}, folder="a"))
    second, _ = _fit(write_repo(model={**forest, "seed": 2}, folder="b"))

    assert not np.array_equal(
        first.pipeline.predict_proba(train[INPUTS]), second.pipeline.predict_proba(train[INPUTS])
    )


@pytest.mark.parametrize(
    ("model", "random_state"),
    [
        pytest.param({"type": "RandomForest", "seed": 7}, 7, id="from-seed"),
        pytest.param({"type": "RandomForest"}, 42, id="default-seed"),
        pytest.param(
            {"type": "RandomForest", "seed": 7, "params": {"random_state": 3}},
            3,
            id="params-win",
        ),
        pytest.param(
            {"type": "sklearn.ensemble.ExtraTreesClassifier", "seed": 11}, 11, id="class-path"
        ),
    ],
)
def test_random_state_comes_from_the_seed_unless_params_set_it(
    write_repo: WriteRepo, model: dict[str, Any], random_state: int
) -> None:
    trained, _ = _fit(write_repo(model=model))

    assert trained.estimator.params["random_state"] == random_state
    assert trained.pipeline.named_steps["model"].get_params()["random_state"] == random_state


def test_no_random_state_for_a_model_without_one(write_repo: WriteRepo) -> None:
    trained, _ = _fit(write_repo(model={"type": "KNeighbors", "seed": 7}))
    assert "random_state" not in trained.estimator.params


# --- model inputs -----------------------------------------------------------------------


def test_sensitive_features_and_ids_are_not_model_inputs(write_repo: WriteRepo) -> None:
    trained, train = _fit(write_repo())

    assert trained.feature_columns == INPUTS
    assert list(trained.pipeline.feature_names_in_) == INPUTS
    # A serving request without the sensitive feature is all the model needs.
    assert len(trained.pipeline.predict(train[INPUTS])) == ROWS


def test_sensitive_feature_with_use_in_model_is_an_input(write_repo: WriteRepo) -> None:
    spec = {"sensitive_features": {"group": {"type": "categorical", "use_in_model": True}}}
    trained, _ = _fit(write_repo(spec=spec))

    assert trained.feature_columns == [*INPUTS, "group"]
    outputs = trained.pipeline.named_steps["preprocess"].get_feature_names_out().tolist()
    assert outputs == ["x1", "x2", "plan_basic", "plan_plus", "plan_premium", "group_f", "group_m"]


@pytest.mark.parametrize(
    ("target", "classes"),
    [
        pytest.param("flag", (0, 1), id="integer-labels"),
        pytest.param("grade", (0, 1, 2), id="integer-classes"),
    ],
)
def test_classifier_trains_on_integer_labels(
    write_repo: WriteRepo, target: str, classes: tuple[int, ...]
) -> None:
    trained, train = _fit(write_repo(target=target))

    assert tuple(trained.pipeline.classes_.tolist()) == classes
    assert set(trained.pipeline.predict(train[INPUTS]).tolist()) <= set(classes)
