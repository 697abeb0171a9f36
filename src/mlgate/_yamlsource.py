"""YAML documents that remember where each value was written.

Config errors must name the file and the line, so we keep a map from key path
(`("model", "params", "max_depth")`) to its line next to the plain data.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import ConfigError

KeyPath = tuple[Hashable, ...]

# A config larger than this is not a config; refuse it before parsing.
MAX_CONFIG_BYTES = 1_000_000
# Aliases can expand a small file into a huge tree ("billion laughs"); count
# values as if expanded and stop well before that hurts.
MAX_CONFIG_VALUES = 100_000


@dataclass(frozen=True)
class YamlDocument:
    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    text: str = ""

    def line_of(self, key_path: KeyPath) -> int | None:
        """The line of `key_path`, or of its nearest ancestor that was written."""
        path = tuple(key_path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, key_path: KeyPath, message: str) -> ConfigError:
        return ConfigError(
            message, file=self.path, line=self.line_of(key_path), key=format_key_path(key_path)
        )


def format_key_path(key_path: KeyPath) -> str:
    text = ""
    for part in key_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def read_yaml(path: Path, *, what: str) -> YamlDocument:
    """Read and parse one YAML file; every failure is a ConfigError naming the file."""
    try:
        if path.is_dir():
            raise ConfigError(f"{what} is a directory, not a YAML file", file=path)
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{what} is {size:,} bytes; a config is at most {MAX_CONFIG_BYTES:,}", file=path
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        hint = "; check the path, or draft one with `mlgate init`" if what == "config" else ""
        raise ConfigError(f"{what} not found{hint or '; check the path'}", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", file=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{what} is not UTF-8 text (byte {exc.start}); save it as UTF-8", file=path, line=line
        ) from None
    return parse_yaml(text, path=path, what=what)


def parse_yaml(text: str, *, path: Path, what: str) -> YamlDocument:
    try:
        loader = yaml.SafeLoader(text)  # checks every character: NUL and the like are refused
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            f"invalid YAML: character {exc.character!r} is not allowed in YAML text",
            file=path,
            line=line,
        ) from None
    try:
        node = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        if node is not None:
            _collect_lines(node, (), lines, path, budget=[MAX_CONFIG_VALUES])
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from None
    except RecursionError:
        raise ConfigError(f"{what} is nested too deeply to be a config", file=path) from None
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=data, lines=lines, text=text)


def _collect_lines(
    node: yaml.Node, key_path: KeyPath, lines: dict[KeyPath, int], path: Path, budget: list[int]
) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(
            f"more than {MAX_CONFIG_VALUES:,} values once aliases are expanded; "
            "a config this large is refused",
            file=path,
        )
    lines.setdefault(key_path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    "mapping keys must be plain names",
                    file=path,
                    line=key_node.start_mark.line + 1,
                    key=format_key_path(key_path) or None,
                )
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key_node.tag != "tag:yaml.org,2002:str" and key != "<<":
                raise ConfigError(
                    f"key {key} is read as a {key_node.tag.rsplit(':', 1)[-1]}, not a name; "
                    f'quote it: "{key}"',
                    file=path,
                    line=line,
                    key=format_key_path(key_path) or None,
                )
            if key in seen and key != "<<":
                raise ConfigError(
                    f"key '{key}' appears twice (lines {seen[key]} and {line}); keep one",
                    file=path,
                    line=line,
                    key=format_key_path((*key_path, key)),
                )
            seen[key] = line
            lines[(*key_path, key)] = line
            _collect_lines(value_node, (*key_path, key), lines, path, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*key_path, index), lines, path, budget)
