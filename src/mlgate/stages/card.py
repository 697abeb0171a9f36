"""The card stage: gather the facts, compare with the champion's card, write the card.

It reads the earlier stages' results (a stage that did not run is shown as not run),
the plots under the run directory's `plots/`, the team's template, and the champion's
card facts from its MLflow run; `mlgate.card` renders and writes the files. At
registration the register stage names the version on the card
(`mlgate.card.registration`).
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

from mlgate.card import checklist
from mlgate.card.diff import NO_CHAMPION, NO_CHAMPION_CARD, diff_facts, no_diff
from mlgate.card.facts import NOT_RUN, collect_facts
from mlgate.card.render import read_plots, team_template, write_card
from mlgate.pipeline import NAMES
from mlgate.results import CardResult, Verdict, to_json
from mlgate.results.card import CardFacts, CardFiles, ChecklistBox
from mlgate.rundir import CARD_HTML, CARD_MARKDOWN, PLOTS_DIR
from mlgate.stages._session import Session
from mlgate.tracking.tags import CARD_FACTS as FACTS_TAG

# The stages whose results a card reports, in pipeline order.
CARD_INPUTS = tuple(name for name in NAMES if name != "card")


def run(session: Session) -> CardResult:
    project = session.project
    template = team_template(project)
    results = {name: session.optional_result(name) for name in CARD_INPUTS}
    plots = read_plots(session.run_dir.path / PLOTS_DIR)
    facts = collect_facts(
        model_name=project.registry_name,
        model_type=project.config.model.type,
        card=project.config.card,
        results=results,
        candidate_alias=project.config.tracking.candidate_alias,
        champion_alias=project.config.evaluation.champion_alias,
        run_id=session.run_dir.run_id,
        date=datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        plots=list(plots),
        stopped=session.run_dir.stopped(),
    )
    changes = champion_changes(session, facts)
    facts = facts.replace(changes=changes, checklist=run_checklist(session, results))
    write_card(session.run_dir, facts, template)

    not_run = [name for name, status in facts.stages.items() if status == NOT_RUN]
    parts = [f"{CARD_MARKDOWN}, {CARD_HTML}"]
    if facts.stopped is not None:
        stage = facts.stopped.stage
        where = f"the {stage} stage stopped it" if stage else "it stopped before any stage"
        parts.insert(0, f"the run did not finish: {where}")
    if template is not None:
        parts.append(f"template {template.name}")
    if not_run:
        parts.append(f"not run: {', '.join(not_run)}")
    parts.append(_changes_words(changes))
    return CardResult(
        verdict=Verdict.PASSED,
        summary=" · ".join(parts),
        files=CardFiles(markdown=CARD_MARKDOWN, html=CARD_HTML),
        template=str(template) if template is not None else None,
        facts=facts,
    )


def run_checklist(session: Session, results: dict[str, Any]) -> tuple[ChecklistBox, ...]:
    """The checklist from this run's evidence; the review is looked up once merged."""
    from mlgate import _ci_context
    from mlgate._reviews import find_review

    code = _ci_context.code_version(session.project.root, session.ci)
    review, why = None, "no git commit"
    if code.commit and session.ci.event_name == "pull_request":
        why = "the pull request is not merged yet"
    elif code.commit and session.ci.in_github and not os.environ.get("GITHUB_TOKEN"):
        # The step that runs the model's code holds no token: promotion looks it up.
        why = "looked up by mlgate promote (this step holds no GitHub token)"
    elif code.commit:
        review, why = find_review(code.commit)
    facts = checklist.run_facts(
        results,
        commit=code.commit,
        dirty=code.dirty,
        review=review,
        review_unknown=why,
        # The serving image comes later (build-image); the training image is in train's
        # result, read with the other results.
        image=None,
    )
    return checklist.tick(facts)


# --- the champion's card ----------------------------------------------------------------


def champion_changes(session: Session, facts: CardFacts) -> dict[str, Any]:
    """This card against the champion's: the champion is the one evaluate compared with."""
    champion = facts.evaluation.get("champion")
    version = champion.get("version") if isinstance(champion, dict) else None
    if not version:
        if facts.evaluation["status"] == NOT_RUN:
            return no_diff(NO_CHAMPION, "Not compared: the evaluate stage did not run.")
        return no_diff(NO_CHAMPION, "No champion yet: nothing to compare with.")
    version = str(version)
    champion_facts = download_champion_facts(session.registry(), version)
    if champion_facts is None:
        return no_diff(
            NO_CHAMPION_CARD,
            f"The champion (v{version}) was registered without a model card, so there is "
            "nothing to compare with.",
        )
    return diff_facts(to_json(facts), champion_facts)


def download_champion_facts(registry: Any, version: str) -> dict[str, Any] | None:
    """The facts of the card logged with a registered version, or None if it has none.

    They come from another run, maybe an older mlgate: read as the JSON they are.
    """
    text = registry.version_file_text(version, FACTS_TAG, "the model card")
    if text is None:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    facts = document.get("facts") if isinstance(document, dict) else None
    return facts if isinstance(facts, dict) else None


def _changes_words(changes: dict[str, Any]) -> str:
    if changes["status"] == NO_CHAMPION_CARD:
        return "the champion has no card to compare"
    if changes["status"] != "compared":
        return "no champion to compare"
    count, version = len(changes["items"]), changes["champion_version"]
    return f"{count} change{'s' if count != 1 else ''} since champion v{version}"
