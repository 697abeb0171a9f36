"""The validate stage's part of the PR report, and its GitHub annotations.

Both are built from the stage's result alone (as read back from validate.json), so
`mlgate report` can render them in a later job. Every value from the data goes
through `markdown.text()` / `markdown.code()`, and through the workflow command's
escaping in an annotation, so a category name can never become markup or a command.
"""

from __future__ import annotations

from mlgate import _markdown as markdown
from mlgate._markdown import DETAIL, ESSENTIAL, IMPORTANT, Section
from mlgate.results import ValidateResult
from mlgate.results.validate import DriftChecked, ExpectationFailure

MAX_FAILURE_ROWS = 50


def sections(result: ValidateResult) -> list[Section]:
    """Sections for the report: failed expectations, then drift."""
    found = []
    expectations = result.expectations
    failed = expectations.failed
    checked = expectations.total
    if failed:
        found.append(
            Section(
                "validate.expectations",
                f"Data validation: {len(failed)} of {checked} expectations failed",
                _failures_table(failed),
                priority=ESSENTIAL,
            )
        )
    else:
        found.append(
            Section(
                "validate.expectations",
                "Data validation",
                f"All {markdown.count(checked)} expectations passed "
                f"(engine {markdown.code(expectations.engine)}).",
                priority=DETAIL,
            )
        )
    drift = result.drift
    if isinstance(drift, DriftChecked) and drift.features:
        drifted = drift.drifted
        title = (
            f"Data drift: {len(drifted)} feature(s) drifted"
            if drifted
            else "Data drift: none beyond the thresholds"
        )
        found.append(
            Section(
                "validate.drift",
                title,
                _drift_body(drift),
                priority=IMPORTANT if drifted else DETAIL,
                folded=not drifted,
            )
        )
    return found


def _failures_table(failed: tuple[ExpectationFailure, ...]) -> str:
    rows = []
    for failure in failed[:MAX_FAILURE_ROWS]:
        rows.append(
            [
                markdown.text(failure.role),
                markdown.code(failure.column) if failure.column else "(table)",
                markdown.code(failure.expectation),
                _rows(failure),
                _sample_cell(failure),
            ]
        )
    body = markdown.table(
        ["file", "column", "expectation", "failed rows", "sample values"], rows, "lllrl"
    )
    if len(failed) > MAX_FAILURE_ROWS:
        body += f"\n… and {len(failed) - MAX_FAILURE_ROWS} more in validate.json\n"
    return body


def _rows(failure: ExpectationFailure) -> str:
    if failure.reason == "missing-column":
        return "column missing"
    if failure.reason == "no-rows":
        return "no rows"
    if failure.failed_rows is None or failure.total_rows is None:
        return "–"
    return f"{markdown.count(failure.failed_rows)} of {markdown.count(failure.total_rows)}"


def _sample_cell(failure: ExpectationFailure) -> str:
    if failure.samples_hidden:
        return "hidden (sensitive column)"
    if not failure.samples:
        return markdown.text(failure.message) if failure.reason == "error" else "–"
    return ", ".join(
        f"{markdown.text(item.value)} ×{markdown.text(item.count)}" for item in failure.samples
    )


def _drift_body(drift: DriftChecked) -> str:
    rows = []
    for item in drift.features:
        verdict = "drifted" if item.drifted else ("skipped" if item.skipped else "ok")
        rows.append(
            [
                markdown.code(item.feature),
                markdown.text(item.role),
                markdown.text(verdict),
                markdown.number(item.psi),
                markdown.number(item.ks_statistic),
                _pvalue(item.ks_pvalue),
                markdown.text(item.skipped or item.biggest_change or ""),
            ]
        )
    head = (
        f"Compared with {markdown.text(drift.reference)}; drift when PSI ≥ "
        f"{markdown.text(drift.psi_threshold)} or KS p-value < "
        f"{markdown.text(drift.pvalue_threshold)}."
    )
    if drift.note:
        head += f" Note: {markdown.text(drift.note)}."
    table = markdown.table(
        ["feature", "data", "verdict", "PSI", "KS", "p-value", "largest change"], rows, "lllrrrl"
    )
    return f"{head}\n\n{table}"


def _pvalue(value: float | None) -> str:
    return "–" if value is None else f"{value:.2g}"


def annotations(result: ValidateResult) -> list[str]:
    """One `::error` workflow command per failed expectation and per drifted feature."""
    from mlgate._actions_io import annotation

    lines = []
    for failure in result.expectations.failed:
        recorded = result.files.get(failure.role)
        uri = recorded.uri if recorded else None
        file = _relative(uri) if uri and "://" not in uri else None
        title = f"mlgate validate: {failure.expectation}"
        lines.append(annotation("error", failure.message, file=file, title=title))
    for item in result.drift.drifted:
        message = f"feature '{item.feature}' drifted in the {item.role} data: PSI {item.psi}"
        lines.append(annotation("error", message, title="mlgate validate: drift"))
    return lines


def _relative(uri: str) -> str:
    from pathlib import Path

    try:
        return str(Path(uri).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return uri
