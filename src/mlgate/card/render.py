"""Render a card's facts as markdown and as a self-contained HTML page with Jinja2.

HTML templates are autoescaped (`select_autoescape`). Markdown templates escape
every `{{ ... }}` output with `mlgate._markdown.text` unless a filter marked it as
markdown already, so a category name or a line of card free text shows as
itself in both. Templates are strict: a name the facts do not have is an error,
reported with the template's file and line (exit 2), not an empty cell.

A team's own template (`card.template`, `.md.j2` or `.html.j2`) replaces the
default of its kind and may `{% extends "mlgate/model_card.md.j2" %}` the default.
"""

from __future__ import annotations

import base64
import functools
import re
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlgate import _markdown as markdown
from mlgate.card.facts import NOT_RUN, SECTIONS
from mlgate.errors import ConfigError
from mlgate.results import to_json
from mlgate.results.card import CardFacts
from mlgate.rundir import CARD_HTML, CARD_MARKDOWN, PLOTS_DIR, RunDir, atomic_write_text

BUILTIN_PREFIX = "mlgate"
MARKDOWN_TEMPLATE = "model_card.md.j2"
HTML_TEMPLATE = "model_card.html.j2"
KINDS = {".md.j2": "markdown", ".html.j2": "html"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Markdown(str):
    """Markdown a filter built from trusted pieces: the markdown finaliser leaves it as is."""


def template_kind(path: Path) -> str | None:
    """`markdown` or `html` from a template's name, or None when it is neither."""
    name = path.name.lower()
    return next((kind for suffix, kind in KINDS.items() if name.endswith(suffix)), None)


def write_card(run_dir: RunDir, facts: CardFacts, template: Path | None) -> list[Path]:
    """Render the card with the images the stages left, and write both files."""
    rendered = render_card(
        to_json(facts),
        plots=read_plots(run_dir.path / PLOTS_DIR),
        fairness_chart=_fairness_chart(run_dir, facts.fairness.chart),
        team_template=template,
    )
    written = [run_dir.file(CARD_MARKDOWN), run_dir.file(CARD_HTML)]
    atomic_write_text(written[0], rendered["markdown"])
    atomic_write_text(written[1], rendered["html"])
    return written


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


def _fairness_chart(run_dir: RunDir, name: str | None) -> bytes | None:
    """The fairness stage's bar chart, a PNG file directly in the run directory."""
    if not isinstance(name, str) or Path(name).name != name:
        return None
    path = run_dir.file(name)
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data if data.startswith(_PNG_MAGIC) else None


def render_card(
    facts: Mapping[str, Any],
    *,
    plots: Mapping[str, bytes] | None = None,
    fairness_chart: bytes | None = None,
    team_template: Path | None = None,
) -> dict[str, str]:
    """The card as {"markdown": text, "html": text}.

    `plots` maps a file name to PNG bytes (the evaluation's plots); `fairness_chart` is
    the fairness stage's bar chart. Both are embedded in the HTML card as data URIs.
    """
    images = [
        {"name": name, "title": _plot_title(name), "data_uri": _data_uri(data)}
        for name, data in sorted((plots or {}).items())
    ]
    chart = (
        {"title": "Per-group rates", "data_uri": _data_uri(fairness_chart)}
        if fairness_chart
        else None
    )
    return {
        kind: _render(kind, name, team_dir, facts, images, chart)
        for kind, name, team_dir in _templates(team_template)
    }


def warm_templates(project: Any) -> None:
    """Compile the project's card templates now, so that rendering later in this process
    does not. Only a head start: a template that fails here is reported by the rendering."""
    try:
        for kind, name, team_dir in _templates(team_template(project)):
            _environment(kind, team_dir).get_template(name)
    except Exception:  # the card stage meets it again, and says so
        pass


def _templates(team_template: Path | None) -> list[tuple[str, str, Path | None]]:
    """(kind, template name, team's folder or None) for each kind of card."""
    team_kind = template_kind(team_template) if team_template is not None else None
    chosen = []
    for kind, builtin in (("markdown", MARKDOWN_TEMPLATE), ("html", HTML_TEMPLATE)):
        if team_template is not None and team_kind == kind:
            chosen.append((kind, team_template.name, team_template.parent))
        else:
            chosen.append((kind, f"{BUILTIN_PREFIX}/{builtin}", None))
    return chosen


def _render(
    kind: str,
    name: str,
    team_dir: Path | None,
    facts: Mapping[str, Any],
    images: list[dict],
    fairness_chart: dict | None,
) -> str:
    import jinja2

    environment = _environment(kind, team_dir)
    try:
        template = environment.get_template(name)
        text = template.render(
            facts=facts,
            sections=dict(SECTIONS),
            plots=images,
            fairness_chart=fairness_chart,
            NOT_RUN=NOT_RUN,
        )
    except jinja2.TemplateSyntaxError as error:
        raise ConfigError(
            f"the card template does not parse: {error.message}",
            file=error.filename or name,
            line=error.lineno,
        ) from None
    except jinja2.TemplateNotFound as error:
        raise ConfigError(
            f"the card template includes '{error.name}', which is not there; built-in "
            f"templates are '{BUILTIN_PREFIX}/{MARKDOWN_TEMPLATE}' and "
            f"'{BUILTIN_PREFIX}/{HTML_TEMPLATE}'",
            file=_team_file(team_dir, name),
        ) from None
    except jinja2.TemplateError as error:
        file, line = _template_frame(error, team_dir)
        raise ConfigError(
            f"the card template failed to render: {error.message or type(error).__name__}",
            file=file or _team_file(team_dir, name),
            line=line,
        ) from None
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as error:
        if team_dir is None:
            raise  # a fault in mlgate's own template: a bug, shown as one
        file, line = _template_frame(error, team_dir)
        raise ConfigError(
            f"the card template failed to render: {type(error).__name__}: {error}",
            file=file or _team_file(team_dir, name),
            line=line,
        ) from None
    if kind == "markdown":
        text = tidy_markdown(text)
    return text.rstrip() + "\n"


def tidy_markdown(text: str) -> str:
    """A blank line around each heading and at most one in a row (outside code fences).

    Jinja's `trim_blocks` eats the newline after a tag that ends a line, which would
    glue a heading to the paragraph before it; this keeps templates readable instead.
    """
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and lines:
            heading = line.startswith("#")
            after_heading = lines[-1].startswith("#") and not _in_fence(lines)
            if (heading or after_heading) and line.strip() and lines[-1].strip():
                lines.append("")
        lines.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _in_fence(lines: list[str]) -> bool:
    return sum(1 for line in lines if line.startswith("```")) % 2 == 1


def _team_file(team_dir: Path | None, name: str) -> Path | str:
    return team_dir / name if team_dir is not None else name


def _template_frame(error: BaseException, team_dir: Path | None) -> tuple[str | None, int | None]:
    """The innermost template file and line in the traceback (Jinja rewrites frames so)."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.endswith(".j2"):
            return frame.filename, frame.lineno
    return None, None


@functools.lru_cache(maxsize=8)
def _environment(kind: str, team_dir: Path | None) -> Any:
    """One per kind and folder: it keeps the templates it compiled (and compiles a team's
    again when its file changes)."""
    import jinja2

    builtin = jinja2.PrefixLoader({BUILTIN_PREFIX: jinja2.PackageLoader(__package__, "templates")})
    loaders = [builtin]
    if team_dir is not None:
        loaders.insert(0, jinja2.FileSystemLoader(str(team_dir)))
    options: dict[str, Any] = {
        "loader": jinja2.ChoiceLoader(loaders),
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
    }
    if kind == "html":
        options["autoescape"] = jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"), default_for_string=True
        )
    else:
        options["autoescape"] = False
        options["finalize"] = _markdown_finalize
    environment = jinja2.Environment(**options)
    environment.filters.update(
        number=_number,
        signed=_signed,
        interval=_interval,
        signed_interval=_signed_interval,
        count=_count,
        sig=_significant,
        percent=_percent,
        verdict=_verdict,
        short_hash=_short_hash,
    )
    if kind == "markdown":
        environment.filters.update(
            code=lambda value: Markdown(markdown.code(value)),
            paragraphs=_markdown_paragraphs,
            md=lambda value: Markdown(markdown.text(value)),
            # Inside a fenced block nothing is markup; only a fence could end it early.
            fenced=lambda value: Markdown(str(value).replace("```", "ˋˋˋ")),
        )
    else:
        environment.filters.update(paragraphs=_html_paragraphs, code=str, fenced=str, md=str)
    return environment


# --- filters: numbers are formatted here, so every template shows them alike --------------


def _markdown_finalize(value: Any) -> Any:
    if value is None:
        return "–"
    if isinstance(value, Markdown):
        return value
    return markdown.text(value)


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return Markdown("–")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)  # not a number: plain text, escaped like any other output
    return Markdown(markdown.number(float(value), digits))


def _signed(value: Any, digits: int = 3) -> Markdown:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return Markdown("–")
    return Markdown(markdown.signed(float(value), digits))


def _interval(value: Any, digits: int = 3) -> Markdown:
    if not value:
        return Markdown("")
    low, high = value
    return Markdown(f"[{markdown.number(low, digits)}, {markdown.number(high, digits)}]")


def _signed_interval(value: Any, digits: int = 3) -> Markdown:
    if not value:
        return Markdown("")
    low, high = value
    return Markdown(f"[{markdown.signed(low, digits)}, {markdown.signed(high, digits)}]")


def _significant(value: Any, digits: int = 3) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return Markdown("–")
    return Markdown(f"{value:.{digits}g}")


def _percent(value: Any) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return Markdown("–")
    return Markdown(f"{value:.1%}".replace(".0%", "%"))


def _count(value: Any) -> Markdown:
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return Markdown("–")
    return Markdown(markdown.count(value))


def _verdict(value: Any) -> str:
    marks = {
        "passed": "✓ passed",
        "failed": "✗ failed",
        "skipped": "– skipped",
        "warned": "! warned",
        "not_judged": "not judged",
        "reported": "reported (no threshold)",
    }
    return Markdown(marks[value]) if value in marks else str(value)


def _short_hash(value: Any) -> Markdown:
    return Markdown(str(value)[:12]) if value else Markdown("–")


def _markdown_paragraphs(value: Any) -> Markdown:
    """Free text as escaped markdown paragraphs (blank lines separate them)."""
    blocks = [block for block in str(value or "").split("\n\n") if block.strip()]
    return Markdown("\n\n".join(markdown.text(block) for block in blocks))


def _html_paragraphs(value: Any) -> Any:
    from markupsafe import Markup, escape

    blocks = [block for block in str(value or "").split("\n\n") if block.strip()]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(escape(" ".join(b.split()))) for b in blocks
    )


# --- plots ------------------------------------------------------------------------------


def _data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


# Captions of the plots mlgate draws (mlgate._plots); other files get one from their name.
PLOT_TITLES = {
    "roc": "ROC curve",
    "precision_recall": "Precision-recall curve",
    "confusion_matrix": "Confusion matrix",
    "calibration": "Calibration curve",
    "feature_importance": "Feature importance",
    "residuals": "Residuals",
    "predicted_vs_actual": "Predicted vs actual",
}


def _plot_title(name: str) -> str:
    stem = name.rsplit(".", 1)[0]
    if stem in PLOT_TITLES:
        return PLOT_TITLES[stem]
    return stem.replace("_", " ").replace("-", " ").strip().capitalize()
