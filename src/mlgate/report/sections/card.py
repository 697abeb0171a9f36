"""The card's part of the PR report: what this pull request changes against the champion.

The card itself is linked from the report's footer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgate import _markdown as markdown
from mlgate.card.diff import COMPARED
from mlgate.results import CardResult
from mlgate.results.card import ChecklistBox


def report_sections(result: CardResult) -> list[markdown.Section]:
    """ "What changed" against the champion's card, and the pre-deployment checklist."""
    changes = result.facts.changes
    sections = [changes_section(changes)] if changes is not None else []
    if result.facts.checklist is not None:
        sections.append(checklist_section(result.facts.checklist))
    return sections


def checklist_section(boxes: tuple[ChecklistBox, ...]) -> markdown.Section:
    """The guide's eight boxes, each with its evidence or why it is not ticked."""
    lines = [
        f"- [{'x' if box.ticked else ' '}] {markdown.text(box.label)}: "
        f"{markdown.text(box.evidence)}"
        for box in boxes
    ]
    done = sum(box.ticked for box in boxes)
    title = f"Pre-deployment checklist ({done} of {len(boxes)})"
    body = "\n".join(lines) + "\n"
    return markdown.Section("checklist", title, body, markdown.DETAIL, folded=True)


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
