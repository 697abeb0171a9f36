"""Why a run did not finish: the stage an error stopped, its exit code and its one line.

A stage command that stops on an error (a config error when the train stage is reached,
MLflow failing at register, an interruption) leaves the stages that finished in the run
directory, and this record beside them (`rundir.STOPPED_FILE`). Every reader of the run
(the report, the job summary, the fork artifact, the card, the step outputs) shows it,
so a run that did not finish is never read as one that passed. A later successful
completion of the stopped stage removes the record.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mlgate.results._base import STRICT, _adapter

MAX_MESSAGE = 2000  # characters of the one line kept


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoppedRun:
    """The run stopped while `stage` ran (None: before its first stage)."""

    __pydantic_config__ = STRICT

    stage: str | None
    exit_code: int
    message: str  # the one line the command printed, without "mlgate: error: "

    @classmethod
    def of(cls, stage: str | None, exit_code: int, message: str) -> StoppedRun:
        """The record of a stop, its message made one line and capped."""
        line = " ".join(str(message).split())
        if len(line) > MAX_MESSAGE:
            line = line[: MAX_MESSAGE - 1] + "…"
        return cls(stage=stage, exit_code=int(exit_code), message=line)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> StoppedRun:
        """The record read back; raises `ValueError` (pydantic's) when malformed."""
        return _adapter(cls).validate_python(data)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        return _adapter(cls).json_schema()
