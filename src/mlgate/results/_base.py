"""What every stage result shares, and the one way results become JSON and come back.

A result is a frozen dataclass. `to_json()` gives the dict written to `<stage>.json`
(key order: `stage`, `verdict`, `summary`, `seconds`, the stage's own fields in
declaration order, then `cache`); `from_json()` reads one back and checks every field's
type on the way (pydantic validates the dataclass), so a reader never meets a
malformed result: a file from a fork, an old run or a hand edit is refused, not guessed.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from functools import cache
from typing import Any, ClassVar, Literal, TypeVar, Union

from pydantic import ConfigDict

# A figure that JSON may carry as an int (`1`) or a float (`0.8`); kept as written.
Number = Union[int, float]  # noqa: UP007 (pydantic reads the alias at run time on 3.10)

# What a model predicts; a result from a fork may hold nothing else here.
TaskKind = Literal["classification", "regression"]

# Every result dataclass refuses keys it does not declare.
STRICT = ConfigDict(extra="forbid")


class Verdict(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


def omit_if_none() -> Any:
    """A field left out of the JSON when it is None (instead of written as null)."""
    return dataclasses.field(default=None, metadata={"omit_if_none": True})


@dataclasses.dataclass(frozen=True)
class CacheRecord:
    """How the stage cache met this result: computed in `run_id`, or reused `from_run`."""

    __pydantic_config__ = STRICT

    fingerprint: str | None
    reused: bool
    run_id: str | None = omit_if_none()
    from_run: str | None = omit_if_none()


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageResult:
    """The common head of every stage's result; each stage subclasses it with its fields."""

    __pydantic_config__ = STRICT
    STAGE: ClassVar[str] = ""

    verdict: Verdict
    summary: str
    seconds: float = 0.0
    cache: CacheRecord | None = None

    @property
    def stage(self) -> str:
        return self.STAGE

    @property
    def from_cache(self) -> bool:
        """Restored from the stage cache: the stage's inputs were unchanged."""
        return self.cache is not None and self.cache.reused

    @property
    def passed(self) -> bool:
        return self.verdict is not Verdict.FAILED

    def replace(self: R, **changes: Any) -> R:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "stage": self.STAGE,
            "verdict": self.verdict.value,
            "summary": self.summary,
            "seconds": round(self.seconds, 3),
        }
        for item in dataclasses.fields(self):
            if item.name in _HEAD:
                continue
            value = getattr(self, item.name)
            if value is None and item.metadata.get("omit_if_none"):
                continue
            data[item.name] = to_json(value)
        if self.cache is not None:
            data["cache"] = to_json(self.cache)
        return data

    @classmethod
    def from_json(cls: type[R], data: Any) -> R:
        """A result read back from JSON; raises `pydantic.ValidationError` when malformed."""
        if isinstance(data, dict) and "stage" in data:
            if data["stage"] != cls.STAGE:
                raise ValueError(f"expected a {cls.STAGE} result, got stage {data['stage']!r}")
            data = {key: value for key, value in data.items() if key != "stage"}
        return _adapter(cls).validate_python(data)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of `to_json()`'s output, generated from the dataclass."""
        schema = _adapter(cls).json_schema()
        schema["properties"] = {"stage": {"const": cls.STAGE}, **schema["properties"]}
        schema.setdefault("required", []).insert(0, "stage")
        return schema


_HEAD = frozenset({"verdict", "summary", "seconds", "cache"})
R = TypeVar("R", bound=StageResult)


def to_json(value: Any) -> Any:
    """Dataclasses, enums and tuples as the JSON the run directory holds."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, StageResult):
            return value.to_json()
        data = {}
        for item in dataclasses.fields(value):
            field_value = getattr(value, item.name)
            if field_value is None and item.metadata.get("omit_if_none"):
                continue
            data[item.name] = to_json(field_value)
        return data
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


@cache
def _adapter(cls: type) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(cls)
