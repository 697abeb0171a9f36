"""Markdown for the PR report, the job summary and the model card, built from plain data.

Every string that came from data, a config or an artifact goes through `text()`
(or `code()`), so a category name like `<img src=x>` or `| a | b |` shows as
itself instead of becoming HTML or a table cell, and a bare `https://evil.example`
or `www.evil.example` stays text: GitHub's autolinker would make it a link, so an
invisible word joiner (U+2060) goes after its scheme or `www`; it reads the same.
Stages describe their part of the report as `Section`s; `mlgate.report` orders them
and folds or drops the least important ones to stay under GitHub's size limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Characters that change meaning anywhere in a line of GitHub-flavoured markdown
# (and `<`/`>`/`&`, which would otherwise start HTML: those become entities).
# `-`, `+`, `.` and `!` only matter at the start of a line.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#|~])")
_LINE_START = re.compile(r"^([-+.!=])")
_ORDERED_ITEM = re.compile(r"^(\d+)([.)])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# What GitHub's autolinker turns into a link without any markup: `http(s)://`, `www.`,
# and (as newer cmark-gfm does) `ftp://`, `mailto:`, `xmpp:`; e-mail addresses lose
# their `@` to the mention guard below.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp)(?=:)|(www)(?=\.)")
WORD_JOINER = "\u2060"

# How important a section is: the report drops the highest number first when too long.
ESSENTIAL, IMPORTANT, DETAIL = 0, 1, 2


@dataclass(frozen=True)
class Section:
    """A titled block of the report; `body` is markdown already escaped by its builder."""

    key: str
    title: str
    body: str
    priority: int = IMPORTANT
    folded: bool = False

    def render(self) -> str:
        if self.folded:
            return details(self.title, self.body)
        return f"### {self.title}\n\n{self.body.strip()}\n"


def text(value: object) -> str:
    """Untrusted text as inline markdown that shows literally (one line, no HTML)."""
    raw = " ".join(str(value).split())
    escaped = "".join(_HTML.get(char, char) for char in raw)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)
    escaped = _LINE_START.sub(r"\\\1", escaped)
    escaped = _ORDERED_ITEM.sub(r"\1\\\2", escaped)
    escaped = unlinked(escaped)
    return escaped.replace("@", "@\u200b")  # no @-mentions from data


def code(value: object) -> str:
    """Untrusted text as inline code; backticks inside cannot close the span.

    A pipe would end a table cell even inside a code span (GFM splits rows first), and
    `\\|` would show its backslash outside tables: it becomes a look-alike, like `.
    """
    raw = " ".join(str(value).split()).replace("`", "ˋ").replace("|", "│")
    raw = unlinked(raw)  # GitHub does not link inside code, but a lost span would
    return f"`{raw}`" if raw else "` `"


def unlinked(value: str) -> str:
    """`value` with every bare URL or `www.` broken for GitHub's autolinker."""
    return _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, value)


def number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 3) -> str:
    """A difference with its sign; a minus sign, not a hyphen, so it reads as a number."""
    if value is None:
        return "–"
    return f"{value:+.{digits}f}".replace("-", "−")


def count(value: int) -> str:
    return f"{value:,}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> str:
    """A table whose cells are already escaped. `align` has one of `l`/`r` per column."""
    rule = [
        "---:" if (align[index : index + 1] or "l") == "r" else "---"
        for index in range(len(headers))
    ]
    lines = [_row(headers), _row(rule)]
    lines += [_row(row) for row in rows]
    return "\n".join(lines) + "\n"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("\n", " ") for cell in cells) + " |"


def details(summary: str, body: str) -> str:
    """A folded block; `summary` is already escaped."""
    return f"<details><summary>{summary}</summary>\n\n{body.strip()}\n\n</details>\n"
