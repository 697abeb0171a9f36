"""What the command prints: one verdict line per stage, errors, and `--json`.

In GitHub Actions an error is also a workflow annotation, formatted and escaped by
`mlgate._actions_io` so that a value from the data or the config can never issue a
workflow command.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from mlgate import _actions_io as actions_io
from mlgate.errors import EXIT_GATE_FAILED, EXIT_OK

MARKS = {"passed": "✓", "failed": "✗", "skipped": "–"}


def error(message: str, *, file: Path | None = None, line: int | None = None) -> None:
    # splitlines, not split("\n"): a runner also ends a line at a lone "\r", and a value
    # after it that starts with "::" would be read as a workflow command.
    one_line = actions_io.one_line(" ".join(message.splitlines()))
    print(f"mlgate: error: {one_line}", file=sys.stderr)
    if actions_io.in_github_actions():
        actions_io.annotate("error", message, file=file, line=line, stream=sys.stderr)


def save_traceback() -> str:
    handle, path = tempfile.mkstemp(prefix="mlgate-traceback-", suffix=".txt")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        traceback.print_exc(file=stream)
    return path


def exit_code(results: list[Any]) -> int:
    failed = any(result.verdict.value == "failed" for result in results)
    return EXIT_GATE_FAILED if failed else EXIT_OK


class StagePrinter:
    def __init__(self, project: Any, run_dir: Any, *, quiet: bool) -> None:
        self.project = project
        self.run_dir = run_dir
        self.quiet = quiet

    def _print(self, text: str) -> None:
        if not self.quiet:
            print(actions_io.one_line(text), flush=True)  # a path or name cannot break it

    def header(self, command: str) -> None:
        self._print(f"mlgate {command} · {self.project.registry_name} · run {self.run_dir.run_id}")

    def stage(self, result: Any) -> None:
        mark = MARKS.get(result.verdict.value, "?")
        reused = " (reused: inputs unchanged)" if result.from_cache else ""
        summary = " ".join(str(result.summary).splitlines())  # data in it cannot start a line
        self._print(f"  {mark} {result.stage:<9} {summary}{reused}")

    def footer(self, results: list[Any], code: int, stopped: Any = None) -> None:
        """The run's verdict; a run an error stopped (now or earlier) never reads as passed."""
        if stopped is not None:
            self._print(f"{did_not_finish(stopped)}: {stopped.message} · {self._where()}")
            return
        failed = [r.stage for r in results if r.verdict.value == "failed"]
        verdict = f"failed: {', '.join(failed)}" if failed else "passed"
        self._print(f"{verdict} · {self._where()}")

    def stopped(self, stopped: Any) -> None:
        """The footer of a command an error stopped (the error's line follows on stderr)."""
        self._print(f"{did_not_finish(stopped)} · {self._where()}")

    def _where(self) -> str:
        return f"results in {_relative(self.run_dir.path)}"


def did_not_finish(stopped: Any) -> str:
    """`did not finish: the train stage stopped (exit 2)` for a `StoppedRun`."""
    where = f"the {stopped.stage} stage stopped" if stopped.stage else "stopped before any stage"
    return f"did not finish: {where} (exit {stopped.exit_code})"


def print_json(
    project: Any, run_dir: Any, results: list[Any], code: int, *, stopped: Any = None
) -> None:
    document = {
        "model": project.registry_name,
        "run_id": run_dir.run_id,
        "run_dir": str(run_dir.path),
        "exit_code": code,
        "stages": [result.to_json() for result in results],
    }
    if stopped is not None:  # an earlier command's stop, which this one did not repair
        document["stopped"] = stopped.to_json()
    print(json.dumps(document, indent=2, default=str))


def print_error_json(message: str, code: int) -> None:
    print(json.dumps({"exit_code": code, "error": message}, indent=2))


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
