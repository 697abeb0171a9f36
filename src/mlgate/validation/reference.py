"""Which data the new data is compared with for drift, and reading it.

`validation.drift.reference`:
- `champion` (default): the training data recorded on the champion version (the one
  behind `evaluation.champion_alias`) when it is a readable local file that differs
  from this run's training file; otherwise as `training`.
- `training`: this run's training file; the validation file is compared with it.
- anything else: a data file (path relative to mlgate.yaml); both files are compared.
"""

from __future__ import annotations

import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.project import Project


@dataclass
class Reference:
    name: str  # how the report names it
    frame: pd.DataFrame | None  # None: compare the validation file with the training file
    uri: str
    note: str | None = None  # why the default could not be used


def choose_reference(
    project: Project,
    training_sha256: str,
    registry: Any,
    champion_data: Any = None,
    *,
    read: Any = None,
) -> Reference:
    """The reference for this run; `registry()` connects to MLflow only when needed.

    `read(project, path)` reads a reference file: `read_reference` (pandas) by default.

    `champion_data`: what `_champion_training_data` answered on the host, for a validate
    stage in compute.docker_image (which has no MLflow): [[uri, sha256] or None, note].
    """
    read = read or read_reference
    setting = project.config.validation.drift.reference
    training_uri = str(project.location(project.config.data.training_data_path))
    if setting == "training":
        return Reference("the training file", None, training_uri)
    if setting != "champion":
        location = project.location(setting)
        if not isinstance(location, Path) or not location.is_file():
            raise project.config_error(
                ("validation", "drift", "reference"),
                f"reference data {setting} not found; give a data file, 'training' or 'champion'",
            )
        return Reference(setting, read(project, location), str(location))
    if champion_data is not None:
        recorded, note = champion_data
    else:
        recorded, note = _champion_training_data(project, registry)
    if recorded is None:
        return Reference("the training file", None, training_uri, note)
    uri, sha256 = recorded
    if sha256 == training_sha256:
        return Reference(
            "the training file", None, training_uri, "the champion was trained on this same file"
        )
    location = Path(uri)
    if "://" in uri or not location.is_file():
        return Reference(
            "the training file",
            None,
            training_uri,
            f"the champion's training data {uri} is not a readable local file",
        )
    from mlgate.data import sha256_of

    if sha256 and sha256_of(location) != sha256:
        return Reference(
            "the training file",
            None,
            training_uri,
            f"the champion's training data {uri} has changed since it was trained on",
        )
    return Reference("the champion's training data", read(project, location), uri)


def _champion_training_data(
    project: Project, registry: Any
) -> tuple[tuple[str, str | None] | None, str | None]:
    from mlgate.tracking import tags
    from mlgate.tracking.aliases import alias_model_version
    from mlgate.tracking.uri import nothing_registered_yet

    if nothing_registered_yet(project):
        return None, None  # nothing was ever registered here: no champion
    alias = project.config.evaluation.champion_alias
    try:
        version = alias_model_version(registry().client, project.registry_name, alias)
    except Exception as exc:  # the registry is unreachable
        reason = " ".join(str(exc).split())[:120]
        return None, f"could not read the champion from the registry ({reason})"
    if version is None:
        return None, None
    recorded = (version.tags or {}).get(tags.data_key("training", "uri"))
    if not recorded:
        return None, f"the champion (version {version.version}) has no recorded training data"
    return (recorded, (version.tags or {}).get(tags.data_key("training", "sha256"))), None


def read_reference(project: Project, path: Path) -> pd.DataFrame:
    """A reference data file, with categories as text like the data loader makes them."""
    import pandas as pd

    from mlgate.validation.baseline import category_text

    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".zst", ".xz")]
    kind = suffixes[-1] if suffixes else ""
    try:
        if kind in (".csv", ".tsv"):
            frame = pd.read_csv(path, sep="," if kind == ".csv" else "\t", low_memory=False)
        elif kind in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif kind in (".jsonl", ".ndjson"):
            frame = pd.read_json(path, lines=True)
        else:
            raise InputError("reference data: unknown file type", file=path)
    except (ValueError, OSError, UnicodeDecodeError, EOFError, zlib.error, lzma.LZMAError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"reference data cannot be read: {first}", file=path) from None
    for name, column in {**project.spec.features, **project.spec.sensitive_features}.items():
        if name not in frame.columns:
            continue
        if column.is_numeric:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        else:
            values = frame[name].astype(object)
            frame[name] = values.map(category_text, na_action="ignore").where(values.notna())
    return frame
