"""The production rows `mlgate monitor` checks: `monitoring.data`, read newest first.

`monitoring.data` is a file, a folder (every readable file under it), a glob, or an
`s3://bucket/prefix/`. Files are ordered newest first by the time their name carries
(`20261203T084500Z`, as the serving image's prediction log names its batches), else by
their modification time (an object's LastModified). They are read in that order until
`monitoring.window` is covered: that many rows, or a time span ending at the newest row.
A time span needs times: `monitoring.timestamp_column`, the prediction log's own
`timestamp`, or names that carry one.

The serving image's prediction log is recognised by its shape: JSON Lines of
`{"timestamp", "model", "version", "inputs": {...}, "prediction"}`. Its `inputs` become
the feature columns and `prediction` the logged prediction.
"""

from __future__ import annotations

import glob as globbing
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.project import Project

# A UTC time in a file or object name, as the prediction log writes it.
TIME_IN_NAME = re.compile(r"(\d{8}T\d{6}Z)")
LOG_TIMESTAMP = "timestamp"  # the prediction log's own time column
LOG_FIELDS = frozenset({"timestamp", "inputs", "prediction"})
KEY = ("monitoring", "data")


@dataclass(frozen=True)
class Source:
    """One file or object that may hold production rows."""

    name: str  # a local path or an s3:// URI
    time: datetime  # when it was written: the time in its name, else its modification time
    named_time: bool  # the time came from the name


@dataclass
class Window:
    """The production rows, oldest first, and where they came from."""

    frame: pd.DataFrame  # model inputs typed like the training data, plus any other columns
    predictions: pd.Series | None  # the logged predictions (prediction log only)
    versions: pd.Series | None  # the version that served each logged row
    timestamps: pd.Series | None  # UTC, when the rows carry a time
    files_read: list[str]
    files_found: int
    prediction_log: bool


def find_sources(project: Project, setting: str) -> list[Source]:
    """The files `monitoring.data` names, newest first; exit 2 when there are none."""
    from mlgate import _s3 as s3
    from mlgate.data import is_readable_name

    if s3.is_s3_uri(setting):
        listed = [item for item in s3.list_prefix(setting) if is_readable_name(item.key)]
        sources = [_source(item.uri, item.last_modified) for item in listed]
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", setting):
        raise project.config_error(
            KEY, f"cannot read {setting}: use a file, a folder, a glob or s3://bucket/prefix/"
        )
    else:
        sources = [
            _source(str(path), datetime.fromtimestamp(path.stat().st_mtime, timezone.utc))
            for path in _local_files(project, setting)
            if is_readable_name(path.name)
        ]
    if not sources:
        raise project.config_error(
            KEY, f"no readable data file (.csv, .tsv, .parquet, .jsonl) found at {setting}"
        )
    return sorted(sources, key=lambda source: (source.time, source.name), reverse=True)


def read_window(
    project: Project,
    sources: list[Source],
    *,
    rows: int | None,
    seconds: int | None,
    timestamp_column: str | None,
) -> Window:
    """Read `sources` (newest first) until the window is covered; the rows, oldest first."""
    import pandas as pd

    parts: list[tuple[pd.DataFrame, pd.Series | None, pd.Series | None, pd.Series | None]] = []
    read: list[str] = []
    total = 0
    newest: Any = None
    cutoff: Any = None
    log_seen = False
    for source, frame, predictions, versions, is_log in _read_ahead(project, sources):
        if cutoff is not None and source.time < cutoff:
            break  # everything in it was written before the window starts
        log_seen = log_seen or is_log
        column = LOG_TIMESTAMP if is_log and timestamp_column is None else timestamp_column
        times = _times(frame, column, source) if column is not None else None
        if times is None and seconds is not None:
            if not source.named_time:
                raise project.config_error(
                    ("monitoring", "window"),
                    "a time span needs times: set monitoring.timestamp_column, or name the "
                    "files with a UTC time like 20261203T084500Z",
                )
            times = pd.Series(pd.Timestamp(source.time), index=frame.index)
        parts.append((frame, predictions, versions, times))
        read.append(source.name)
        total += len(frame.index)
        if seconds is not None and newest is None:
            newest = times.max() if times is not None and times.notna().any() else None
            if newest is not None:
                cutoff = (newest - pd.Timedelta(seconds=seconds)).to_pydatetime()
        if rows is not None and total >= rows:
            break
    parts.reverse()  # oldest first, as the rows were written
    frame = pd.concat([part[0] for part in parts], ignore_index=True, sort=False)
    predictions = _joined([part[1] for part in parts], frame)
    versions = _joined([part[2] for part in parts], frame)
    times = _joined([part[3] for part in parts], frame)
    if times is not None:
        order = times.sort_values(kind="stable").index
        if not order.equals(frame.index):
            frame, times = frame.loc[order], times.loc[order]
            predictions = predictions.loc[order] if predictions is not None else None
            versions = versions.loc[order] if versions is not None else None
    keep: Any = None
    if rows is not None and len(frame.index) > rows:
        keep = frame.index[-rows:]
    elif seconds is not None and times is not None and cutoff is not None:
        keep = times.index[times >= pd.Timestamp(cutoff)]
    if keep is not None:
        frame = frame.loc[keep]
        times = times.loc[keep] if times is not None else None
        predictions = predictions.loc[keep] if predictions is not None else None
        versions = versions.loc[keep] if versions is not None else None
    return Window(
        frame=frame.reset_index(drop=True),
        predictions=predictions.reset_index(drop=True) if predictions is not None else None,
        versions=versions.reset_index(drop=True) if versions is not None else None,
        timestamps=times.reset_index(drop=True) if times is not None else None,
        files_read=read,
        files_found=len(sources),
        prediction_log=log_seen,
    )


def _read_ahead(project: Project, sources: list[Source]) -> Iterator[tuple[Any, ...]]:
    """Each source with its rows, in order, the next one read meanwhile on another thread
    (the parsers release the GIL); a file read ahead but not needed is discarded."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=2)
    pending = iter(sources)
    queued: deque[tuple[Source, Any]] = deque()

    def queue_next() -> None:
        source = next(pending, None)
        if source is not None:
            queued.append((source, pool.submit(_read_source, project, source)))

    try:
        queue_next()
        queue_next()
        while queued:
            source, future = queued.popleft()
            yield (source, *future.result())
            queue_next()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _source(name: str, modified: datetime) -> Source:
    found = TIME_IN_NAME.findall(name.rsplit("/", 1)[-1])
    if found:
        try:
            named = datetime.strptime(found[-1], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            return Source(name, named, True)
        except ValueError:
            pass  # not a real date: the modification time decides
    return Source(name, modified, False)


def _local_files(project: Project, setting: str) -> list[Path]:
    if any(mark in setting for mark in "*?["):
        pattern = str(project.location(setting))
        return [
            Path(name) for name in globbing.glob(pattern, recursive=True) if Path(name).is_file()
        ]
    location = project.location(setting)
    assert isinstance(location, Path)
    if location.is_dir():
        return [path for path in location.rglob("*") if path.is_file()]
    if location.is_file():
        return [location]
    raise project.config_error(KEY, f"{setting} does not exist (looked in {location})")


def _local_copy(project: Project, source: Source) -> Path:
    from mlgate import _s3 as s3

    if s3.is_s3_uri(source.name):
        return s3.fetch(source.name, project.state_dir / "cache" / "s3").path
    return Path(source.name)


def _read_source(
    project: Project, source: Source
) -> tuple[pd.DataFrame, pd.Series | None, pd.Series | None, bool]:
    """One file's rows: typed model inputs (+ other columns), and the logged predictions."""
    from mlgate.data import read_features

    path = _local_copy(project, source)
    name = source.name.lower()
    for suffix in (".gz", ".bz2", ".zst", ".xz"):
        name = name.removesuffix(suffix)
    if name.endswith((".jsonl", ".ndjson")):
        logged = _read_prediction_log(project, path, source.name)
        if logged is not None:
            return (*logged, True)
    frame = read_features(project, path, "production", shown=source.name)
    return frame, None, None, False


def _read_prediction_log(
    project: Project, path: Path, shown: str
) -> tuple[pd.DataFrame, pd.Series, pd.Series | None] | None:
    """The prediction log's rows flattened, or None when the file has another shape."""
    import pandas as pd

    from mlgate.data import type_features

    try:
        raw = pd.read_json(path, lines=True, dtype=False)
    except ValueError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(
            f"production data cannot be read as JSON Lines: {first}", file=shown
        ) from None
    if not LOG_FIELDS.issubset(str(column) for column in raw.columns):
        return None
    inputs = raw["inputs"]
    if not inputs.map(lambda value: isinstance(value, dict)).all():
        raise InputError("a prediction log line's 'inputs' is not an object", file=shown)
    model = project.registry_name
    if "model" in raw.columns:
        raw = raw[raw["model"].astype(str) == model]  # a shared log: this model's rows only
        inputs = raw["inputs"]
    frame = pd.DataFrame.from_records(inputs.tolist(), index=raw.index)
    if raw.empty:  # another model's log only: no rows, but the columns of this model's
        frame = pd.DataFrame(columns=list(project.spec.model_inputs), index=raw.index)
    frame[LOG_TIMESTAMP] = raw[LOG_TIMESTAMP]
    frame = type_features(project, frame, shown)
    versions = raw["version"].astype(str) if "version" in raw.columns else None
    return frame, raw["prediction"], versions


def _times(frame: pd.DataFrame, column: str, source: Source) -> pd.Series:
    import pandas as pd

    if column not in frame.columns:
        raise InputError(
            f"timestamp column '{column}' (monitoring.timestamp_column) is missing",
            file=source.name,
        )
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values):
        times = pd.to_datetime(values, unit="s", utc=True, errors="coerce")
    else:
        times = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = values.notna() & times.isna()
    if bad.any():
        sample = values[bad].astype(str).iloc[0]
        raise InputError(
            f"timestamp column '{column}' has {int(bad.sum())} value(s) that are not a time, "
            f"e.g. {sample!r}; write ISO-8601 times like 2026-12-03T08:45:00Z",
            file=source.name,
        )
    return times


def _joined(parts: list[Any], frame: pd.DataFrame) -> pd.Series | None:
    import pandas as pd

    if all(part is None for part in parts):
        return None
    if any(part is None for part in parts):
        return None  # some files carry it and others not: not a series of the whole window
    return pd.Series(pd.concat(parts, ignore_index=True).to_numpy(), index=frame.index)
