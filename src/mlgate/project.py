"""A model repo as mlgate sees it: mlgate.yaml and its feature spec, loaded and cross-checked."""

from __future__ import annotations

import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mlgate._catalogue import METRICS_BY_TASK
from mlgate._yamlsource import KeyPath, YamlDocument, read_yaml
from mlgate.config import Config, did_you_mean, resolve_location
from mlgate.errors import ConfigError
from mlgate.featurespec import FeatureSpec

DEFAULT_CONFIG_NAME = "mlgate.yaml"
STATE_DIR_NAME = ".mlgate"


@dataclass(frozen=True)
class Project:
    config_path: Path
    config: Config
    spec: FeatureSpec
    config_doc: YamlDocument
    spec_doc: YamlDocument

    @property
    def root(self) -> Path:
        """The model repo: the config file's folder. Relative paths resolve against it."""
        return self.config_path.parent

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR_NAME

    @property
    def registry_name(self) -> str:
        return self.config.tracking.registry_name or self.root.name

    @property
    def experiment_name(self) -> str:
        return self.config.tracking.experiment_name or self.registry_name

    def location(self, value: str) -> str | Path:
        return resolve_location(self.root, value)

    def config_error(self, key_path: KeyPath, message: str) -> ConfigError:
        return self.config_doc.error(key_path, message)

    def spec_error(self, key_path: KeyPath, message: str) -> ConfigError:
        return self.spec_doc.error(key_path, message)

    @cached_property
    def config_sha256(self) -> str:
        return _canonical_sha256(self.config_doc.data)

    @cached_property
    def spec_sha256(self) -> str:
        return _canonical_sha256(self.spec_doc.data)

    def check_task_metrics(self, task: str) -> None:
        """Metrics and gates must make sense for the task (known once the target is seen)."""
        allowed = METRICS_BY_TASK[task]
        evaluation = self.config.evaluation
        for index, name in enumerate(evaluation.metrics):
            if name not in allowed:
                raise self.config_error(
                    ("evaluation", "metrics", index),
                    f"'{name}' does not apply to {task}; {task} metrics: {', '.join(allowed)}",
                )
        for name in evaluation.gates:
            if name not in allowed:
                raise self.config_error(
                    ("evaluation", "gates", name),
                    f"'{name}' does not apply to {task}; {task} metrics: {', '.join(allowed)}",
                )


def find_config(argument: str | None) -> Path:
    path = Path(argument) if argument else Path(DEFAULT_CONFIG_NAME)
    if path.is_dir():
        path = path / DEFAULT_CONFIG_NAME
    return path.absolute()


def load_project(config_path: Path) -> Project:
    config_doc = read_yaml(config_path, what="config")
    config = _validate(Config, config_doc)
    from mlgate._repopaths import check_inside_repo

    check_inside_repo(config_doc, config, config_path.parent)
    spec_location = resolve_location(config_path.parent, config.data.feature_spec)
    if not isinstance(spec_location, Path):
        raise config_doc.error(
            ("data", "feature_spec"), "the feature spec must be a file in the model repo, not a URI"
        )
    if not spec_location.is_file():
        raise config_doc.error(
            ("data", "feature_spec"),
            f"feature spec {config.data.feature_spec} not found (looked in {spec_location.parent})",
        )
    spec_doc = read_yaml(spec_location, what="feature spec")
    spec = _validate(FeatureSpec, spec_doc)
    project = Project(
        config_path=config_path, config=config, spec=spec, config_doc=config_doc, spec_doc=spec_doc
    )
    _cross_check(project)
    return project


def _cross_check(project: Project) -> None:
    _check_roles(project)
    config, spec = project.config, project.spec
    sensitive = list(spec.sensitive_features)
    for index, entry in enumerate(config.fairness.sensitive_features or []):
        names = [entry] if isinstance(entry, str) else entry
        for name in names:
            if name not in spec.sensitive_features:
                raise project.config_error(
                    ("fairness", "sensitive_features", index),
                    f"'{name}' is not a sensitive feature in the feature spec"
                    f"{did_you_mean(name, sensitive)}; declared: {', '.join(sensitive) or 'none'}",
                )
    declared = [*spec.features, *spec.sensitive_features]
    for index, name in enumerate(config.validation.drift.features or []):
        if name not in declared:
            raise project.config_error(
                ("validation", "drift", "features", index),
                f"'{name}' is not a feature in the feature spec{did_you_mean(name, declared)}",
            )
    if spec.task is not None:
        project.check_task_metrics(spec.task)


def _check_roles(project: Project) -> None:
    """Each column has one role: target, id column, feature or sensitive feature."""
    spec = project.spec
    roles: dict[str, str] = {spec.target: "the target"}
    declared = (
        (
            "id_columns",
            "an id column",
            [(name, (index,)) for index, name in enumerate(spec.id_columns)],
        ),
        ("features", "a feature", [(name, (name,)) for name in spec.features]),
        ("sensitive_features", "a sensitive feature", [(n, (n,)) for n in spec.sensitive_features]),
    )
    for group, role, names in declared:
        for name, where in names:
            if name in roles:
                raise project.spec_error(
                    (group, *where),
                    f"column '{name}' is declared both as {roles[name]} and as {role}; "
                    "give each column one role",
                )
            roles[name] = role
    if spec.task == "regression" and spec.positive_label is not None:
        raise project.spec_error(
            ("positive_label",), "positive_label applies to classification, not regression"
        )


def _canonical_sha256(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --- pydantic errors as one located line -------------------------------------------------

_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def _validate(model: type[BaseModel], doc: YamlDocument) -> Any:
    if not isinstance(doc.data, dict):
        kind = "empty" if doc.data is None else f"a {type(doc.data).__name__}"
        raise doc.error((), f"expected a mapping of keys to values at the top, got {kind}")
    _check_finite(doc)
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise _located_error(exc, doc, model) from None


def _check_finite(doc: YamlDocument) -> None:
    """YAML reads `.nan` and `.inf` (and 1e400) as floats; no bound, bin or figure may be one."""
    stack: list[tuple[KeyPath, Any]] = [((), doc.data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise doc.error(path, f"expected a finite number, got {node}")
        if isinstance(node, dict):
            stack.extend(((*path, key), value) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(
                ((*path, index), value) for index, value in reversed(list(enumerate(node)))
            )


def _located_error(exc: ValidationError, doc: YamlDocument, model: type[BaseModel]) -> ConfigError:
    errors = exc.errors(include_url=False)
    located = [(_data_path(doc.data, e["loc"], e["type"]), e) for e in errors]
    located.sort(key=lambda pair: doc.line_of(pair[0]) or 0)
    path, first = located[0]
    message = _describe(first, path, model)
    if first["type"] == "missing":
        path = path[:-1]
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return doc.error(path, message)


def _data_path(data: Any, loc: tuple, error_type: str) -> KeyPath:
    """Pydantic's loc, less the union-branch labels it inserts, as a path into the YAML."""
    path: list[Any] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        in_mapping = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_list:
            node = node[part]
            path.append(part)
        elif last and error_type == "missing":
            path.append(part)
    return tuple(path)


def _describe(error: dict, path: KeyPath, model: type[BaseModel]) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"missing required key '{path[-1]}'"
    if kind == "extra_forbidden":
        name = path[-1] if path else "?"
        valid = _fields_at(model, path[:-1])
        hint = did_you_mean(name, valid)
        return f"unknown key{hint}; valid keys here: {', '.join(valid)}"
    if kind in _EXPECTED:
        return f"{_EXPECTED[kind]}, got {_show(value)}"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}, got {_show(value)}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}, got {_show(value)}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    if kind == "too_short":
        return "must not be empty"
    message = str(error["msg"])
    return message[:1].lower() + message[1:]


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= 60 else text[:57] + '..."'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _fields_at(model: type[BaseModel], path: KeyPath) -> list[str]:
    annotation: Any = model
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        elif typing.get_origin(annotation) is list:
            annotation = typing.get_args(annotation)[0]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """From `X | None` (or any union) keep the model class, if there is one."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
        for arg in typing.get_args(annotation):
            if typing.get_origin(arg) in (dict, list):
                return arg
    return annotation
