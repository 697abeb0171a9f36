"""The validation package's parts on small frames: GE's quirks, results, report, annotations."""

from __future__ import annotations

import pandas as pd
import pytest

from mlgate.errors import ConfigError
from mlgate.featurespec import FeatureSpec
from mlgate.validation import annotations, sections
from mlgate.validation.baseline import baseline_expectations, check_types, merge
from mlgate.validation.engine import run
from mlgate.validation.results import judge
from mlgate.validation.suite import Expectation, check_expectation

SPEC = FeatureSpec.model_validate(
    {
        "target": "label",
        "features": {
            "size": {"type": "numeric", "min": 0, "max": 10},
            "colour": {"type": "categorical", "values": ["red", "blue"]},
            "weight": {"type": "numeric", "nullable": True},
        },
        "sensitive_features": {"group": {"type": "categorical", "values": ["a", "b"]}},
    }
)


def frame(**columns) -> pd.DataFrame:
    base = {
        "size": [1.0, 2.0, 3.0],
        "colour": ["red", "blue", "red"],
        "weight": [1.0, None, 2.0],
        "group": ["a", "b", "a"],
        "label": ["x", "y", "x"],
    }
    base.update(columns)
    return pd.DataFrame(base)


def failures_of(table: pd.DataFrame, expectations, **options):
    outcomes = run(table, expectations, engine="pandas", sample_size=5)
    return judge(
        outcomes,
        role="training",
        sensitive={"group"},
        max_samples=options.get("max_samples", 5),
        show_sensitive=options.get("show_sensitive", False),
    )


BASELINE = baseline_expectations(SPEC, classes=["x", "y"], strict_columns=False)


def test_the_baseline_passes_clean_data() -> None:
    assert failures_of(frame(), BASELINE) == []


def test_an_empty_table_fails_every_value_check_instead_of_passing_vacuously() -> None:
    failures = failures_of(frame().iloc[:0], BASELINE)

    reasons = {(f.column, f.expectation, f.reason) for f in failures}
    assert (None, "expect_table_row_count_to_be_between", "unexpected") in reasons
    assert ("size", "expect_column_values_to_be_between", "no-rows") in reasons
    assert ("colour", "expect_column_values_to_be_in_set", "no-rows") in reasons
    assert all("no rows to check" in f.message for f in failures if f.reason == "no-rows")


def test_a_missing_column_is_a_failure_naming_it_not_a_buried_exception() -> None:
    failures = failures_of(frame().drop(columns=["size"]), BASELINE)

    [missing] = [f for f in failures if f.column == "size"]
    assert missing.reason == "missing-column"
    assert missing.message == "column 'size' does not exist in the training data"

    # A suite's check on the column says the same, not "list index out of range".
    only_range = [e for e in BASELINE if e.type == "expect_column_values_to_be_between"]
    [missing] = failures_of(frame().drop(columns=["size"]), only_range)
    assert missing.reason == "missing-column"
    assert "column 'size' does not exist" in missing.message


@pytest.mark.parametrize(
    ("columns", "column", "expectation", "shown"),
    [
        pytest.param({"size": [1.0, 11.0, 12.0]}, "size", "between", ["11.0", "12.0"], id="range"),
        pytest.param({"size": [1.0, None, 2.0]}, "size", "not_be_null", [], id="null"),
        pytest.param(
            {"colour": ["red", "green", "red"]}, "colour", "in_set", ["'green'"], id="set"
        ),
        pytest.param({"label": ["x", "z", "x"]}, "label", "in_set", ["'z'"], id="target-label"),
    ],
)
def test_baseline_catches(columns, column, expectation, shown) -> None:
    [failure] = failures_of(frame(**columns), BASELINE)

    assert failure.column == column
    assert expectation in failure.expectation
    assert [item["value"] for item in failure.samples] == shown
    assert f"column '{column}'" in failure.message


def test_baseline_catches_a_text_column_declared_numeric() -> None:
    [typed] = check_types(frame(size=["1", "2", "3"]), SPEC, role="training")

    assert typed.column == "size"
    assert typed.message == "column 'size' is declared numeric but holds str values"
    assert check_types(frame(), SPEC, role="training") == []


def test_an_integer_column_with_fractions_is_a_type_failure() -> None:
    spec = FeatureSpec.model_validate(
        {"target": "label", "features": {"rooms": {"type": "integer"}}}
    )
    table = pd.DataFrame({"rooms": [1.0, 2.5, None, 3.0], "label": ["a", "b", "a", "b"]})

    [failure] = check_types(table, spec, role="validation")

    assert failure.column == "rooms"
    assert (failure.failed_rows, failure.total_rows) == (1, 4)
    assert "declared integer but 1 of 4 rows are not whole numbers, e.g. 2.5" in failure.message
    assert check_types(table.fillna(1.0).replace(2.5, 2.0), spec, role="validation") == []


def test_sensitive_samples_are_hidden() -> None:
    [failure] = failures_of(frame(group=["a", "secret", "b"]), BASELINE)
    assert failure.samples == []
    assert failure.samples_hidden
    assert "secret" not in failure.message

    [failure] = failures_of(frame(group=["a", "secret", "b"]), BASELINE, show_sensitive=True)
    assert failure.samples == [{"value": "'secret'", "count": 1}]


def test_strict_columns_name_the_extra_column() -> None:
    strict = baseline_expectations(SPEC, classes=["x", "y"], strict_columns=True)

    [failure] = failures_of(frame(extra=[1, 2, 3]), strict)

    assert failure.column == "extra"
    assert "column 'extra' in the training data is not in the feature spec" in failure.message


def test_a_suite_repeating_the_baseline_runs_each_check_once() -> None:
    repeated = Expectation("expect_column_values_to_not_be_null", {"column": "size"}, "suite")
    extra = Expectation("expect_column_values_to_be_unique", {"column": "colour"}, "suite")

    merged = merge(BASELINE, [repeated, extra])

    assert len(merged) == len(BASELINE) + 1
    assert merged[-1] is extra


def test_an_unknown_argument_is_refused_with_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"has no argument 'max'.*did you mean 'max_value'"):
        check_expectation(
            "expect_column_values_to_be_between",
            {"column": "a", "max": 3},
            doc=None,
            key_path=(),
        )


def failed_result() -> dict:
    failures = failures_of(frame(colour=["red", "<img src=x> | a |", "red"]), BASELINE)
    return {
        "files": {"training": {"uri": "data/train.csv"}},
        "expectations": {
            "engine": "pandas",
            "checked": {"training": len(BASELINE)},
            "failed": [f.to_dict() for f in failures],
        },
        "drift": {
            "enabled": True,
            "reference": "the training file",
            "psi_threshold": 0.2,
            "pvalue_threshold": 0.01,
            "features": [
                {
                    "role": "validation",
                    "feature": "size",
                    "psi": 0.5,
                    "ks_statistic": 0.3,
                    "ks_pvalue": 1e-9,
                    "drifted": True,
                    "skipped": None,
                    "biggest_change": "< 2: 10% → 60%",
                }
            ],
            "drifted": [{"role": "validation", "feature": "size", "psi": 0.5}],
        },
    }


def test_report_sections_escape_data_values() -> None:
    rendered = "\n".join(section.render() for section in sections(failed_result()))

    assert "1 of" in rendered
    assert "expectations failed" in rendered
    assert "expect\\_column\\_values\\_to\\_be\\_in\\_set" in rendered or (
        "`expect_column_values_to_be_in_set`" in rendered
    )
    assert "<img" not in rendered
    assert "| a |" not in rendered
    assert "Data drift: 1 feature(s) drifted" in rendered
    assert "0.500" in rendered


def test_annotations_one_per_failure_and_drift_escaped() -> None:
    lines = annotations(failed_result())

    assert len(lines) == 2
    assert lines[0].startswith("::error file=data/train.csv,title=mlgate validate%3A ")
    assert "colour" in lines[0]
    assert "\n" not in "".join(lines)
    assert "feature 'size' drifted in the validation data: PSI 0.5" in lines[1]
