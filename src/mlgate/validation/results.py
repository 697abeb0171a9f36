"""Judging Great Expectations' outcomes: what failed, where, how often, with which values.

Two of Great Expectations' habits would let bad data through, so they are failures
here: a value check on a table with no rows passes vacuously, and a check on a
missing column comes back as an exception inside the result instead of a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mlgate.results.validate import ExpectationFailure, FailureSample, Origin, Reason
from mlgate.validation.engine import Outcome

MAX_SAMPLE_CHARS = 40
_MISSING_COLUMN = re.compile(r'column "?([^"]+?)"? in BatchData does not exist', re.IGNORECASE)


@dataclass(frozen=True)
class Failure:
    """One failed expectation on one data file, ready to print and to report."""

    role: str  # training or validation
    expectation: str
    origin: Origin
    column: str | None
    reason: Reason
    message: str
    failed_rows: int | None = None
    total_rows: int | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    samples_hidden: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)

    def record(self) -> ExpectationFailure:
        """The failure as `validate.json` records it."""
        return ExpectationFailure(
            role=self.role,
            expectation=self.expectation,
            origin=self.origin,
            column=self.column,
            reason=self.reason,
            message=self.message,
            failed_rows=self.failed_rows,
            total_rows=self.total_rows,
            samples=tuple(
                FailureSample(value=item["value"], count=item["count"]) for item in self.samples
            ),
            samples_hidden=self.samples_hidden,
            arguments=self.arguments,
        )


def judge(
    outcomes: list[Outcome],
    *,
    role: str,
    sensitive: set[str],
    max_samples: int,
    show_sensitive: bool,
) -> list[Failure]:
    """The failures among `outcomes` (an empty list when every expectation held)."""
    failures = []
    for outcome in outcomes:
        if outcome.mismatched and not outcome.success:
            failures += _column_set_failures(outcome, role)
            continue
        failure = _failure(outcome, role, sensitive, max_samples, show_sensitive)
        if failure is not None:
            failures.append(failure)
    # A missing column breaks every check on it, some with odd errors: report it once.
    missing = {f.column for f in failures if f.reason == "missing-column"}
    kept, reported = [], set()
    for failure in failures:
        if failure.column in missing:
            if failure.column in reported:
                continue
            reported.add(failure.column)
            failure = _missing_column(failure, role)
        kept.append(failure)
    return kept


def _column_set_failures(outcome: Outcome, role: str) -> list[Failure]:
    """One failure per missing column, and per undeclared one under strict_columns."""
    name = outcome.expectation.type
    found = []
    for column in outcome.mismatched.get("missing") or []:
        found.append(
            Failure(
                role=role,
                expectation=name,
                origin=outcome.expectation.origin,
                column=str(column),
                reason="missing-column",
                message=f"column '{column}' does not exist in the {role} data",
            )
        )
    # Great Expectations lists the extra columns even when only missing ones fail.
    exact = outcome.expectation.kwargs.get("exact_match", True)
    for column in (outcome.mismatched.get("unexpected") or []) if exact else []:
        found.append(
            Failure(
                role=role,
                expectation=name,
                origin=outcome.expectation.origin,
                column=str(column),
                reason="unexpected",
                message=f"column '{column}' in the {role} data is not in the feature spec "
                "(validation.strict_columns allows only the declared columns)",
            )
        )
    return found


def _missing_column(failure: Failure, role: str) -> Failure:
    return Failure(
        role=role,
        expectation=failure.expectation,
        origin=failure.origin,
        column=failure.column,
        reason="missing-column",
        message=f"column '{failure.column}' does not exist in the {role} data"
        + (
            ""
            if failure.expectation
            in ("expect_column_to_exist", "expect_table_columns_to_match_set")
            else f" ({failure.expectation} needs it)"
        ),
        arguments=failure.arguments,
    )


def _failure(
    outcome: Outcome, role: str, sensitive: set[str], max_samples: int, show_sensitive: bool
) -> Failure | None:
    expectation = outcome.expectation
    columns = expectation.columns
    column = columns[0] if columns else None
    name = expectation.type
    arguments = {k: v for k, v in expectation.kwargs.items() if k not in ("column",)}
    base = {
        "role": role,
        "expectation": name,
        "origin": expectation.origin,
        "column": column,
        "arguments": _jsonable(arguments),
    }
    if outcome.exception is not None:
        missing = _MISSING_COLUMN.search(outcome.exception)
        if missing:
            return Failure(
                **{**base, "column": missing.group(1)},
                reason="missing-column",
                message=f"column '{missing.group(1)}' does not exist in the {role} data",
            )
        first_line = outcome.exception.strip().splitlines()[0] if outcome.exception else "error"
        return Failure(
            **base,
            reason="error",
            message=f"{_subject(column)}{name} could not run: {first_line}",
        )
    if name == "expect_column_to_exist" and not outcome.success:
        return Failure(
            **base,
            reason="missing-column",
            message=f"column '{column}' does not exist in the {role} data",
        )
    if outcome.success and outcome.element_count == 0:
        return Failure(
            **base,
            reason="no-rows",
            failed_rows=0,
            total_rows=0,
            message=f"{_subject(column)}{name} has no rows to check in the {role} data "
            "(an empty table passes value checks vacuously, so mlgate fails it)",
        )
    if outcome.success:
        return None
    hidden = bool(sensitive.intersection(columns)) and not show_sensitive
    # The unexpected values of a null check are all null: nothing to show.
    nulls = name == "expect_column_values_to_not_be_null"
    samples = [] if hidden or nulls else _samples(outcome.samples, max_samples)
    message = f"{_subject(column)}{name}{_bounds(arguments)} failed"
    if outcome.unexpected_count is not None and outcome.element_count is not None:
        message += f" for {outcome.unexpected_count:,} of {outcome.element_count:,} rows"
    elif outcome.observed_value is not None and not hidden:
        message += f" (observed {_show(outcome.observed_value)})"
    if samples:
        message += ", e.g. " + ", ".join(item["value"] for item in samples)
    elif hidden and outcome.samples and not nulls:
        message += " (values of a sensitive column are not shown)"
    return Failure(
        **base,
        reason="unexpected",
        message=message,
        failed_rows=outcome.unexpected_count,
        total_rows=outcome.element_count,
        samples=samples,
        samples_hidden=hidden and bool(outcome.samples) and not nulls,
    )


def _subject(column: str | None) -> str:
    return f"column '{column}': " if column is not None else ""


def _bounds(arguments: dict[str, Any]) -> str:
    """The arguments a reader needs to see why a value failed, briefly."""
    shown = []
    for key in ("min_value", "max_value", "value_set", "regex", "type_list", "column_set"):
        if key in arguments and arguments[key] is not None:
            value = arguments[key]
            if isinstance(value, list) and len(value) > 6:
                value = [*value[:6], "…"]
            shown.append(f"{key} {_show(value, limit=80)}")
    return f" ({', '.join(shown)})" if shown else ""


def _samples(samples: list[tuple[Any, int]], limit: int) -> list[dict[str, Any]]:
    return [{"value": _show(value), "count": count} for value, count in samples[:limit]]


def _show(value: Any, limit: int = MAX_SAMPLE_CHARS) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)
