"""The PR report's markdown, composed from the run's typed stage results: a pure function.

`compose(data)` returns the parts of the report (a head that is always kept,
ordered sections, a footer); `budget.fit` turns them into a body of a given size.
The same function renders the direct path (results read from the run directory)
and the fork path (results read from an untrusted `report.json`), so both give
the same comment. Each stage's sections come from its one renderer in
`mlgate.report.sections` (`BUILDERS`); every string from a result goes through
`markdown.text()` or `markdown.code()`, and a section that still carries raw HTML
is shown escaped.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from mlgate import _markdown as markdown
from mlgate import pipeline
from mlgate._markdown import Section
from mlgate.results import RegisterResult, StageResult, StoppedRun, Verdict

log = logging.getLogger(__name__)

# Each stage's one report renderer (imported when used): it takes the stage's typed result
# and returns Sections. Stages without one (train, register) show in the verdict table only.
BUILDERS: dict[str, str] = {
    "validate": ".sections.validate:sections",
    "evaluate": ".sections.evaluate:evaluation_sections",
    "fairness": ".sections.fairness:sections",
    "card": ".sections.card:report_sections",
}

MARKER_PREFIX = "<!-- mlgate:report model="
CHART_KEY = "chart"  # rendered without a heading, as the sketch shows it
SUMMARY_LIMIT = 300  # characters of a stage summary in the verdict table
STOPPED_LIMIT = 1000  # characters of the one line that stopped the run
# HTML a section may carry: the folding tags only (everything else is escaped text).
_RAW_HTML = re.compile(r"<(?=[A-Za-z/!?])(?!/?(?:details|summary)>)", re.IGNORECASE)
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+-]{0,39}$")

VERDICT_MARKS = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "skipped": "⏸ skipped",
}


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows: the typed stage results, in stage order, why the run
    stopped if an error stopped it, and the run's context (what `report.json` carries)."""

    model: str
    stages: dict[str, StageResult]
    mlgate_version: str
    commit: str | None = None
    run_url: str | None = None
    pull_request: int | None = None
    stopped: StoppedRun | None = None

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.stages.items() if result.verdict is Verdict.FAILED]

    @property
    def passed(self) -> bool:
        """Every gate passed and the run finished: the only report that says "passed"."""
        return not self.failed and self.stopped is None

    @property
    def mlflow_run_url(self) -> str | None:
        register = self.stages.get("register")
        url = register.mlflow_run_url if isinstance(register, RegisterResult) else None
        return url if url and safe_url(url) else None


@dataclass(frozen=True)
class Composed:
    """The report in parts: `head` and `footer` are always kept; sections may fold or go."""

    head: str
    sections: list[Section]
    footer: str

    def full(self) -> str:
        return join(self.head, [render(s) for s in self.sections], self.footer)


def marker(model: str) -> str:
    """The hidden line a later run finds its comment by (one per model per PR)."""
    return f"{MARKER_PREFIX}{quote(model, safe='')} -->"


def compose(data: ReportData) -> Composed:
    head = "\n".join(
        [marker(data.model), f"## mlgate · {markdown.text(data.model)} · {_title(data)}", ""]
    )
    head += "\n" + verdict_table(data)
    sections: list[Section] = []
    for name in pipeline.NAMES:
        result = data.stages.get(name)
        if data.stopped is not None and data.stopped.stage == name:
            continue  # an earlier result of the stage that stopped is not this run's
        if result is not None and name in BUILDERS:  # train and register: the table only
            sections.extend(stage_sections(name, result))
    return Composed(head, sections, footer(data))


def render(section: Section) -> str:
    if section.key == CHART_KEY and not section.folded:
        return section.body
    return section.render()


def join(head: str, rendered: Iterable[str], footer: str) -> str:
    parts = [head.strip(), *(part.strip() for part in rendered if part.strip()), footer.strip()]
    return "\n\n".join(parts) + "\n"


# --- head -------------------------------------------------------------------------------


def _title(data: ReportData) -> str:
    failed = data.failed
    gates = f"{len(failed)} gate{'s' if len(failed) != 1 else ''} failed"
    if data.stopped is not None:
        stopped = data.stopped
        where = (
            f"{stage_label(stopped.stage)} stopped"
            if stopped.stage
            else "stopped before its first stage"
        )
        title = f"❌ did not finish: {markdown.text(where)} (exit {stopped.exit_code})"
        return f"{title} · {gates}" if failed else title
    if failed:
        return f"❌ {gates}"
    if not data.stages:
        return "⏭ no results"
    return "✅ every gate passed"


def stage_label(name: str) -> str:
    return pipeline.LABELS.get(name, name)


def stopped_why(stopped: StoppedRun) -> str:
    """The stop's one line and exit code, as markdown text."""
    message = " ".join(stopped.message.split())
    if len(message) > STOPPED_LIMIT:
        message = message[: STOPPED_LIMIT - 1] + "…"
    return markdown.text(f"{message} (exit {stopped.exit_code})")


def verdict_table(data: ReportData) -> str:
    if data.stopped is not None:
        return _stopped_table(data, data.stopped)
    rows = []
    stopped = "validate" in data.failed
    for stage in pipeline.STAGES:
        result = data.stages.get(stage.name)
        if result is None:
            if stage.always_shown and stopped:
                why = "stopped: the data failed validation"
                rows.append([stage.label, "⏭ not run", markdown.text(why)])
            continue
        verdict = result.verdict.value
        if not stage.always_shown and result.verdict is not Verdict.FAILED:
            continue
        mark = VERDICT_MARKS[verdict]
        if stage.name == "register" and result.verdict is Verdict.SKIPPED:
            mark = "⏸ not pushed"
        rows.append([stage.label, mark, _short(result.summary)])
    return markdown.table(["gate", "verdict", "why"], rows)


def _stopped_table(data: ReportData, stopped: StoppedRun) -> str:
    """An error stopped the run: the stages before the stop as usual, the stage that stopped
    with its one line and exit code, and every stage after it that did not run."""
    rows = []
    index = pipeline.NAMES.index(stopped.stage) if stopped.stage in pipeline.NAMES else -1
    if index < 0:
        rows.append(["run", "❌ stopped", stopped_why(stopped)])
    not_run = markdown.text(
        f"the run stopped at {stage_label(stopped.stage)}"
        if index >= 0
        else "the run stopped before its first stage"
    )
    for position, stage in enumerate(pipeline.STAGES):
        result = data.stages.get(stage.name)
        if position == index:
            rows.append([stage.label, "❌ stopped", stopped_why(stopped)])
        elif position > index and result is None:
            rows.append([stage.label, "⏭ not run", not_run])
        elif result is not None and (stage.always_shown or result.verdict is Verdict.FAILED):
            mark = VERDICT_MARKS[result.verdict.value]
            if stage.name == "register" and result.verdict is Verdict.SKIPPED:
                mark = "⏸ not pushed"
            rows.append([stage.label, mark, _short(result.summary)])
    return markdown.table(["gate", "verdict", "why"], rows)


def _short(summary: str) -> str:
    raw = " ".join(summary.split())
    if len(raw) > SUMMARY_LIMIT:
        raw = raw[: SUMMARY_LIMIT - 1] + "…"
    return markdown.text(raw)


# --- sections ---------------------------------------------------------------------------


def stage_sections(name: str, result: StageResult) -> list[Section]:
    """The stage's sections, from its one renderer."""
    builder = find_builder(name)
    if builder is None:
        return []
    built = builder(result)
    sections = [built] if isinstance(built, Section) else list(built or [])
    return [_escaped(name, section) for section in sections]


def find_builder(stage: str) -> Callable[[Any], Any] | None:
    """The stage's report renderer (None for stages that have none)."""
    if stage not in BUILDERS:
        return None
    module_name, attribute = BUILDERS[stage].split(":")
    return getattr(importlib.import_module(module_name, __package__), attribute)


def _escaped(name: str, section: Section) -> Section:
    """The section, or, if it carries raw HTML (a renderer's bug), the same shown as text."""
    if not (_live_html(section.body) or _live_html(section.title)):
        return section
    log.warning("the %s report section carried raw HTML; showing it as text", name)
    return replace(
        section, title=markdown.text(section.title), body=markdown.text(section.body) + "\n"
    )


def _live_html(text: str) -> bool:
    """Raw HTML outside code spans and fences (inside them GitHub shows it as text)."""
    outside = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    outside = re.sub(r"`[^`\n]*`", "", outside)
    return bool(_RAW_HTML.search(outside))


# --- footer -----------------------------------------------------------------------------

_SAFE_URL = re.compile(
    r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~%!$&'*+,;=:@/#?-]*)?$"
)


def safe_url(url: str) -> bool:
    """An http(s) URL with nothing that could end a markdown link or start HTML."""
    return len(url) <= 2000 and bool(_SAFE_URL.match(url)) and "'" not in url


def artifacts_url(data: ReportData) -> str | None:
    if data.run_url and safe_url(data.run_url):
        return f"{data.run_url}#artifacts"
    return None


def footer(data: ReportData) -> str:
    links = []
    reused = [
        name for name in pipeline.NAMES if name in data.stages and data.stages[name].from_cache
    ]
    if reused:  # stage names from the stage table (artifact.read refuses others)
        links.append(f"reused, inputs unchanged: {', '.join(reused)}")
    if data.mlflow_run_url:
        links.append(f"[MLflow run]({data.mlflow_run_url})")
    artifacts = artifacts_url(data)
    if artifacts:
        if "card" in data.stages:
            links.append(f"[model card]({artifacts})")
        links.append(f"[full report]({artifacts})")
    if data.commit:
        links.append(f"commit {markdown.code(data.commit[:7])}")
    version = data.mlgate_version
    links.append(f"mlgate v{version if _VERSION.match(version) else markdown.text(version)}")
    return " · ".join(links) + "\n"


def folded_note(titles: list[str], data: ReportData) -> str:
    """The line that says which sections did not fit, and where the whole report is."""
    where = artifacts_url(data)
    full = (
        f"the [full report]({where})"
        if where
        else "the full report (report.md in the run directory)"
    )
    shown = ", ".join(markdown.text(title) for title in titles)
    return f"*Left out to fit GitHub's comment limit: {shown}. See {full}.*\n"
