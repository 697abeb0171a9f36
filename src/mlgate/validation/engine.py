"""Running expectations with Great Expectations 1.x, on pandas or on Spark.

One ephemeral data context per process (nothing is written to disk), one data source
per engine, and one `batch.validate(suite)` call per table, so every expectation of a
table shares Great Expectations' metric computation. What comes back is plain data
(`Outcome`); judging it is `mlgate.validation.results`' job.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mlgate.validation._gx import expectation_class, gx_module
from mlgate.validation.suite import Expectation

ENGINES = ("pandas", "spark")
_INDEX = "mlgate_index"


@dataclass(frozen=True)
class Outcome:
    """What Great Expectations reported for one expectation on one table."""

    expectation: Expectation
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    missing_count: int | None = None
    samples: list[tuple[Any, int]] = field(default_factory=list)
    observed_value: Any = None
    mismatched: dict[str, list[str]] = field(default_factory=dict)  # column-set checks
    exception: str | None = None


@lru_cache(maxsize=1)
def _context() -> Any:
    gx = gx_module()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@lru_cache(maxsize=4)
def _batch_definition(engine: str, session: Any = None) -> Any:
    """One per engine and, for Spark, per session (GE's data source holds the one it met)."""
    context = _context()
    if engine == "spark":
        # persist: GE computes each metric as a Spark job over the same frame.
        name = f"mlgate-spark-{len(context.data_sources.all())}"
        source = context.data_sources.add_spark(name, persist=True)
    else:
        source = context.data_sources.add_pandas("mlgate-pandas")
    asset = source.add_dataframe_asset("table")
    return asset.add_batch_definition_whole_dataframe("whole-table")


def spark_session() -> Any:
    """The active SparkSession (the validate stage connects to compute.cluster), or local[2]."""
    from mlgate._spark import spark_session as active_or_local

    return active_or_local()


def build_suite(expectations: list[Expectation], name: str) -> Any:
    gx = gx_module()
    # One constructor call: add_expectation() asks the store about the suite each time.
    return gx.ExpectationSuite(
        name=name,
        expectations=[
            expectation_class(expectation.type)(
                **expectation.kwargs, meta={**expectation.meta, _INDEX: index}
            )
            for index, expectation in enumerate(expectations)
        ],
    )


def result_format(sample_size: int) -> dict[str, Any]:
    # SUMMARY gives counts and the most frequent unexpected values; COMPLETE would
    # collect every failing row, which costs memory on a large table.
    return {
        "result_format": "SUMMARY",
        "partial_unexpected_count": max(sample_size, 1),
        "include_unexpected_rows": False,
    }


def to_spark(frame: Any) -> Any:
    """A pandas frame as a Spark frame, with missing values as nulls."""
    import pandas as pd
    from pyspark.sql import types

    session = spark_session()
    plain = frame.copy()
    fields = []
    for name in plain.columns:
        column = plain[name]
        if pd.api.types.is_bool_dtype(column):
            kind: Any = types.BooleanType()
        elif pd.api.types.is_integer_dtype(column):
            kind = types.LongType()
        elif pd.api.types.is_numeric_dtype(column):
            kind = types.DoubleType()
        else:
            kind = types.StringType()
            column = column.astype(object).map(str, na_action="ignore")
        # Spark wants None for a missing value, not NaN.
        plain[name] = column.astype(object).where(column.notna(), None)
        fields.append(types.StructField(str(name), kind, nullable=True))
    # An explicit schema: Spark cannot infer one from an empty table.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return session.createDataFrame(
            list(plain.itertuples(index=False, name=None)),
            schema=types.StructType(fields),
        )


def run(
    table: Any,
    expectations: list[Expectation],
    *,
    engine: str,
    sample_size: int,
    suite: Any = None,
) -> list[Outcome]:
    """Validate `table` (a pandas frame, or for Spark a Spark frame) against `expectations`.

    `suite` is `build_suite(expectations)` when the caller validates several tables.
    """
    if not expectations:
        return []
    session = spark_session() if engine == "spark" else None  # GE uses the active one
    # A pandas frame is converted; a Spark frame (read by Spark itself) is used as it is.
    converted = engine == "spark" and type(table).__module__.startswith("pandas")
    data = to_spark(table) if converted else table
    batch = _batch_definition(engine, session).get_batch(batch_parameters={"dataframe": data})
    suite = suite if suite is not None else build_suite(expectations, "mlgate")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GE's own deprecation chatter, not the user's concern
        validation = batch.validate(suite, result_format=result_format(sample_size))
    # Match results to expectations through the index mlgate put in each one's meta.
    by_index = {
        int(result.expectation_config.meta[_INDEX]): result for result in validation.results
    }
    return [_outcome(expectation, by_index[i]) for i, expectation in enumerate(expectations)]


def _outcome(expectation: Expectation, result: Any) -> Outcome:
    info = result.exception_info or {}
    exception = None
    if info.get("raised_exception"):
        exception = info.get("exception_message")
    else:
        # Several metrics may have failed: GE then keys the infos by metric id.
        for value in info.values():
            if isinstance(value, dict) and value.get("raised_exception"):
                exception = value.get("exception_message") or "exception"
                break
    details = result.result or {}
    samples = [
        (item.get("value"), int(item.get("count", 0)))
        for item in details.get("partial_unexpected_counts") or []
    ]
    if not samples and details.get("partial_unexpected_list"):
        samples = [(value, 1) for value in details["partial_unexpected_list"]]
    return Outcome(
        expectation=expectation,
        success=bool(result.success),
        element_count=_int(details.get("element_count")),
        unexpected_count=_int(details.get("unexpected_count")),
        missing_count=_int(details.get("missing_count")),
        samples=samples,
        observed_value=details.get("observed_value"),
        mismatched=(details.get("details") or {}).get("mismatched") or {},
        exception=exception,
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
