"""Reading an expectation suite: Great Expectations' JSON, or a short YAML list.

The short form is one single-key mapping per expectation::

    - expect_column_values_to_be_between: {column: age, min_value: 18}
    - expect_column_values_to_not_be_null: {column: customer_id}

Great Expectations' own JSON (`{"name": ..., "expectations": [{"type": ..., "kwargs":
...}]}`, or the 0.x form with `expectation_type`) is read as it is. Names and arguments
are checked against Great Expectations' registry here, so a typo is a config error (exit
2) naming the expectation and its line, not a failed validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate._yamlsource import KeyPath, YamlDocument, read_yaml
from mlgate.errors import ConfigError
from mlgate.results.validate import Origin
from mlgate.validation._gx import expectation_class, known_expectations

# Keys of an expectation in GE's JSON that are not arguments of the expectation.
_GE_ENTRY_KEYS = ("type", "expectation_type", "kwargs", "meta", "id", "notes", "rendered_content")
# Arguments every expectation accepts in GE's JSON but that mlgate sets itself.
_IGNORED_ARGUMENTS = ("batch_id", "result_format", "catch_exceptions")


@dataclass(frozen=True)
class Expectation:
    """One expectation as written: GE's snake_case name and its arguments."""

    type: str
    kwargs: dict[str, Any]
    origin: Origin  # "baseline" (from the feature spec) or "suite" (validation.suite)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The columns it looks at, for messages and for redacting sensitive values."""
        names = [self.kwargs.get(key) for key in ("column", "column_A", "column_B")]
        names += list(self.kwargs.get("column_list") or [])
        return [str(name) for name in names if name is not None]

    @property
    def key(self) -> tuple[str, str]:
        """Same name and arguments: the same check (a suite repeating the baseline runs once)."""
        import json

        return self.type, json.dumps(self.kwargs, sort_keys=True, default=str)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "kwargs": self.kwargs, "origin": self.origin}


def load_suite(path: Path, *, shown_as: str) -> list[Expectation]:
    """The expectations of one suite file, checked against Great Expectations' registry."""
    if not path.is_file():
        raise ConfigError(f"suite {shown_as} not found (looked in {path}); fix validation.suite")
    doc = read_yaml(path, what="expectation suite")
    entries = _entries(doc)
    expectations = []
    for key_path, name, kwargs, meta in entries:
        check_expectation(name, kwargs, doc=doc, key_path=key_path)
        clean = {k: v for k, v in kwargs.items() if k not in _IGNORED_ARGUMENTS}
        expectations.append(Expectation(name, clean, "suite", meta))
    return expectations


def _entries(doc: YamlDocument) -> list[tuple[KeyPath, str, dict[str, Any], dict[str, Any]]]:
    data = doc.data
    if isinstance(data, dict) and "expectations" in data:
        items, base = data["expectations"], ("expectations",)
        if not isinstance(items, list):
            raise doc.error(base, "'expectations' must be a list")
        return [_ge_entry(doc, (*base, index), item) for index, item in enumerate(items)]
    if isinstance(data, list):
        return [_short_entry(doc, (index,), item) for index, item in enumerate(data)]
    if data is None:
        raise doc.error((), "the suite is empty; list expectations or remove validation.suite")
    raise doc.error(
        (),
        "expected a list of expectations (`- expect_...: {column: ...}`) or Great "
        "Expectations' JSON with an 'expectations' list",
    )


def _short_entry(doc: YamlDocument, key_path: KeyPath, item: Any) -> tuple:
    if isinstance(item, str):
        return key_path, item, {}, {}
    if not isinstance(item, dict) or len(item) != 1:
        raise doc.error(
            key_path, "each entry is one mapping: `- expect_name: {argument: value, ...}`"
        )
    [(name, kwargs)] = item.items()
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict):
        raise doc.error((*key_path, name), f"the arguments of {name} must be a mapping")
    return (*key_path, name), str(name), dict(kwargs), {}


def _ge_entry(doc: YamlDocument, key_path: KeyPath, item: Any) -> tuple:
    if not isinstance(item, dict):
        raise doc.error(key_path, "each expectation must be a mapping with 'type' and 'kwargs'")
    name = item.get("type", item.get("expectation_type"))
    if not isinstance(name, str):
        raise doc.error(key_path, "expectation without a 'type' (or 'expectation_type')")
    unknown = sorted(set(item) - set(_GE_ENTRY_KEYS))
    if unknown:
        raise doc.error((*key_path, unknown[0]), f"unknown key '{unknown[0]}' in {name}")
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise doc.error((*key_path, "kwargs"), f"the kwargs of {name} must be a mapping")
    meta = item.get("meta") or {}
    return (*key_path, "kwargs"), name, dict(kwargs), meta if isinstance(meta, dict) else {}


def check_expectation(
    name: str, kwargs: dict[str, Any], *, doc: YamlDocument | None, key_path: KeyPath
) -> None:
    """Refuse an unknown expectation or argument, and a missing or ill-typed one."""

    def error(path: KeyPath, message: str) -> ConfigError:
        return doc.error(path, message) if doc is not None else ConfigError(message)

    cls = expectation_class(name)
    if cls is None:
        from mlgate.config import did_you_mean

        raise error(
            key_path[:-1] if key_path and key_path[-1] == "kwargs" else key_path,
            f"unknown expectation '{name}'{did_you_mean(name, known_expectations())}; "
            "see the Great Expectations gallery for the names",
        )
    fields = set(cls.__fields__)
    for argument in kwargs:
        if argument not in fields and argument not in _IGNORED_ARGUMENTS:
            allowed = sorted(f for f in fields if not f.startswith("_") and f not in _HIDDEN)
            raise error(
                (*key_path, argument),
                f"{name} has no argument '{argument}'{_hint(str(argument), allowed)}; "
                f"its arguments: {', '.join(allowed)}",
            )
    problem = argument_problem(cls, kwargs)
    if problem:
        raise error(key_path, f"{name}: {problem}")


def _hint(argument: str, allowed: list[str]) -> str:
    from mlgate.config import did_you_mean

    hint = did_you_mean(argument, allowed)
    if hint:
        return hint
    # `max` for `max_value`: a prefix is as good a clue as a typo.
    prefixed = [name for name in allowed if name.startswith(argument) or argument.startswith(name)]
    return f" (did you mean '{prefixed[0]}'?)" if len(prefixed) == 1 else ""


# Fields of every GE expectation model that are not arguments a suite should set.
_HIDDEN = frozenset(
    {"id", "meta", "notes", "result_format", "description", "catch_exceptions", "rendered_content"}
    | {"batch_id", "windows"}
)


def argument_problem(cls: Any, kwargs: dict[str, Any]) -> str | None:
    """What Great Expectations says is wrong with the arguments, as one line."""
    try:
        cls(**{k: v for k, v in kwargs.items() if k not in _IGNORED_ARGUMENTS})
    except Exception as exc:  # GE raises pydantic (v1) errors and its own exceptions
        errors = getattr(exc, "errors", None)
        if callable(errors):
            parts, seen = [], set()
            for item in errors():
                where = ".".join(str(part) for part in item.get("loc", ()) if part != "__root__")
                if where in seen:  # a union type reports one miss per branch; keep the first
                    continue
                seen.add(where)
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
            return "; ".join(parts[:3]) or str(exc).splitlines()[0]
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return None
