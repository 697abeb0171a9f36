"""The card's part of the PR report: what this pull request changes against the champion.

`mlgate.report` finds `report_sections` here and calls it with the card stage's
result (card.json). The card itself is linked from the report's footer.
"""

from __future__ import annotations

from typing import Any

from mlgate import markdown
from mlgate.card.diff import changes_section


def report_sections(result: dict[str, Any]) -> list[markdown.Section]:
    """The "What changed" section: metrics, data and parameters against the champion's card."""
    facts = result.get("facts") or {}
    changes = facts.get("changes")
    if not isinstance(changes, dict):
        return []
    return [changes_section(changes)]
