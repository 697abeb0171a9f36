"""The baseline's checks that run outside Great Expectations, as Spark aggregations.

The same failures, with the same messages, as `baseline.check_types` and
`baseline.class_count` give on a pandas frame: one aggregation over the table for every
numeric column, and the few sample values fetched only for a column that fails.
"""

from __future__ import annotations

from typing import Any

from mlgate.featurespec import FeatureSpec
from mlgate.validation.baseline import _rows, _type_failure, class_failure, spec_columns
from mlgate.validation.results import Failure
from mlgate.validation.spark_read import _q


def check_types(frame: Any, spec: FeatureSpec, *, role: str, rows: int) -> list[Failure]:
    """Numeric columns hold finite numbers, and integer ones whole numbers."""
    from pyspark.sql import functions as F
    from pyspark.sql import types

    kinds = {field.name: field.dataType for field in frame.schema.fields}
    numeric = {
        name: column
        for name, column in spec_columns(spec).items()
        if column.is_numeric and name in kinds and _fractional(kinds[name], types)
    }
    if not numeric:
        return []
    infinite = {name: _infinite(F.col(_q(name))) for name in numeric}
    fractional = {name: _fraction(F.col(_q(name))) for name in numeric}
    counts = frame.agg(
        *[F.sum(infinite[n].cast("long")).alias(f"inf{i}") for i, n in enumerate(numeric)],
        *[F.sum(fractional[n].cast("long")).alias(f"frac{i}") for i, n in enumerate(numeric)],
    ).first()
    failures = []
    for i, (name, column) in enumerate(numeric.items()):
        value = F.col(_q(name))
        if counts[f"inf{i}"]:
            count = int(counts[f"inf{i}"])
            shown = sorted({str(v) for v in _first_distinct(frame, value, infinite[name], 2)})
            failures.append(
                _type_failure(
                    role,
                    name,
                    column.type,
                    f"column '{name}' is declared {column.type} but {_rows(count, rows)} "
                    f"infinite, e.g. {', '.join(shown)} (beyond the range of a float; no model "
                    "can use it)",
                    total_rows=rows,
                    failed_rows=count,
                )
            )
        elif column.type == "integer" and counts[f"frac{i}"]:
            count = int(counts[f"frac{i}"])
            shown = _first_distinct(frame, value, fractional[name], 3)
            failures.append(
                _type_failure(
                    role,
                    name,
                    "integer",
                    f"column '{name}' is declared integer but {count:,} of {rows:,} rows are "
                    "not whole numbers, e.g. " + ", ".join(str(v) for v in shown),
                    total_rows=rows,
                    failed_rows=count,
                )
            )
    return failures


def _fractional(kind: Any, types: Any) -> bool:
    """An integer column holds whole, finite numbers by its type: nothing to count."""
    return isinstance(kind, (types.FloatType, types.DoubleType, types.DecimalType))


def _infinite(value: Any) -> Any:
    from pyspark.sql import functions as F

    return value.isin(F.lit(float("inf")), F.lit(float("-inf")))


def _fraction(value: Any) -> Any:
    # `% 1`, not floor(): floor overflows a long on infinity (an error under ANSI SQL).
    return value.isNotNull() & ~_infinite(value) & ((value % 1) != 0)


def _first_distinct(frame: Any, value: Any, condition: Any, count: int) -> list[Any]:
    """The first `count` distinct values meeting `condition`, in the file's order."""
    firsts = [row[0] for row in frame.filter(condition).select(value).limit(100).collect()]
    return list(dict.fromkeys(firsts))[:count]


def class_count(frame: Any, spec: FeatureSpec, *, role: str, rows: int) -> list[Failure]:
    """A classification target with fewer than two classes in `role`'s data."""
    from pyspark.sql import functions as F

    target = F.col(_q(spec.target))
    labelled = frame.select(target).filter(target.isNotNull())
    seen = [row[0] for row in labelled.distinct().limit(2).collect()]
    count = labelled.count() if len(seen) == 1 else 0
    return class_failure(spec, role=role, seen=seen, labelled=count, total_rows=rows)
