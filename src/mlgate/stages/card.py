"""The card stage: gather the facts, compare with the champion's card, write the card."""

from __future__ import annotations

from mlgate.results import CardResult
from mlgate.stages._session import Session


def run(session: Session) -> CardResult:
    from mlgate.card.stage import stage_card

    return stage_card(session)
