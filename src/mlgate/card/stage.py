"""The card stage: gather the facts, compare with the champion's card, write the card files.

The I/O edge of the card: it reads the earlier stages' results (a stage that did
not run is shown as not run), the plots under the run directory's `plots/`, the
team's template, and the champion's card facts from its MLflow run. At
registration, the register stage calls `stamp_registration` so that the card names
its version, then logs the card files to the run (see `mlgate.stages.register`).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from mlgate.card import (
    ARTIFACT_DIR,
    FACTS_FILE,
    FACTS_TAG,
    HTML_FILE,
    MARKDOWN_FILE,
)
from mlgate.card.diff import NO_CHAMPION, NO_CHAMPION_CARD, diff_facts, no_diff
from mlgate.card.facts import NOT_RUN, collect_facts, with_registration
from mlgate.card.render import KINDS, render_card, template_kind
from mlgate.plots import PLOTS_DIR
from mlgate.results import Verdict
from mlgate.rundir import atomic_write_text

# The stages whose results a card reports, in pipeline order.
CARD_INPUTS = ("validate", "train", "evaluate", "fairness", "register")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def stage_card(session: Any) -> Any:
    from mlgate.results import CardResult

    project = session.project
    template = team_template(project)
    results = {name: optional_result(session, name) for name in CARD_INPUTS}
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
    )
    facts["changes"] = champion_changes(session, facts)
    write_card(session.run_dir, facts, template)

    not_run = [name for name, status in facts["stages"].items() if status == NOT_RUN]
    parts = [f"{MARKDOWN_FILE}, {HTML_FILE}"]
    if template is not None:
        parts.append(f"template {template.name}")
    if not_run:
        parts.append(f"not run: {', '.join(not_run)}")
    parts.append(_changes_words(facts["changes"]))
    return CardResult(
        verdict=Verdict.PASSED,
        summary=" · ".join(parts),
        files={"markdown": MARKDOWN_FILE, "html": HTML_FILE},
        template=str(template) if template is not None else None,
        facts=facts,
    )


def optional_result(session: Any, stage: str) -> dict[str, Any] | None:
    """A stage's result, or None when it did not run (the card then says "not run")."""
    result = session.optional_result(stage)
    return result.to_json() if result is not None else None


def team_template(project: Any) -> Path | None:
    """The team's own template from `card.template`, checked; None for the built-in ones."""
    written = project.config.card.template
    if written is None:
        return None
    location = project.location(written)
    key = ("card", "template")
    if not isinstance(location, Path):
        raise project.config_error(key, "the card template must be a file in the model repo")
    if template_kind(location) is None:
        raise project.config_error(
            key, f"'{written}' is not a card template: name it *{' or *'.join(KINDS)}"
        )
    if not location.is_file():
        raise project.config_error(
            key, f"card template {written} not found (looked in {location.parent})"
        )
    return location


def read_plots(folder: Path) -> dict[str, bytes]:
    """The PNG plots the evaluate and fairness stages left, by file name."""
    if not folder.is_dir():
        return {}
    plots = {}
    for path in sorted(folder.glob("*.png")):
        data = path.read_bytes()
        if data.startswith(_PNG_MAGIC):
            plots[path.name] = data
    return plots


def write_card(run_dir: Any, facts: dict[str, Any], template: Path | None) -> None:
    """Render the card with the images the stages left, and write both files."""
    rendered = render_card(
        facts,
        plots=read_plots(run_dir.path / PLOTS_DIR),
        fairness_chart=_fairness_chart(run_dir, facts["fairness"].get("chart")),
        team_template=template,
    )
    atomic_write_text(run_dir.file(MARKDOWN_FILE), rendered["markdown"])
    atomic_write_text(run_dir.file(HTML_FILE), rendered["html"])


def _fairness_chart(run_dir: Any, name: Any) -> bytes | None:
    """The fairness stage's bar chart, a PNG file directly in the run directory."""
    if not isinstance(name, str) or Path(name).name != name:
        return None
    path = run_dir.file(name)
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data if data.startswith(_PNG_MAGIC) else None


# --- the champion's card ----------------------------------------------------------------


def champion_changes(session: Any, facts: dict[str, Any]) -> dict[str, Any]:
    """This card against the champion's: the champion is the one evaluate compared with."""
    champion = facts["evaluation"].get("champion")
    if not champion or not champion.get("version"):
        if facts["evaluation"]["status"] == NOT_RUN:
            return no_diff(NO_CHAMPION, "Not compared: the evaluate stage did not run.")
        return no_diff(NO_CHAMPION, "No champion yet: nothing to compare with.")
    version = str(champion["version"])
    champion_facts = download_champion_facts(session.registry(), version)
    if champion_facts is None:
        return no_diff(
            NO_CHAMPION_CARD,
            f"The champion (v{version}) was registered without a model card, so there is "
            "nothing to compare with.",
        )
    return diff_facts(facts, champion_facts)


def download_champion_facts(registry: Any, version: str) -> dict[str, Any] | None:
    """The facts of the card logged with a registered version, or None if it has none."""
    text = registry.version_file_text(version, FACTS_TAG, "the model card")
    if text is None:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    facts = document.get("facts") if isinstance(document, dict) else None
    return facts if isinstance(facts, dict) else None


# --- at registration --------------------------------------------------------------------


def card_tags() -> dict[str, str]:
    """Tags of a run and a registered version that point at the card among the run's artifacts."""
    from mlgate.card import CARD_TAG

    return {CARD_TAG: f"{ARTIFACT_DIR}/{HTML_FILE}", FACTS_TAG: f"{ARTIFACT_DIR}/{FACTS_FILE}"}


def has_card(run_dir: Any) -> bool:
    return run_dir.file(FACTS_FILE).is_file()


def stamp_registration(session: Any, version: str, alias: str) -> list[Path]:
    """Name the registered version on the card (it did not exist when the card was written)."""
    result = optional_result(session, "card")
    if result is None:
        return []
    facts = with_registration(
        result["facts"],
        version=version,
        alias=alias,
        champion_alias=session.project.config.evaluation.champion_alias,
    )
    template = team_template(session.project)
    write_card(session.run_dir, facts, template)
    result["facts"] = facts
    session.run_dir.write_result("card", result)
    session.results.pop("card", None)  # the file now holds the stamped card
    return [session.run_dir.file(name) for name in (MARKDOWN_FILE, HTML_FILE, FACTS_FILE)]


def log_card_files(registry: Any, run_id: str, paths: list[Path]) -> None:
    """Replace the card files among the run's artifacts (same paths as `log_run` used)."""
    registry.log_files(run_id, paths, ARTIFACT_DIR, "the model card")


def _changes_words(changes: dict[str, Any]) -> str:
    if changes["status"] == NO_CHAMPION_CARD:
        return "the champion has no card to compare"
    if changes["status"] != "compared":
        return "no champion to compare"
    count, version = len(changes["items"]), changes["champion_version"]
    return f"{count} change{'s' if count != 1 else ''} since champion v{version}"
