"""Every mlgate.yaml of a repository (or under some of its folders).

The list of files comes from git when the folder is a git work tree (tracked files and
new ones, without what .gitignore leaves out), else from walking the folder. Run
directories (`.mlgate/`) and git's own folder never hold a model's config.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

CONFIG_NAME = "mlgate.yaml"
# Folders no config is looked for in.
SKIPPED_FOLDERS = frozenset({".git", ".mlgate"})


def walk_files(root: Path) -> list[str]:
    """Every file under `root` (outside git), repository-relative, skipped folders left out."""
    listed: list[str] = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if name not in SKIPPED_FOLDERS)
        relative = Path(folder).relative_to(root)
        listed.extend((relative / name).as_posix() for name in files)
    return listed


def find_configs(files: Iterable[str], under: Sequence[str] = ()) -> list[str]:
    """The mlgate.yaml files among `files` (repository-relative), sorted; only those under
    one of `under` (folders or config files, repository-relative; "" is the root) if given."""
    prefixes = [prefix.strip("/") for prefix in under]
    found = []
    for path in files:
        parts = path.split("/")
        if parts[-1] != CONFIG_NAME or SKIPPED_FOLDERS.intersection(parts[:-1]):
            continue
        if prefixes and not any(_is_under(path, prefix) for prefix in prefixes):
            continue
        found.append(path)
    return sorted(set(found))


def dvc_locks(files: Iterable[str]) -> list[str]:
    """The dvc.lock files among `files`."""
    return sorted(path for path in files if path.rpartition("/")[2] == "dvc.lock")


def _is_under(path: str, prefix: str) -> bool:
    return prefix in ("", ".") or path == prefix or path.startswith(prefix + "/")
