"""Git at the edge of `mlgate plan`: the repository's files and what a change touched.

The change is `git diff <merge-base of BASE and HEAD> HEAD`: on a pull request (whose
checkout is the merge commit) the pull request's own changes, on a push those since the
push's `before`. Renames count as a deletion and an addition, so a model whose file moved
away is planned too. Uncommitted changes count only when asked for.

A base that cannot name a commit is one of two things. A full SHA that is all zeros (the
`before` of a push that created a branch) or not in the clone (a force-push's old head,
or a shallow checkout) leaves nothing to compare with: every model is planned, saying
why. Anything else that does not resolve (a mistyped branch) is a usage error.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlgate.errors import UsageError

_FULL_SHA = re.compile(r"^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$")
_TIMEOUT = 60


@dataclass(frozen=True)
class Base:
    """What to compare HEAD with: a commit, or why there is none (plan every model)."""

    commit: str | None
    no_base: str | None = None


def toplevel(folder: Path) -> Path | None:
    """The git work tree around `folder`, or None (not in git, or no git)."""
    out = _git(folder, "rev-parse", "--show-toplevel")
    return Path(out.strip()).resolve() if out is not None and out.strip() else None


def listed_files(root: Path) -> list[str]:
    """The repository's files that exist: tracked or new, what .gitignore ignores left out."""
    out = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if out is None:
        raise UsageError(f"git ls-files failed in {root}")
    return [name for name in _split(out) if (root / name).is_file()]


def resolve_base(root: Path, base: str) -> Base:
    """The merge base of `base` and HEAD, or why there is none to compare with."""
    base = base.strip()
    if not base:
        return Base(None, "no --base given")
    if set(base) == {"0"} and _FULL_SHA.match(base):
        return Base(None, "the base is the null commit (a push that created the branch)")
    commit = _git(
        root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{base}^{{commit}}"
    )
    if commit is None:
        if _FULL_SHA.match(base):
            return Base(
                None,
                f"base {base[:12]} is not in this clone (a force-push, or a shallow checkout: "
                "check out with fetch-depth: 0)",
            )
        raise UsageError(
            f"--base {base}: not a commit of this repository; give a branch, tag or commit SHA "
            "(fetch it first in a shallow clone)"
        )
    if _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}") is None:
        raise UsageError(f"--base {base}: the repository at {root} has no commit (HEAD) yet")
    merge_base = _git(root, "merge-base", commit.strip(), "HEAD")
    if merge_base is None or not merge_base.strip():
        return Base(None, f"base {base[:12]} shares no history with HEAD")
    return Base(merge_base.strip())


def changed_files(root: Path, since: str) -> list[str]:
    """The files the commits from `since` to HEAD changed (added, modified or deleted)."""
    out = _git(root, "diff", "--name-only", "--no-renames", "-z", since, "HEAD", "--")
    if out is None:
        raise UsageError(f"git diff {since[:12]} HEAD failed in {root}")
    return _split(out)


def uncommitted_files(root: Path) -> list[str]:
    """Changes not committed yet: staged, unstaged and new (not ignored) files."""
    tracked = _git(root, "diff", "--name-only", "--no-renames", "-z", "HEAD", "--")
    new = _git(root, "ls-files", "-z", "--others", "--exclude-standard")
    if tracked is None or new is None:
        raise UsageError(f"git diff HEAD failed in {root}")
    return [*_split(tracked), *_split(new)]


def _split(out: str) -> list[str]:
    return [name for name in out.split("\0") if name]


def _git(folder: Path, *args: str) -> str | None:
    """`git -C folder ARGS`'s output, or None when git is missing or fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None
