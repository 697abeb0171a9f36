"""The fairness stage end to end on examples/churn: real training, real Fairlearn, real MLflow.

Most tests share one trained and evaluated copy of the example (module fixture) and
run only `mlgate fairness` on their own copy of it with their own fairness config.
Every figure in fairness.json is recomputed here from predictions.csv with Fairlearn.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from fairlearn import metrics as fl
from sklearn import metrics as skm

from mlgate.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"
MODEL = "production-churn-model"
AGE_BINS = [18, 30, 45, 65, 120]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/churn trained and evaluated once (no MLflow store: no champion)."""
    repo = tmp_path_factory.mktemp("fairness") / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    assert main(["train", str(repo)]) == 0
    assert main(["evaluate", str(repo)]) == 0
    return repo


@pytest.fixture
def repo(evaluated: Path, tmp_path: Path) -> Path:
    """A private copy of the evaluated example, run directory included."""
    target = tmp_path / "churn"
    shutil.copytree(evaluated, target)
    return target


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _fairness(repo: Path, **settings: Any) -> None:
    _edit(repo / "mlgate.yaml", lambda config: config.update(fairness=settings))


def _run_dir(repo: Path) -> Path:
    runs = repo / ".mlgate" / "runs"
    return runs / (runs / "LATEST").read_text().strip()


def _result(repo: Path) -> dict[str, Any]:
    return json.loads((_run_dir(repo) / "fairness.json").read_text())


def _checks(result: dict[str, Any], feature: str) -> dict[str, dict[str, Any]]:
    [found] = [f for f in result["features"] if f["name"] == feature]
    return {check["metric"]: check for check in found["checks"]}


# --- independent recomputation from predictions.csv ---------------------------------------


def _age_band(age: float) -> str:
    """Half-open bins; the last one is closed (it holds its top edge)."""
    for left, right in pairwise(AGE_BINS):
        if right == AGE_BINS[-1] and left <= age <= right:
            return f"[{left}, {right}]"
        if left <= age < right:
            return f"[{left}, {right})"
    raise AssertionError(f"age {age} outside the bins of the example")


def _groups(predictions: pd.DataFrame, feature: str) -> pd.Series:
    gender = predictions["gender"].astype(str)
    age = predictions["age"].map(_age_band)
    return {"gender": gender, "age": age, "gender & age": gender + " · " + age}[feature]


TABLE = {
    "count": fl.count,
    "selection_rate": fl.selection_rate,
    "accuracy": skm.accuracy_score,
    "true_positive_rate": fl.true_positive_rate,
    "false_positive_rate": fl.false_positive_rate,
    "precision": partial(skm.precision_score, zero_division=0.0),
    "recall": partial(skm.recall_score, zero_division=0.0),
}
DISPARITY_FUNCTIONS = {
    "demographic_parity_difference": fl.demographic_parity_difference,
    "demographic_parity_ratio": fl.demographic_parity_ratio,
    "equalized_odds_difference": fl.equalized_odds_difference,
    "equalized_odds_ratio": fl.equalized_odds_ratio,
    "equal_opportunity_difference": fl.equal_opportunity_difference,
}


def _resamples(frame: pd.DataFrame, n_boot: int, seed: int) -> list[pd.DataFrame]:
    """Fairlearn's bootstrap draw (fairlearn.metrics._bootstrap): one seed per sample."""
    seeds = np.random.default_rng(seed=seed).integers(
        low=0, high=np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32
    )
    return [frame.sample(frac=1, replace=True, random_state=s, ignore_index=True) for s in seeds]


def _expected_interval(
    metric: str, frame: pd.DataFrame, n_boot: int, quantiles: list[float], seed: int
) -> tuple[float, float]:
    if metric in ("equalized_odds_difference", "equalized_odds_ratio"):
        function = DISPARITY_FUNCTIONS[metric]
        samples = [
            function(s["y_true"], s["y_pred"], sensitive_features=s["group"])
            for s in _resamples(frame, n_boot, seed)
        ]
        low, high = np.quantile(samples, quantiles)
        return float(low), float(high)
    aggregate = "ratio" if metric.endswith("_ratio") else "difference"
    base = {
        "demographic_parity_difference": "selection_rate",
        "demographic_parity_ratio": "selection_rate",
        "equal_opportunity_difference": "true_positive_rate",
    }.get(metric, metric.rsplit("_", 1)[0])
    mf = fl.MetricFrame(
        metrics={base: TABLE[base]},
        y_true=frame["y_true"],
        y_pred=frame["y_pred"],
        sensitive_features=frame["group"],
        n_boot=n_boot,
        ci_quantiles=quantiles,
        random_state=seed,
    )
    bounds = mf.difference_ci() if aggregate == "difference" else mf.ratio_ci()
    return float(bounds[0][base]), float(bounds[1][base])


def _expected_value(metric: str, frame: pd.DataFrame) -> float:
    if metric in DISPARITY_FUNCTIONS:
        return DISPARITY_FUNCTIONS[metric](
            frame["y_true"], frame["y_pred"], sensitive_features=frame["group"]
        )
    base, aggregate = metric.rsplit("_", 1)
    mf = fl.MetricFrame(
        metrics=TABLE[base],
        y_true=frame["y_true"],
        y_pred=frame["y_pred"],
        sensitive_features=frame["group"],
    )
    return mf.difference() if aggregate == "difference" else mf.ratio()


def test_every_reported_figure_equals_fairlearn_on_the_saved_predictions(repo: Path, cli) -> None:
    thresholds = {
        "demographic_parity_difference": 0.10,
        "equalized_odds_ratio": 0.5,
        "accuracy_ratio": 0.8,
        "false_positive_rate_difference": 0.2,
    }
    n_boot, confidence, seed = 20, 0.9, 3
    _fairness(
        repo,
        sensitive_features=["gender", "age", ["gender", "age"]],
        thresholds=thresholds,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
    )

    outcome = cli("fairness", cwd=repo)

    assert outcome.code in (0, 1), outcome.err
    result = _result(repo)
    predictions = pd.read_csv(_run_dir(repo) / result["predictions"])
    y_true = (predictions["y_true"] == "yes").astype(int)
    y_pred = (predictions["y_pred"] == "yes").astype(int)
    quantiles = [(1 - confidence) / 2, 1 - (1 - confidence) / 2]
    compared = 0
    for feature in result["features"]:
        groups = _groups(predictions, feature["name"])
        table = fl.MetricFrame(
            metrics=TABLE, y_true=y_true, y_pred=y_pred, sensitive_features=groups
        ).by_group
        assert sorted(g["group"] for g in feature["groups"]) == sorted(table.index)
        for group in feature["groups"]:
            for name, value in group["metrics"].items():
                assert value == pytest.approx(table.loc[group["group"], name], abs=1e-12)
                compared += 1
            assert group["too_small"] == (table.loc[group["group"], "count"] < 30)
        keep = ~groups.isin(feature["excluded_groups"])
        frame = pd.DataFrame({"y_true": y_true, "y_pred": y_pred, "group": groups})[keep]
        frame = frame.reset_index(drop=True)
        for metric, check in _checks(result, feature["name"]).items():
            assert check["value"] == pytest.approx(_expected_value(metric, frame), abs=1e-12)
            assert check["interval"] == pytest.approx(
                list(_expected_interval(metric, frame, n_boot, quantiles, seed)), abs=1e-12
            ), (feature["name"], metric)
            assert check["threshold"] == thresholds.get(metric)
            compared += 2
    # 14 groups x 7 metrics, and 3 features x 7 disparities x (value, interval).
    assert compared == 14 * 7 + 3 * 7 * 2
    assert {c for f in result["features"] for c in _checks(result, f["name"])} >= set(thresholds)


# --- small groups, straddling intervals -----------------------------------------------------


def test_small_groups_are_reported_and_left_out_of_the_disparities(repo: Path, cli) -> None:
    _fairness(
        repo,
        sensitive_features=[["gender", "age"]],
        thresholds={"demographic_parity_difference": 0.5},
        min_group_size=30,
    )

    outcome = cli("fairness", cwd=repo)

    assert outcome.code == 0, outcome.err
    result = _result(repo)
    [feature] = result["features"]
    small = {g["group"]: g["count"] for g in feature["groups"] if g["too_small"]}
    assert small == {"male · [65, 120]": 29}
    assert feature["excluded_groups"] == ["male · [65, 120]"]
    assert result["warnings"] == [
        "gender & age: group 'male · [65, 120]' has 29 rows, fewer than "
        "fairness.min_group_size 30: too small to judge, left out of the disparities"
    ]
    assert "1 warning in fairness.json" in outcome.out
    predictions = pd.read_csv(_run_dir(repo) / "predictions.csv")
    groups = _groups(predictions, "gender & age")
    y_true, y_pred = predictions["y_true"] == "yes", predictions["y_pred"] == "yes"
    keep = (groups != "male · [65, 120]").to_numpy()
    without = fl.demographic_parity_difference(
        y_true[keep].astype(int), y_pred[keep].astype(int), sensitive_features=groups[keep]
    )
    with_small = fl.demographic_parity_difference(
        y_true.astype(int), y_pred.astype(int), sensitive_features=groups
    )
    reported = _checks(result, "gender & age")["demographic_parity_difference"]["value"]
    assert reported == pytest.approx(without)
    assert reported != pytest.approx(with_small)


def test_a_feature_without_two_large_groups_is_not_judged(repo: Path, cli) -> None:
    _fairness(
        repo,
        sensitive_features=["gender"],
        thresholds={"demographic_parity_difference": 0.0},
        min_group_size=500,
    )

    outcome = cli("fairness", cwd=repo)

    assert outcome.code == 0, outcome.err
    check = _checks(_result(repo), "gender")["demographic_parity_difference"]
    assert check["verdict"] == "not_judged"
    assert check["value"] is None
    assert any(
        "fewer than two groups have at least fairness.min_group_size 500 rows" in w
        for w in _result(repo)["warnings"]
    )


def test_confident_policy_warns_when_the_interval_straddles(repo: Path, cli) -> None:
    _fairness(repo, sensitive_features=["gender"], thresholds={"demographic_parity_ratio": 0.1})
    assert cli("fairness", cwd=repo).code == 0
    measured = _checks(_result(repo), "gender")["demographic_parity_difference"]
    low, high = measured["interval"]
    assert low < measured["value"] < high

    straddling = round((low + high) / 2, 4)
    _fairness(
        repo,
        sensitive_features=["gender"],
        thresholds={"demographic_parity_difference": straddling},
        policy="confident",
    )
    warned = cli("fairness", cwd=repo)

    assert warned.code == 0, warned.out
    check = _checks(_result(repo), "gender")["demographic_parity_difference"]
    assert check["verdict"] == "warned"
    assert f"straddles {straddling:g}" in warned.out

    below = round(low / 2, 4)
    _fairness(
        repo,
        sensitive_features=["gender"],
        thresholds={"demographic_parity_difference": below},
        policy="confident",
    )
    failed = cli("fairness", cwd=repo)

    assert failed.code == 1
    assert "(whole interval)" in failed.out

    _fairness(
        repo,
        sensitive_features=["gender"],
        thresholds={"demographic_parity_difference": below},
        policy="confident",
        mode="warn",
    )
    assert cli("fairness", cwd=repo).code == 0
    assert _result(repo)["verdict"] == "passed"
    assert "(mode warn: not blocking)" in _result(repo)["summary"]


# --- bad fairness config --------------------------------------------------------------------


def _config(**fairness: Any) -> Callable[[Path], None]:
    return lambda repo: _fairness(repo, **fairness)


def _spec(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda repo: _edit(repo / "configs" / "features.yaml", change)


def _drop_gender_column(repo: Path) -> None:
    path = repo / "data" / "validation.csv"
    pd.read_csv(path).drop(columns=["gender"]).to_csv(path, index=False)


def _no_bins(spec: dict[str, Any]) -> None:
    spec["sensitive_features"]["age"] = {"type": "numeric"}


def _age_in_one_bin(repo: Path) -> None:
    _fairness(repo, sensitive_features=["age"])
    _edit(
        repo / "configs" / "features.yaml",
        lambda spec: spec["sensitive_features"]["age"].update(bins=[0, 150]),
    )


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param(
            _config(thresholds={"demographic_parity_diff": 0.1}),
            [
                "fairness.thresholds.demographic_parity_diff",
                "unknown fairness metric 'demographic_parity_diff'",
                "did you mean 'demographic_parity_difference'",
            ],
            id="unknown-metric",
        ),
        pytest.param(
            _config(thresholds={"mean_absolute_error_difference": 0.1}),
            [
                "fairness.thresholds.mean_absolute_error_difference",
                "'mean_absolute_error_difference' does not apply to classification",
            ],
            id="metric-of-another-task",
        ),
        pytest.param(
            _config(sensitive_features=["ethnicity"]),
            ["fairness.sensitive_features[0]", "'ethnicity' is not a sensitive feature"],
            id="feature-not-declared",
        ),
        pytest.param(
            _drop_gender_column,
            ["validation.csv", "column 'gender' (feature spec sensitive_features) is missing"],
            id="feature-missing-from-the-data",
        ),
        pytest.param(
            _age_in_one_bin,
            [
                "fairness.sensitive_features[0]",
                "sensitive feature 'age' has a single group in the validation data",
                "only '[0, 150]'",
            ],
            id="single-group",
        ),
        pytest.param(
            _spec(_no_bins),
            ["features.yaml", "sensitive_features.age", "a numeric sensitive feature needs 'bins'"],
            id="numeric-without-bins",
        ),
        pytest.param(
            _config(sensitive_features=[], thresholds={"demographic_parity_difference": 0.1}),
            ["fairness.thresholds", "there is no sensitive feature to judge"],
            id="thresholds-without-features",
        ),
        pytest.param(
            _config(thresholds={"demographic_parity_ratio": 1.5}),
            ["fairness.thresholds.demographic_parity_ratio", "between 0 and 1"],
            id="ratio-above-one",
        ),
        pytest.param(
            _config(policy="confident", n_boot=0),
            ["fairness.n_boot", "policy 'confident' judges bootstrap intervals"],
            id="confident-without-bootstrap",
        ),
    ],
)
def test_bad_fairness_config_exits_2_naming_it(
    repo: Path, cli, breakage: Callable[[Path], None], expected: list[str]
) -> None:
    breakage(repo)

    outcome = cli("fairness", cwd=repo)

    assert outcome.code == 2, outcome.out + outcome.err
    assert len(outcome.error_lines) == 1, outcome.err
    for text in expected:
        assert text in outcome.err
    assert "Traceback" not in outcome.err
    assert not (_run_dir(repo) / "fairness.json").exists()


# --- the bias knob, registration and the champion -------------------------------------------


def _generate(repo: Path, bias: float) -> None:
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            str(repo / "generate.py"),
            "--bias",
            str(bias),
            "--out",
            str(repo / "data"),
        ],
        check=True,
        capture_output=True,
    )


def test_example_passes_unbiased_fails_biased_and_shows_the_champion(churn_repo: Path, cli) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{churn_repo / '.mlgate' / 'mlflow.db'}")

    unbiased = cli("run", cwd=churn_repo)

    assert unbiased.code == 0, unbiased.out + unbiased.err
    assert re.search(
        r"✓ fairness +2/2 checks within thresholds · closest: gender: "
        r"demographic_parity_difference 0\.0\d\d \[[0-9.]+, [0-9.]+\] <= 0\.10",
        unbiased.out,
    ), unbiased.out
    register = json.loads((_run_dir(churn_repo) / "register.json").read_text())
    artifacts = {a.path for a in client.list_artifacts(register["mlflow_run_id"], "mlgate")}
    assert {"mlgate/fairness.png", "mlgate/fairness.json"} <= artifacts
    [version] = client.search_model_versions(f"name = '{MODEL}'")
    assert version.tags["mlgate.gate.fairness"] == "passed"
    client.set_registered_model_alias(MODEL, "production", version.version)

    _generate(churn_repo, 0.5)
    biased = cli("run", cwd=churn_repo)

    assert biased.code == 1
    line = next(x for x in biased.out.splitlines() if x.strip().startswith("✗ fairness"))
    assert re.search(
        r"gender: demographic_parity_difference 0\.1[3-7]\d \[0\.\d+, 0\.\d+\] > 0\.10 by 0\.0\d\d",
        line,
    ), line
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 1  # not registered
    result = _result(churn_repo)
    assert result["champion"] == {"alias": "production", "version": "1"}
    # The champion's disparity, recomputed from the registered model on the same rows.
    import mlflow.sklearn

    mlflow.set_tracking_uri(f"sqlite:///{churn_repo / '.mlgate' / 'mlflow.db'}")
    champion = mlflow.sklearn.load_model(f"models:/{MODEL}@production")
    validation = pd.read_csv(churn_repo / "data" / "validation.csv")
    features = validation.drop(columns=["customer_id", "gender", "age", "churned"])
    champion_pred = (champion.predict(features) == "yes").astype(int)
    expected = fl.demographic_parity_difference(
        (validation["churned"] == "yes").astype(int),
        champion_pred,
        sensitive_features=validation["gender"],
    )
    check = _checks(result, "gender")["demographic_parity_difference"]
    assert check["champion"] == pytest.approx(expected, abs=1e-12)
    assert check["change"] == pytest.approx(check["value"] - expected, abs=1e-12)
    assert check["value"] > 0.13 > expected


def test_fairness_needs_the_evaluate_stage_first(repo: Path, cli) -> None:
    (_run_dir(repo) / "evaluate.json").unlink()

    outcome = cli("fairness", cwd=repo)

    assert outcome.code == 2
    assert "needs the evaluate stage's result" in outcome.err
    assert "run `mlgate evaluate` first" in outcome.err


def _regression_example(repo: Path) -> None:
    """The churn data with tenure as a numeric target (churned becomes a feature)."""

    def spec(document: dict[str, Any]) -> None:
        document.update(target="tenure_months", task="regression")
        document.pop("positive_label")
        document["features"].pop("tenure_months")
        document["features"]["churned"] = {"type": "categorical", "values": ["yes", "no"]}

    def config(document: dict[str, Any]) -> None:
        document["evaluation"] = {"metrics": ["mae", "rmse"]}
        document.pop("validation", None)  # the example's suite expects churned as the target
        document["fairness"] = {
            "sensitive_features": ["gender"],
            "thresholds": {"mean_absolute_error_difference": 2.0, "mean_prediction_ratio": 0.5},
            "n_boot": 20,
            "seed": 9,
        }

    _edit(repo / "configs" / "features.yaml", spec)
    _edit(repo / "mlgate.yaml", config)


def test_regression_is_judged_by_error_and_prediction_spreads(churn_repo: Path, cli) -> None:
    _regression_example(churn_repo)
    assert cli("train", cwd=churn_repo).code == 0
    assert cli("evaluate", cwd=churn_repo).code == 0

    outcome = cli("fairness", cwd=churn_repo)

    assert outcome.code == 0, outcome.out + outcome.err
    result = _result(churn_repo)
    assert result["task"] == "regression"
    checks = _checks(result, "gender")
    assert set(checks) == {
        "mean_prediction_difference",
        "mean_absolute_error_difference",
        "mean_prediction_ratio",
    }
    predictions = pd.read_csv(_run_dir(churn_repo) / "predictions.csv")
    frame = fl.MetricFrame(
        metrics={
            "mean_prediction": fl.mean_prediction,
            "mean_absolute_error": skm.mean_absolute_error,
        },
        y_true=predictions["y_true"],
        y_pred=predictions["y_pred"],
        sensitive_features=predictions["gender"],
        n_boot=20,
        ci_quantiles=[0.025, 0.975],
        random_state=9,
    )
    low, high = frame.ratio_ci()
    assert checks["mean_prediction_ratio"]["value"] == pytest.approx(
        frame.ratio()["mean_prediction"], abs=1e-12
    )
    assert checks["mean_prediction_ratio"]["interval"] == pytest.approx(
        [low["mean_prediction"], high["mean_prediction"]], abs=1e-12
    )
    assert checks["mean_absolute_error_difference"]["value"] == pytest.approx(
        frame.difference()["mean_absolute_error"], abs=1e-12
    )
    [feature] = result["features"]
    assert set(feature["groups"][0]["metrics"]) == {
        "count",
        "mean_prediction",
        "mean_absolute_error",
        "mean_squared_error",
    }
