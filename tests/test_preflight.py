"""The preflight and the data checks it brings forward (issue 16).

A config error is one line on stderr and exit 2 before any stage prints, also for the
stage commands; bad data that the spec can judge is a failed validate stage (exit 1).
Every case starts from a private copy of examples/churn and fails before training.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastrepo import embedded_versions, latest_run

CONFIG = "mlgate.yaml"
SPEC = "configs/features.yaml"
TRAIN = "data/train.csv"
VALIDATION = "data/validation.csv"
ROWS = 60

# A stage's line as the printer writes it: two spaces, a mark, the stage's name.
STAGE_LINE = re.compile(r"^  \S (validate|train|evaluate|fairness|card|register) ", re.M)


def edit_yaml(repo: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = repo / name
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def set_key(repo: Path, name: str, key_path: str, value: Any) -> None:
    def change(document: dict[str, Any]) -> None:
        *parents, last = key_path.split(".")
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    edit_yaml(repo, name, change)


def rewrite(repo: Path, name: str, change: Callable[[list[dict[str, str]]], None]) -> None:
    """Keep the first ROWS rows of a data file, changed in place."""
    with (repo / name).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(ROWS), reader, strict=False)]
        columns = list(reader.fieldnames or [])
    change(rows)
    with (repo / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def assert_refused(result: Any, repo: Path, *words: str, code: int = 2) -> str:
    """One line on stderr naming `words`, no stage printed, nothing registered."""
    assert result.code == code, result.out + result.err
    [line] = result.error_lines
    assert line.startswith("mlgate: error: "), line
    for word in words:
        assert word in line, line
    assert "Traceback" not in result.out + result.err
    assert not STAGE_LINE.search(result.out), result.out
    assert embedded_versions(repo) == 0
    return line


def three_classes(rows: list[dict[str, str]]) -> None:
    for index, row in enumerate(rows):
        row["churned"] = ("yes", "no", "maybe")[index % 3]


# --- 1. config errors before the first stage ---------------------------------------------


@pytest.mark.parametrize("command", ["run", "validate", "train"])
def test_a_bad_model_parameter_stops_every_stage_command_before_its_first_stage(
    churn_repo: Path, cli, command: str
) -> None:
    set_key(churn_repo, CONFIG, "model.params.max_depth", "three")
    if command == "train":  # a later stage command on an earlier run's directory
        (churn_repo / ".mlgate" / "runs" / "r1").mkdir(parents=True)
        extra = ["--run-dir", str(churn_repo / ".mlgate" / "runs" / "r1")]
    else:
        extra = []

    result = cli(command, *extra, cwd=churn_repo)

    assert_refused(result, churn_repo, "mlgate.yaml:", "model.params.max_depth", '"three"')


def test_a_factory_model_is_checked_by_scikit_learn_before_any_stage(churn_repo: Path, cli) -> None:
    (churn_repo / "team_models.py").write_text(
        "from sklearn.ensemble import GradientBoostingClassifier\n\n\n"
        "def boosted(depth=3):\n"
        "    return GradientBoostingClassifier(max_depth=depth)\n",
        encoding="utf-8",
    )
    set_key(churn_repo, CONFIG, "model", {"type": "team_models:boosted", "params": {"depth": "x"}})

    result = cli("run", cwd=churn_repo)

    assert_refused(result, churn_repo, "mlgate.yaml:", "model.type", "'max_depth' parameter", "'x'")


def test_a_gate_on_a_metric_of_the_other_task_is_refused_from_the_labels_alone(
    churn_repo: Path, cli
) -> None:
    set_key(churn_repo, SPEC, "task", None)  # inferred from the training labels
    set_key(churn_repo, CONFIG, "evaluation.gates", {"rmse": {"max": 1.0}})

    result = cli("run", cwd=churn_repo)

    assert_refused(result, churn_repo, "evaluation.gates.rmse", "does not apply to classification")


def test_fairness_thresholds_on_a_multi_class_target_are_refused_before_any_stage(
    churn_repo: Path, cli
) -> None:
    rewrite(churn_repo, TRAIN, three_classes)
    rewrite(churn_repo, VALIDATION, three_classes)

    result = cli("run", cwd=churn_repo)

    assert_refused(
        result,
        churn_repo,
        "mlgate.yaml:",
        "fairness.thresholds",
        "not judged: the fairness gate judges binary classification and regression, "
        "and this target has 3 classes; remove the thresholds",
    )


def test_a_fairness_threshold_that_does_not_fit_regression_is_refused_before_any_stage(
    churn_repo: Path, cli
) -> None:
    def regression(spec: dict[str, Any]) -> None:
        del spec["features"]["tenure_months"]
        del spec["positive_label"]
        spec.update(target="tenure_months", task="regression")

    edit_yaml(churn_repo, SPEC, regression)
    set_key(churn_repo, CONFIG, "evaluation", {"metrics": ["rmse"]})

    result = cli("run", cwd=churn_repo)

    assert_refused(
        result,
        churn_repo,
        "fairness.thresholds.demographic_parity_difference",
        "does not apply to regression",
    )


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        pytest.param(
            "validation.suite",
            "expectations/gone.yml",
            ("validation.suite", "suite expectations/gone.yml not found"),
            id="suite",
        ),
        pytest.param(
            "validation.drift.reference",
            "data/last-quarter.csv",
            ("validation.drift.reference", "reference data data/last-quarter.csv not found"),
            id="drift-reference",
        ),
        pytest.param(
            "card.template",
            "templates/card.md.j2",
            ("card.template", "card template templates/card.md.j2 not found"),
            id="card-template",
        ),
    ],
)
def test_every_file_the_config_names_must_exist_before_any_stage(
    churn_repo: Path, cli, key: str, value: str, words: tuple[str, ...]
) -> None:
    set_key(churn_repo, CONFIG, key, value)

    result = cli("run", cwd=churn_repo)

    assert_refused(result, churn_repo, "mlgate.yaml:", *words)


# --- 2. the validation data must not be the training data --------------------------------


def test_the_training_file_as_validation_data_is_refused(churn_repo: Path, cli) -> None:
    set_key(churn_repo, CONFIG, "data.validation_data_path", "./data/../data/train.csv")

    result = cli("run", cwd=churn_repo)

    assert_refused(
        result,
        churn_repo,
        "mlgate.yaml:",
        "data.validation_data_path",
        "is the training data file",
        "evaluation.allow_training_data: true",
    )


def test_a_copy_of_the_training_file_as_validation_data_is_refused(churn_repo: Path, cli) -> None:
    shutil.copyfile(churn_repo / TRAIN, churn_repo / "data" / "holdout.csv")
    set_key(churn_repo, CONFIG, "data.validation_data_path", "data/holdout.csv")

    result = cli("run", cwd=churn_repo)

    assert_refused(
        result,
        churn_repo,
        "data.validation_data_path",
        "has the same content as the training data (data/train.csv)",
    )


def test_allow_training_data_lets_a_team_score_on_its_training_rows(churn_repo: Path, cli) -> None:
    set_key(churn_repo, CONFIG, "data.validation_data_path", TRAIN)
    set_key(churn_repo, CONFIG, "evaluation.allow_training_data", True)

    result = cli("validate", cwd=churn_repo)

    assert result.code == 0, result.out + result.err
    assert result.err == ""


# --- 3. a validation target of one class is a failed validation ----------------------------


def test_a_validation_target_of_one_class_fails_the_validate_stage(churn_repo: Path, cli) -> None:
    def only_no(rows: list[dict[str, str]]) -> None:
        for row in rows:
            row["churned"] = "no"

    rewrite(churn_repo, VALIDATION, only_no)

    result = cli("validate", cwd=churn_repo)

    assert result.code == 1, result.out + result.err
    assert result.err == ""
    assert "target column 'churned' has 1 class ('no') in the validation data" in result.out
    document = json.loads((latest_run(churn_repo) / "validate.json").read_text())
    assert document["verdict"] == "failed"
    [failure] = [f for f in document["expectations"]["failed"] if f["column"] == "churned"]
    assert failure["role"] == "validation"
    assert failure["arguments"] == {"min_value": 2}
    assert failure["samples"] == [{"value": "'no'", "count": ROWS}]


# --- 4. infinite numbers ------------------------------------------------------------------


def test_an_infinite_number_fails_validation_with_nothing_on_stderr(churn_repo: Path, cli) -> None:
    def overflow(rows: list[dict[str, str]]) -> None:
        rows[3]["total_charges"] = "1e400"  # `min: 0` only, and no suite bound
        rows[7]["total_charges"] = "1e400"

    rewrite(churn_repo, TRAIN, overflow)

    result = cli("validate", cwd=churn_repo)

    assert result.code == 1, result.out + result.err
    assert result.err == ""  # no numpy warnings
    assert (
        "column 'total_charges' is declared numeric but 2 of 60 rows are infinite, e.g. inf"
        in result.out
    )
    document = json.loads((latest_run(churn_repo) / "validate.json").read_text())
    [failure] = [f for f in document["expectations"]["failed"] if f["column"] == "total_charges"]
    assert (failure["role"], failure["failed_rows"], failure["total_rows"]) == ("training", 2, 60)


def test_an_integer_column_with_an_infinite_number_is_one_failure() -> None:
    from mlgate.featurespec import FeatureSpec
    from mlgate.validation.baseline import check_types

    pandas = pytest.importorskip("pandas")
    spec = FeatureSpec.model_validate(
        {"target": "y", "features": {"calls": {"type": "integer", "min": 0}}}
    )
    frame = pandas.DataFrame({"calls": [1.0, float("inf"), 2.0], "y": [0, 1, 0]})

    [failure] = check_types(frame, spec, role="training")

    assert failure.message.startswith(
        "column 'calls' is declared integer but 1 of 3 rows is infinite, e.g. inf"
    )


# --- 5. compressed files cut short --------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".xz", lzma.compress), (".bz2", bz2.compress)],
    ids=["gz", "xz", "bz2"],
)
def test_a_truncated_compressed_file_is_exit_2_naming_it(
    churn_repo: Path, cli, suffix: str, compress: Callable[[bytes], bytes]
) -> None:
    packed = compress((churn_repo / TRAIN).read_bytes())
    (churn_repo / f"data/train.csv{suffix}").write_bytes(packed[: len(packed) // 2])
    set_key(churn_repo, CONFIG, "data.training_data_path", f"data/train.csv{suffix}")

    result = cli("run", cwd=churn_repo)

    line = assert_refused(result, churn_repo, f"data/train.csv{suffix}", "truncated or corrupt")
    assert "a bug in mlgate" not in line


# --- 6. wording -----------------------------------------------------------------------------


def test_summaries_count_in_the_singular_and_say_what_more_means() -> None:
    from mlgate.validation.check import DataCheck
    from mlgate.validation.results import Failure

    def failure(column: str) -> Failure:
        return Failure(
            role="validation",
            expectation="expect_column_values_to_be_in_set",
            origin="baseline",
            column=column,
            reason="unexpected",
            message=f"column '{column}': failed, e.g. '4th'",
        )

    def check(failures: list[Failure], checked: dict[str, int]) -> DataCheck:
        return DataCheck(failures, checked, [], None, "pandas", None, {})

    three = check([failure("plan"), failure("contract"), failure("gender")], {"validation": 9})
    assert three.summary() == (
        "3 of 9 expectations failed: validation: column 'plan': failed, e.g. '4th' "
        "(+2 more failed expectations)"
    )
    two = check([failure("plan"), failure("contract")], {"validation": 9})
    assert two.summary().endswith("e.g. '4th' (+1 more failed expectation)")
    assert check([], {"training": 1}).summary() == "1 expectation passed"


def test_one_row_and_one_feature_read_in_the_singular(churn_repo: Path, cli) -> None:
    def one_feature(spec: dict[str, Any]) -> None:
        spec["features"] = {"tenure_months": spec["features"]["tenure_months"]}
        spec["sensitive_features"] = {}

    edit_yaml(churn_repo, SPEC, one_feature)
    set_key(churn_repo, CONFIG, "validation", {"drift": {"enabled": False}})
    set_key(churn_repo, CONFIG, "fairness", {})
    set_key(churn_repo, CONFIG, "model", {"type": "DecisionTree", "params": {"max_depth": 2}})
    rewrite(churn_repo, TRAIN, lambda rows: None)
    rewrite(churn_repo, VALIDATION, lambda rows: None)

    validated = cli("validate", cwd=churn_repo)
    trained = cli("train", cwd=churn_repo)

    assert validated.code == 0, validated.out + validated.err
    assert "DecisionTreeClassifier on 1 feature in " in trained.out, trained.out

    rewrite(churn_repo, VALIDATION, lambda rows: rows.__delitem__(slice(1, None)))
    one_row = cli("validate", cwd=churn_repo)  # fails: one row has one class
    assert "training 60 rows · validation 1 row ·" in one_row.out, one_row.out
