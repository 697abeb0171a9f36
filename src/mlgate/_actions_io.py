"""GitHub Actions I/O at the edge: step outputs, the job summary, masks and annotations.

The one module that speaks the runner's protocol; nothing else in mlgate writes a
workflow command or a runner file itself.

Every `$GITHUB_OUTPUT` write goes through `write_outputs`, which uses GitHub's
multi-line form (`name<<DELIMITER`) with a fresh random delimiter per value, and
refuses a value that contains its delimiter: a value taken from data or config
can then never end its own entry early and set another output. Masks are printed
(`::add-mask::`) before anything could print the secret they hide. Every workflow
command (`::error file=..,title=..::message`) is built by `workflow_command`, which
escapes its properties and message by the toolkit's rules, so a value from the data
or the config can never end the command early or start another one.

Only the standard library is used, so the CLI can call this before any heavy import.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from mlgate.errors import MlgateError

# kebab-case or snake_case, as GitHub allows for output names.
_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

# Variables whose whole value is a credential (GitHub's, MLflow's and AWS's own names).
SECRET_VARIABLES = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "DATABRICKS_TOKEN",
    "MLGATE_REGISTRY_PASSWORD",  # `mlgate build-image --push`
)
# Variables that hold a URI whose user-info part may carry a password or token.
URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


class OutputError(MlgateError):
    """A step output could not be written safely (bad name, delimiter in the value)."""


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS") == "true"


def delimiter() -> str:
    """A delimiter no value can predict: GitHub's toolkit uses the same form."""
    return f"ghadelimiter_{secrets.token_hex(16)}"


def format_output(name: str, value: Any, *, marker: str | None = None) -> str:
    """One `$GITHUB_OUTPUT` entry in the heredoc form, or OutputError when it is unsafe."""
    if not _OUTPUT_NAME.match(name):
        raise OutputError(f"output name {name!r} is not a valid GitHub Actions output name")
    text = _as_text(value)
    marker = marker or delimiter()
    if marker in text or marker in name:
        raise OutputError(
            f"output {name!r} contains its own delimiter; refusing to write it to GITHUB_OUTPUT"
        )
    return f"{name}<<{marker}\n{text}\n{marker}\n"


def write_outputs(values: Mapping[str, Any], path: str | os.PathLike[str] | None = None) -> bool:
    """Append step outputs to `$GITHUB_OUTPUT` (or `path`); False when there is nowhere to write.

    All entries are formatted before the file is touched, so a refused value
    leaves no partial set of outputs behind.
    """
    target = path if path is not None else os.environ.get("GITHUB_OUTPUT")
    if not target:
        return False
    entries = "".join(format_output(name, value) for name, value in values.items())
    with Path(target).open("a", encoding="utf-8") as stream:
        stream.write(entries)
    return True


def append_summary(markdown: str, path: str | os.PathLike[str] | None = None) -> bool:
    """Append markdown to the job summary (`$GITHUB_STEP_SUMMARY`); False outside Actions."""
    target = path if path is not None else os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with Path(target).open("a", encoding="utf-8") as stream:
        stream.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True


def add_mask(value: str, *, stream: TextIO | None = None) -> None:
    """Ask the runner to hide `value` in every later log line (each line of it, if several)."""
    out = stream if stream is not None else sys.stderr
    for line in value.splitlines() or [value]:
        if line.strip():
            out.write(workflow_command("add-mask", line) + "\n")
    out.flush()


# --- log lines ------------------------------------------------------------------------------

# Every character at which a log line ends (str.splitlines' set: a runner ends a line at a
# lone "\r" too), shown escaped instead.
_LINE_BREAKS = str.maketrans(
    {char: repr(char)[1:-1] for char in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}
)


def one_line(text: object) -> str:
    """`text` as one log line: every line break in it shown escaped (`\\n`).

    The one function every line mlgate prints goes through (paths, run ids, names): a
    value can then never start a line of its own, where the runner would read a `::`
    workflow command.
    """
    return str(text).translate(_LINE_BREAKS)


# --- workflow commands: annotations -------------------------------------------------------


def escape_data(text: str) -> str:
    """Escape a workflow command's message (GitHub's toolkit rules)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (the message's rules, plus `:` and `,`)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str | int | None) -> str:
    """`::command k=v,...::message`, escaped; properties that are None are left out."""
    given = [f"{name}={escape_property(str(value))}" for name, value in properties.items()]
    joined = " " + ",".join(given) if given else ""
    return f"::{command}{joined}::{escape_data(message)}"


def annotation(
    level: str,
    message: str,
    *,
    file: str | os.PathLike[str] | None = None,
    line: int | None = None,
    title: str | None = None,
) -> str:
    """One `::error` / `::warning` / `::notice` command: on a file (and line) when given."""
    if level not in ("error", "warning", "notice"):
        raise ValueError(f"not an annotation level: {level}")
    properties: dict[str, str | int | None] = {}
    if file is not None:
        properties["file"] = os.fspath(file)
        if line:
            properties["line"] = line
    if title is not None:
        properties["title"] = title
    return workflow_command(level, message, **properties)


def annotate(
    level: str,
    message: str,
    *,
    file: str | os.PathLike[str] | None = None,
    line: int | None = None,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Print one annotation (to stderr unless `stream` says otherwise) and flush it."""
    out = stream if stream is not None else sys.stderr
    out.write(annotation(level, message, file=file, line=line, title=title) + "\n")
    out.flush()


def secrets_in(environ: Mapping[str, str]) -> list[str]:
    """The credential values present in an environment: whole tokens and URI passwords."""
    found = [environ[name] for name in SECRET_VARIABLES if environ.get(name, "").strip()]
    for name in URI_VARIABLES:
        found.extend(_uri_credentials(environ.get(name, "")))
    unique: list[str] = []
    for value in found:
        if value not in unique:
            unique.append(value)
    return unique


def mask_secrets(environ: Mapping[str, str] | None = None, *, stream: TextIO | None = None) -> int:
    """Mask every credential of the environment when running in GitHub Actions."""
    env = os.environ if environ is None else environ
    if not in_github_actions(env):
        return 0
    values = secrets_in(env)
    for value in values:
        add_mask(value, stream=stream)
    return len(values)


def stage_outputs(run_dir: Any, results: Iterable[Any], code: int) -> dict[str, str]:
    """The outputs of a stage command: verdict, run directory and what register/card left.

    A run that an error stopped (now, or in an earlier step) is never `passed`: its
    exit code is the stop's.
    """
    from mlgate.results import CardResult, RegisterResult

    stopped = _stopped(run_dir)
    if stopped is not None and code == 0:
        code = stopped.exit_code
    outputs = {
        "passed": "true" if code == 0 else "false",
        "exit-code": str(code),
        "run-id": run_dir.run_id,
        "run-dir": str(run_dir.path),
    }
    for result in results:
        if isinstance(result, RegisterResult):
            outputs["model-version"] = result.version or ""
            outputs["mlflow-run-id"] = result.mlflow_run_id or ""
            outputs["mlflow-run-url"] = result.mlflow_run_url or ""
        if isinstance(result, CardResult):
            markdown = result.files.markdown
            outputs["card-path"] = str(run_dir.path / markdown) if markdown else ""
    return outputs


def _stopped(run_dir: Any) -> Any:
    """The run directory's `StoppedRun`, or None (also when it cannot be read)."""
    try:
        return run_dir.stopped()
    except MlgateError:
        return None


def _uri_credentials(uri: str) -> list[str]:
    if "@" not in uri:
        return []
    try:
        parts = urlsplit(uri)
        password = parts.password
        username = parts.username
    except ValueError:
        return []
    found = []
    if password:
        found += [password, unquote(password)]
    elif username:  # https://TOKEN@host: the user part is the credential
        found += [username, unquote(username)]
    return [value for value in dict.fromkeys(found) if value]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
