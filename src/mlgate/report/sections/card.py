"""The card's part of the PR report: what this pull request changes against the champion.

The card itself is linked from the report's footer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgate import _markdown as markdown
from mlgate.card.diff import COMPARED
from mlgate.results import CardResult


def report_sections(result: CardResult) -> list[markdown.Section]:
    """The "What changed" section: metrics, data and parameters against the champion's card."""
    changes = result.facts.changes
    if changes is None:
        return []
    return [changes_section(changes)]


def changes_section(changes: Mapping[str, Any]) -> markdown.Section:
    """The "What changed" section of the PR report, from the card facts' `changes` record."""
    if changes.get("status") != COMPARED:
        body = markdown.text(changes.get("reason") or "No champion card to compare with.") + "\n"
        return markdown.Section("card-changes", "What changed", body, markdown.DETAIL)
    items = changes.get("items") or []
    version = markdown.text(changes.get("champion_version") or "?")
    if not items:
        body = f"Against the champion (v{version}): no change in metrics, data or parameters.\n"
        return markdown.Section("card-changes", "What changed", body, markdown.DETAIL)
    rows = [
        (
            markdown.text(item["area"]),
            markdown.code(item["name"]),
            markdown.text(item["before"]),
            markdown.text(item["after"]),
        )
        for item in items
    ]
    table = markdown.table(("area", "what", f"champion v{version}", "this PR"), rows)
    return markdown.Section("card-changes", "What changed", table, markdown.IMPORTANT, folded=True)
