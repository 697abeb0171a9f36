"""Skip what has not changed: a fingerprint of each stage's inputs, and a store of results.

A stage's fingerprint covers exactly what it reads: the data files (by SHA-256), the
config sections and files it uses, the fingerprints of the earlier stages whose
outputs it reads, the team's own model code (a model factory), the versions of the
libraries that shape its result, and, for stages that compare with the champion, the
version now behind the champion alias. Equal fingerprint, equal result: the stage's
JSON result and output files are copied from the store instead of being computed.

The store lives beside the embedded registry (`.mlgate/cache/stages/<stage>/<fp>/`)
and is written to a temporary directory first and renamed into place, so an
interrupted run never leaves a half-written entry that a later run would trust.

The champion is read without importing MLflow (importing it costs seconds, and a run
with nothing to do should take well under one), by the MLflow edge's one alias reader
(`mlgate.tracking.aliases`). A store it cannot read that way, or any failure to read,
gives `UNKNOWN`, and the stages that depend on the champion then run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

UNKNOWN = "unknown"
NO_CHAMPION = "none"
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class StageInputs:
    """Everything one stage reads, as plain data."""

    stage: str
    config: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # name -> sha256
    upstream: Mapping[str, str] = field(default_factory=dict)  # stage -> fingerprint
    packages: Mapping[str, str] = field(default_factory=dict)
    code: str | None = None
    champion: str | None = None  # None: the stage does not read the champion
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cacheable(self) -> bool:
        """False when an input could not be known: then the stage runs."""
        return self.champion != UNKNOWN and UNKNOWN not in (
            *self.upstream.values(),
            *self.files.values(),
        )

    def fingerprint(self) -> str:
        parts = {
            "stage": self.stage,
            "config": self.config,
            "files": self.files,
            "upstream": self.upstream,
            "packages": self.packages,
            "code": self.code,
            "champion": self.champion,
            "context": self.context,
        }
        text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CachedStage:
    stage: str
    fingerprint: str
    path: Path
    result: dict[str, Any]

    def restore(self, run_dir: Path) -> list[str]:
        """Copy the stage's output files into `run_dir`; return their names."""
        restored = []
        for source in sorted(self.path.iterdir()):
            if source.name == RESULT_FILE:
                continue
            copy_output(source, run_dir / source.name)
            restored.append(source.name)
        return restored


class StageCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def lookup(self, stage: str, fingerprint: str) -> CachedStage | None:
        path = self.root / stage / fingerprint
        try:
            result = json.loads((path / RESULT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return CachedStage(stage, fingerprint, path, result)

    def store(
        self,
        stage: str,
        fingerprint: str,
        result: dict[str, Any],
        run_dir: Path,
        outputs: Iterable[str],
    ) -> None:
        final = self.root / stage / fingerprint
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{fingerprint[:12]}-", dir=final.parent))
        try:
            for name in outputs:
                source = run_dir / name
                if source.exists():
                    copy_output(source, staging / name)
            (staging / RESULT_FILE).write_text(json.dumps(result, default=str), encoding="utf-8")
            os.replace(staging, final)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another run stored it first, or no space

    def keep_only(self, fingerprints: Mapping[str, str]) -> None:
        """Remove every entry but those of `fingerprints` (stage -> fingerprint).

        For a store that a CI cache saves after each run (`--stage-cache`): it then holds
        one run's stages, not every entry any earlier push left in it.
        """
        if not self.root.is_dir():
            return
        for stage_dir in self.root.iterdir():
            kept = fingerprints.get(stage_dir.name)
            if not stage_dir.is_dir():
                stage_dir.unlink()
                continue
            for entry in stage_dir.iterdir():
                if entry.name != kept:
                    _remove(entry)
            if kept is None:
                shutil.rmtree(stage_dir, ignore_errors=True)


def store_key(fingerprints: Mapping[str, str]) -> str:
    """One name for a set of stage entries, for a CI cache key: equal sets, equal keys."""
    text = "\n".join(f"{stage}={fp}" for stage, fp in sorted(fingerprints.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:40] if fingerprints else ""


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def copy_output(source: Path, target: Path) -> None:
    """Copy a stage's output file or folder: the bytes, not the modes.

    What is copied is new and follows the umask, writable by its owner, whatever the
    modes in the store (a cache restored read-only, a shared folder): a later stage or
    run may then rewrite it (the card is stamped after registration, for one).
    """
    if source.is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        for child in sorted(source.iterdir()):
            copy_output(child, target / child.name)
        return
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)  # a read-only file there is replaced, not written into
    shutil.copyfile(source, target)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(names: Iterable[str]) -> dict[str, str]:
    return {name: _installed(name) for name in names}


@functools.cache
def _installed(name: str) -> str:
    """Read once per process: every stage's fingerprint asks (each read scans site-packages)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


# --- the champion, read without MLflow ----------------------------------------------------


def champion_version(tracking_uri: str, model: str, alias: str, *, timeout: float = 5.0) -> str:
    """The version behind `model@alias`, `NO_CHAMPION`, or `UNKNOWN` when it cannot be read."""
    from mlgate.tracking.aliases import AliasUnreadable, alias_version

    try:
        version = alias_version(model, alias, uri=tracking_uri, timeout=timeout)
    except AliasUnreadable:
        return UNKNOWN
    return NO_CHAMPION if version is None else version
