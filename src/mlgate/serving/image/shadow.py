"""The shadow model of a serving image: a second version scores copies of the requests.

Runs inside a serving image beside serve.py (`mlgate build-image MODEL@production --shadow
MODEL@candidate`). The primary model answers every request; after it has, the request's
rows and the primary's predictions are put in a bounded queue (`serving.shadow_sample` of
the requests, MLGATE_SHADOW_SAMPLE in the container's environment replacing it; 0 turns the
shadow off). One worker thread takes them in order and scores them with the shadow, so a
slow or failing shadow never delays or fails a request: when the queue is full the request
is not shadowed and its rows are counted as dropped. Its computing shares the interpreter
lock with the threads that answer, so an answer given meanwhile can take up to that long
more (see start).

What the worker finds goes to /metrics, per row:

    mlgate_shadow_requests_total        rows the shadow scored
    mlgate_shadow_agreements_total      classifiers: rows where it predicted the primary's label
    mlgate_shadow_abs_difference        regressors: a histogram of |shadow - primary|
    mlgate_shadow_errors_total          rows of requests the shadow failed on
    mlgate_shadow_dropped_total         rows not shadowed because the queue was full
    mlgate_shadow_latency_seconds       a histogram of the shadow's time per request

and, with the prediction log on, each shadowed request is logged with both predictions
(predlog.py: a "shadow" object beside "prediction").

Needs only the standard library, numpy and prometheus_client (pandas when the model gives
a DataFrame).
"""

from __future__ import annotations

import queue
import random
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

SAMPLE_VARIABLE = "MLGATE_SHADOW_SAMPLE"
# Requests waiting for the shadow at most; more are dropped (and counted).
QUEUE_REQUESTS = 16
# The interpreter's switch interval while a shadow runs (see start).
SWITCH_SECONDS = 0.0005
# How long stop() waits for the shadow to score the requests that wait.
STOP_SECONDS = 5.0
# |shadow - primary| for regressors: from "the same" to six decades.
DIFFERENCE_BUCKETS = (
    0.0,
    1e-6,
    1e-4,
    1e-3,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    100.0,
    1e3,
    1e4,
    1e5,
    1e6,
)
_STOP = object()


class SettingsError(Exception):
    """The shadow's settings cannot work; the server does not start."""


def sample_from(config: Mapping[str, Any], environ: Mapping[str, str]) -> float:
    """The share of requests the shadow scores: MLGATE_SHADOW_SAMPLE, else the image's
    `serving.shadow_sample`."""
    raw = environ.get(SAMPLE_VARIABLE)
    if raw is None or not raw.strip():
        return float(config.get("sample", 1.0))
    try:
        sample = float(raw)
    except ValueError:
        sample = -1.0
    if not 0.0 <= sample <= 1.0:
        raise SettingsError(f"{SAMPLE_VARIABLE}={raw!r} is not a share between 0 and 1")
    return sample


class ShadowMetrics:
    """The shadow's Prometheus collectors, on the server's registry."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Histogram

        self.requests = Counter(
            "mlgate_shadow_requests", "Rows scored by the shadow model", registry=registry
        )
        self.agreements = Counter(
            "mlgate_shadow_agreements",
            "Rows where the shadow model predicted the primary's label (classification models)",
            registry=registry,
        )
        self.errors = Counter(
            "mlgate_shadow_errors",
            "Rows of requests the shadow model failed to score",
            registry=registry,
        )
        self.dropped = Counter(
            "mlgate_shadow_dropped",
            "Rows not shadowed: the shadow's queue was full",
            registry=registry,
        )
        self.latency = Histogram(
            "mlgate_shadow_latency_seconds",
            "Time the shadow model took to score a request",
            registry=registry,
        )
        self.difference = Histogram(
            "mlgate_shadow_abs_difference",
            "Absolute difference between the shadow's and the primary's prediction, per row "
            "(regression models)",
            buckets=DIFFERENCE_BUCKETS,
            registry=registry,
        )


class Shadow:
    """A bounded queue of scored requests and the thread that shadows them."""

    def __init__(
        self,
        model: Any,
        metrics: ShadowMetrics,
        *,
        version: str,
        task: str | None,
        sample: float = 1.0,
        queue_requests: int = QUEUE_REQUESTS,
        log: Any = None,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self.metrics = metrics
        self.version = str(version)
        self.task = task
        self.sample = sample
        self.log = log
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_requests)
        self._random = random.Random(seed)
        self._thread: threading.Thread | None = None

    # --- the request path ---------------------------------------------------------------

    def offer(self, data: Any, predictions: Any) -> bool:
        """Queue a scored request for the shadow; True when it was taken (the worker then
        logs it), False when it was not sampled or the queue was full. Never raises, never
        waits."""
        try:
            if self.sample <= 0 or (self.sample < 1 and self._random.random() >= self.sample):
                return False
            try:
                self._queue.put_nowait((data, predictions))
            except queue.Full:
                self.metrics.dropped.inc(_row_count(predictions))
                return False
            return True
        except Exception as error:  # shadowing must never turn an answer into an error
            print(f"mlgate: shadow: request not shadowed: {error!r}", file=sys.stderr)
            return False

    # --- the worker ---------------------------------------------------------------------

    def start(self) -> Shadow:
        # The worker shares the interpreter lock with the threads that answer: a request
        # that arrives while the shadow computes waits for the lock at most this long
        # (Python's default is 5 ms, a slow answer's worth), then shares the CPU with it.
        sys.setswitchinterval(SWITCH_SECONDS)
        self._thread = threading.Thread(target=self._run, name="shadow-model", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Let the worker score what waits, for at most `timeout` seconds, and end."""
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            self.score(*item)

    def score(self, data: Any, predictions: Any) -> None:
        """Score one request with the shadow and count what it found (the worker's step)."""
        rows = _row_count(predictions)
        started = time.perf_counter()
        try:
            shadowed = self.model.predict(data)
            self.metrics.latency.observe(time.perf_counter() - started)
            self.compare(predictions, shadowed)
        except Exception as error:
            shadowed = None
            self.metrics.errors.inc(rows)
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            print(
                f"mlgate: shadow v{self.version} failed on {rows} rows: {reason}", file=sys.stderr
            )
        if self.log is not None:
            self.log.offer(data, predictions, shadow=(self.version, shadowed))

    def compare(self, predictions: Any, shadowed: Any) -> None:
        """Count agreement (classifiers) or the absolute differences (regressors)."""
        primary, shadow = _flat(predictions), _flat(shadowed)
        if primary is None or shadow is None:
            raise ValueError("a prediction with several values per row cannot be compared")
        if len(primary) != len(shadow):
            raise ValueError(f"{len(shadow)} shadow predictions for {len(primary)} rows")
        if self.task == "regression" or (self.task is None and _all_floats(primary)):
            differences = [abs(float(s) - float(p)) for p, s in zip(primary, shadow, strict=True)]
            for difference in differences:
                self.metrics.difference.observe(difference)
        else:
            same = sum(str(p) == str(s) for p, s in zip(primary, shadow, strict=True))
            self.metrics.agreements.inc(same)
        self.metrics.requests.inc(len(primary))


def _flat(predictions: Any) -> list[Any] | None:
    """One value per row, or None for outputs with several values per row."""
    import numpy as np

    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] != 1:
            return None
        predictions = predictions.iloc[:, 0]
    array = np.asarray(predictions, dtype=object)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    return list(array) if array.ndim == 1 else None


def _row_count(predictions: Any) -> int:
    try:
        return len(predictions)
    except TypeError:
        return 1


def _all_floats(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(v, float) for v in values)
