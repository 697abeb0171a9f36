"""The validation package's parts on small frames: GE's quirks, results, report, annotations.

The baseline's checks run in pandas (`baseline.evaluate`); the tests of their results
run both through it and through Great Expectations, which must agree.
"""

from __future__ import annotations

import pandas as pd
import pytest

from mlgate.errors import ConfigError
from mlgate.featurespec import FeatureSpec
from mlgate.report.sections.validate import annotations, sections
from mlgate.results import ValidateResult, Verdict
from mlgate.results.validate import (
    DataFileRecord,
    DriftChecked,
    DriftedFeature,
    DriftFeature,
    Expectations,
    TaskRecord,
)
from mlgate.validation.baseline import (
    baseline_expectations,
    check_types,
    covers,
    evaluate,
    uncovered,
)
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


def failures_of(table: pd.DataFrame, expectations, *, evaluator: str = "ge", **options):
    if evaluator == "pandas":
        outcomes = evaluate(table, expectations, sample_size=5)
    else:
        outcomes = run(table, expectations, engine="pandas", sample_size=5)
    return judge(
        outcomes,
        role="training",
        sensitive={"group"},
        max_samples=options.get("max_samples", 5),
        show_sensitive=options.get("show_sensitive", False),
    )


BASELINE = baseline_expectations(SPEC, classes=["x", "y"], strict_columns=False)
both = pytest.mark.parametrize("evaluator", ["ge", "pandas"])


@both
def test_the_baseline_passes_clean_data(evaluator) -> None:
    assert failures_of(frame(), BASELINE, evaluator=evaluator) == []


@both
def test_an_empty_table_fails_every_value_check_instead_of_passing_vacuously(evaluator) -> None:
    failures = failures_of(frame().iloc[:0], BASELINE, evaluator=evaluator)

    reasons = {(f.column, f.expectation, f.reason) for f in failures}
    assert (None, "expect_table_row_count_to_be_between", "unexpected") in reasons
    assert ("size", "expect_column_values_to_be_between", "no-rows") in reasons
    assert ("colour", "expect_column_values_to_be_in_set", "no-rows") in reasons
    assert all("no rows to check" in f.message for f in failures if f.reason == "no-rows")


@both
def test_a_missing_column_is_a_failure_naming_it_not_a_buried_exception(evaluator) -> None:
    failures = failures_of(frame().drop(columns=["size"]), BASELINE, evaluator=evaluator)

    [missing] = [f for f in failures if f.column == "size"]
    assert missing.reason == "missing-column"
    assert missing.message == "column 'size' does not exist in the training data"

    # A suite's check on the column says the same, not "list index out of range".
    only_range = [e for e in BASELINE if e.type == "expect_column_values_to_be_between"]
    [missing] = failures_of(frame().drop(columns=["size"]), only_range, evaluator=evaluator)
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
@both
def test_baseline_catches(columns, column, expectation, shown, evaluator) -> None:
    [failure] = failures_of(frame(**columns), BASELINE, evaluator=evaluator)

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


@both
def test_sensitive_samples_are_hidden(evaluator) -> None:
    [failure] = failures_of(frame(group=["a", "secret", "b"]), BASELINE, evaluator=evaluator)
    assert failure.samples == []
    assert failure.samples_hidden
    assert "secret" not in failure.message

    [failure] = failures_of(
        frame(group=["a", "secret", "b"]), BASELINE, show_sensitive=True, evaluator=evaluator
    )
    assert failure.samples == [{"value": "'secret'", "count": 1}]


@both
def test_strict_columns_name_the_extra_column(evaluator) -> None:
    strict = baseline_expectations(SPEC, classes=["x", "y"], strict_columns=True)

    [failure] = failures_of(frame(extra=[1, 2, 3]), strict, evaluator=evaluator)

    assert failure.column == "extra"
    assert "column 'extra' in the training data is not in the feature spec" in failure.message


def suite_check(name: str, **kwargs) -> Expectation:
    return Expectation(name, kwargs, "suite")


def test_a_suite_repeating_the_baseline_runs_each_check_once() -> None:
    repeated = suite_check("expect_column_values_to_not_be_null", column="size")
    extra = suite_check("expect_column_values_to_be_unique", column="colour")

    left = uncovered(BASELINE, [repeated, extra])

    [gone] = [e for e in BASELINE if e not in left]
    assert (gone.type, gone.kwargs) == ("expect_column_values_to_not_be_null", {"column": "size"})


def baseline_check(name: str, column: str | None = None) -> Expectation:
    [found] = [e for e in BASELINE if e.type == name and e.kwargs.get("column") == column]
    return found


@pytest.mark.parametrize(
    ("suite", "covered"),
    [
        (suite_check("expect_column_values_to_be_between", column="size", min_value=1), False),
        (
            suite_check(
                "expect_column_values_to_be_between", column="size", min_value=0, max_value=10
            ),
            True,
        ),
        (
            suite_check(
                "expect_column_values_to_be_between", column="size", min_value=2, max_value=8
            ),
            True,
        ),
        (
            suite_check(
                "expect_column_values_to_be_between", column="size", min_value=-1, max_value=8
            ),
            False,
        ),
        (
            suite_check(
                "expect_column_values_to_be_between",
                column="size",
                min_value=0,
                max_value=10,
                mostly=0.9,
            ),
            False,
        ),
        (
            suite_check(
                "expect_column_values_to_be_between",
                column="weight",
                min_value=0,
                max_value=10,
            ),
            False,
        ),
        (
            suite_check("expect_column_values_to_be_in_set", column="colour", value_set=["red"]),
            True,
        ),
        (
            suite_check(
                "expect_column_values_to_be_in_set",
                column="colour",
                value_set=["red", "blue", "green"],
            ),
            False,
        ),
    ],
    ids=["only-min", "same", "narrower", "wider", "mostly", "other-column", "subset", "superset"],
)
def test_the_suite_takes_over_only_checks_it_makes_as_strictly(suite, covered) -> None:
    check = baseline_check(suite.type, "size" if "between" in suite.type else "colour")

    assert covers(suite, check) is covered
    assert (check in uncovered(BASELINE, [suite])) is not covered


def test_a_covered_check_still_fails_bad_rows_through_the_suite() -> None:
    narrower = suite_check(
        "expect_column_values_to_be_between", column="size", min_value=0, max_value=5
    )
    table = frame(size=[1.0, 11.0, 3.0])
    baseline = uncovered(BASELINE, [narrower])

    outcomes = evaluate(table, baseline, sample_size=5)
    outcomes += run(table, [narrower], engine="pandas", sample_size=5)
    [failure] = judge(
        outcomes, role="training", sensitive=set(), max_samples=5, show_sensitive=False
    )

    assert (failure.column, failure.origin, failure.failed_rows) == ("size", "suite", 1)


PARITY = {
    "clean": frame(),
    "nulls-and-bad-values": frame(
        size=[None, 11.0, -2.0], colour=["red", None, "green"], weight=[None, None, None]
    ),
    "ties-in-samples": pd.DataFrame(
        {
            "size": [12.0, 11.0, 12.0, 11.0, 30.0, 1.0, 13.0],
            "colour": ["b", "a", "c", "a", "b", "red", "z"],
            "weight": [1.0] * 7,
            "group": ["a"] * 7,
            "label": ["x", "y", "z", "z", "x", "y", "w"],
        }
    ),
    "integers": frame(size=[1, 12, 3]),
    "all-null": frame(colour=[None, None, None]),
    "empty": frame().iloc[:0],
    "missing-and-extra-columns": frame(extra=[1, 2, 3]).drop(columns=["colour"]),
}


@pytest.mark.parametrize("strict", [False, True], ids=["loose", "strict"])
@pytest.mark.parametrize("name", list(PARITY))
def test_pandas_reports_the_baseline_exactly_as_great_expectations(name, strict) -> None:
    expectations = baseline_expectations(SPEC, classes=["x", "y"], strict_columns=strict)
    table = PARITY[name]

    ours = evaluate(table, expectations, sample_size=3)
    theirs = run(table, expectations, engine="pandas", sample_size=3)

    def comparable(outcome):
        # Great Expectations' not-null samples are the null values themselves, which
        # nobody shows (judge drops them); its exception texts vary by check.
        nulls = outcome.expectation.type == "expect_column_values_to_not_be_null"
        return (
            outcome.expectation.type,
            outcome.expectation.kwargs.get("column"),
            outcome.success,
            outcome.element_count,
            outcome.unexpected_count,
            outcome.missing_count,
            None if nulls else [(str(value), count) for value, count in outcome.samples],
            outcome.observed_value,
            outcome.mismatched,
            outcome.exception is None,
        )

    assert [comparable(o) for o in ours] == [comparable(o) for o in theirs]
    judged = {"role": "training", "sensitive": {"group"}, "max_samples": 3}
    assert judge(ours, show_sensitive=False, **judged) == judge(
        theirs, show_sensitive=False, **judged
    )


def test_an_unknown_argument_is_refused_with_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"has no argument 'max'.*did you mean 'max_value'"):
        check_expectation(
            "expect_column_values_to_be_between",
            {"column": "a", "max": 3},
            doc=None,
            key_path=(),
        )


def failed_result() -> ValidateResult:
    failures = failures_of(frame(colour=["red", "<img src=x> | a |", "red"]), BASELINE)
    return ValidateResult(
        verdict=Verdict.FAILED,
        summary="",
        files={
            "training": DataFileRecord(
                role="training", uri="data/train.csv", sha256="", size_bytes=0, rows=3, columns=5
            )
        },
        task=TaskRecord(kind="classification", inferred=True, classes=("x", "y")),
        expectations=Expectations(
            engine="pandas",
            suite=None,
            checked={"training": len(BASELINE)},
            failed=tuple(f.record() for f in failures),
            seconds=0.0,
        ),
        drift=DriftChecked(
            reference="the training file",
            reference_uri="data/train.csv",
            note=None,
            psi_threshold=0.2,
            pvalue_threshold=0.01,
            min_rows=200,
            features=(
                DriftFeature(
                    role="validation",
                    feature="size",
                    kind="numeric",
                    reference_rows=3,
                    current_rows=3,
                    psi=0.5,
                    ks_statistic=0.3,
                    ks_pvalue=1e-9,
                    drifted=True,
                    skipped=None,
                    biggest_change="< 2: 10% → 60%",
                ),
            ),
            drifted=(DriftedFeature(role="validation", feature="size", psi=0.5),),
            seconds=0.0,
        ),
    )


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
