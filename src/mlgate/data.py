"""Reading the training and validation tables, with their hashes, into typed frames."""

from __future__ import annotations

import hashlib
import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import InputError
from mlgate.project import Project
from mlgate.results.validate import DataFileRecord, DvcRecord, S3DataFileRecord

if TYPE_CHECKING:
    import pandas as pd

    from mlgate._dvc import Tracked

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".xz")
ROLES = {"training": "training_data_path", "validation": "validation_data_path"}


@dataclass(frozen=True)
class DataFile:
    """What lineage records of one data file."""

    role: str
    uri: str
    sha256: str
    size_bytes: int
    rows: int
    columns: int
    # For an s3:// source: the object version and ETag that were read (None otherwise).
    version_id: str | None = None
    etag: str | None = None
    # For a DVC-tracked file: its pointer, md5, remote and the pointer's commit.
    dvc: Tracked | None = None

    def record(self) -> DataFileRecord:
        """The file as `validate.json` records it (the version and ETag for S3 only)."""
        fields: dict[str, Any] = {
            "role": self.role,
            "uri": self.uri,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "rows": self.rows,
            "columns": self.columns,
        }
        if self.dvc is not None:
            tracked = self.dvc
            fields["dvc"] = DvcRecord(
                pointer=tracked.pointer,
                md5=tracked.md5,
                remote=tracked.remote,
                commit=tracked.commit,
            )
        if self.uri.startswith("s3://"):
            return S3DataFileRecord(**fields, version_id=self.version_id, etag=self.etag)
        return DataFileRecord(**fields)


def load_table(
    project: Project, role: str, *, known_sha256: str | None = None, fetched: Any = None
) -> tuple[pd.DataFrame, DataFile]:
    """Read the `role` table named in the config and check it against the feature spec.

    `known_sha256` (a local file's hash) and `fetched` (an s3 object just fetched) come
    from the stage cache, which has looked at the same file a moment ago: a large file
    is then not hashed twice, nor an object asked for twice.
    """
    key = ROLES[role]
    written = getattr(project.config.data, key)
    location = check_location(project, role)
    if not isinstance(location, Path):
        return _load_s3(project, role, written, ("data", key), fetched)
    file_format = _format_of(location)
    assert file_format is not None  # check_location refused any other
    from dataclasses import replace

    tracked = dvc_tracked(project, role)  # check_location resolved it: remembered
    if known_sha256:
        frame, info = _load_file(project, role, location, file_format, known_sha256)
        return frame, replace(info, dvc=tracked)
    # Hash while the file is parsed: hashlib and the parsers release the GIL, so on two
    # cores the hash that lineage and the stage cache need costs almost nothing.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(sha256_of, location)
        frame, info = _load_file(project, role, location, file_format, "")
        return frame, replace(info, sha256=digest.result(), dvc=tracked)


def check_location(project: Project, role: str) -> str | Path:
    """The `role` data file's location, refused (config error) when it cannot be read.

    Nothing is read: a local file must exist with a known suffix, an s3:// object must
    have one. A DVC-tracked local file (`<file>.dvc`, or an output in a `dvc.lock`) is
    fetched from its DVC remote when missing and checked against its pointer's md5
    (`dvc_tracked`). The preflight and the data loader share these checks.
    """
    key = ROLES[role]
    written = getattr(project.config.data, key)
    location = project.location(written)
    key_path = ("data", key)
    if not isinstance(location, Path):
        from mlgate import _s3 as s3

        if not s3.is_s3_uri(written):
            scheme = written.split("://", 1)[0]
            raise project.config_error(
                key_path,
                f"cannot read {written}: {scheme}:// data sources are not supported; use a "
                "path in the model repo or s3://bucket/key",
            )
        _, object_key = s3.parse_uri(written)
        name = Path(object_key.rsplit("/", 1)[-1])
    else:
        name = location
    if _format_of(name) is None:
        raise project.config_error(
            key_path,
            f"{written}: unknown file type; use one of {', '.join(sorted(FORMATS))} "
            "(optionally compressed: .gz, .bz2, .zst, .xz)",
        )
    if isinstance(location, Path):
        dvc_tracked(project, role)
        if not location.exists():
            raise project.config_error(key_path, f"{written} does not exist (looked in {location})")
        if not location.is_file():
            raise project.config_error(key_path, f"{written} is not a regular file")
    return location


def dvc_tracked(project: Project, role: str) -> Tracked | None:
    """The `role` data file as DVC tracks it (fetched when missing, its md5 checked), or
    None when it is not DVC-tracked (or not a local file)."""
    key = ROLES[role]
    written = getattr(project.config.data, key)
    location = project.location(written)
    if not isinstance(location, Path):
        return None
    return dvc_file(project, location, ("data", key), written)


def dvc_file(
    project: Project, location: Path, key_path: tuple[str, ...], written: str
) -> Tracked | None:
    """A data file the config names at `key_path`, fetched and checked when DVC tracks it."""
    from mlgate import _dvc

    try:
        return _dvc.resolve(location)
    except _dvc.DvcMissing as missing:
        raise project.config_error(
            key_path,
            f"{written} is tracked by DVC ({missing.pointer.name}); reading it needs DVC: "
            f"{_dvc.EXTRA}",
        ) from None


def read_target(project: Project) -> pd.Series | None:
    """The training file's target column alone (its header and that column), or None.

    For the preflight: enough to know the task and the classes before any stage runs.
    None when the file is not a local CSV, TSV or Parquet file, or cannot be read so: the
    data loader then reports what is wrong, with the whole file in view.
    """
    import pandas as pd

    location = project.location(project.config.data.training_data_path)
    if not isinstance(location, Path):
        return None
    file_format = _format_of(location)
    target = project.spec.target
    try:
        if file_format in ("csv", "tsv"):
            frame = pd.read_csv(
                location,
                sep="," if file_format == "csv" else "\t",
                usecols=[target],
                encoding="utf-8",
                low_memory=False,
            )
        elif file_format == "parquet":
            frame = pd.read_parquet(location, columns=[target])
        else:
            return None
    except Exception:  # any reading problem is the data loader's to report, in full
        return None
    if target not in frame.columns or len(frame.index) == 0:
        return None
    return frame[target]


def _load_s3(
    project: Project, role: str, written: str, key_path: tuple[str, str], fetched: Any = None
) -> tuple[pd.DataFrame, DataFile]:
    """Fetch an s3:// object through the local cache, then read it like a local file."""
    from dataclasses import replace

    from mlgate import _s3 as s3

    _, object_key = s3.parse_uri(written)
    file_format = _format_of(Path(object_key.rsplit("/", 1)[-1]))
    assert file_format is not None  # check_location refused any other
    if fetched is None or fetched.uri != written:
        fetched = s3.fetch(written, project.state_dir / "cache" / "s3")
    try:
        frame, info = _load_file(project, role, fetched.path, file_format, fetched.sha256)
    except InputError as error:  # name the object, not its copy in the cache
        raise InputError(error.message, file=written, line=error.line, key=error.key) from None
    return frame, replace(info, uri=written, version_id=fetched.version_id, etag=fetched.etag)


def _load_file(
    project: Project, role: str, location: Path, file_format: str, digest: str
) -> tuple[pd.DataFrame, DataFile]:
    size = location.stat().st_size
    if size == 0:
        raise InputError(f"{role} data file is empty (0 bytes)", file=location)
    frame = _read(location, file_format, role)
    if len(frame.index) == 0:
        raise InputError(f"{role} data has a header but no rows", file=location)
    _check_columns(project, frame, location)
    frame = _coerce_types(project, frame, location)
    info = DataFile(
        role=role,
        uri=str(location),
        sha256=digest,
        size_bytes=size,
        rows=len(frame.index),
        columns=len(frame.columns),
    )
    return frame, info


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_features(project: Project, path: Path, role: str, *, shown: str = "") -> pd.DataFrame:
    """A table of model inputs (no target needed), read and typed as the loader does.

    For production data (`mlgate monitor`): the same readers and the same coercion of
    numbers and categories as the training file, so a drift figure compares like with
    like. `shown` names the file in errors (an s3:// object rather than its cached copy).
    """
    file_format = _format_of(path)
    where = shown or path
    if file_format is None:
        raise InputError(f"unknown file type; use one of {', '.join(sorted(FORMATS))}", file=where)
    try:
        return type_features(project, _read(path, file_format, role), path)
    except InputError as error:
        raise InputError(error.message, file=where, line=error.line, key=error.key) from None


def type_features(project: Project, frame: pd.DataFrame, where: Path | str) -> pd.DataFrame:
    """Model inputs present (or InputError naming the one missing), typed as the loader does."""
    present = {str(column) for column in frame.columns}
    for name in project.spec.model_inputs:
        if name not in present:
            from mlgate.config import did_you_mean

            raise InputError(
                f"column '{name}' (a model input) is missing{did_you_mean(name, present)}; "
                f"columns present: {_some(present)}",
                file=where,
            )
    return _coerce_types(project, frame, where)  # type: ignore[arg-type]


def is_readable_name(name: str) -> bool:
    """Whether a file or object name has a suffix the loader reads."""
    return _format_of(Path(name.rsplit("/", 1)[-1])) is not None


def _format_of(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    return FORMATS.get(suffixes[-1]) if suffixes else None


def _read(path: Path, file_format: str, role: str) -> pd.DataFrame:
    import pandas as pd

    try:
        if file_format in ("csv", "tsv"):
            separator = "," if file_format == "csv" else "\t"
            _check_header(path, separator)
            return pd.read_csv(path, sep=separator, encoding="utf-8", low_memory=False)
        if file_format == "parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=True)
    except UnicodeDecodeError:
        raise InputError(
            f"{role} data is not UTF-8 text{_where_not_utf8(path)}; re-save it as UTF-8",
            file=path,
        ) from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{role} data has no columns", file=path) from None
    except (EOFError, zlib.error, lzma.LZMAError) as exc:
        # A compressed file cut short (an interrupted upload or copy) or damaged.
        raise InputError(
            f"{role} data cannot be decompressed ({path.suffix.lstrip('.')}): "
            f"{_first_line(exc)}; the file is truncated or corrupt",
            file=path,
        ) from None
    except MemoryError:
        raise too_big(path, role) from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        if "out of memory" in str(exc):  # pandas' C parser could not grow its buffers
            raise too_big(path, role) from None
        raise InputError(
            f"{role} data cannot be read as {file_format}: {_first_line(exc)}", file=path
        ) from None
    except ImportError as exc:
        raise InputError(
            f"reading {file_format} needs an extra package: {exc}", file=path
        ) from None


def too_big(path: Path | str, role: str) -> InputError:
    """A data file pandas ran out of memory reading: one line saying what reads it instead."""
    size = f" ({path.stat().st_size / 2**30:.2f} GiB on disk)" if isinstance(path, Path) else ""
    return InputError(
        f"{role} data does not fit in this machine's memory as a pandas table{size}; read "
        "and check it with Spark (validation.engine: spark) and train a Spark MLlib "
        "model.type (pyspark.ml....) on compute.cluster",
        file=path,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _where_not_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 is, for an uncompressed file of sane size."""
    if path.suffix.lower() in COMPRESSIONS or path.stat().st_size > 256 * 2**20:
        return ""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return f" (line {line}, byte {exc.start}: {raw[exc.start : exc.start + 1]!r})"
    return ""


def _check_header(path: Path, separator: str) -> None:
    """pandas silently renames a repeated column to `name.1`; refuse it instead."""
    import pandas as pd

    first = pd.read_csv(path, sep=separator, nrows=1, header=None, encoding="utf-8", dtype=str)
    names = [str(name).strip() for name in first.iloc[0].tolist()] if len(first.index) else []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"column '{name}' appears twice in the header; rename one", file=path)
        seen.add(name)


def _check_columns(project: Project, frame: pd.DataFrame, path: Path | str) -> None:
    spec = project.spec
    present = {str(column) for column in frame.columns}
    if spec.target not in present:
        raise InputError(
            f"target column '{spec.target}' is missing (feature spec target); "
            f"columns present: {_some(present)}",
            file=path,
        )
    for group, names in (
        ("features", spec.features),
        ("sensitive_features", spec.sensitive_features),
        ("id_columns", spec.id_columns),
    ):
        for name in names:
            if name not in present:
                from mlgate.config import did_you_mean

                raise InputError(
                    f"column '{name}' (feature spec {group}) is missing"
                    f"{did_you_mean(name, present)}; columns present: {_some(present)}",
                    file=path,
                )


def _coerce_types(project: Project, frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Numeric columns become numbers and categoricals strings, or the file is refused."""
    import numpy as np
    import pandas as pd

    # Columns are replaced, never written into: a shallow copy is enough (and free).
    frame = frame.copy(deep=False)
    columns = {**project.spec.features, **project.spec.sensitive_features}
    for name, column in columns.items():
        if name not in frame.columns:
            continue  # production data may lack a sensitive feature (the loader checked)
        values = frame[name]
        if column.is_numeric:
            if values.dtype == bool:
                raise InputError(
                    f"column '{name}' is declared {column.type} but holds true/false values",
                    file=path,
                )
            if pd.api.types.is_numeric_dtype(values):
                continue  # already numbers (Parquet, or a clean CSV column)
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & numbers.isna()
            if bad.any():
                sample = values[bad].astype(str).unique()[:3].tolist()
                raise InputError(
                    f"column '{name}' is declared {column.type} but has {int(bad.sum())} "
                    f"non-numeric value(s), e.g. {sample}; fix the data or declare it categorical",
                    file=path,
                )
            # Keep integers as integers: the model's signature is inferred from these
            # columns, and a serving request carries the file's own types.
            if not pd.api.types.is_numeric_dtype(values):
                frame[name] = numbers
        else:
            # One representation for categories whatever the file format: strings,
            # with missing values as NaN, so one-hot encoding sees the same labels.
            if isinstance(values.dtype, pd.StringDtype) and values.dtype.na_value is np.nan:
                continue  # pandas' own text type, missing values NaN: already that form
            if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
                text = values.astype(object)  # already text: no per-value conversion
            else:
                text = values.astype(object).map(_category_text, na_action="ignore")
            frame[name] = text.where(text.notna(), np.nan).astype(object)
    return frame


def _category_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _some(names: set[str], limit: int = 12) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:limit])
    return shown + (f", … (+{len(ordered) - limit})" if len(ordered) > limit else "")
