"""Fit the report into a size limit without ever cutting markdown in half.

GitHub refuses a comment over 65,536 characters (422 "body is too long") and a
step summary over 1 MiB. Over the limit, the least important sections fold into
`<details>`, then go, least important first (the last of equal importance
first), with one line naming them and linking the full report. Only if the
essential sections alone are still too long is a section shortened, and then at
a line boundary outside any table header, with open code fences and `<details>`
closed again, so every table that remains is whole and well-formed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from mlgate._markdown import DETAIL, ESSENTIAL, Section
from mlgate.report.compose import Composed, join, render

COMMENT_LIMIT = 65_536  # GitHub's limit on an issue comment body, in characters
STEP_SUMMARY_LIMIT = 1024 * 1024  # GitHub's limit on one step's summary, in bytes
# Room left under each limit (the marker line and GitHub's own counting quirks).
COMMENT_TARGET = COMMENT_LIMIT - 536
STEP_SUMMARY_TARGET = STEP_SUMMARY_LIMIT - 48 * 1024
FOLD_OVER = 2_000  # a non-essential section longer than this folds when space is short

Measure = Callable[[str], int]


def utf16_length(text: str) -> int:
    """Characters as GitHub counts them (JavaScript string length: UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class Fitted:
    body: str
    folded: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    shortened: tuple[str, ...] = ()


def fit(
    composed: Composed,
    *,
    limit: int,
    measure: Measure = utf16_length,
    note: Callable[[list[str]], str],
) -> Fitted:
    """The report as one body of at most `limit` (as `measure` counts)."""
    sections = list(composed.sections)

    def body(current: list[Section], dropped: list[str]) -> str:
        rendered = [render(s) for s in current]
        if dropped:
            rendered.append(note(dropped))
        return join(composed.head, rendered, composed.footer)

    if measure(body(sections, [])) <= limit:
        return Fitted(body(sections, []))

    folded = []
    for index, section in enumerate(sections):
        long = len(section.body) > FOLD_OVER
        if (
            not section.folded
            and section.priority != ESSENTIAL
            and (long or section.priority >= DETAIL)
        ):
            sections[index] = replace(section, folded=True)
            folded.append(section.title)

    dropped: list[str] = []
    order = sorted(range(len(sections)), key=lambda i: (sections[i].priority, i), reverse=True)
    gone: set[int] = set()
    for index in order:
        current = [s for i, s in enumerate(sections) if i not in gone]
        if measure(body(current, dropped)) <= limit:
            break
        if sections[index].priority == ESSENTIAL:
            break
        gone.add(index)
        dropped.append(sections[index].title)
    current = [s for i, s in enumerate(sections) if i not in gone]

    shortened = []
    while measure(body(current, dropped)) > limit:
        largest = max(range(len(current)), key=lambda i: measure(current[i].body), default=None)
        if largest is None:
            break
        section = current[largest]
        excess = measure(body(current, dropped)) - limit
        room = max(0, measure(section.body) - excess - 200)
        trimmed = trim_markdown(section.body, room, measure)
        if trimmed == section.body:
            current.pop(largest)
            dropped.append(section.title)
            continue
        current[largest] = replace(section, body=trimmed)
        shortened.append(section.title)
    return Fitted(body(current, dropped), tuple(folded), tuple(dropped), tuple(shortened))


def trim_markdown(text: str, room: int, measure: Measure = utf16_length) -> str:
    """`text` cut to about `room` at a line boundary, keeping tables and blocks well-formed."""
    lines = text.splitlines()
    suffix = "\n\n*… {} more lines in the full report.*\n"
    kept: list[str] = []
    used = measure(suffix.format(len(lines))) + 32  # closers and the note
    for line in lines:
        cost = measure(line) + 1
        if used + cost > room:
            break
        kept.append(line)
        used += cost
    if len(kept) == len(lines):
        return text
    _drop_dangling_table_head(kept)
    closers = _closers(kept)
    left = len(lines) - len(kept)
    return "\n".join(kept + closers) + suffix.format(left)


def _is_table_line(line: str) -> bool:
    return line.lstrip().startswith("|")


def _drop_dangling_table_head(kept: list[str]) -> None:
    """A table's header without its separator row (or without any row) is no table: drop it."""
    start = len(kept)
    while start > 0 and _is_table_line(kept[start - 1]):
        start -= 1
    if start < len(kept) and len(kept) - start < 3:
        del kept[start:]


def _closers(kept: list[str]) -> list[str]:
    fence_open = False
    depth = 0
    for line in kept:
        stripped = line.strip()
        if stripped.startswith("```"):
            fence_open = not fence_open
        elif not fence_open:
            depth += stripped.count("<details>") - stripped.count("</details>")
    closers = ["```"] if fence_open else []
    closers += ["", "</details>"] * max(depth, 0)
    return closers
