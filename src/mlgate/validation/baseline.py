"""The baseline suite: what the feature spec promises about every data file.

It always runs before the team's own suite: at least one row, the declared columns
present (and, with `validation.strict_columns`, no others), numeric columns numeric,
declared non-null columns without nulls, categories inside their declared `values`,
numbers inside `min`/`max`, and the target without gaps and with the training labels.
"""

from __future__ import annotations

from typing import Any

from mlgate.featurespec import Column, FeatureSpec
from mlgate.validation.suite import Expectation

# Great Expectations compares these with the column's type name on each engine.
NUMERIC_TYPES = {
    "pandas": [
        *(f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64)),
        *(f"{kind}{bits}" for kind in ("Int", "UInt") for bits in (8, 16, 32, 64)),
        "float16",
        "float32",
        "float64",
        "Float32",
        "Float64",
    ],
    "spark": [
        "ByteType",
        "ShortType",
        "IntegerType",
        "LongType",
        "FloatType",
        "DoubleType",
        "DecimalType",
    ],
}


def baseline_expectations(
    spec: FeatureSpec,
    *,
    classes: list[Any] | None,
    strict_columns: bool,
    engine: str = "pandas",
) -> list[Expectation]:
    """The expectations the spec implies; `classes` are the target's training labels."""

    def expect(name: str, **kwargs: Any) -> Expectation:
        return Expectation(name, kwargs, "baseline")

    expected = [expect("expect_table_row_count_to_be_between", min_value=1)]
    if strict_columns:
        expected.append(
            expect(
                "expect_table_columns_to_match_set",
                column_set=list(spec.required_columns),
                exact_match=True,
            )
        )
    expected += [expect("expect_column_to_exist", column=name) for name in spec.required_columns]
    expected.append(expect("expect_column_values_to_not_be_null", column=spec.target))
    if classes:
        expected.append(
            expect(
                "expect_column_values_to_be_in_set",
                column=spec.target,
                value_set=[_plain(label) for label in classes],
            )
        )
    for name, column in {**spec.features, **spec.sensitive_features}.items():
        expected += _column_expectations(name, column, engine)
    return expected


def _column_expectations(name: str, column: Column, engine: str) -> list[Expectation]:
    found = []
    if column.is_numeric:
        found.append(
            Expectation(
                "expect_column_values_to_be_in_type_list",
                {"column": name, "type_list": NUMERIC_TYPES[engine]},
                "baseline",
            )
        )
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
