"""The version being monitored and the data it is compared with.

The version is the one behind `monitoring.reference_alias` (default `production`). Its
reference is the training data recorded on it at registration (`mlgate.data.training.*`
tags): an s3:// object is read back by its recorded version id, so the exact bytes it was
trained on are compared even after the key was overwritten; a local file is used when
its SHA-256 still matches. Otherwise the project's training file is the reference, with
a note saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import InputError, MlgateError
from mlgate.results.monitor import MonitorReference

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.project import Project
    from mlgate.tracking.registry import Registry


@dataclass(frozen=True)
class Deployed:
    """The registered version behind the alias: its number, tags and loaded model."""

    alias: str
    version: str
    run_id: str | None
    tags: dict[str, str]
    model: Any


def deployed_version(registry: Registry, alias: str) -> Deployed:
    """The version behind `alias`, loaded; exit 2 when the alias is not set."""
    from mlgate.tracking.aliases import alias_model_version
    from mlgate.tracking.client import calls

    name = registry.name
    with calls(registry.uri, f"read alias {alias} of {name}"):
        version = alias_model_version(registry.client, name, alias)
        if version is None:
            raise InputError(
                f"no version of {name} is behind the alias '{alias}' "
                "(monitoring.reference_alias); promote one first: "
                f"mlgate promote {name} --version N --to {alias}"
            )
        import mlflow.sklearn

        model = mlflow.sklearn.load_model(f"models:/{name}/{version.version}")
    return Deployed(
        alias=alias,
        version=str(version.version),
        run_id=version.run_id,
        tags=dict(version.tags or {}),
        model=model,
    )


def read_reference(project: Project, deployed: Deployed) -> tuple[pd.DataFrame, MonitorReference]:
    """The training data recorded on the version, or the project's training file (noted)."""
    from mlgate.tracking import tags

    recorded = deployed.tags.get(tags.data_key("training", "uri"))
    sha256 = deployed.tags.get(tags.data_key("training", "sha256"))
    version_id = deployed.tags.get(tags.data_key("training", "version_id"))
    if not recorded:
        note = f"version {deployed.version} has no recorded training data"
    else:
        try:
            found = _recorded(project, recorded, sha256, version_id)
        except MlgateError as error:  # gone, changed, unreadable: say so and fall back
            found, note = None, f"its recorded training data {recorded}: {error.message}"
        else:
            note = ""
        if found is not None:
            path, digest = found
            frame = _read(project, path, recorded)
            return frame, MonitorReference(
                uri=recorded,
                version_id=version_id,
                sha256=digest,
                rows=len(frame.index),
                recorded=True,
                note=None,
            )
    return _fallback(project, note)


def _recorded(
    project: Project, uri: str, sha256: str | None, version_id: str | None
) -> tuple[Path, str]:
    from mlgate import _s3 as s3
    from mlgate.data import sha256_of

    if s3.is_s3_uri(uri):
        fetched = s3.fetch(uri, project.state_dir / "cache" / "s3", version_id=version_id)
        if sha256 and fetched.sha256 != sha256:
            raise InputError("the object has changed since the version was trained on it")
        return fetched.path, fetched.sha256
    path = Path(uri)
    if "://" in uri or not path.is_file():
        raise InputError("not a readable local file here")
    digest = sha256_of(path)
    if sha256 and digest != sha256:
        raise InputError("the file has changed since the version was trained on it")
    return path, digest


def _fallback(project: Project, note: str) -> tuple[pd.DataFrame, MonitorReference]:
    from mlgate import _s3 as s3
    from mlgate.data import sha256_of

    written = project.config.data.training_data_path
    location = project.location(written)
    version_id = None
    if isinstance(location, Path):
        if not location.is_file():
            raise project.config_error(
                ("data", "training_data_path"),
                f"no reference data: {note}, and {written} does not exist",
            )
        path, digest, uri = location, sha256_of(location), str(location)
    else:
        fetched = s3.fetch(written, project.state_dir / "cache" / "s3")
        path, digest, uri, version_id = fetched.path, fetched.sha256, written, fetched.version_id
    frame = _read(project, path, uri)
    return frame, MonitorReference(
        uri=uri,
        version_id=version_id,
        sha256=digest,
        rows=len(frame.index),
        recorded=False,
        note=f"the project's training file instead: {note}",
    )


def _read(project: Project, path: Path, shown: str) -> pd.DataFrame:
    from mlgate.data import read_features

    return read_features(project, path, "reference", shown=shown)
