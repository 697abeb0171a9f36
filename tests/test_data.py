"""Reading the data files: formats, hashes, and the types the feature spec declares."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlgate.data import load_table
from mlgate.project import load_project


def _point_at(repo: Path, training: str, validation: str) -> Path:
    config = repo / "mlgate.yaml"
    data = yaml.safe_load(config.read_text())
    data["data"]["training_data_path"] = training
    data["data"]["validation_data_path"] = validation
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


@pytest.mark.parametrize(
    ("suffix", "write"),
    [
        pytest.param(".parquet", lambda frame, path: frame.to_parquet(path), id="parquet"),
        pytest.param(
            ".jsonl",
            lambda frame, path: frame.to_json(path, orient="records", lines=True),
            id="json-lines",
        ),
        pytest.param(".csv.gz", lambda frame, path: frame.to_csv(path, index=False), id="csv-gzip"),
    ],
)
def test_every_format_reads_to_the_same_table(churn_repo: Path, suffix: str, write) -> None:
    reference_project = load_project(churn_repo / "mlgate.yaml")
    reference, _ = load_table(reference_project, "training")
    raw = pd.read_csv(churn_repo / "data" / "train.csv")
    for role in ("train", "validation"):
        write(
            pd.read_csv(churn_repo / "data" / f"{role}.csv"),
            churn_repo / "data" / f"{role}{suffix}",
        )
    config = _point_at(churn_repo, f"data/train{suffix}", f"data/validation{suffix}")

    frame, info = load_table(load_project(config), "training")

    expected_sha = hashlib.sha256((churn_repo / "data" / f"train{suffix}").read_bytes()).hexdigest()
    assert info.sha256 == expected_sha
    assert info.rows == len(raw.index)
    columns = list(reference.columns)
    pd.testing.assert_frame_equal(
        frame[columns].reset_index(drop=True),
        reference[columns].reset_index(drop=True),
        check_dtype=False,
    )


def test_categories_are_text_and_missing_stays_missing(churn_repo: Path) -> None:
    frame, _ = load_table(load_project(churn_repo / "mlgate.yaml"), "training")
    assert frame["plan"].map(type).eq(str).all()
    assert frame["monthly_charges"].isna().sum() > 0
    assert pd.api.types.is_integer_dtype(frame["tenure_months"])


def test_paths_resolve_against_the_config_not_the_working_directory(
    churn_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _, info = load_table(load_project(churn_repo / "mlgate.yaml"), "validation")
    assert Path(info.uri) == churn_repo / "data" / "validation.csv"
