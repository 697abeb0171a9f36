"""The baseline suite: what the feature spec promises about every data file.

It always runs before the team's own suite: at least one row, the declared columns
present (and, with `validation.strict_columns`, no others), numeric columns numeric
(`check_types`), declared non-null columns without nulls, categories inside their
declared `values`, numbers inside `min`/`max`, and the target within the training
labels (a missing target is refused earlier, by the data loader).
"""

from __future__ import annotations

from typing import Any

from mlgate.featurespec import Column, FeatureSpec
from mlgate.validation.results import Failure
from mlgate.validation.suite import Expectation


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
            if column.type == "integer" and not pd.api.types.is_integer_dtype(values):
                failures += _non_whole(name, values, role)
            continue
        failures.append(
            Failure(
                role=role,
                expectation="expect_column_values_to_be_of_type",
                origin="baseline",
                column=name,
                reason="unexpected",
                message=f"column '{name}' is declared {column.type} but holds "
                f"{values.dtype} values",
                total_rows=len(values.index),
                arguments={"type": column.type},
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


def _non_whole(name: str, values: Any, role: str) -> list[Failure]:
    present = values.dropna()
    fractional = present[present % 1 != 0]
    if fractional.empty:
        return []
    return [
        Failure(
            role=role,
            expectation="expect_column_values_to_be_of_type",
            origin="baseline",
            column=name,
            reason="unexpected",
            message=f"column '{name}' is declared integer but {len(fractional):,} of "
            f"{len(values.index):,} rows are not whole numbers, e.g. "
            + ", ".join(str(v) for v in fractional.unique()[:3].tolist()),
            failed_rows=len(fractional),
            total_rows=len(values.index),
            arguments={"type": "integer"},
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


def merge(baseline: list[Expectation], suite: list[Expectation]) -> list[Expectation]:
    """Baseline first, then the suite without the checks the baseline already makes."""
    seen = {expectation.key for expectation in baseline}
    merged = list(baseline)
    for expectation in suite:
        if expectation.key not in seen:
            seen.add(expectation.key)
            merged.append(expectation)
    return merged
