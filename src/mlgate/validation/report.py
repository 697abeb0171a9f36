"""The validate stage's part of the PR report, and its GitHub annotations.

Both are built from the stage's result dict alone (as written to validate.json), so
`mlgate report` can render them in a later job. Every value from the data goes
through `markdown.text()` / `markdown.code()`, and through the console's escaping in
an annotation, so a category name can never become markup or a workflow command.
"""

from __future__ import annotations

from typing import Any

from mlgate import markdown
from mlgate.markdown import DETAIL, ESSENTIAL, IMPORTANT, Section

MAX_FAILURE_ROWS = 50


def sections(result: dict[str, Any]) -> list[Section]:
    """Sections for the report: failed expectations, then drift."""
    found = []
    expectations = result.get("expectations") or {}
    failed = expectations.get("failed") or []
    checked = sum((expectations.get("checked") or {}).values())
    if failed:
        found.append(
            Section(
                "validate.expectations",
                f"Data validation: {len(failed)} of {checked} expectations failed",
                _failures_table(failed),
                priority=ESSENTIAL,
            )
        )
    elif expectations:
        found.append(
            Section(
                "validate.expectations",
                "Data validation",
                f"All {markdown.count(checked)} expectations passed "
                f"(engine {markdown.code(expectations.get('engine', 'pandas'))}).",
                priority=DETAIL,
            )
        )
    drift = result.get("drift") or {}
    if drift.get("enabled") and drift.get("features"):
        drifted = drift.get("drifted") or []
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


def _failures_table(failed: list[dict[str, Any]]) -> str:
    rows = []
    for failure in failed[:MAX_FAILURE_ROWS]:
        rows.append(
            [
                markdown.text(failure["role"]),
                markdown.code(failure["column"]) if failure.get("column") else "(table)",
                markdown.code(failure["expectation"]),
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


def _rows(failure: dict[str, Any]) -> str:
    if failure.get("reason") == "missing-column":
        return "column missing"
    if failure.get("reason") == "no-rows":
        return "no rows"
    if failure.get("failed_rows") is None or failure.get("total_rows") is None:
        return "–"
    return f"{markdown.count(failure['failed_rows'])} of {markdown.count(failure['total_rows'])}"


def _sample_cell(failure: dict[str, Any]) -> str:
    if failure.get("samples_hidden"):
        return "hidden (sensitive column)"
    samples = failure.get("samples") or []
    if not samples:
        return markdown.text(failure["message"]) if failure.get("reason") == "error" else "–"
    return ", ".join(
        f"{markdown.text(item['value'])} ×{markdown.text(item['count'])}" for item in samples
    )


def _drift_body(drift: dict[str, Any]) -> str:
    rows = []
    for item in drift["features"]:
        verdict = "drifted" if item.get("drifted") else ("skipped" if item.get("skipped") else "ok")
        rows.append(
            [
                markdown.code(item["feature"]),
                markdown.text(item["role"]),
                markdown.text(verdict),
                markdown.number(item.get("psi")),
                markdown.number(item.get("ks_statistic")),
                _pvalue(item.get("ks_pvalue")),
                markdown.text(item.get("skipped") or item.get("biggest_change") or ""),
            ]
        )
    head = (
        f"Compared with {markdown.text(drift.get('reference', ''))}; drift when PSI ≥ "
        f"{markdown.text(drift.get('psi_threshold'))} or KS p-value < "
        f"{markdown.text(drift.get('pvalue_threshold'))}."
    )
    if drift.get("note"):
        head += f" Note: {markdown.text(drift['note'])}."
    table = markdown.table(
        ["feature", "data", "verdict", "PSI", "KS", "p-value", "largest change"], rows, "lllrrrl"
    )
    return f"{head}\n\n{table}"


def _pvalue(value: float | None) -> str:
    return "–" if value is None else f"{value:.2g}"


def annotations(result: dict[str, Any]) -> list[str]:
    """One `::error` workflow command per failed expectation and per drifted feature."""
    from mlgate.actions_io import annotation

    files = result.get("files") or {}
    lines = []
    for failure in (result.get("expectations") or {}).get("failed") or []:
        uri = (files.get(failure["role"]) or {}).get("uri")
        file = _relative(uri) if uri and "://" not in uri else None
        title = f"mlgate validate: {failure['expectation']}"
        lines.append(annotation("error", failure["message"], file=file, title=title))
    for item in (result.get("drift") or {}).get("drifted") or []:
        message = (
            f"feature '{item['feature']}' drifted in the {item['role']} data: PSI {item['psi']}"
        )
        lines.append(annotation("error", message, title="mlgate validate: drift"))
    return lines


def _relative(uri: str) -> str:
    from pathlib import Path

    try:
        return str(Path(uri).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return uri
