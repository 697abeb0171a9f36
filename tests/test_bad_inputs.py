"""Bad config and bad data through `mlgate run`: exit 2, one clear line, nothing registered.

Each case starts from a private copy of examples/churn and breaks one thing. Every
case fails before any stage prints a verdict, so the file runs in seconds.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastrepo import embedded_versions as registered_versions

CONFIG = "mlgate.yaml"
SPEC = "configs/features.yaml"
TRAIN = "data/train.csv"
VALIDATION = "data/validation.csv"

# Small tables are enough: every case stops in the data stage or before training.
ROWS = 40

Row = dict[str, str]
Breakage = Callable[[Path], None]


# --- helpers that break one thing in a copy of the example --------------------------------


def edit_yaml(repo: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = repo / name
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def set_key(repo: Path, name: str, key_path: str, value: Any) -> None:
    """Set `a.b.c` in a YAML file of the repo."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = key_path.split(".")
        node = document
        for part in parents:
            node = node[part]
        node[last] = value

    edit_yaml(repo, name, change)


def read_rows(repo: Path, name: str, limit: int = ROWS) -> tuple[list[str], list[Row]]:
    with (repo / name).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(itertools.islice(reader, limit))
        return list(reader.fieldnames or []), rows


def write_rows(repo: Path, name: str, columns: list[str], rows: list[Row]) -> None:
    with (repo / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def rewrite_rows(name: str, change: Callable[[list[str], list[Row]], None]) -> Breakage:
    """Keep the first rows of a data file, changed in place by `change(columns, rows)`."""

    def breakage(repo: Path) -> None:
        columns, rows = read_rows(repo, name)
        change(columns, rows)
        write_rows(repo, name, columns, rows)

    return breakage


def write_bytes(name: str, content: bytes) -> Breakage:
    return lambda repo: (repo / name).write_bytes(content)


def header_of(repo: Path, name: str) -> str:
    with (repo / name).open(encoding="utf-8") as handle:
        return handle.readline()


# --- the breakages -------------------------------------------------------------------------


def max_depth_five(repo: Path) -> None:
    set_key(repo, CONFIG, "model.params.max_depth", "five")


def misspelt_parameter(repo: Path) -> None:
    set_key(repo, CONFIG, "model.params", {"n_estimator": 50})


def unknown_model_type(repo: Path) -> None:
    set_key(repo, CONFIG, "model.type", "GradientBoost")


def regressor_for_classification(repo: Path) -> None:
    set_key(repo, CONFIG, "model.type", "sklearn.ensemble.GradientBoostingRegressor")


def unimportable_class_path(repo: Path) -> None:
    set_key(repo, CONFIG, "model.type", "sklearn.ensembel.GradientBoostingClassifier")


def negative_learning_rate(repo: Path) -> None:
    set_key(repo, CONFIG, "model.params.learning_rate", -0.1)


def classifier_for_regression(repo: Path) -> None:
    """A numeric target (tenure) with a model family that only classifies."""

    def regression_spec(spec: dict[str, Any]) -> None:
        del spec["features"]["tenure_months"]
        del spec["positive_label"]
        spec.update(target="tenure_months", task="regression")

    def classifier_config(config: dict[str, Any]) -> None:
        del config["evaluation"]  # its gates are classification metrics
        config["model"] = {"type": "LogisticRegression", "params": {}}

    edit_yaml(repo, SPEC, regression_spec)
    edit_yaml(repo, CONFIG, classifier_config)


def positive_label_not_a_label(repo: Path) -> None:
    set_key(repo, SPEC, "positive_label", "Yes")


def gcs_training_data(repo: Path) -> None:
    set_key(repo, CONFIG, "data.training_data_path", "gs://my-bucket/processed/train-v1.2.csv")


def unsupported_extension(repo: Path) -> None:
    (repo / "data" / "train.xlsx").write_bytes(b"PK\x03\x04")
    set_key(repo, CONFIG, "data.training_data_path", "data/train.xlsx")


def missing_training_file(repo: Path) -> None:
    (repo / TRAIN).unlink()


def directory_as_training_file(repo: Path) -> None:
    (repo / TRAIN).unlink()
    (repo / TRAIN).mkdir()


def missing_feature_spec(repo: Path) -> None:
    (repo / SPEC).unlink()


def header_only(repo: Path) -> None:
    (repo / TRAIN).write_text(header_of(repo, TRAIN), encoding="utf-8")


def drop_column(name: str, column: str) -> Breakage:
    def change(columns: list[str], rows: list[Row]) -> None:
        columns.remove(column)

    return rewrite_rows(name, change)


def non_numeric_tenure(columns: list[str], rows: list[Row]) -> None:
    rows[2]["tenure_months"] = "twenty"


def latin1_training_file(repo: Path) -> None:
    columns, rows = read_rows(repo, TRAIN)
    rows[3]["gender"] = "männlich"
    write_rows(repo, TRAIN, columns, rows)
    text = (repo / TRAIN).read_text(encoding="utf-8")
    (repo / TRAIN).write_bytes(text.encode("latin-1"))


def duplicated_header_column(repo: Path) -> None:
    columns, rows = read_rows(repo, TRAIN)
    lines = [",".join([*columns, "plan"])]
    lines += [",".join([*(row[c] for c in columns), row["plan"]]) for row in rows]
    (repo / TRAIN).write_text("\n".join(lines) + "\n", encoding="utf-8")


def one_class_only(columns: list[str], rows: list[Row]) -> None:
    for row in rows:
        row["churned"] = "no"


def target_missing_in_row_5(columns: list[str], rows: list[Row]) -> None:
    rows[4]["churned"] = ""


def unseen_validation_label(columns: list[str], rows: list[Row]) -> None:
    rows[0]["churned"] = "maybe"


def ragged_row(repo: Path) -> None:
    rewrite_rows(TRAIN, lambda columns, rows: None)(repo)
    with (repo / TRAIN).open("a", encoding="utf-8") as handle:
        handle.write("C999999,12,basic,one-year,card,20.0,240.0,0,1,no,male,40,no,extra,values\n")


def regression_metric_gate(repo: Path) -> None:
    set_key(repo, CONFIG, "evaluation.gates", {"rmse": {"max": 1.0}})


# (break one thing, the words the one error line must contain: the file named, then the
# key path or column, then what is wrong or how to fix it)
BAD_INPUTS = [
    pytest.param(
        max_depth_five,
        ("mlgate.yaml:", "model.params.max_depth", "five"),
        id="config-param-wrong-type",
    ),
    pytest.param(
        misspelt_parameter,
        ("mlgate.yaml:", "model.params.n_estimator", "did you mean 'n_estimators'?"),
        id="config-param-misspelt",
    ),
    pytest.param(
        negative_learning_rate,
        ("mlgate.yaml:", "model.params.learning_rate", "-0.1"),
        id="config-param-out-of-range",
    ),
    pytest.param(
        unknown_model_type,
        ("mlgate.yaml:", "model.type", "did you mean 'GradientBoosting'?"),
        id="config-unknown-model-type",
    ),
    pytest.param(
        unimportable_class_path,
        ("mlgate.yaml:", "model.type", "cannot import sklearn.ensembel"),
        id="config-class-path-not-importable",
    ),
    pytest.param(
        regressor_for_classification,
        (
            "mlgate.yaml:",
            "model.type",
            "GradientBoostingRegressor is a regressor",
            "classification",
        ),
        id="config-regressor-for-classification-target",
    ),
    pytest.param(
        classifier_for_regression,
        (
            "mlgate.yaml:",
            "model.type",
            "LogisticRegression is a classification model",
            "regression task",
        ),
        id="config-classifier-for-regression-target",
    ),
    pytest.param(
        regression_metric_gate,
        ("mlgate.yaml:", "evaluation.gates.rmse", "does not apply to classification"),
        id="config-gate-on-regression-metric",
    ),
    pytest.param(
        positive_label_not_a_label,
        ("configs/features.yaml:", "positive_label", "'Yes' is not one of the target's labels"),
        id="spec-positive-label-not-a-label",
    ),
    pytest.param(
        missing_feature_spec,
        ("mlgate.yaml:", "data.feature_spec", "configs/features.yaml not found"),
        id="spec-file-missing",
    ),
    pytest.param(
        gcs_training_data,
        ("mlgate.yaml:", "data.training_data_path", "gs:// data sources are not supported"),
        id="data-on-gcs-not-supported",
    ),
    pytest.param(
        unsupported_extension,
        ("mlgate.yaml:", "data.training_data_path", "train.xlsx: unknown file type"),
        id="data-unsupported-extension",
    ),
    pytest.param(
        missing_training_file,
        ("mlgate.yaml:", "data.training_data_path", "data/train.csv does not exist"),
        id="data-file-missing",
    ),
    pytest.param(
        directory_as_training_file,
        ("mlgate.yaml:", "data.training_data_path", "not a regular file"),
        id="data-file-is-a-directory",
    ),
    pytest.param(
        write_bytes(TRAIN, b""),
        ("data/train.csv", "training data file is empty (0 bytes)"),
        id="data-empty-file",
    ),
    pytest.param(
        header_only,
        ("data/train.csv", "training data has a header but no rows"),
        id="data-header-only",
    ),
    pytest.param(
        drop_column(TRAIN, "churned"),
        ("data/train.csv", "target column 'churned' is missing"),
        id="data-missing-target-column",
    ),
    pytest.param(
        drop_column(VALIDATION, "tenure_months"),
        ("data/validation.csv", "column 'tenure_months'", "is missing"),
        id="data-missing-feature-column",
    ),
    pytest.param(
        drop_column(TRAIN, "gender"),
        ("data/train.csv", "column 'gender' (feature spec sensitive_features) is missing"),
        id="data-missing-sensitive-column",
    ),
    pytest.param(
        rewrite_rows(TRAIN, non_numeric_tenure),
        ("data/train.csv", "column 'tenure_months'", "non-numeric", "twenty"),
        id="data-non-numeric-value",
    ),
    pytest.param(
        latin1_training_file,
        ("data/train.csv", "not UTF-8", "re-save it as UTF-8"),
        id="data-not-utf8",
    ),
    pytest.param(
        duplicated_header_column,
        ("data/train.csv", "column 'plan' appears twice in the header"),
        id="data-duplicated-column-name",
    ),
    pytest.param(
        ragged_row,
        ("data/train.csv", "cannot be read as csv", "Expected 13 fields"),
        id="data-ragged-row",
    ),
    pytest.param(
        rewrite_rows(TRAIN, one_class_only),
        ("data/train.csv", "target column 'churned' has one class only ('no')"),
        id="data-target-one-class",
    ),
    pytest.param(
        rewrite_rows(TRAIN, target_missing_in_row_5),
        ("data/train.csv", "target column 'churned' has 1 missing value(s)"),
        id="data-target-missing-values",
    ),
    pytest.param(
        rewrite_rows(VALIDATION, target_missing_in_row_5),
        ("data/validation.csv", "target column 'churned' has missing values"),
        id="data-validation-target-missing-values",
    ),
    pytest.param(
        rewrite_rows(VALIDATION, unseen_validation_label),
        ("data/validation.csv", "target column 'churned'", "['maybe']", "never shows"),
        id="data-validation-label-unseen-in-training",
    ),
]


@pytest.mark.parametrize(("breakage", "expected"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_nothing_registered(
    churn_repo: Path, cli, breakage: Breakage, expected: tuple[str, ...]
) -> None:
    breakage(churn_repo)

    result = cli("run", cwd=churn_repo)

    assert result.code == 2, result.err
    [line] = result.error_lines
    assert line.startswith("mlgate: error: ")
    for words in expected:
        assert words in line
    assert "Traceback" not in result.out + result.err
    assert "a bug in mlgate" not in line
    # Refused before any stage printed a verdict (the preflight, or the data loader).
    assert not re.search(r"^  \S (validate|train|evaluate|fairness) ", result.out, re.M)
    assert registered_versions(churn_repo) == 0


def test_bad_input_names_the_file_when_run_from_elsewhere(
    churn_repo: Path, tmp_path: Path, cli
) -> None:
    rewrite_rows(TRAIN, non_numeric_tenure)(churn_repo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = cli("run", str(churn_repo / CONFIG), cwd=elsewhere)

    assert result.code == 2
    [line] = result.error_lines
    assert f"{churn_repo / TRAIN}: column 'tenure_months'" in line
    assert registered_versions(churn_repo) == 0


def test_config_error_from_elsewhere_names_config_line_and_key(
    churn_repo: Path, tmp_path: Path, cli
) -> None:
    max_depth_five(churn_repo)
    line_number = next(
        number
        for number, text in enumerate((churn_repo / CONFIG).read_text().splitlines(), start=1)
        if text.strip().startswith("max_depth:")
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = cli("run", str(churn_repo), cwd=elsewhere)

    assert result.code == 2
    [line] = result.error_lines
    assert f"{churn_repo / CONFIG}:{line_number}: model.params.max_depth: " in line
    assert 'expected an int in the range [1, inf) or None, got "five"' in line
