"""The scoring server inside a serving image built by `mlgate build-image`.

MLflow's own pyfunc scoring app answers /ping, /health, /version and /invocations
exactly as `mlflow models serve` does. This adds /metrics in Prometheus' text format:
requests by endpoint and status, their latency, errors, rows scored and the
predictions made (per class for a classifier, a histogram for a regressor), so that
Prometheus can scrape the model server and Grafana can show it. An ONNX image
(`serving.flavor: onnx`) answers the same endpoints from onnx_model.py instead, without MLflow.

    serve.py            serve on 0.0.0.0:$MLGATE_PORT
    serve.py --check    exit 0 when /ping answers 200 (the image's HEALTHCHECK)

This file runs in the image, not in mlgate: it needs only the image's own packages
(mlflow-skinny, prometheus-client, uvicorn) and `serving.json` beside it.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

APP_DIR = Path(__file__).resolve().parent
ENDPOINTS = ("/ping", "/health", "/version", "/invocations", "/metrics")
# Any other method token a client sends is counted as "other": labels stay a bounded set.
METHODS = ("GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH")
# Distinct predicted values counted one by one; more (a mislabelled regressor) share one.
MAX_CLASSES = 50
OTHER_CLASS = "__other__"
# A regressor's predictions without `serving.prediction_buckets`: decades from 0 (a
# negative prediction counts in `le="0"`). prometheus_client drops a histogram's _sum
# when a bound is negative, and the sum gives Grafana the mean prediction.
VALUE_BUCKETS = (0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)


@functools.cache  # read once: app() and port() both need it
def settings() -> dict[str, Any]:
    return json.loads((APP_DIR / "serving.json").read_text(encoding="utf-8"))


def port() -> int:
    return int(os.environ.get("MLGATE_PORT") or settings()["port"])


def check() -> int:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port()}/ping", timeout=4) as answer:
            return 0 if answer.status == 200 else 1
    except OSError:
        return 1


class Metrics:
    """The server's Prometheus collectors, in a registry of their own."""

    def __init__(self, config: dict[str, Any]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.task = config.get("task")
        self.requests = Counter(
            "mlgate_requests",
            "HTTP requests answered, by endpoint, method and status code",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlgate_request_duration_seconds",
            "Time to answer a request, by endpoint",
            ["endpoint"],
            registry=self.registry,
        )
        self.errors = Counter(
            "mlgate_request_errors",
            "Requests that failed: kind client (4xx, a bad request) or server (5xx)",
            ["endpoint", "kind"],
            registry=self.registry,
        )
        # Scoring's error series exist from the start at 0: rate() sees no increase in a
        # series' first sample, so errors that created it would slip past the alert rules.
        for kind in ("client", "server"):
            self.errors.labels("/invocations", kind)
        self.rows = Counter(
            "mlgate_prediction_rows", "Rows scored by the model", registry=self.registry
        )
        self.classes = Counter(
            "mlgate_predictions",
            "Predictions made, by predicted class (classification models)",
            ["predicted"],
            registry=self.registry,
        )
        buckets = config.get("prediction_buckets") or VALUE_BUCKETS
        self.values = Histogram(
            "mlgate_prediction_value",
            "Predicted values (regression models)",
            buckets=buckets,
            registry=self.registry,
        )
        info = Gauge(
            "mlgate_model_info",
            "The model versions this server holds (always 1): role primary answers, role "
            "shadow scores copies of the requests",
            ["name", "version", "role"],
            registry=self.registry,
        )
        info.labels(config["model"], config["version"], "primary").set(1)
        if shadow := config.get("shadow"):
            info.labels(shadow["model"], shadow["version"], "shadow").set(1)
        self._seen: set[str] = set()

    def record_predictions(self, predictions: Any) -> None:
        values = _flat(predictions)
        if values is None:
            return
        self.rows.inc(len(values))
        if self.task == "regression" or (self.task is None and _all_floats(values)):
            for value in values:
                self.values.observe(float(value))
            return
        for value in values:
            label = str(value)
            if label not in self._seen:
                if len(self._seen) >= MAX_CLASSES:
                    label = OTHER_CLASS
                else:
                    self._seen.add(label)
            self.classes.labels(label).inc()

    def record_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, "client" if status < 500 else "server").inc()


class RecordingModel:
    """A pyfunc model whose predictions are also counted on /metrics (and, with a
    prediction log, sampled into it: predlog.py; with a shadow model, copied to its queue:
    shadow.py, whose worker then logs the request with both predictions)."""

    def __init__(self, model: Any, metrics: Metrics, log: Any = None, shadow: Any = None) -> None:
        self._model = model
        self._metrics = metrics
        self._log = log
        self._shadow = shadow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        predictions = self._model.predict(data, params=params)
        try:
            self._metrics.record_predictions(predictions)
        except Exception as error:  # counting must never turn an answer into an error
            print(f"mlgate: predictions not counted: {error!r}", file=sys.stderr)
        shadowed = self._shadow is not None and self._shadow.offer(data, predictions)
        if self._log is not None and not shadowed:
            self._log.offer(data, predictions)  # buffers only; never raises
        return predictions


class MetricsMiddleware:
    """ASGI middleware: times every request and answers GET /metrics itself."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        endpoint = path if path in ENDPOINTS else "other"
        method = method if method in METHODS else "other"
        started = time.perf_counter()
        status = 500
        if path == "/metrics":
            status = 200 if method == "GET" else 405
            await self._metrics_page(send, status)
            self.metrics.record_request(endpoint, method, status, time.perf_counter() - started)
            return

        async def send_and_see(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            self.metrics.record_request(endpoint, method, status, time.perf_counter() - started)

    async def _metrics_page(self, send: Any, status: int) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        body = generate_latest(self.metrics.registry) if status == 200 else b"use GET\n"
        content_type = CONTENT_TYPE_LATEST if status == 200 else "text/plain; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _flat(predictions: Any) -> list[Any] | None:
    """One value per row, or None for outputs with several values per row."""
    import numpy as np

    pd = sys.modules.get("pandas")  # not in an ONNX image, whose model gives arrays only
    if pd is not None and isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] != 1:
            return None
        predictions = predictions.iloc[:, 0]
    array = np.asarray(predictions, dtype=object)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    return list(array) if array.ndim == 1 else None


def _all_floats(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(v, float) for v in values)


def app(log: Any = None) -> Any:
    config = settings()
    metrics = Metrics(config)
    if log is not None:
        metrics.registry.register(log.collector())
    if config.get("flavor") == "onnx":  # model.onnx on onnxruntime: no MLflow in the image
        import onnx_model

        model = onnx_model.OnnxModel(APP_DIR / "model" / onnx_model.MODEL_FILE)
        recording = RecordingModel(model, metrics, log)
        return MetricsMiddleware(
            onnx_model.scoring_app(recording, config.get("mlflow_version") or ""), metrics
        )
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(str(APP_DIR / "model"))
    shadow = shadow_model(config, metrics, log)
    recording = RecordingModel(model, metrics, log, shadow)
    return MetricsMiddleware(scoring_server.init(recording), metrics)


def shadow_model(config: dict[str, Any], metrics: Metrics, log: Any) -> Any:
    """The started shadow (shadow.py) of an image built with --shadow, or None."""
    import shadow

    found = config.get("shadow")
    if not found:
        return None
    sample = shadow.sample_from(found, os.environ)
    shadow_metrics = shadow.ShadowMetrics(metrics.registry)
    if sample <= 0:
        print(f"mlgate: shadow v{found['version']} is off (sample 0)", file=sys.stderr)
        return None
    import mlflow.pyfunc

    loaded = mlflow.pyfunc.load_model(str(APP_DIR / "shadow"))
    print(
        f"mlgate: shadow {found['model']} v{found['version']} scores {sample:g} of the requests",
        file=sys.stderr,
    )
    return shadow.Shadow(
        loaded,
        shadow_metrics,
        version=found["version"],
        task=found.get("task"),
        sample=sample,
        log=log,
    ).start()


def prediction_log() -> Any:
    """The started prediction log (predlog.py, beside this file), or None when off."""
    import predlog

    config = settings()
    found = predlog.settings_from(config, os.environ)
    if found is None:
        return None
    log = predlog.PredictionLog(
        predlog.sink_for(found.to),
        model=config["model"],
        version=config["version"],
        sample=found.sample,
        batch_rows=found.batch_rows,
        flush_seconds=found.flush_seconds,
    )
    print(
        f"mlgate: prediction log: {found.sample:g} of rows to {log.sink.where}, in batches "
        f"of {found.batch_rows} rows or every {found.flush_seconds:g} s",
        file=sys.stderr,
    )
    return log.start()


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        return check()
    if argv:
        print("usage: serve.py [--check]", file=sys.stderr)
        return 2
    import signal

    import predlog
    import shadow
    import uvicorn

    try:
        log = prediction_log()
        served = app(log)
    except (predlog.SettingsError, shadow.SettingsError) as error:
        print(f"mlgate: {error}", file=sys.stderr)
        return 2
    if log is not None:
        # uvicorn stops on SIGTERM, then raises it again with the handler it found: this
        # one lets the process go on to write the buffered rows before it exits.
        signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        uvicorn.run(served, host=os.environ.get("MLGATE_HOST", "0.0.0.0"), port=port())
    finally:
        if log is not None:
            log.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
