"""The card at registration: the register stage names the new version on the card.

The card is written before the version exists; once registered, `stamp_registration`
renders it again naming its version, and `log_card_files` replaces the files among
the MLflow run's artifacts. `card_tags` points a run and a version at the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate.card import ARTIFACT_DIR, CARD_TAG, FACTS_TAG, checklist
from mlgate.card.facts import registered
from mlgate.card.render import team_template, write_card
from mlgate.results import CardResult
from mlgate.rundir import CARD_FACTS, CARD_HTML, RunDir

__all__ = ["card_tags", "has_card", "log_card_files", "stamp_registration"]


def card_tags() -> dict[str, str]:
    """Tags of a run and a registered version that point at the card among the run's artifacts."""
    return {CARD_TAG: f"{ARTIFACT_DIR}/{CARD_HTML}", FACTS_TAG: f"{ARTIFACT_DIR}/{CARD_FACTS}"}


def has_card(run_dir: RunDir) -> bool:
    return run_dir.file(CARD_FACTS).is_file()


def stamp_registration(
    session: Any, version: str, alias: str, requirements: list[str]
) -> list[Path]:
    """Name the registered version on the card (it did not exist when the card was written),
    and tick the checklist's boxes that registration fills: the version, the requirements."""
    result = session.optional_result("card")
    if result is None:
        return []
    assert isinstance(result, CardResult)
    facts = registered(
        result.facts,
        version=version,
        alias=alias,
        champion_alias=session.project.config.evaluation.champion_alias,
    )
    facts = facts.replace(
        checklist=checklist.with_registration(
            facts.checklist,
            version=version,
            requirements=requirements,
            champion=_champion_version(result.facts),
        )
    )
    written = write_card(session.run_dir, facts, team_template(session.project))
    facts_file = session.run_dir.write_result("card", result.replace(facts=facts).to_json())
    session.results.pop("card", None)  # the file now holds the stamped card
    return [*written, facts_file]


def _champion_version(facts: Any) -> str | None:
    """The version the evaluate stage compared with, as the card records it."""
    champion = facts.evaluation.get("champion")
    version = champion.get("version") if isinstance(champion, dict) else None
    return str(version) if version else None


def log_card_files(registry: Any, run_id: str, paths: list[Path]) -> None:
    """Replace the card files among the run's artifacts (same paths as `log_run` used)."""
    registry.log_files(run_id, paths, ARTIFACT_DIR, "the model card")
