"""A corpus of named bad inputs (tests/corpus/cases.yaml): each exits as expected, in one line.

Every case starts from a private copy of examples/churn with its data cut to 40 rows,
applies its changes and runs one command in-process. An exit 2 or 3 prints exactly one
line, `mlgate: error: ...`, with the expected words; no case prints a traceback, calls
itself a bug, or writes to the registry.
"""

from __future__ import annotations

import csv
import io
import itertools
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastrepo import embedded_versions

CORPUS = Path(__file__).with_name("corpus") / "cases.yaml"
ROWS = 40


def _cases() -> list[Any]:
    cases = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    trains = ("run", "train")  # the commands that fit a model
    return [
        pytest.param(
            case,
            id=case["name"],
            marks=[pytest.mark.slow] if case.get("command", ["validate"])[0] in trains else [],
        )
        for case in cases
    ]


def test_the_corpus_is_large_and_its_names_unique() -> None:
    names = [case["name"] for case in yaml.safe_load(CORPUS.read_text(encoding="utf-8"))]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


# --- applying a case's changes ------------------------------------------------------------------


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, list(reader)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _as_a_git_repo(repo: Path) -> None:
    """A model repo is a git work tree: that is where its config may point."""
    subprocess.run(["git", "init", "-q", str(repo)], check=True, capture_output=True)


def _shrink(repo: Path) -> None:
    for name in ("data/train.csv", "data/validation.csv"):
        header, rows = _read_csv(repo / name)
        _write_csv(repo / name, header, rows[:ROWS])


def _set_key(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


def _apply(repo: Path, change: dict[str, Any]) -> None:
    [(kind, targets)] = change.items()
    for name, value in targets.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "write":
            path.write_text(value, encoding="utf-8")
        elif kind == "bytes":
            path.write_bytes(bytes.fromhex(value))
        elif kind == "set":
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            for dotted, new in value.items():
                _set_key(document, dotted, new)
            path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        elif kind == "cell":
            row, column, new = value
            header, rows = _read_csv(path)
            rows[row][header.index(column)] = new
            _write_csv(path, header, rows)
        elif kind == "column":
            column, new = value
            header, rows = _read_csv(path)
            for cells in rows:
                cells[header.index(column)] = new
            _write_csv(path, header, rows)
        elif kind == "rename":
            old, new = value
            header, rows = _read_csv(path)
            header[header.index(old)] = new
            _write_csv(path, header, rows)
        elif kind == "symlink":
            path.unlink(missing_ok=True)
            path.symlink_to(value)
        elif kind == "huge":
            line = b"# " + b"padding " * 16 + b"\n"
            with path.open("ab") as handle:
                handle.writelines(itertools.repeat(line, value * 2**20 // len(line)))
        else:
            raise AssertionError(f"unknown change {kind!r} in {CORPUS}")


# --- the test ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases())
def test_corpus_case(churn_repo: Path, cli, case: dict[str, Any]) -> None:
    _as_a_git_repo(churn_repo)
    _shrink(churn_repo)
    for change in case.get("changes", []):
        _apply(churn_repo, change)

    result = cli(*case.get("command", ["validate"]), cwd=churn_repo)

    assert result.code == case["exit"], result.out + result.err
    assert "Traceback" not in result.out + result.err
    assert "a bug in mlgate" not in result.err
    if case["exit"] >= 2:
        [line] = result.error_lines
        assert line.startswith("mlgate: error: ")
        shown = line
    else:
        assert result.error_lines == []
        shown = result.out
    for words in case["expect"]:
        assert words in shown, shown
    assert embedded_versions(churn_repo) == 0
