"""`mlgate init`: drafts that load, pass on their own data, catch bad data, never overwrite."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import EXAMPLE


@pytest.fixture
def fresh_repo(tmp_path: Path) -> Path:
    """A new model repo holding only the example's data files."""
    repo = tmp_path / "churn-model"
    (repo / "data").mkdir(parents=True)
    for name in ("train.csv", "validation.csv"):
        shutil.copy(EXAMPLE / "data" / name, repo / "data" / name)
    return repo


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_init_drafts_a_repo_that_validates(cli, fresh_repo: Path) -> None:
    result = cli("init", str(fresh_repo), cwd=fresh_repo.parent)

    assert result.code == 0, result.err
    config = load(fresh_repo / "mlgate.yaml")
    spec = load(fresh_repo / "configs" / "features.yaml")
    suite = load(fresh_repo / "expectations" / "churn-model.yml")
    assert config["data"] == {
        "training_data_path": "data/train.csv",
        "validation_data_path": "data/validation.csv",
        "feature_spec": "configs/features.yaml",
    }
    assert config["validation"]["suite"] == "expectations/churn-model.yml"
    assert config["evaluation"]["metrics"] == ["roc_auc", "accuracy", "f1"]
    assert (spec["target"], spec["positive_label"], spec["task"]) == (
        "churned",
        "yes",
        "classification",
    )
    assert spec["id_columns"] == ["customer_id"]
    assert spec["features"]["plan"] == {
        "type": "categorical",
        "values": ["basic", "plus", "premium"],
    }
    assert spec["features"]["monthly_charges"]["nullable"] is True
    assert set(spec["sensitive_features"]) == {"gender", "age"}
    assert "bins" in spec["sensitive_features"]["age"]
    assert {"expect_column_values_to_be_unique": {"column": "customer_id"}} in suite
    assert "target: 'churned'" in result.out

    validated = cli("validate", str(fresh_repo), cwd=fresh_repo.parent)
    assert validated.code == 0, validated.out + validated.err


def test_the_drafted_suite_catches_out_of_range_data(cli, fresh_repo: Path) -> None:
    assert cli("init", str(fresh_repo), cwd=fresh_repo.parent).code == 0
    table = pd.read_csv(fresh_repo / "data" / "validation.csv")
    table.loc[3, "support_calls"] = 400
    table.to_csv(fresh_repo / "data" / "validation.csv", index=False)

    result = cli("validate", str(fresh_repo), cwd=fresh_repo.parent)

    assert result.code == 1
    assert "column 'support_calls'" in result.out


def test_init_never_overwrites(cli, fresh_repo: Path) -> None:
    (fresh_repo / "mlgate.yaml").write_text("# mine\n", encoding="utf-8")

    result = cli("init", str(fresh_repo), cwd=fresh_repo.parent)

    assert result.code == 2
    assert "mlgate.yaml already exist" in result.err
    assert (fresh_repo / "mlgate.yaml").read_text(encoding="utf-8") == "# mine\n"
    assert not (fresh_repo / "configs").exists()
    assert not (fresh_repo / "expectations").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["--target", "churn"], "--target 'churn' is not a column", id="bad-target"),
        pytest.param(["--data", "nope.csv"], "--data nope.csv not found", id="missing-data"),
        pytest.param(["--name", "team/churn"], "not a usable registered model name", id="bad-name"),
    ],
)
def test_init_refuses_bad_arguments(cli, fresh_repo: Path, args, words) -> None:
    result = cli("init", str(fresh_repo), *args, cwd=fresh_repo.parent)

    assert result.code == 2
    assert words in result.err
    assert not (fresh_repo / "mlgate.yaml").exists()
    assert not (fresh_repo / "configs").exists()  # nothing written, so a rerun can succeed


def test_init_needs_held_out_data(cli, fresh_repo: Path) -> None:
    (fresh_repo / "data" / "validation.csv").unlink()

    result = cli("init", str(fresh_repo), cwd=fresh_repo.parent)

    assert result.code == 2
    assert "--validation FILE" in result.err


def test_init_drafts_a_regression_repo_from_parquet(cli, tmp_path: Path) -> None:
    repo = tmp_path / "prices"
    (repo / "data").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for name, rows in (("train", 600), ("test", 300)):
        size = rng.uniform(20, 200, rows)
        pd.DataFrame(
            {
                "size_m2": size,
                "rooms": rng.integers(1, 6, rows),
                "district": rng.choice(["north", "south"], rows),
                "price": size * 3000 + rng.normal(0, 1e4, rows),
            }
        ).to_parquet(repo / "data" / f"{name}.parquet")

    result = cli("init", str(repo), "--target", "price", cwd=tmp_path)

    assert result.code == 0, result.err
    spec = load(repo / "configs" / "features.yaml")
    config = load(repo / "mlgate.yaml")
    assert spec["task"] == "regression"
    assert "positive_label" not in spec
    assert spec["features"]["rooms"]["type"] == "integer"
    assert config["data"]["validation_data_path"] == "data/test.parquet"
    assert config["evaluation"]["metrics"] == ["rmse", "mae", "r2"]
    assert cli("validate", str(repo), cwd=tmp_path).code == 0


# --- a first repo from a public dataset: ids by uniqueness, constant columns, drafted gates ---


def _breast_cancer_repo(tmp_path: Path, *, last: str | None = None) -> Path:
    """scikit-learn's breast cancer data as a new team would bring it: a unique `name`
    column (no id-like name), a constant `source` column, a text target."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    table = bunch.frame.iloc[:, :8].copy()
    table.columns = [column.replace(" ", "_") for column in table.columns]
    table.insert(0, "name", [f"patient-{index:04d}" for index in range(len(table.index))])
    table["source"] = "wisconsin"
    table["sex"] = np.where(np.arange(len(table.index)) % 2 == 0, "f", "m")
    table["malignant"] = np.where(bunch.frame["target"] == 0, "yes", "no")
    if last is not None:
        table = table[[c for c in table.columns if c != last] + [last]]
    repo = tmp_path / "diagnosis-model"
    (repo / "data").mkdir(parents=True)
    table.iloc[:400].to_csv(repo / "data" / "train.csv", index=False)
    table.iloc[400:].to_csv(repo / "data" / "validation.csv", index=False)
    return repo


@pytest.mark.slow
def test_init_on_a_public_dataset_drafts_a_repo_whose_first_run_passes_a_gate(
    cli, tmp_path: Path
) -> None:
    repo = _breast_cancer_repo(tmp_path)

    drafted = cli("init", str(repo), "--target", "malignant", cwd=tmp_path)

    assert drafted.code == 0, drafted.err
    spec = load(repo / "configs" / "features.yaml")
    config = load(repo / "mlgate.yaml")
    assert spec["id_columns"] == ["name"]  # unique per row: names rows, not a feature
    assert "name" not in spec["features"]
    assert "source" not in spec["features"]  # one value in every row
    assert "left out: 'source'" in drafted.out
    majority = (pd.read_csv(repo / "data" / "validation.csv")["malignant"] == "no").mean()
    assert config["evaluation"]["gates"]["accuracy"] == {"min": np.floor(majority * 100) / 100}
    assert config["evaluation"]["gates"]["roc_auc"] == {"min": 0.5}
    assert "demographic_parity_difference" in config["fairness"]["thresholds"]
    text = (repo / "mlgate.yaml").read_text(encoding="utf-8")
    assert f"always predicting 'no' is right on {majority:.1%}" in text
    assert (repo / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == ".mlgate/"

    run = cli("run", str(repo), "--json", cwd=tmp_path)

    assert run.code == 0, run.out + run.err
    import json

    stages = {stage["stage"]: stage for stage in json.loads(run.out)["stages"]}
    judged = [gate for gate in stages["evaluate"]["gates"] if gate["verdict"] == "passed"]
    assert {gate["metric"] for gate in judged} == {"roc_auc", "accuracy"}
    assert stages["fairness"]["verdict"] == "passed"
    assert stages["fairness"]["features"][0]["checks"]


def test_init_asks_for_the_target_when_no_column_is_plausibly_one(cli, tmp_path: Path) -> None:
    repo = _breast_cancer_repo(tmp_path, last="name")

    result = cli("init", str(repo), cwd=tmp_path)

    assert result.code == 2
    assert result.error_lines[-1].endswith(
        "the last one, 'name', does not look like one (it has a different value in every "
        "row); name the column to predict with --target COLUMN"
    )
    assert not (repo / "mlgate.yaml").exists()


def test_init_keeps_an_existing_gitignore(cli, fresh_repo: Path) -> None:
    (fresh_repo / ".gitignore").write_text("*.pyc\n", encoding="utf-8")

    result = cli("init", str(fresh_repo), cwd=fresh_repo.parent)

    assert result.code == 0, result.err
    assert (fresh_repo / ".gitignore").read_text(encoding="utf-8") == "*.pyc\n"
    assert "add `.mlgate/` to .gitignore" in result.out
