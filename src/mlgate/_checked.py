"""Remembering that a config passed the pre-flight checks, so an unchanged re-run skips them.

The pre-flight (`mlgate.preflight`) builds the model to check its parameters, which
imports scikit-learn, and reads the target column, which imports pandas: about a second
that a re-run restoring every stage from the cache spends on nothing else. Its verdict
depends only on the config and feature spec, the files they name and the libraries, so
it is remembered under a hash of those (files by path, size and modification time: a
re-run does not read them). Where the verdict depends on more (a server, a cluster, the
team's own code, DVC), nothing is remembered and the checks always run.

A stale entry could only skip a check that the stages make again on the data: the
pre-flight exists to fail early, not to be the only check.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlgate.project import Project

_KEEP = 20  # the newest entries kept per model repo


def passed_before(project: Project, *, use_cache: bool) -> bool:
    """True when these inputs passed the checks before (an unchanged re-run, most likely)."""
    key = _key(project) if use_cache else None
    return key is not None and (project.state_dir / "cache" / "checked" / key).is_file()


def check_project(project: Project, *, use_cache: bool) -> None:
    """`mlgate.preflight.check_project`, skipped when these inputs passed it before."""
    from mlgate.preflight import check_project as check

    key = _key(project) if use_cache else None
    folder = project.state_dir / "cache" / "checked"
    if key is not None and (folder / key).is_file():
        return
    check(project)
    if key is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / key).touch()
        _prune(folder)
    except OSError:
        pass  # remembering is an optimisation; the run goes on


def _key(project: Project) -> str | None:
    """The hash of what the checks read, or None when they read more than files."""
    from mlgate._ci_context import environment, fingerprint
    from mlgate._repopaths import KEYWORDS

    config = project.config
    if (
        ":" in config.model.type  # the team's own factory: its code may change
        or config.model.code_paths
        or config.compute.cluster is not None
        or config.compute.docker_image is not None
        or config.validation.engine == "spark"
    ):
        return None
    named = [config.data.training_data_path, config.data.validation_data_path]
    named += [config.validation.suite, config.validation.suite_file, config.card.template]
    if config.validation.drift.enabled:
        named.append(config.validation.drift.reference)
    files = {}
    for written in filter(None, named):
        if written in KEYWORDS:  # the drift reference `training` or `champion`
            continue
        location = project.location(written)
        if not isinstance(location, Path):
            return None  # s3:// and other URIs are looked at over the network
        if location.with_name(location.name + ".dvc").exists():
            return None  # DVC fetches and checks it
        files[written] = _stat(location)
    return fingerprint(
        {
            "config": project.config_sha256,
            "feature_spec": project.spec_sha256,
            "config_path": str(project.config_path),
            "files": files,
            "environment": environment(),
        }
    )


def _stat(path: Path) -> list[int | str]:
    try:
        status = path.stat()
    except OSError:
        return ["absent"]
    return [str(path.resolve()), status.st_size, status.st_mtime_ns]


def _prune(folder: Path) -> None:
    entries = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for stale in entries[_KEEP:]:
        stale.unlink(missing_ok=True)
