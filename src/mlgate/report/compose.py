"""The PR report's markdown, composed from the run's stage results: a pure function.

`compose(data)` returns the parts of the report (a head that is always kept,
ordered sections, a footer); `budget.fit` turns them into a body of a given size.
The same function renders the direct path (results read from the run directory)
and the fork path (results read from an untrusted `report.json`), so both give
the same comment. Every string from a result goes through `markdown.text()` or
`markdown.code()`; a stage's own section builder is used when its module has one,
and a section that still carries raw HTML is replaced by a plain one.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mlgate import markdown
from mlgate.markdown import DETAIL, ESSENTIAL, IMPORTANT, Section

log = logging.getLogger(__name__)

# The stages in report order, with the words a reader sees for each.
STAGE_LABELS = {
    "validate": "data validation",
    "train": "training",
    "evaluate": "evaluation",
    "fairness": "fairness",
    "card": "model card",
    "register": "registry",
}
# Stages shown in the verdict table even when they passed (train and card only when failed).
GATE_STAGES = ("validate", "evaluate", "fairness", "register")

# Each stage's own report builder: it takes the stage's result dict and returns Sections.
BUILDERS = {
    "validate": "mlgate.report.sections.validate:sections",
    "evaluate": "mlgate.evaluation:evaluation_sections",
    "fairness": "mlgate.fairness.report:sections",
    "card": "mlgate.card.report:report_sections",
}

MARKER_PREFIX = "<!-- mlgate:report model="
CHART_KEY = "chart"  # rendered without a heading, as the sketch shows it
SUMMARY_LIMIT = 300  # characters of a stage summary in the verdict table
# HTML a section may carry: the folding tags only (everything else is escaped text).
_RAW_HTML = re.compile(r"<(?=[A-Za-z/!?])(?!/?(?:details|summary)>)", re.IGNORECASE)
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+-]{0,39}$")
_CHART_METRIC = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

VERDICT_MARKS = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "skipped": "⏸ skipped",
}


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, as plain data (what `report.json` carries)."""

    model: str
    stages: dict[str, dict[str, Any]]
    mlgate_version: str
    commit: str | None = None
    run_url: str | None = None
    pull_request: int | None = None

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.stages.items() if _verdict(result) == "failed"]

    @property
    def mlflow_run_url(self) -> str | None:
        url = self.stages.get("register", {}).get("mlflow_run_url")
        return url if isinstance(url, str) and safe_url(url) else None


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


def compose(data: ReportData, *, builders: bool = True) -> Composed:
    head = "\n".join(
        [marker(data.model), f"## mlgate · {markdown.text(data.model)} · {_title(data)}", ""]
    )
    head += "\n" + verdict_table(data)
    sections: list[Section] = []
    for name in STAGE_LABELS:
        result = data.stages.get(name)
        if result is None or name in ("train", "register"):
            continue
        sections.extend(_stage_sections(name, result, builders=builders))
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
    if failed:
        return f"❌ {len(failed)} gate{'s' if len(failed) != 1 else ''} failed"
    if not data.stages:
        return "⏭ no results"
    return "✅ every gate passed"


def _verdict(result: dict[str, Any]) -> str:
    verdict = result.get("verdict")
    return verdict if verdict in VERDICT_MARKS else "unknown"


def verdict_table(data: ReportData) -> str:
    rows = []
    stopped = "validate" in data.failed
    for name in STAGE_LABELS:
        result = data.stages.get(name)
        if result is None:
            if name in GATE_STAGES and stopped:
                why = "stopped: the data failed validation"
                rows.append([STAGE_LABELS[name], "⏭ not run", markdown.text(why)])
            continue
        verdict = _verdict(result)
        if name not in GATE_STAGES and verdict != "failed":
            continue
        mark = VERDICT_MARKS.get(verdict, "❔ unknown")
        if name == "register" and verdict == "skipped":
            mark = "⏸ not pushed"
        rows.append([STAGE_LABELS[name], mark, _short(result.get("summary", ""))])
    return markdown.table(["gate", "verdict", "why"], rows)


def _short(summary: object) -> str:
    raw = " ".join(str(summary).split())
    if len(raw) > SUMMARY_LIMIT:
        raw = raw[: SUMMARY_LIMIT - 1] + "…"
    return markdown.text(raw)


# --- sections ---------------------------------------------------------------------------


def _stage_sections(name: str, result: dict[str, Any], *, builders: bool) -> list[Section]:
    builder = find_builder(name) if builders else None
    if builder is not None:
        built = _run_builder(builder, name, result)
        if built is not None:
            return built
    if name == "evaluate":  # a plain table when the builder is off or cannot read the result
        chart = metrics_chart(result)
        return [metrics_section(result), *([chart] if chart else [])]
    return [generic_section(name, result)]


def find_builder(stage: str) -> Callable[[dict[str, Any]], Any] | None:
    """The stage module's own section builder (None for stages that have none)."""
    if stage not in BUILDERS:
        return None
    module_name, attribute = BUILDERS[stage].split(":")
    return getattr(importlib.import_module(module_name), attribute)


def _run_builder(builder: Callable[..., Any], name: str, result: dict[str, Any]) -> Any:
    try:
        built = builder(result)
    except Exception as error:  # a result the builder cannot read (e.g. from an old artifact)
        log.warning(
            "the %s report section could not be built (%s); showing its summary", name, error
        )
        return None
    sections = [built] if isinstance(built, Section) else list(built or [])
    if not all(isinstance(section, Section) for section in sections):
        log.warning("the %s report builder returned something else than Sections", name)
        return None
    if any(_live_html(s.body) or _live_html(s.title) for s in sections):
        log.warning("the %s report section carried raw HTML; showing its summary", name)
        return None
    return sections


def _live_html(text: str) -> bool:
    """Raw HTML outside code spans and fences (inside them GitHub shows it as text)."""
    outside = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    outside = re.sub(r"`[^`\n]*`", "", outside)
    return bool(_RAW_HTML.search(outside))


def generic_section(name: str, result: dict[str, Any]) -> Section:
    """The stage's summary line, when its module has no section builder."""
    label = STAGE_LABELS.get(name, name)
    summary = markdown.text(result.get("summary", "")) or "no summary"
    verdict = VERDICT_MARKS.get(_verdict(result), "❔ unknown")
    return Section(
        key=name,
        title=label[:1].upper() + label[1:],
        body=f"{verdict} · {summary}\n",
        priority=IMPORTANT if _verdict(result) == "failed" else DETAIL,
    )


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _champion(result: dict[str, Any]) -> dict[str, Any] | None:
    champion = result.get("champion")
    return champion if isinstance(champion, dict) else None


def metrics_section(result: dict[str, Any]) -> Section:
    """This PR's metrics beside the champion's, with the change and each gate's verdict."""
    metrics = result.get("metrics") if isinstance(result.get("metrics"), dict) else {}
    champion = _champion(result)
    champion_metrics = champion.get("metrics", {}) if champion else {}
    champion_metrics = champion_metrics if isinstance(champion_metrics, dict) else {}
    gates = [g for g in result.get("gates", []) if isinstance(g, dict)]
    rows = []
    for name, value in metrics.items():
        mine = _finite(value)
        theirs = _finite(champion_metrics.get(name))
        change = None if mine is None or theirs is None else mine - theirs
        own = [g for g in gates if g.get("metric") == name]
        verdicts = {_verdict(g) for g in own}
        gate = "❌" if "failed" in verdicts else ("✅" if own else "")
        rows.append(
            [
                cell_code(name),
                markdown.number(mine),
                markdown.number(theirs),
                markdown.signed(change),
                gate,
            ]
        )
    if champion:
        version = markdown.text(champion.get("version", "?"))
        alias = markdown.code(champion.get("alias", "?"))
        title = f"Metrics against the champion (v{version}, {alias})"
    else:
        title = "Metrics (no champion yet: this would be the first model)"
    body = markdown.table(["metric", "this PR", "champion", "change", "gate"], rows, "lrrrl")
    failed = [g for g in gates if _verdict(g) == "failed"]
    if failed:
        body += "\n" + "\n".join(f"- {markdown.text(g.get('message', ''))}" for g in failed) + "\n"
    return Section("evaluate", title, body, ESSENTIAL)


def cell_code(value: object) -> str:
    """Inline code inside a table cell: a `|` would otherwise end the cell, even in code."""
    return markdown.code(value).replace("|", "\\|")


def metrics_chart(result: dict[str, Any]) -> Section | None:
    """A Mermaid bar chart of this PR against the champion (metrics on a 0–1 scale only)."""
    metrics = result.get("metrics") if isinstance(result.get("metrics"), dict) else {}
    champion = _champion(result)
    champion_metrics = champion.get("metrics", {}) if champion else {}
    champion_metrics = champion_metrics if isinstance(champion_metrics, dict) else {}
    names, mine, theirs = [], [], []
    for name, value in metrics.items():
        value = _finite(value)
        if not _CHART_METRIC.match(str(name)) or value is None or not 0 <= value <= 1:
            continue
        names.append(str(name))
        mine.append(value)
        theirs.append(_finite(champion_metrics.get(name)))
    if not names:
        return None
    lines = [
        "```mermaid",
        "xychart-beta",
        '  title "this PR vs champion"' if champion else '  title "this PR"',
        f"  x-axis [{', '.join(names)}]",
        "  y-axis 0 --> 1",
        f"  bar [{', '.join(f'{v:.3f}' for v in mine)}]",
    ]
    if champion and all(v is not None and 0 <= v <= 1 for v in theirs):
        lines.append(f"  bar [{', '.join(f'{v:.3f}' for v in theirs)}]")
    lines.append("```")
    return Section(
        CHART_KEY, "Chart: this PR against the champion", "\n".join(lines) + "\n", DETAIL
    )


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
        name
        for name in STAGE_LABELS
        if isinstance((data.stages.get(name) or {}).get("cache"), dict)
        and data.stages[name]["cache"].get("reused") is True
    ]
    if reused:  # stage names from the fixed list above, never from the artifact
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
