"""Where a model came from: the CI run or git checkout, the code version and the environment.

Everything here reads the standard variables of a GitHub runner when they are
set and falls back to git and the local machine, so the same lineage is recorded
in an action, in a container and on a laptop.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlgate

# The libraries recorded in the lineage, each read from the distribution that carries its
# version: MLflow's from mlflow-skinny, which the runtime installs on its own and which the
# full `mlflow` package (the UI and tracking server) requires at its own version.
PACKAGES = {
    "scikit-learn": "scikit-learn",
    "pandas": "pandas",
    "numpy": "numpy",
    "mlflow": "mlflow-skinny",
}


@dataclass(frozen=True)
class CiContext:
    """The event that started this run, as GitHub Actions describes it (or a local run)."""

    in_github: bool
    event_name: str | None
    ref: str | None
    default_branch: str | None
    sha: str | None
    repository: str | None
    run_url: str | None
    actor: str

    @property
    def is_default_branch_push(self) -> bool:
        return (
            self.event_name == "push"
            and self.default_branch is not None
            and self.ref == f"refs/heads/{self.default_branch}"
        )


def ci_context(environ: dict[str, str] | None = None) -> CiContext:
    env = os.environ if environ is None else environ
    in_github = env.get("GITHUB_ACTIONS") == "true" or bool(env.get("GITHUB_EVENT_NAME"))
    repository = env.get("GITHUB_REPOSITORY") or None
    run_url = None
    if repository and env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        run_url = f"{server}/{repository}/actions/runs/{env['GITHUB_RUN_ID']}"
        if env.get("GITHUB_RUN_ATTEMPT"):
            run_url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
    return CiContext(
        in_github=in_github,
        event_name=env.get("GITHUB_EVENT_NAME") or None,
        ref=env.get("GITHUB_REF") or None,
        default_branch=_default_branch(env.get("GITHUB_EVENT_PATH")),
        sha=env.get("GITHUB_SHA") or None,
        repository=repository,
        run_url=run_url,
        actor=env.get("GITHUB_ACTOR") or _local_user(),
    )


def _default_branch(event_path: str | None) -> str | None:
    if not event_path:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    repository = event.get("repository") if isinstance(event, dict) else None
    branch = repository.get("default_branch") if isinstance(repository, dict) else None
    return branch if isinstance(branch, str) else None


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class CodeVersion:
    commit: str | None
    repository: str | None
    dirty: bool | None


def code_version(root: Path, ci: CiContext) -> CodeVersion:
    commit = ci.sha or git_output(root, "rev-parse", "HEAD")
    repository = ci.repository or _public_remote(git_output(root, "remote", "get-url", "origin"))
    status = git_output(root, "status", "--porcelain", "--untracked-files=no")
    return CodeVersion(
        commit=commit, repository=repository, dirty=None if status is None else bool(status)
    )


def git_output(root: Path, *args: str) -> str | None:
    """`git -C root ARGS`'s output, or None when git is missing or fails."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _public_remote(url: str | None) -> str | None:
    """A remote URL without any credentials embedded in it (https://user:token@host/...)."""
    if not url:
        return None
    from mlgate._redact import without_credentials

    return without_credentials(url)


def environment() -> dict[str, str]:
    return dict(_environment())


@functools.lru_cache(maxsize=1)
def _environment() -> tuple[tuple[str, str], ...]:
    """Read once per process (the checks, the register stage and its card all ask)."""
    versions = {"python": platform.python_version(), "mlgate": mlgate.__version__}
    for name, distribution in PACKAGES.items():
        try:
            versions[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return tuple(versions.items())


def fingerprint(parts: dict[str, Any]) -> str:
    """A stable hash of what makes a model what it is; equal inputs, equal fingerprint."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
