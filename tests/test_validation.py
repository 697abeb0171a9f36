"""The validate stage on corrupted copies of the example's data, and its suites.

Load-level breakage (the file cannot be read as the spec says) is bad input: exit 2.
Data that reads fine but breaks an expectation is a failed gate: exit 1, and
`mlgate run` stops before training. Either way the message names the column.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.test_bad_inputs import (
    TRAIN,
    VALIDATION,
    Row,
    drop_column,
    duplicated_header_column,
    header_only,
    latin1_training_file,
    non_numeric_tenure,
    one_class_only,
    rewrite_rows,
    set_key,
    write_bytes,
)


def run_dir(repo: Path) -> Path:
    return repo / ".mlgate" / "runs" / "t"


def validate(cli, repo: Path, *args: str):
    return cli("validate", "--run-dir", str(run_dir(repo)), *args, cwd=repo)


def result_of(repo: Path) -> dict:
    return json.loads((run_dir(repo) / "validate.json").read_text(encoding="utf-8"))


def set_cell(column: str, value: str, rows: tuple[int, ...] = (2,)):
    def change(columns: list[str], table: list[Row]) -> None:
        for index in rows:
            table[index][column] = value

    return change


# --- corrupted copies: load errors (exit 2) ------------------------------------------------

LOAD_ERRORS = [
    pytest.param(drop_column(TRAIN, "plan"), "column 'plan'", id="missing-column"),
    pytest.param(
        rewrite_rows(TRAIN, non_numeric_tenure), "column 'tenure_months'", id="wrong-type"
    ),
    pytest.param(write_bytes(TRAIN, b""), "training data file is empty", id="empty-file"),
    pytest.param(header_only, "header but no rows", id="header-only"),
    pytest.param(latin1_training_file, "not UTF-8", id="non-utf8-bytes"),
    pytest.param(duplicated_header_column, "column 'plan' appears twice", id="duplicated-column"),
    pytest.param(rewrite_rows(TRAIN, one_class_only), "column 'churned'", id="one-class-target"),
]


@pytest.mark.parametrize(("breakage", "words"), LOAD_ERRORS)
def test_unreadable_data_is_exit_2_naming_the_problem(cli, churn_repo, breakage, words) -> None:
    breakage(churn_repo)

    result = validate(cli, churn_repo)

    assert result.code == 2, result.err
    [line] = result.error_lines
    assert words in line
    assert "data/train.csv" in line


# --- corrupted copies: failed expectations (exit 1) ----------------------------------------

GATE_FAILURES = [
    pytest.param(
        rewrite_rows(TRAIN, set_cell("tenure_months", "", rows=(1, 5))),
        "training",
        "tenure_months",
        "expect_column_values_to_not_be_null",
        (2, 40),
        None,
        id="nulls-in-non-null-column",
    ),
    pytest.param(
        rewrite_rows(VALIDATION, set_cell("num_products", "9")),
        "validation",
        "num_products",
        "expect_column_values_to_be_between",
        (1, 40),
        "9",
        id="out-of-range",
    ),
    pytest.param(
        rewrite_rows(TRAIN, set_cell("plan", "gold", rows=(0, 3, 7))),
        "training",
        "plan",
        "expect_column_values_to_be_in_set",
        (3, 40),
        "'gold'",
        id="unseen-category",
    ),
    pytest.param(
        rewrite_rows(TRAIN, set_cell("customer_id", "C000001", rows=(4,))),
        "training",
        "customer_id",
        "expect_column_values_to_be_unique",
        (2, 40),
        "'C000001'",
        id="suite-duplicate-id",
    ),
]


@pytest.mark.parametrize(
    ("breakage", "role", "column", "expectation", "counts", "sample"), GATE_FAILURES
)
def test_bad_values_fail_the_gate_naming_column_counts_and_samples(
    cli, churn_repo, breakage, role, column, expectation, counts, sample
) -> None:
    breakage(churn_repo)

    result = validate(cli, churn_repo)

    assert result.code == 1, result.err
    assert f"column '{column}'" in result.out
    [failure] = result_of(churn_repo)["expectations"]["failed"]
    assert (failure["role"], failure["column"], failure["expectation"]) == (
        role,
        column,
        expectation,
    )
    assert (failure["failed_rows"], failure["total_rows"]) == counts
    if sample is not None:
        assert [item["value"] for item in failure["samples"]] == [sample]
        assert sample in failure["message"]


def test_a_failed_validation_stops_the_run_before_training(cli, churn_repo) -> None:
    rewrite_rows(TRAIN, set_cell("plan", "gold"))(churn_repo)

    result = cli("run", "--run-dir", str(run_dir(churn_repo)), cwd=churn_repo)

    assert result.code == 1
    assert "failed: validate" in result.out
    assert not (run_dir(churn_repo) / "train.json").exists()
    assert result_of(churn_repo)["verdict"] == "failed"


def test_the_example_passes_and_records_what_was_checked(cli, churn_repo) -> None:
    result = validate(cli, churn_repo)

    assert result.code == 0, result.err + result.out
    recorded = result_of(churn_repo)
    assert recorded["task"]["classes"] == ["no", "yes"]
    assert set(recorded["files"]) == {"training", "validation"}
    assert recorded["expectations"]["suite"] == "expectations/churn.yml"
    assert recorded["expectations"]["checked"]["training"] > 30
    assert recorded["expectations"]["failed"] == []


# --- sensitive values ------------------------------------------------------------------------


def test_sensitive_values_are_hidden_unless_allowed(cli, churn_repo) -> None:
    rewrite_rows(TRAIN, set_cell("gender", "Jane Doe, 1962"))(churn_repo)

    result = validate(cli, churn_repo)

    assert result.code == 1
    [failure] = result_of(churn_repo)["expectations"]["failed"]
    assert failure["column"] == "gender"
    assert failure["samples"] == []
    assert failure["samples_hidden"] is True
    assert "Jane Doe" not in result.out + result.err
    assert "Jane Doe" not in (run_dir(churn_repo) / "validate.json").read_text()

    set_key(churn_repo, "mlgate.yaml", "validation.show_sensitive_values", True)
    result = validate(cli, churn_repo)

    assert result.code == 1
    [failure] = result_of(churn_repo)["expectations"]["failed"]
    assert failure["samples"] == [{"value": "'Jane Doe, 1962'", "count": 1}]


def test_sample_values_are_capped(cli, churn_repo) -> None:
    def many_plans(columns: list[str], rows: list[Row]) -> None:
        for index, row in enumerate(rows[:12]):
            row["plan"] = f"gold-{index}"

    rewrite_rows(TRAIN, many_plans)(churn_repo)
    set_key(churn_repo, "mlgate.yaml", "validation.max_sample_values", 3)

    assert validate(cli, churn_repo).code == 1
    [failure] = result_of(churn_repo)["expectations"]["failed"]
    assert failure["failed_rows"] == 12
    assert len(failure["samples"]) == 3


# --- strict columns --------------------------------------------------------------------------


def test_strict_columns_refuse_an_undeclared_column(cli, churn_repo) -> None:
    def extra(columns: list[str], rows: list[Row]) -> None:
        columns.append("notes")
        for row in rows:
            row["notes"] = "x"

    rewrite_rows(VALIDATION, extra)(churn_repo)
    assert validate(cli, churn_repo).code == 0  # extra columns are fine by default

    set_key(churn_repo, "mlgate.yaml", "validation.strict_columns", True)
    result = validate(cli, churn_repo)

    assert result.code == 1
    [failure] = result_of(churn_repo)["expectations"]["failed"]
    assert failure["role"] == "validation"
    assert failure["column"] == "notes"
    assert "column 'notes' in the validation data is not in the feature spec" in failure["message"]


# --- suites ------------------------------------------------------------------------------------


def write_suite(repo: Path, name: str, content: str) -> None:
    (repo / "expectations" / name).write_text(content, encoding="utf-8")
    set_key(repo, "mlgate.yaml", "validation.suite", f"expectations/{name}")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(
            "- expect_column_values_to_be_betwen: {column: age, min_value: 1}\n",
            (
                "bad.yml:1",
                "unknown expectation 'expect_column_values_to_be_betwen'",
                "did you mean 'expect_column_values_to_be_between'",
            ),
            id="unknown-expectation",
        ),
        pytest.param(
            "- expect_column_values_to_not_be_null: {column: age}\n"
            "- expect_column_values_to_be_between: {column: age, minimum: 1}\n",
            ("bad.yml:2", "has no argument 'minimum'", "min_value"),
            id="unknown-argument",
        ),
        pytest.param(
            "- expect_column_values_to_be_between: {min_value: 1}\n",
            ("bad.yml:1", "column: field required"),
            id="missing-argument",
        ),
        pytest.param(
            "expect_column_values_to_be_between: {column: age}\n",
            ("bad.yml", "expected a list of expectations"),
            id="not-a-list",
        ),
        pytest.param(
            '{"name": "s", "expectations": [{"type": "expect_nothing", "kwargs": {}}]}\n',
            ("bad.yml:1", "unknown expectation 'expect_nothing'"),
            id="ge-json-unknown-expectation",
        ),
    ],
)
def test_a_bad_suite_is_a_config_error_naming_it(cli, churn_repo, content, words) -> None:
    write_suite(churn_repo, "bad.yml", content)

    result = validate(cli, churn_repo)

    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    for word in words:
        assert word in line


def test_a_missing_suite_file_is_a_config_error(cli, churn_repo) -> None:
    set_key(churn_repo, "mlgate.yaml", "validation.suite", "expectations/nope.yml")

    result = validate(cli, churn_repo)

    assert result.code == 2
    assert "expectations/nope.yml not found" in result.err


def test_great_expectations_json_suite_runs(cli, churn_repo) -> None:
    suite = {
        "name": "churn",
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "tenure_months", "max_value": 10},
                "meta": {"owner": "data-team"},
            }
        ],
    }
    write_suite(churn_repo, "churn.json", json.dumps(suite))

    result = validate(cli, churn_repo)

    assert result.code == 1
    [failure] = result_of(churn_repo)["expectations"]["failed"][:1]
    assert failure["column"] == "tenure_months"
    assert failure["origin"] == "suite"
    assert failure["failed_rows"] > 0


def test_a_great_expectations_0x_json_suite_is_read_too(cli, churn_repo) -> None:
    suite = {
        "expectation_suite_name": "churn",
        "expectations": [
            {
                "expectation_type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "plan", "value_set": ["basic", "plus"]},
            }
        ],
    }
    write_suite(churn_repo, "legacy.json", json.dumps(suite))

    result = validate(cli, churn_repo)

    assert result.code == 1
    [failure] = [
        f for f in result_of(churn_repo)["expectations"]["failed"] if f["origin"] == "suite"
    ][:1]
    assert failure["column"] == "plan"
    assert "'premium'" in failure["message"]


def test_a_suite_column_that_does_not_exist_fails_loudly(cli, churn_repo) -> None:
    write_suite(
        churn_repo, "ghost.yml", "- expect_column_values_to_not_be_null: {column: tenure}\n"
    )

    result = validate(cli, churn_repo)

    assert result.code == 1
    failures = result_of(churn_repo)["expectations"]["failed"]
    assert {(f["role"], f["column"], f["reason"]) for f in failures} == {
        ("training", "tenure", "missing-column"),
        ("validation", "tenure", "missing-column"),
    }
    assert "column 'tenure' does not exist in the training data" in result.out


# --- GitHub annotations -------------------------------------------------------------------------


def test_one_error_annotation_per_failed_expectation_in_github_actions(
    cli, churn_repo, monkeypatch
) -> None:
    rewrite_rows(TRAIN, set_cell("plan", "gold%0A::warning::x"))(churn_repo)
    rewrite_rows(VALIDATION, set_cell("num_products", "9"))(churn_repo)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    result = validate(cli, churn_repo)

    assert result.code == 1
    annotations = [line for line in result.err.splitlines() if line.startswith("::error")]
    assert len(annotations) == 2
    plan, products = sorted(annotations)
    assert "file=data/train.csv" in plan
    assert "column 'plan'" in plan
    assert "%250A::warning::x" in plan  # the data cannot start a new workflow command
    assert "file=data/validation.csv" in products
    assert "num_products" in products

    again = validate(cli, churn_repo)  # unchanged inputs: the result is reused

    assert again.code == 1
    assert result_of(churn_repo)["cache"]["reused"] is True
    assert sorted(line for line in again.err.splitlines() if line.startswith("::error")) == [
        plan,
        products,
    ]


def test_no_annotations_outside_github_actions(cli, churn_repo) -> None:
    rewrite_rows(TRAIN, set_cell("plan", "gold"))(churn_repo)

    result = validate(cli, churn_repo)

    assert result.code == 1
    assert "::error" not in result.out + result.err


def test_yaml_suite_of_the_example_is_a_short_list() -> None:
    suite = Path(__file__).resolve().parents[1] / "examples/churn/expectations/churn.yml"
    entries = yaml.safe_load(suite.read_text(encoding="utf-8"))
    assert all(isinstance(entry, dict) and len(entry) == 1 for entry in entries)
