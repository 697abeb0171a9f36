"""The baseline suite: what the feature spec promises about every data file.

It always runs before the team's own suite: at least one row, the declared columns
present (and, with `validation.strict_columns`, no others), numeric columns numeric
(`check_types`), declared non-null columns without nulls, categories inside their
declared `values`, numbers inside `min`/`max`, and the target within the training
labels (a missing target is refused earlier, by the data loader).

These checks are one vectorised pass over a column each, so `evaluate` computes them
with pandas and reports them exactly as Great Expectations would (the same `Outcome`:
row counts, unexpected counts, the most frequent of the first unexpected values), and
Great Expectations runs only the team's suite, where each expectation costs a pass of
its validation graph. A baseline check that the suite already makes as strictly (say
`expect_column_values_to_be_between` on the same column with narrower bounds) is left
to the suite (`uncovered`), so no check runs twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mlgate.featurespec import Column, FeatureSpec
from mlgate.validation.engine import Outcome
from mlgate.validation.results import Failure
from mlgate.validation.suite import Expectation

ROW_COUNT = "expect_table_row_count_to_be_between"
COLUMN_SET = "expect_table_columns_to_match_set"
NOT_NULL = "expect_column_values_to_not_be_null"
IN_SET = "expect_column_values_to_be_in_set"
BETWEEN = "expect_column_values_to_be_between"


def baseline_expectations(
    spec: FeatureSpec,
    *,
    classes: list[Any] | None,
    strict_columns: bool,
) -> list[Expectation]:
    """The expectations the spec implies; `classes` are the target's training labels."""

    def expect(name: str, **kwargs: Any) -> Expectation:
        return Expectation(name, kwargs, "baseline")

    # One column-set check, not one per column: each expectation costs a pass of GE's
    # validation graph, and a missing column is named from the set's mismatch anyway.
    expected = [
        expect("expect_table_row_count_to_be_between", min_value=1),
        expect(
            "expect_table_columns_to_match_set",
            column_set=list(spec.required_columns),
            exact_match=strict_columns,
        ),
    ]
    # The target's nulls are refused by the data loader (exit 2) before this runs.
    if classes:
        expected.append(
            expect(
                "expect_column_values_to_be_in_set",
                column=spec.target,
                value_set=[_plain(label) for label in classes],
            )
        )
    for name, column in spec_columns(spec).items():
        expected += _column_expectations(name, column)
    return expected


def spec_columns(spec: FeatureSpec) -> dict[str, Column]:
    return {**spec.features, **spec.sensitive_features}


def check_types(frame: Any, spec: FeatureSpec, *, role: str) -> list[Failure]:
    """Numeric columns hold numbers. Checked on the frame's types, not row by row.

    The data loader already turns numeric text into numbers and refuses the rest, so on
    its frames this never fails; it guards frames from anywhere else. It runs outside
    Great Expectations because a type is one look at the column, not a pass over rows.
    """
    import pandas as pd

    failures = []
    for name, column in spec_columns(spec).items():
        if not column.is_numeric or name not in frame.columns:
            continue
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            if not pd.api.types.is_integer_dtype(values):
                infinite = _infinite(name, column.type, values, role)
                failures += infinite
                if column.type == "integer" and not infinite:
                    failures += _non_whole(name, values, role)
            continue
        failures.append(
            _type_failure(
                role,
                name,
                column.type,
                f"column '{name}' is declared {column.type} but holds {values.dtype} values",
                total_rows=len(values.index),
            )
        )
    return failures


def _column_expectations(name: str, column: Column) -> list[Expectation]:
    found = []
    if not column.nullable:
        found.append(
            Expectation("expect_column_values_to_not_be_null", {"column": name}, "baseline")
        )
    if column.values is not None:
        found.append(
            Expectation(
                "expect_column_values_to_be_in_set",
                {"column": name, "value_set": [category_text(v) for v in column.values]},
                "baseline",
            )
        )
    if column.min is not None or column.max is not None:
        bounds = {
            k: v for k, v in (("min_value", column.min), ("max_value", column.max)) if v is not None
        }
        found.append(
            Expectation(
                "expect_column_values_to_be_between", {"column": name, **bounds}, "baseline"
            )
        )
    return found


def _type_failure(role: str, column: str, declared: str, message: str, **rows: int) -> Failure:
    return Failure(
        role=role,
        expectation="expect_column_values_to_be_of_type",
        origin="baseline",
        column=column,
        reason="unexpected",
        message=message,
        arguments={"type": declared},
        **rows,
    )


def _infinite(name: str, declared: str, values: Any, role: str) -> list[Failure]:
    """A number too large for a float (`1e400`) is read as infinity; no model can use it."""
    import numpy as np

    infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
    count = int(infinite.sum())
    if not count:
        return []
    shown = sorted({str(v) for v in values[infinite].unique()[:2].tolist()})
    return [
        _type_failure(
            role,
            name,
            declared,
            f"column '{name}' is declared {declared} but {_rows(count, len(values.index))} "
            f"infinite, e.g. {', '.join(shown)} (beyond the range of a float; no model can use it)",
            total_rows=len(values.index),
            failed_rows=count,
        )
    ]


def _rows(count: int, total: int) -> str:
    return f"{count:,} of {total:,} row{'s' if total != 1 else ''} {'is' if count == 1 else 'are'}"


def class_count(frame: Any, spec: FeatureSpec, *, role: str) -> list[Failure]:
    """A classification target with fewer than two classes in `role`'s data: no metric that
    compares classes (ROC AUC, PR AUC) can be computed on it, and accuracy means little."""
    target = spec.target
    if target not in frame.columns:
        return []
    labels = frame[target].dropna()
    return class_failure(
        spec,
        role=role,
        seen=labels.unique().tolist()[:2],
        labelled=len(labels.index),
        total_rows=len(frame.index),
    )


def class_failure(
    spec: FeatureSpec, *, role: str, seen: list[Any], labelled: int, total_rows: int
) -> list[Failure]:
    """The failure `class_count` reports when `seen` (up to two labels) holds fewer than two."""
    target = spec.target
    if len(seen) >= 2:
        return []
    found = f"1 class ({_show_label(seen[0])})" if seen else "no classes"
    return [
        Failure(
            role=role,
            expectation="expect_column_unique_value_count_to_be_between",
            origin="baseline",
            column=target,
            reason="unexpected",
            message=f"target column '{target}' has {found} in the {role} data; evaluating "
            "a classifier needs at least 2 classes",
            total_rows=total_rows,
            samples=[{"value": _show_label(seen[0]), "count": labelled}] if seen else [],
            arguments={"min_value": 2},
        )
    ]


def _show_label(label: Any) -> str:
    label = _plain(label)
    return repr(label) if isinstance(label, str) else str(label)


def _non_whole(name: str, values: Any, role: str) -> list[Failure]:
    present = values.dropna()
    fractional = present[present % 1 != 0]
    if fractional.empty:
        return []
    return [
        _type_failure(
            role,
            name,
            "integer",
            f"column '{name}' is declared integer but {len(fractional):,} of "
            f"{len(values.index):,} rows are not whole numbers, e.g. "
            + ", ".join(str(v) for v in fractional.unique()[:3].tolist()),
            total_rows=len(values.index),
            failed_rows=len(fractional),
        )
    ]


def category_text(value: Any) -> str:
    """A declared category as the data loader writes categories: text, `1` not `1.0`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so the suite serialises to JSON."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def uncovered(baseline: list[Expectation], suite: list[Expectation]) -> list[Expectation]:
    """The baseline checks that no suite expectation already makes, at least as strictly."""
    return [check for check in baseline if not any(covers(other, check) for other in suite)]


def covers(suite: Expectation, baseline: Expectation) -> bool:
    """Whether `suite` fails on every row (or table) on which `baseline` would fail.

    Only plain forms count: a `mostly` below 1 or a `row_condition` checks less, and
    bounds or sets that are not plain numbers and values are not compared.
    """
    if suite.type != baseline.type:
        return False
    mine, theirs = suite.kwargs, baseline.kwargs
    if mine.get("row_condition") or mine.get("mostly", 1) != 1:
        return False
    if suite.type == ROW_COUNT:
        low = mine.get("min_value")
        return _number(low) and low >= theirs["min_value"]
    if suite.type == COLUMN_SET:
        wanted, required = set(mine.get("column_set") or []), set(theirs["column_set"])
        if theirs.get("exact_match", True):
            return wanted == required and mine.get("exact_match", True) is True
        return wanted >= required
    if mine.get("column") != theirs["column"]:
        return False
    if suite.type == NOT_NULL:
        return True
    if suite.type == IN_SET:
        allowed = mine.get("value_set")
        if not isinstance(allowed, list):
            return False
        try:
            return set(allowed) <= set(theirs["value_set"])
        except TypeError:  # unhashable values: leave the check to both
            return False
    if suite.type == BETWEEN:
        for key, stricter in (("min_value", float.__ge__), ("max_value", float.__le__)):
            bound = theirs.get(key)
            if bound is None:
                continue
            value = mine.get(key)
            if not _number(value) or not stricter(float(value), float(bound)):
                return False
        return True
    return False


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def evaluate(frame: Any, expectations: list[Expectation], *, sample_size: int) -> list[Outcome]:
    """The baseline's expectations on a pandas frame, as Great Expectations reports them.

    Same semantics as Great Expectations' pandas engine: value checks skip missing
    values and pass vacuously on a table with no rows (or no values), which `judge`
    then fails; a check on a missing column reports Great Expectations' exception.
    """
    limit = max(sample_size, 1)
    return [_evaluate(frame, expectation, limit) for expectation in expectations]


def _evaluate(frame: Any, expectation: Expectation, limit: int) -> Outcome:
    import pandas as pd

    kwargs = expectation.kwargs
    rows = len(frame.index)
    if expectation.type == ROW_COUNT:
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        held = (low is None or rows >= low) and (high is None or rows <= high)
        return Outcome(expectation, held, observed_value=rows)
    if expectation.type == COLUMN_SET:
        return _column_set(frame, expectation)
    name = kwargs["column"]
    if name not in frame.columns:
        return Outcome(
            expectation, False, exception=f'The column "{name}" in BatchData does not exist.'
        )
    values = frame[name]
    missing = values.isna()
    missing_count = int(missing.sum())
    if expectation.type == NOT_NULL:
        return Outcome(
            expectation,
            rows == 0 or missing_count == 0,
            element_count=rows,
            unexpected_count=missing_count,
            samples=[(None, min(missing_count, limit))] if missing_count else [],
        )
    present = values[~missing] if missing_count else values
    if expectation.type == IN_SET:
        bad = ~present.isin(kwargs["value_set"])
    elif expectation.type == BETWEEN:
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        try:
            inside = pd.Series(True, index=present.index)
            if low is not None:
                inside &= present >= low
            if high is not None:
                inside &= present <= high
        except TypeError:  # text in a numeric column: what Great Expectations says
            return Outcome(
                expectation,
                False,
                exception="Column values, min_value, and max_value must either be None "
                "or of the same type.",
            )
        bad = ~inside
    else:
        raise ValueError(f"{expectation.type} is not a baseline expectation")
    unexpected = int(bad.sum())
    return Outcome(
        expectation,
        rows == 0 or missing_count == rows or unexpected == 0,
        element_count=rows,
        unexpected_count=unexpected,
        missing_count=missing_count,
        samples=most_common(list(present[bad][:limit]), limit) if unexpected else [],
    )


def _column_set(frame: Any, expectation: Expectation) -> Outcome:
    required = {str(name) for name in expectation.kwargs["column_set"]}
    present = {str(name) for name in frame.columns}
    extra, missing = sorted(present - required), sorted(required - present)
    mismatched = {
        key: names for key, names in (("unexpected", extra), ("missing", missing)) if names
    }
    exact = expectation.kwargs.get("exact_match", True)
    return Outcome(
        expectation,
        not missing and not (exact and extra),
        observed_value=sorted(present),
        mismatched=mismatched,
    )


def most_common(values: list[Any], limit: int) -> list[tuple[Any, int]]:
    """Great Expectations' `partial_unexpected_counts` of the first unexpected values."""
    try:
        counted = sorted(Counter(values).most_common(limit), key=lambda item: (-item[1], item[0]))
    except TypeError:  # values that do not sort: GE then gives the list itself
        return [(value, 1) for value in values]
    return [(value, count) for value, count in counted]
