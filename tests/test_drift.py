"""Drift: PSI and the KS test on small series, and the example's --shift through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import EXAMPLE
from tests.test_bad_inputs import set_key

from mlgate.featurespec import Column
from mlgate.validation.drift import DriftSettings, feature_drift, population_stability_index

SETTINGS = DriftSettings(psi_threshold=0.2, pvalue_threshold=0.01, min_rows=200, bins=10)
NUMERIC = Column(type="numeric")
CATEGORICAL = Column(type="categorical")


def normal(mean: float, rows: int = 2000, seed: int = 0) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(mean, 1.0, rows))


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_move() -> None:
    same, _ = population_stability_index({"a": 50, "b": 50}, {"a": 10, "b": 10})
    small, _ = population_stability_index({"a": 50, "b": 50}, {"a": 55, "b": 45})
    large, biggest = population_stability_index({"a": 50, "b": 50}, {"a": 90, "b": 10})

    assert same == pytest.approx(0.0)
    assert 0 < small < 0.05 < large
    assert biggest == "a: 50.0% → 90.0%"


def test_a_shifted_number_drifts_and_a_resample_does_not() -> None:
    steady = feature_drift("x", NUMERIC, normal(0, seed=1), normal(0, seed=2), SETTINGS)
    moved = feature_drift("x", NUMERIC, normal(0, seed=1), normal(0.8, seed=2), SETTINGS)

    assert not steady.drifted
    assert steady.psi < 0.05
    assert steady.ks_pvalue > 0.01
    assert moved.drifted
    assert moved.psi > 0.2
    assert moved.ks_pvalue < 1e-6


def test_a_new_category_is_drift_with_its_share_reported() -> None:
    before = pd.Series(["a"] * 600 + ["b"] * 400)
    after = pd.Series(["a"] * 300 + ["b"] * 300 + ["c"] * 400)

    result = feature_drift("plan", CATEGORICAL, before, after, SETTINGS)

    assert result.drifted
    assert result.ks_pvalue is None
    assert result.biggest_change == "c: 0.0% → 40.0%"


def test_missing_values_count_as_their_own_bucket() -> None:
    before = pd.Series([1.0, 2.0, 3.0] * 300)
    after = pd.Series([1.0, 2.0, 3.0] * 150 + [None] * 450)

    result = feature_drift("x", NUMERIC, before, after, SETTINGS)

    assert result.drifted
    assert "(missing)" in result.biggest_change


def test_a_small_sample_is_not_called_drift() -> None:
    result = feature_drift("x", NUMERIC, normal(0), normal(5, rows=50), SETTINGS)

    assert not result.drifted
    assert result.psi is None
    assert "50 rows, fewer than validation.drift.min_rows 200" in result.skipped


# --- the example's generator through the CLI ---------------------------------------------------


@pytest.fixture(scope="module")
def shifted_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib.util

    spec = importlib.util.spec_from_file_location("churn_generate", EXAMPLE / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    out = tmp_path_factory.mktemp("shifted")
    assert generate.main(["--shift", "1.0", "--out", str(out)]) == 0
    return out


def drift_of(repo: Path) -> dict:
    return json.loads((repo / ".mlgate/runs/t/validate.json").read_text(encoding="utf-8"))["drift"]


def test_shifted_validation_data_fails_naming_the_features_and_psi(
    cli, churn_repo: Path, shifted_data: Path
) -> None:
    shutil.copy(shifted_data / "validation.csv", churn_repo / "data" / "validation.csv")

    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 1, result.out + result.err
    drift = drift_of(churn_repo)
    drifted = {item["feature"]: item["psi"] for item in drift["drifted"]}
    assert {"tenure_months", "monthly_charges", "total_charges"} <= set(drifted)
    assert not {"plan", "gender", "age", "payment_method"} & set(drifted)
    assert all(drifted[name] >= 0.2 for name in ("tenure_months", "monthly_charges"))
    assert f"tenure_months PSI {drifted['tenure_months']:.2f}" in result.out
    assert drift["reference"] == "the training file"


def test_unshifted_data_passes_the_drift_check(cli, churn_repo: Path) -> None:
    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 0, result.out
    drift = drift_of(churn_repo)
    assert drift["drifted"] == []
    assert len([f for f in drift["features"] if f["skipped"] is None]) == 11
    assert "no drift in 11 feature(s)" in result.out


def test_a_reference_file_compares_both_data_files(
    cli, churn_repo: Path, shifted_data: Path
) -> None:
    shutil.copy(shifted_data / "train.csv", churn_repo / "data" / "reference.csv")
    set_key(churn_repo, "mlgate.yaml", "validation.drift", {"reference": "data/reference.csv"})

    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 1
    drift = drift_of(churn_repo)
    assert drift["reference"] == "data/reference.csv"
    roles = {item["role"] for item in drift["drifted"] if item["feature"] == "tenure_months"}
    assert roles == {"training", "validation"}


def test_drift_can_be_switched_off_or_limited(cli, churn_repo: Path, shifted_data: Path) -> None:
    shutil.copy(shifted_data / "validation.csv", churn_repo / "data" / "validation.csv")
    set_key(churn_repo, "mlgate.yaml", "validation.drift", {"features": ["plan", "gender"]})

    assert cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo).code == 0
    assert {f["feature"] for f in drift_of(churn_repo)["features"]} == {"plan", "gender"}

    set_key(churn_repo, "mlgate.yaml", "validation.drift", {"enabled": False})
    assert cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo).code == 0
    assert drift_of(churn_repo) == {"enabled": False, "features": [], "drifted": [], "seconds": 0.0}


def test_a_missing_reference_file_is_a_config_error(cli, churn_repo: Path) -> None:
    set_key(churn_repo, "mlgate.yaml", "validation.drift", {"reference": "data/nope.csv"})

    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 2
    assert "validation.drift.reference" in result.err
    assert "data/nope.csv not found" in result.err


@pytest.mark.slow
def test_drift_compares_new_training_data_with_the_champions(
    cli, churn_repo: Path, shifted_data: Path
) -> None:
    from mlflow import MlflowClient

    # Version 1, trained on the example's data, becomes the champion.
    shutil.copy(churn_repo / "data" / "train.csv", churn_repo / "data" / "train-v1.csv")
    set_key(churn_repo, "mlgate.yaml", "data.training_data_path", "data/train-v1.csv")
    assert cli("run", cwd=churn_repo).code == 0
    client = MlflowClient(tracking_uri=f"sqlite:///{churn_repo / '.mlgate' / 'mlflow.db'}")
    client.set_registered_model_alias("production-churn-model", "production", "1")
    # The next training data has drifted; the validation file has not.
    shutil.copy(shifted_data / "train.csv", churn_repo / "data" / "train-v2.csv")
    set_key(churn_repo, "mlgate.yaml", "data.training_data_path", "data/train-v2.csv")

    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 1, result.out + result.err
    drift = drift_of(churn_repo)
    assert drift["reference"] == "the champion's training data"
    assert drift["reference_uri"].endswith("train-v1.csv")
    drifted = {(item["role"], item["feature"]) for item in drift["drifted"]}
    assert ("training", "tenure_months") in drifted
    assert ("validation", "tenure_months") not in drifted

    # A champion whose recorded file changed on disk is not a reference: say so, fall back.
    shutil.copy(shifted_data / "train.csv", churn_repo / "data" / "train-v1.csv")
    cli("validate", "--run-dir", ".mlgate/runs/t", "--no-cache", cwd=churn_repo)
    drift = drift_of(churn_repo)
    assert drift["reference"] == "the training file"
    assert "has changed since it was trained on" in drift["note"]
