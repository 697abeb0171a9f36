"""Typed exceptions. The library raises these; only the CLI maps them to exit codes."""

from __future__ import annotations

import os

# pathlib is imported only when a message is shown: `mlgate --help` loads this module.

# Exit codes, the same for every command and every action (PRODUCT.md).
EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_SERVICE = 3
# Interrupted (Ctrl-C, or a cancelled CI job): the shell's 128 + SIGINT.
EXIT_INTERRUPTED = 130


class MlgateError(Exception):
    """Base class: a failure the user can act on, shown as one line."""

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        file: os.PathLike[str] | str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self._file = os.fspath(file) if file is not None else None
        self.line = line
        self.key = key

    @property
    def file(self) -> os.PathLike[str] | None:
        """The file the error is about (a pathlib.Path), if any."""
        from pathlib import Path

        return Path(self._file) if self._file is not None else None

    def location(self) -> str:
        """`file:line: key` as far as known, for the one-line message."""
        parts = []
        if self._file is not None:
            where = _display_path(self._file)
            parts.append(f"{where}:{self.line}" if self.line else where)
        if self.key:
            parts.append(self.key)
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


class UsageError(MlgateError):
    """The command line itself is wrong (unknown option, missing argument)."""


class ConfigError(MlgateError):
    """The config or the feature spec is malformed or inconsistent."""


class InputError(MlgateError):
    """A data file is missing, unreadable or does not match the feature spec."""


class RunDirError(MlgateError):
    """A stage needs the result of an earlier stage that is not in the run directory."""


class PromotionRefused(MlgateError):
    """A version may not be promoted: a recorded gate failed or is missing, or its lineage
    is incomplete (`--force --reason` overrides, and is recorded)."""

    exit_code = EXIT_GATE_FAILED


class PromotionRace(MlgateError):
    """The registry changed between read and write (another promotion at the same moment);
    nothing was moved. Read the state again and rerun."""


class ServiceError(MlgateError):
    """An outside service (MLflow, GitHub, S3, Docker) failed after retries."""

    exit_code = EXIT_SERVICE


def _display_path(file: str) -> str:
    """Show paths relative to the working directory when they are below it."""
    from pathlib import Path

    if "://" in file:  # an s3:// object or another URI: show it as written
        return file
    path = Path(file)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return str(path)
