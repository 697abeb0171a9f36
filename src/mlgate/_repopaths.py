"""Files named in mlgate.yaml must lie inside the repository that holds it.

A pull request can change mlgate.yaml. If it could point `data.training_data_path` at
`/home/runner/.ssh/id_rsa` or `../../other-checkout/secrets.env`, pieces of that file
(sample bad values, parse errors) would end up in the PR comment. So every local path
in the config must resolve, symlinks followed, inside the repository: the GitHub
workspace in Actions, else the git work tree around the config. A plain folder that is
not in git (a laptop experiment) has no such boundary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlgate._ci_context import git_output
from mlgate.config import resolve_location

# The config keys that name a file of the model repo (drift's reference may also be a
# keyword, and any of them a URI: those are not paths).
REPO_PATHS: tuple[tuple[str, ...], ...] = (
    ("data", "training_data_path"),
    ("data", "validation_data_path"),
    ("data", "feature_spec"),
    ("validation", "suite"),
    ("validation", "drift", "reference"),
    ("card", "template"),
)
KEYWORDS = frozenset({"champion", "training"})


def repository_root(folder: Path) -> Path | None:
    """The repository around `folder`: GITHUB_WORKSPACE when inside it, else git's top level."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        root = Path(workspace).resolve()
        if folder.resolve().is_relative_to(root):
            return root
    top = git_output(folder, "rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else None


def check_inside_repo(config_doc: Any, config: Any, folder: Path) -> None:
    """Raise the config's error at the key whose file lies outside the repository."""
    root = repository_root(folder)
    if root is None:
        return
    for key_path in REPO_PATHS:
        value: Any = config
        for part in key_path:
            value = getattr(value, part, None)
        if not isinstance(value, str) or value in KEYWORDS:
            continue
        location = resolve_location(folder, value)
        if isinstance(location, Path) and not location.is_relative_to(root):
            raise config_doc.error(
                key_path,
                f"{value} resolves outside the repository ({location}); keep the file in the "
                "repository, or read it from s3://",
            )
