"""The report as data: `report.json`, for pull requests from forks.

A fork's `pull_request` run has a read-only token, so it writes `report.json`
(structured results only, no markdown) into an artifact. A `workflow_run` job in
the base repository then posts the comment. For that job the file is untrusted
input: its size is capped before it is read, it must parse as plain JSON (no NaN,
no deep nesting), it must match `schema()` (the envelope below, and each stage's
result as `mlgate.results` types it: every field, generated from the dataclasses),
it is read back as typed results, and it is only ever rendered through the
escaping composer, never executed.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from mlgate import pipeline, results
from mlgate.errors import InputError
from mlgate.report.compose import ReportData
from mlgate.results import RESULT_TYPES, StageResult, StoppedRun
from mlgate.rundir import REPORT_DOCUMENT, atomic_write_text

FILE_NAME = REPORT_DOCUMENT
FORMAT = "mlgate-report/1"
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 24
MAX_SUMMARY = 5000  # characters of a stage's summary


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of `report.json`: the envelope, and each stage's result generated
    from its dataclass (`StageResult.json_schema()`), chosen by the result's `stage`."""
    definitions: dict[str, Any] = {}
    chosen = []
    for name, cls in RESULT_TYPES.items():
        definitions[name] = _stage_schema(name, cls, definitions)
        chosen.append(
            {
                "if": {"properties": {"stage": {"const": name}}, "required": ["stage"]},
                "then": {"$ref": f"#/$defs/{name}"},
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "mlgate-report-1.schema.json",
        "title": "mlgate report artifact (report.json)",
        "description": (
            "The structured results of one mlgate run, uploaded by a pull_request run and "
            "read as untrusted data by the workflow_run job that comments. No markdown: the "
            "commenting job renders and escapes it."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["format", "model", "mlgate_version", "stages"],
        "properties": {
            "format": {"const": FORMAT},
            "model": {
                "description": "The registered model's name (tracking.registry_name).",
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9._ -]{0,254}$",
            },
            "mlgate_version": {"type": "string", "pattern": "^[0-9A-Za-z.+-]{1,40}$"},
            "commit": {"type": ["string", "null"], "pattern": "^[0-9a-f]{7,64}$"},
            "run_url": {"type": ["string", "null"], "maxLength": 2000, "pattern": "^https?://"},
            "pull_request": {"type": ["integer", "null"], "minimum": 1},
            "stopped": {
                "description": "Why the run did not finish, when an error stopped it midway.",
                "$ref": "#/$defs/stopped",
            },
            "stages": {
                "description": "Each stage's result, as the stage wrote <stage>.json.",
                "type": "array",
                "maxItems": 12,
                "items": {
                    "type": "object",
                    "required": ["stage"],
                    "properties": {"stage": {"enum": list(RESULT_TYPES)}},
                    "allOf": chosen,
                },
            },
        },
        "$defs": {**definitions, "stopped": _stopped_schema()},
    }


def _stopped_schema() -> dict[str, Any]:
    """`StoppedRun`'s schema, generated from the dataclass, with its stage one of the
    stage table's and its line capped like a summary."""
    generated = StoppedRun.json_schema()
    generated["properties"]["stage"] = {"enum": [*pipeline.NAMES, None]}
    generated["properties"]["exit_code"].update(minimum=1, maximum=255)
    generated["properties"]["message"]["maxLength"] = MAX_SUMMARY
    return generated


def _stage_schema(name: str, cls: type[StageResult], into: dict[str, Any]) -> dict[str, Any]:
    """`cls.json_schema()` with its definitions moved into `into` under `<stage>.<name>`
    (two stages may each have a part called, say, `Interval`)."""
    generated = cls.json_schema()
    own = generated.pop("$defs", {})

    def renamed(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    value.replace("#/$defs/", f"#/$defs/{name}.", 1)
                    if key == "$ref" and isinstance(value, str)
                    else renamed(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [renamed(item) for item in node]
        return node

    for part, definition in own.items():
        into[f"{name}.{part}"] = renamed(definition)
    generated = renamed(generated)
    generated["properties"]["summary"]["maxLength"] = MAX_SUMMARY
    generated["properties"]["seconds"]["minimum"] = 0
    return generated


def to_document(data: ReportData) -> dict[str, Any]:
    document = {
        "format": FORMAT,
        "model": data.model,
        "mlgate_version": data.mlgate_version,
        "commit": data.commit,
        "run_url": data.run_url,
        "pull_request": data.pull_request,
        "stages": [result.to_json() for result in data.stages.values()],
    }
    if data.stopped is not None:  # a run that finished carries no such key
        document["stopped"] = data.stopped.to_json()
    return document


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
    stages: dict[str, StageResult] = {}
    for index, result in enumerate(document["stages"]):
        name = result["stage"]
        if name in stages:
            raise InputError(f"{where}: stage '{name}' appears twice")
        stages[name] = _typed(name, result, f"stages/{index}", where)
    ordered = {name: stages[name] for name in pipeline.NAMES if name in stages}
    return ReportData(
        model=document["model"],
        stages=ordered,
        mlgate_version=document["mlgate_version"],
        commit=document.get("commit"),
        run_url=document.get("run_url"),
        pull_request=document.get("pull_request"),
        stopped=_typed_stop(document.get("stopped"), where),
    )


def _typed_stop(stopped: Any, where: str) -> StoppedRun | None:
    if stopped is None:
        return None
    try:
        return StoppedRun.from_json(stopped)
    except ValueError as error:
        raise InputError(
            f"{where} does not match the report schema at stopped{_location(error)} "
            "(type check failed); it was not made by this mlgate version"
        ) from None


def _typed(name: str, result: dict[str, Any], at: str, where: str) -> StageResult:
    """The stage's typed result; what the schema let through and the types still refuse
    (e.g. a string where a number goes) is refused the same way."""
    try:
        return results.read(name, result)
    except ValueError as error:
        raise InputError(
            f"{where} does not match the report schema at {at}{_location(error)} "
            "(type check failed); it was not made by this mlgate version"
        ) from None


def _location(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return ""
    found = errors()
    where = found[0].get("loc", ()) if found else ()
    return "".join(f"/{part}" for part in where if isinstance(part, (str, int)))


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


@cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema())


def _check(document: Any, where: str) -> None:
    validator = _validator()
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        key = "/".join(str(part) for part in first.absolute_path) or "(top level)"
        # The offending value is not echoed: it is untrusted and may be huge.
        raise InputError(
            f"{where} does not match the report schema at {key} "
            f"({first.validator} check failed); it was not made by this mlgate version"
        )
