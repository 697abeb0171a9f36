"""The served model's prediction log: sampled requests as JSON Lines, written in batches.

Runs inside a serving image beside serve.py, which hands every scored request to
`PredictionLog.offer`. On the request path a request's rows are only sampled
(`serving.log_sample`) and put in a bounded buffer; a background thread writes a batch
when `serving.log_batch_rows` rows wait or the oldest has waited
`serving.log_flush_seconds`, and what is left when the server stops. A batch that cannot
be written (S3 down, disk full) is dropped with one line on stderr and counted on
/metrics; no request ever waits for a write or fails because of one.

One line per row, one object (or file) per batch, named after its first row's time:

    {"timestamp": "2026-12-03T08:30:00.123Z", "model": "churn", "version": "3",
     "inputs": {"tenure_months": 12, ...}, "prediction": "yes"}
    <prefix>/2026/12/03/20261203T083000Z-<hex>.jsonl

In an image with a shadow model (shadow.py), a row the shadow scored also holds
`"shadow": {"version": "4", "prediction": "no"}` (null when the shadow failed on it).

`mlgate monitor` reads such a prefix (`monitoring.data`) as production data. The log goes
to a folder in the container or an `s3://bucket/prefix/` (boto3, which the image has when
`serving.log_to` was an S3 prefix at build time; credentials and endpoint such as
AWS_ENDPOINT_URL_S3 come from the container's environment). MLGATE_LOG_TO in the
container's environment replaces the destination the image was built with.

Needs only the standard library, numpy and pandas (boto3 for S3, prometheus_client for
`collector`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

DESTINATION_VARIABLE = "MLGATE_LOG_TO"
# The buffer holds at most this many batches' rows; rows sampled beyond it are dropped.
BUFFERED_BATCHES = 10
# How long a stopping server waits for the last batches (docker stop allows 10 s).
STOP_SECONDS = 8.0
_S3 = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")


class SettingsError(Exception):
    """The log's settings cannot work; the server does not start."""


@dataclass(frozen=True)
class Settings:
    sample: float
    to: str
    batch_rows: int
    flush_seconds: float


def settings_from(config: Mapping[str, Any], environ: Mapping[str, str]) -> Settings | None:
    """The log's settings from serving.json's `prediction_log` and the environment, or None
    when the image does not log."""
    baked = config.get("prediction_log") or {}
    override = environ.get(DESTINATION_VARIABLE) or None
    if not baked or not baked.get("sample"):
        if override:
            print(
                f"mlgate: {DESTINATION_VARIABLE} is set but this image was built with "
                "serving.log_sample 0: no prediction log is written",
                file=sys.stderr,
            )
        return None
    return Settings(
        sample=float(baked["sample"]),
        to=override or baked["to"],
        batch_rows=int(baked["batch_rows"]),
        flush_seconds=float(baked["flush_seconds"]),
    )


def sink_for(to: str) -> Any:
    """Where batches go: an S3 prefix or a local folder (created when missing)."""
    if to.startswith("s3://"):
        match = _S3.match(to)
        if match is None:
            raise SettingsError(f"prediction log: '{to}' is not s3://BUCKET/PREFIX/")
        try:
            import boto3  # noqa: F401
        except ImportError:
            raise SettingsError(
                f"prediction log: this image has no boto3 to write to {to}; build it with "
                "serving.log_to set to an s3:// prefix, which adds boto3"
            ) from None
        return S3Sink(match.group(1), match.group(2) or "")
    path = PurePosixPath(to)
    if not path.is_absolute() or ".." in path.parts:
        raise SettingsError(
            f"prediction log: '{to}' is neither s3://BUCKET/PREFIX/ nor an absolute folder path"
        )
    try:
        Path(to).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SettingsError(f"prediction log: cannot create the folder {to}: {error}") from None
    if not os.access(to, os.W_OK):
        raise SettingsError(f"prediction log: the folder {to} is not writable by this user")
    return LocalSink(Path(to))


class LocalSink:
    """Batches as files under a folder; each appears whole (written aside, then renamed)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.where = str(directory)

    def write(self, name: str, body: bytes) -> None:
        target = self.directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        try:
            partial.write_bytes(body)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


class S3Sink:
    """Batches as objects under an S3 prefix, put with boto3 (made on the first write)."""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.where = f"s3://{bucket}/{self.prefix}"
        self._client: Any = None

    def write(self, name: str, body: bytes) -> None:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Short timeouts and few attempts: a batch waits in the buffer meanwhile.
            config = Config(
                connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 3}
            )
            self._client = boto3.client("s3", config=config)
        self._client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + name,
            Body=body,
            ContentType="application/x-ndjson",
        )


@dataclass
class Counts:
    rows_logged: int = 0
    batches_written: int = 0
    batches_failed: int = 0
    rows_dropped_buffer_full: int = 0
    rows_dropped_write_failed: int = 0
    rows_buffered: int = 0


@dataclass(frozen=True)
class _Row:
    due: float  # monotonic time by which its batch is written
    wall: float  # when it was scored (seconds since the epoch)
    record: dict[str, Any]


class PredictionLog:
    """Sampled rows in a bounded buffer, written in batches by a thread of its own."""

    def __init__(
        self,
        sink: Any,
        *,
        model: str,
        version: str,
        sample: float,
        batch_rows: int,
        flush_seconds: float,
        max_rows: int | None = None,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sink = sink
        self.model = model
        self.version = str(version)
        self.sample = sample
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.max_rows = max_rows if max_rows is not None else batch_rows * BUFFERED_BATCHES
        self._random = random.Random(seed)
        self._clock = clock
        self._buffer: deque[_Row] = deque()
        self._ready = threading.Condition()
        self._counts = Counts()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- the request path ---------------------------------------------------------------

    def offer(self, data: Any, predictions: Any, shadow: tuple[str, Any] | None = None) -> None:
        """Sample a scored request's rows into the buffer. Never raises, never waits on I/O.

        `shadow` is the shadow model's (version, predictions), None when it failed
        (shadow.py), logged beside the primary's prediction."""
        try:
            frame = _frame(data)
            picks = self.pick(len(frame))
            if picks:
                records = _records(frame, predictions, picks)
                if shadow is not None:
                    _add_shadow(records, shadow, picks, len(frame))
                self.add(records)
        except Exception as error:  # logging must never turn an answer into an error
            print(f"mlgate: prediction log: request not logged: {error!r}", file=sys.stderr)

    def pick(self, count: int) -> list[int]:
        """The positions of a request's `count` rows that the sample takes."""
        if self.sample >= 1:
            return list(range(count))
        return [n for n in range(count) if self._random.random() < self.sample]

    def add(self, records: list[dict[str, Any]]) -> None:
        """Buffer records ({"inputs": ..., "prediction": ...}) scored now."""
        wall, due = self._clock(), time.monotonic() + self.flush_seconds
        with self._ready:
            was_empty = not self._buffer
            room = max(0, self.max_rows - len(self._buffer))
            self._buffer.extend(_Row(due, wall, record) for record in records[:room])
            self._counts.rows_dropped_buffer_full += max(0, len(records) - room)
            # The writer waits for a full batch, or until the oldest row is due: a first
            # row sets that time.
            if (was_empty and self._buffer) or len(self._buffer) >= self.batch_rows:
                self._ready.notify()

    # --- the writer ---------------------------------------------------------------------

    def start(self) -> PredictionLog:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Write what is buffered and end the writer (waits at most `timeout` seconds)."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        else:  # never started: write here
            self.flush()

    def flush(self) -> None:
        """Write every buffered row now, in batches of at most batch_rows."""
        with self._ready:
            batches = self._take(everything=True)
        for batch in batches:
            self._write(batch)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._stopping and not self._due():
                    self._ready.wait(self._wait())
                stopping = self._stopping
                batches = self._take(everything=stopping)
            for batch in batches:
                self._write(batch)
            if stopping:
                return

    def _due(self) -> bool:
        return len(self._buffer) >= self.batch_rows or bool(
            self._buffer and self._buffer[0].due <= time.monotonic()
        )

    def _wait(self) -> float | None:
        return max(0.0, self._buffer[0].due - time.monotonic()) if self._buffer else None

    def _take(self, *, everything: bool) -> list[list[_Row]]:
        batches = []
        while len(self._buffer) >= self.batch_rows:
            batches.append([self._buffer.popleft() for _ in range(self.batch_rows)])
        if self._buffer and (everything or self._buffer[0].due <= time.monotonic()):
            batches.append(list(self._buffer))
            self._buffer.clear()
        return batches

    def _write(self, batch: list[_Row]) -> None:
        name = batch_name(batch[0].wall)
        try:
            body = "".join(self.line(row.wall, row.record) for row in batch).encode("utf-8")
            self.sink.write(name, body)
        except Exception as error:
            with self._ready:
                self._counts.batches_failed += 1
                self._counts.rows_dropped_write_failed += len(batch)
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            print(
                f"mlgate: prediction log: a batch of {len(batch)} rows was dropped, "
                f"not written to {self.sink.where}{name} ({reason})",
                file=sys.stderr,
                flush=True,
            )
            return
        with self._ready:
            self._counts.batches_written += 1
            self._counts.rows_logged += len(batch)

    def line(self, wall: float, record: dict[str, Any]) -> str:
        row = {
            "timestamp": timestamp(wall),
            "model": self.model,
            "version": self.version,
            "inputs": {str(key): _plain(value) for key, value in record["inputs"].items()},
            "prediction": _plain(record["prediction"]),
        }
        if "shadow" in record:  # {"version": ..., "prediction": ...} of the shadow model
            row["shadow"] = _plain(record["shadow"])
        return json.dumps(row, allow_nan=False, default=str, ensure_ascii=False) + "\n"

    # --- what /metrics shows ------------------------------------------------------------

    def counts(self) -> Counts:
        with self._ready:
            return Counts(**{**self._counts.__dict__, "rows_buffered": len(self._buffer)})

    def collector(self) -> Any:
        """A prometheus_client collector of the log's counts (register it on a registry)."""
        return _Collector(self)


class _Collector:
    def __init__(self, log: PredictionLog) -> None:
        self._log = log

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        counts = self._log.counts()
        yield CounterMetricFamily(
            "mlgate_prediction_log_rows",
            "Rows written to the prediction log",
            value=counts.rows_logged,
        )
        yield CounterMetricFamily(
            "mlgate_prediction_log_batches_written",
            "Batches written to the prediction log",
            value=counts.batches_written,
        )
        yield CounterMetricFamily(
            "mlgate_prediction_log_batches_failed",
            "Batches the prediction log could not write (each dropped)",
            value=counts.batches_failed,
        )
        dropped = CounterMetricFamily(
            "mlgate_prediction_log_rows_dropped",
            "Sampled rows not logged: the buffer was full, or their batch failed",
            labels=["reason"],
        )
        dropped.add_metric(["buffer_full"], counts.rows_dropped_buffer_full)
        dropped.add_metric(["write_failed"], counts.rows_dropped_write_failed)
        yield dropped
        yield GaugeMetricFamily(
            "mlgate_prediction_log_rows_buffered",
            "Sampled rows waiting for their batch",
            value=counts.rows_buffered,
        )


def timestamp(wall: float) -> str:
    """ISO 8601 in UTC with a Z, to the millisecond."""
    moment = datetime.fromtimestamp(wall, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def batch_name(wall: float) -> str:
    """YYYY/MM/DD/<YYYYMMDDTHHMMSSZ>-<hex>.jsonl for a batch whose first row came at `wall`."""
    moment = datetime.fromtimestamp(wall, tz=timezone.utc)
    return f"{moment:%Y/%m/%d}/{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(8)}.jsonl"


def _frame(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    return pd.DataFrame(data)  # a dict of columns or an array, as MLflow passes them


def _records(frame: Any, predictions: Any, picks: list[int]) -> list[dict[str, Any]]:
    """{"inputs": {column: value}, "prediction": value} for the picked rows."""
    values = _picked(predictions, picks, len(frame))
    inputs = frame.iloc[picks].to_dict("records")
    return [{"inputs": row, "prediction": value} for row, value in zip(inputs, values, strict=True)]


def _picked(predictions: Any, picks: list[int], rows: int) -> list[Any]:
    """The predictions of the picked rows; a ValueError unless there is one per row."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] == 1:
            values = predictions.iloc[picks, 0].tolist()
        else:
            values = predictions.iloc[picks].to_dict("records")
        count = len(predictions)
    else:
        array = np.asarray(predictions)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        count = len(array) if array.ndim else 0
        values = array[picks].tolist()
    if count != rows:
        raise ValueError(f"{count} predictions for {rows} rows")
    return values


def _add_shadow(
    records: list[dict[str, Any]], shadow: tuple[str, Any], picks: list[int], rows: int
) -> None:
    """Put the shadow's prediction for each picked row beside the primary's (null when the
    shadow failed or answered for another number of rows)."""
    version, predictions = shadow
    values: list[Any] = [None] * len(picks)
    if predictions is not None:
        with contextlib.suppress(Exception):
            values = _picked(predictions, picks, rows)
    for record, value in zip(records, values, strict=True):
        record["shadow"] = {"version": str(version), "prediction": value}


def _plain(value: Any) -> Any:
    """A value JSON can hold: numbers and strings as they are, missing values as null."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()  # a numpy scalar
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if _missing(value):  # NaT, pd.NA
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
            return value.isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array-like value has no single answer
        return False
