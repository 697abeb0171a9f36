"""The model card: facts gathered from the stage results, rendered as markdown and HTML.

`facts` collects what the card says (a pure function of the stage results and the
`card:` section of the config), `render` turns the facts into markdown and a
self-contained HTML page with Jinja2 templates (a team may bring its own) and writes
them, `diff` compares the facts with the champion's card, and `registration` names
the registered version on the card. The stage itself is `mlgate.stages.card`; its part
of the PR report is `mlgate.report.sections.card`. Nothing numeric on a card is typed
by hand: every figure comes from a stage result, and a stage that did not run is shown
as not run.

This module stays free of heavy imports and imports none of its parts.
"""

from __future__ import annotations

from mlgate.rundir import CARD_FACTS, CARD_FILES, CARD_HTML, CARD_MARKDOWN
from mlgate.tracking import tags as _tags

# Files the card stage leaves in the run directory (card.json is its stage result,
# which carries the card's facts so that a later run can diff against this card).
MARKDOWN_FILE = CARD_MARKDOWN
HTML_FILE = CARD_HTML
FACTS_FILE = CARD_FACTS

# Where the card files go among an MLflow run's artifacts, and the tags of a
# registered version that point at them.
ARTIFACT_DIR = "mlgate"
CARD_TAG = _tags.CARD
FACTS_TAG = _tags.CARD_FACTS

__all__ = [
    "ARTIFACT_DIR",
    "CARD_FILES",
    "CARD_TAG",
    "FACTS_FILE",
    "FACTS_TAG",
    "HTML_FILE",
    "MARKDOWN_FILE",
]
