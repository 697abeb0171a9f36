"""The model card: facts gathered from the stage results, rendered as markdown and HTML.

`facts` collects what the card says (a pure function of the stage results and the
`card:` section of the config), `render` turns the facts into markdown and a
self-contained HTML page with Jinja2 templates (a team may bring its own),
`diff` compares the facts with the champion's card, and `stage` is the `card`
stage that writes the files into the run directory. Nothing numeric on a card is
typed by hand: every figure comes from a stage result, and a stage that did not
run is shown as not run.

This module stays free of heavy imports: `mlgate.stages` reads the file names below.
"""

from __future__ import annotations

from mlgate.tracking import tags as _tags

# Files the card stage leaves in the run directory (card.json is its stage result,
# which carries the card's facts so that a later run can diff against this card).
MARKDOWN_FILE = "model_card.md"
HTML_FILE = "model_card.html"
FACTS_FILE = "card.json"
CARD_FILES = (MARKDOWN_FILE, HTML_FILE, FACTS_FILE)

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
