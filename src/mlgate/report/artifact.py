"""The report as data: `report.json`, for pull requests from forks.

A fork's `pull_request` run has a read-only token, so it writes `report.json`
(described by `report.schema.json`, structured results only, no markdown) into an
artifact. A `workflow_run` job in the base repository then posts the comment. For
that job the file is untrusted input: its size is capped before it is read, it
must parse as plain JSON (no NaN, no deep nesting), it must match the schema, and
it is only ever rendered through the escaping composer, never executed.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from mlgate.errors import InputError
from mlgate.report.compose import STAGE_LABELS, ReportData
from mlgate.rundir import atomic_write_text

FILE_NAME = "report.json"
FORMAT = "mlgate-report/1"
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 24


def schema() -> dict[str, Any]:
    text = resources.files("mlgate.report").joinpath("report.schema.json").read_text("utf-8")
    return json.loads(text)


def to_document(data: ReportData) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "model": data.model,
        "mlgate_version": data.mlgate_version,
        "commit": data.commit,
        "run_url": data.run_url,
        "pull_request": data.pull_request,
        "stages": list(data.stages.values()),
    }


def write(data: ReportData, directory: Path) -> Path:
    """Write `report.json` into `directory`; it must pass the same checks a reader makes."""
    text = json.dumps(to_document(data), indent=2, allow_nan=False, default=str) + "\n"
    document = _parse(text.encode("utf-8"), "the report being written")
    _check(document, "the report being written")
    target = directory / FILE_NAME
    atomic_write_text(target, text)
    return target


def read(directory: Path) -> ReportData:
    """`report.json` from an untrusted artifact directory, checked, as ReportData."""
    path = directory / FILE_NAME
    where = str(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise InputError(f"{where} does not exist; download the report artifact first") from None
    except OSError as error:
        raise InputError(f"{where} cannot be read as a regular file ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as stream:
        if not os.path.isfile(path):
            raise InputError(f"{where} is not a regular file")
        raw = stream.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise InputError(f"{where} is larger than {MAX_BYTES:,} bytes; refusing to read it")
    document = _parse(raw, where)
    _check(document, where)
    stages: dict[str, dict[str, Any]] = {}
    for result in document["stages"]:
        if result["stage"] in stages:
            raise InputError(f"{where}: stage '{result['stage']}' appears twice")
        stages[result["stage"]] = result
    ordered = {name: stages[name] for name in STAGE_LABELS if name in stages}
    return ReportData(
        model=document["model"],
        stages=ordered,
        mlgate_version=document["mlgate_version"],
        commit=document.get("commit"),
        run_url=document.get("run_url"),
        pull_request=document.get("pull_request"),
    )


def _parse(raw: bytes, where: str) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputError(f"{where} is not valid UTF-8 JSON") from None
    if _depth(document) > MAX_DEPTH:
        raise InputError(f"{where} nests deeper than {MAX_DEPTH} levels")
    return document


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def _check(document: Any, where: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        key = "/".join(str(part) for part in first.absolute_path) or "(top level)"
        # The offending value is not echoed: it is untrusted and may be huge.
        raise InputError(
            f"{where} does not match the report schema at {key} "
            f"({first.validator} check failed); it was not made by this mlgate version"
        )
