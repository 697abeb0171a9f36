"""The files one model depends on, read from its mlgate.yaml without running anything.

A model depends on its config; the files the config names (feature spec, suite, data,
drift reference, card and serving templates); each local data file's DVC pointer
(`<path>.dvc`, or one of a folder it lies in) and any `dvc.lock` that lists it as an
output; the folders and files `model.code_paths` ships with the model; and the Python
code its model comes from: the module of a `package.module:factory` or of a class path
that lies in the repository, with every repository module it imports, transitively.

Imports are read with `ast`, never executed. A module is looked up as the run would
find it: in the model's folder first, then beside each `model.code_paths` entry, then
at the repository root (a repository whose workflow puts its root on `PYTHONPATH`). A
name found in none of them (the standard library, scikit-learn) is not the repository's.
Importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py`, so they count too. What
cannot be seen this way (a file the factory opens itself, an import built from a
variable) is not followed: list it under `model.code_paths`.

Everything is a repository-relative POSIX path, as `git diff --name-only` prints it.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The config keys that name a file of the model's folder (paths relative to mlgate.yaml).
FILE_KEYS: tuple[tuple[str, ...], ...] = (
    ("data", "training_data_path"),
    ("data", "validation_data_path"),
    ("data", "feature_spec"),
    ("validation", "suite"),
    ("validation", "drift", "reference"),
    ("card", "template"),
    ("serving", "template"),
)
# Of those, the data files (a DVC pointer or a dvc.lock output may stand for them).
DATA_KEYS: tuple[tuple[str, ...], ...] = (
    ("data", "training_data_path"),
    ("data", "validation_data_path"),
    ("validation", "drift", "reference"),
)
# Values of a path key that are not paths (validation.drift.reference).
KEYWORDS = frozenset({"champion", "training"})
DVC_LOCK = "dvc.lock"


@dataclass(frozen=True)
class ModelFiles:
    """One model of the repository and what it depends on."""

    config: str  # mlgate.yaml, repository-relative
    model: str  # the registry name, or the config's folder name
    files: frozenset[str]
    folders: frozenset[str] = frozenset()  # any file under one of these counts
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def folder(self) -> str:
        """The config's folder, repository-relative ("" at the root)."""
        return self.config.rpartition("/")[0]

    def touched_by(self, changed: Iterable[str]) -> tuple[str, ...]:
        """The changed files this model depends on, sorted."""
        return tuple(
            sorted(
                path
                for path in set(changed)
                if path in self.files or any(path.startswith(f"{f}/") for f in self.folders)
            )
        )


def model_files(
    root: Path, config: Path, *, dvc_locks: Mapping[str, frozenset[str]] | None = None
) -> ModelFiles:
    """What the model of `config` (a mlgate.yaml under `root`) depends on.

    `dvc_locks` maps each dvc.lock of the repository to the outputs it lists (see
    `dvc_lock_outputs`). A config that cannot be read as YAML depends on its whole folder:
    whatever it names, the change that broke it touches it, and the run reports the error.
    """
    root = root.resolve()
    config = config.absolute()
    folder = config.parent.resolve()
    config_rel = _relative(root, config)
    if config_rel is None:
        raise ValueError(f"{config} is not under {root}")
    found = _Found(root)
    found.files.add(config_rel)
    doc = _read_yaml(config)
    if not isinstance(doc, dict):
        folder_rel = _relative(root, folder)
        if folder_rel:
            found.folders.add(folder_rel)
        return ModelFiles(
            config=config_rel,
            model=folder.name,
            files=frozenset(found.files),
            folders=frozenset(found.folders),
            notes=(f"{config_rel} is not a YAML mapping: it depends on its whole folder",),
        )
    for key in FILE_KEYS:
        value = _get(doc, key)
        if key == ("validation", "suite") and isinstance(value, str) and ":" in value:
            value = value.rpartition(":")[0]  # a Python schema, `schema.py:schema`
        local = _local_path(folder, value)
        if local is not None:
            found.add_path(local)
    code_parents = _code_paths(found, folder, _get(doc, ("model", "code_paths")))
    search = [folder, *code_parents, root]
    for key in DATA_KEYS:
        local = _local_path(folder, _get(doc, key))
        if local is not None:
            found.add_dvc(local, dvc_locks or {})
    module = _model_module(_get(doc, ("model", "type")))
    if module is not None:
        found.add_modules([module], search)
    suite = _get(doc, ("validation", "suite"))
    if isinstance(suite, str) and suite.partition(":")[0].endswith(".py"):
        local = _local_path(folder, suite.partition(":")[0])
        if local is not None and local.is_file():
            found.add_python_file(local, [local.parent, *search])
    registry = _get(doc, ("tracking", "registry_name"))
    return ModelFiles(
        config=config_rel,
        model=registry if isinstance(registry, str) and registry else folder.name,
        files=frozenset(found.files),
        folders=frozenset(found.folders),
        notes=tuple(found.notes),
    )


def python_imports(root: Path, path: Path, search: Sequence[Path]) -> tuple[str, ...]:
    """`path` and the repository's files and package folders it imports (through `search`,
    followed as for the plan), relative to `root`, sorted; what lies outside is left out."""
    found = _Found(root.resolve())
    found.add_python_file(path, search)
    return tuple(sorted(found.files | found.folders))


def dvc_lock_outputs(root: Path, locks: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each dvc.lock (repository-relative) -> the repository-relative outputs it lists."""
    root = root.resolve()
    outputs: dict[str, frozenset[str]] = {}
    for lock in locks:
        doc = _read_yaml(root / lock)
        stages = doc.get("stages") if isinstance(doc, dict) else None
        listed: set[str] = set()
        for stage in (stages or {}).values() if isinstance(stages, dict) else ():
            if not isinstance(stage, dict):
                continue
            wdir = (root / lock).parent / str(stage.get("wdir") or ".")
            for out in stage.get("outs") or ():
                path = out.get("path") if isinstance(out, dict) else None
                relative = _relative(root, wdir / path) if isinstance(path, str) else None
                if relative:
                    listed.add(relative)
        outputs[lock] = frozenset(listed)
    return outputs


# --- what the config names ------------------------------------------------------------------


def _get(doc: Any, key: Sequence[str]) -> Any:
    value = doc
    for part in key:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _local_path(folder: Path, value: Any) -> Path | None:
    """A path key's value as a path, or None for a URI, a keyword or no value."""
    if not isinstance(value, str) or not value or value in KEYWORDS or "://" in value:
        return None
    return Path(os.path.normpath(folder / Path(value).expanduser()))


def _model_module(model_type: Any) -> str | None:
    """The module a `model.type` names: `pkg.mod:factory` or `pkg.mod.Class` (short: none)."""
    if not isinstance(model_type, str):
        return None
    if ":" in model_type:
        return model_type.partition(":")[0] or None
    if "." in model_type:
        return model_type.rpartition(".")[0]
    return None


def _code_paths(found: _Found, folder: Path, value: Any) -> list[Path]:
    """Record `model.code_paths`; the folders their entries lie in (put on sys.path)."""
    parents: list[Path] = []
    for entry in value if isinstance(value, list) else ():
        local = _local_path(folder, entry)
        if local is None:
            continue
        found.add_path(local)
        if local.parent not in parents:
            parents.append(local.parent)
    return parents


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _relative(root: Path, path: Path) -> str | None:
    """`path` relative to `root` as git prints it; None outside `root` (or root itself)."""
    normal = Path(os.path.normpath(path if path.is_absolute() else Path.cwd() / path))
    try:
        relative = normal.relative_to(root)
    except ValueError:
        try:
            relative = normal.resolve().relative_to(root)
        except (ValueError, OSError):
            return None
    text = relative.as_posix()
    return None if text in ("", ".") else text


# --- the collector --------------------------------------------------------------------------


class _Found:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: set[str] = set()
        self.folders: set[str] = set()
        self.notes: list[str] = []
        self._seen_modules: set[Path] = set()

    def add_path(self, path: Path) -> None:
        relative = _relative(self.root, path)
        if relative is None:
            return  # outside the repository: no change in it can touch it
        (self.folders if path.is_dir() else self.files).add(relative)

    def add_dvc(self, data: Path, dvc_locks: Mapping[str, frozenset[str]]) -> None:
        """The pointers that may stand for a data file: `<file>.dvc`, `<folder>.dvc` of a
        folder holding it (whether or not they exist yet: adding one is a change), and
        each dvc.lock listing it or one of its folders as an output."""
        relative = _relative(self.root, data)
        if relative is None:
            return
        parts = relative.split("/")
        covering = {"/".join(parts[:end]) for end in range(1, len(parts) + 1)}
        self.files.update(f"{path}.dvc" for path in covering)
        self.files.update(lock for lock, outs in dvc_locks.items() if outs & covering)

    def add_modules(self, names: Iterable[str], search: Sequence[Path]) -> None:
        for name in names:
            for path, module in _resolve(name, search, self.root):
                self.add_path(path)
                if module is not None:
                    self._follow(path, module, search)

    def add_python_file(self, path: Path, search: Sequence[Path]) -> None:
        self.add_path(path)
        self._follow(path, _Module(name="", is_package=False), search)

    def _follow(self, path: Path, module: _Module, search: Sequence[Path]) -> None:
        if path in self._seen_modules:
            return
        self._seen_modules.add(path)
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            relative = _relative(self.root, path) or path.name
            self.notes.append(f"{relative} could not be parsed; its imports are not followed")
            return
        self.add_modules(_imported(tree, module), search)


@dataclass(frozen=True)
class _Module:
    name: str  # dotted; "" for a file run as a script (no package)
    is_package: bool


def _imported(tree: ast.AST, module: _Module) -> list[str]:
    """Every module name a file may import: `import a.b`, `from a import b` (b may be a
    module), relative imports, and `importlib.import_module("a.b")` with a literal."""
    names: list[str] = []
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts) or not parts:
                    continue  # beyond the top-level package: Python refuses it too
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target:
                continue
            names.append(target)
            names.extend(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            literal = node.args[0]
            if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                names.append(literal.value)
    return names


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _resolve(name: str, search: Sequence[Path], root: Path) -> list[tuple[Path, _Module | None]]:
    """The files importing `name` runs, found as Python would along `search`: each
    package's `__init__.py` on the way, then the module (the last has its _Module).
    Empty when the top-level name is not in any folder of `search` under `root`."""
    parts = [part for part in name.split(".") if part]
    if not parts or not all(part.isidentifier() for part in parts):
        return []
    base = _find_top(parts[0], search, root)
    if base is None:
        return []
    files: list[tuple[Path, _Module | None]] = []
    current = base
    for index, part in enumerate(parts):
        dotted = ".".join(parts[: index + 1])
        last = index == len(parts) - 1
        package = current / part
        if (package / "__init__.py").is_file():
            files.append((package / "__init__.py", _Module(dotted, is_package=True)))
            current = package
        elif (current / f"{part}.py").is_file():
            files.append((current / f"{part}.py", _Module(dotted, is_package=False)))
            break  # a module has no submodules: `from mod import name` ends here
        elif package.is_dir():
            current = package  # a namespace package: no file of its own
        else:
            break  # an attribute (`from pkg import name`), or not there
        if last:
            break
    return files


def _find_top(top: str, search: Sequence[Path], root: Path) -> Path | None:
    """The folder of `search` (inside `root`) that holds the top-level module `top`; a
    regular package or module wins over a namespace folder, as in Python's path finder."""
    namespace: Path | None = None
    for folder in search:
        if not folder.resolve().is_relative_to(root):
            continue
        if (folder / top / "__init__.py").is_file() or (folder / f"{top}.py").is_file():
            return folder
        if namespace is None and (folder / top).is_dir():
            namespace = folder
    return namespace
