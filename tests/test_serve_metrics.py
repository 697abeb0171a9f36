"""The scoring server's /metrics (src/mlgate/serving/image/serve.py), on the host.

serve.py runs inside the serving image, beside the model; its Prometheus side needs only
prometheus_client, numpy and pandas, so it is loaded here from its path and driven
directly: the collectors, the prediction flattening, the recording model and the ASGI
middleware (with a small ASGI app of the test's own, called through asyncio).
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

SERVE_PY = Path(__file__).resolve().parents[1] / "src/mlgate/serving/image/serve.py"


def _load() -> ModuleType:
    # Not a module of the mlgate package (its directory is copied into the image as is).
    spec = importlib.util.spec_from_file_location("mlgate_image_serve", SERVE_PY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve = _load()


def metrics(task: str | None = "classification", **config: Any) -> Any:
    return serve.Metrics({"model": "churn", "version": "7", "task": task, **config})


def value(m: Any, sample: str, /, **labels: str) -> float | None:
    return m.registry.get_sample_value(sample, labels)


def class_counts(m: Any) -> dict[str, float]:
    return {
        sample.labels["predicted"]: sample.value
        for family in m.registry.collect()
        if family.name == "mlgate_predictions"
        for sample in family.samples
        if sample.name == "mlgate_predictions_total"
    }


# --- predictions ----------------------------------------------------------------------------


def test_model_info_names_the_version():
    m = metrics()
    assert value(m, "mlgate_model_info", name="churn", version="7", role="primary") == 1.0


def test_classification_counts_string_labels_per_class():
    m = metrics()
    m.record_predictions(np.array(["yes", "no", "yes"]))
    m.record_predictions(["no"])
    assert class_counts(m) == {"yes": 2.0, "no": 2.0}
    assert value(m, "mlgate_prediction_rows_total") == 4.0
    assert value(m, "mlgate_prediction_value_count") == 0.0


def test_classification_counts_integer_labels_as_their_digits():
    m = metrics()
    m.record_predictions(np.array([0, 1, 1, 1], dtype=np.int64))
    m.record_predictions(pd.Series([0, 2]))
    assert class_counts(m) == {"0": 2.0, "1": 3.0, "2": 1.0}
    assert value(m, "mlgate_prediction_rows_total") == 6.0


def test_no_task_and_integer_predictions_is_classification():
    m = metrics(task=None)
    m.record_predictions(np.array([1, 0, 1]))
    assert class_counts(m) == {"1": 2.0, "0": 1.0}
    assert value(m, "mlgate_prediction_value_count") == 0.0


def test_a_classifier_with_float_labels_still_counts_classes():
    m = metrics(task="classification")
    m.record_predictions(np.array([0.0, 1.0, 1.0]))
    assert class_counts(m) == {"0.0": 1.0, "1.0": 2.0}


def test_distinct_classes_are_capped_and_the_rest_share_one_label():
    m = metrics()
    many = [f"c{n}" for n in range(serve.MAX_CLASSES + 10)]
    m.record_predictions(many)
    m.record_predictions(["c0", f"c{serve.MAX_CLASSES + 3}", "brand-new"])
    counts = class_counts(m)
    assert len(counts) == serve.MAX_CLASSES + 1
    assert counts["c0"] == 2.0  # a class seen before the cap keeps its own series
    assert f"c{serve.MAX_CLASSES}" not in counts
    assert counts[serve.OTHER_CLASS] == 10 + 2
    assert value(m, "mlgate_prediction_rows_total") == serve.MAX_CLASSES + 10 + 3


def test_regression_predictions_go_into_the_histogram():
    m = metrics(task="regression", prediction_buckets=[1.0, 10.0, 100.0])
    m.record_predictions(np.array([0.5, 5, 50, 500]))  # ints too: the task says regression
    assert value(m, "mlgate_prediction_value_count") == 4.0
    assert value(m, "mlgate_prediction_value_sum") == 555.5
    assert value(m, "mlgate_prediction_value_bucket", le="1.0") == 1.0
    assert value(m, "mlgate_prediction_value_bucket", le="10.0") == 2.0
    assert value(m, "mlgate_prediction_value_bucket", le="100.0") == 3.0
    assert value(m, "mlgate_prediction_value_bucket", le="+Inf") == 4.0
    assert class_counts(m) == {}


def test_no_task_and_float_predictions_is_regression():
    m = metrics(task=None, prediction_buckets=[1.0, 5.0])
    m.record_predictions(np.array([0.25, 0.75], dtype=np.float32))
    m.record_predictions(pd.Series([2.5]))
    assert value(m, "mlgate_prediction_value_count") == 3.0
    assert value(m, "mlgate_prediction_value_sum") == 3.5
    assert value(m, "mlgate_prediction_value_bucket", le="1.0") == 2.0
    assert value(m, "mlgate_prediction_value_bucket", le="5.0") == 3.0
    assert class_counts(m) == {}


def test_default_buckets_place_negative_and_large_predictions_and_keep_the_sum():
    m = metrics(task="regression")
    m.record_predictions([-50.0, -0.5, 0.5, 2e5])
    bucket = "mlgate_prediction_value_bucket"
    bounds = [float(b) for b in serve.VALUE_BUCKETS]
    assert bounds == sorted(bounds)
    assert bounds[0] == 0.0  # a negative bound would make prometheus_client drop _sum
    assert value(m, bucket, le="0.0") == 2.0
    assert value(m, bucket, le="1.0") == 3.0
    assert value(m, bucket, le="100000.0") == 3.0
    assert value(m, bucket, le="+Inf") == 4.0
    assert value(m, "mlgate_prediction_value_count") == 4.0
    assert value(m, "mlgate_prediction_value_sum") == -50.0 - 0.5 + 0.5 + 2e5


def test_a_one_column_dataframe_is_one_value_per_row():
    m = metrics()
    m.record_predictions(pd.DataFrame({"label": ["a", "b", "a"]}))
    assert class_counts(m) == {"a": 2.0, "b": 1.0}
    assert value(m, "mlgate_prediction_rows_total") == 3.0


def test_several_values_per_row_are_not_counted():
    # Class probabilities (two columns) say nothing about one predicted value per row.
    m = metrics()
    m.record_predictions(pd.DataFrame({"p0": [0.2, 0.9], "p1": [0.8, 0.1]}))
    m.record_predictions(np.array([[0.2, 0.8], [0.9, 0.1]]))
    assert class_counts(m) == {}
    assert value(m, "mlgate_prediction_rows_total") == 0.0
    assert value(m, "mlgate_prediction_value_count") == 0.0


@pytest.mark.parametrize(
    ("predictions", "expected"),
    [
        (pd.DataFrame({"y": [1, 2]}), [1, 2]),
        (pd.DataFrame({"y": [1], "z": [2]}), None),
        (np.array([[1], [2]]), [1, 2]),
        (np.array([[1, 2]]), None),
        (np.zeros((2, 1, 1)), None),
        (["a", "b"], ["a", "b"]),
        (pd.Series(["x"]), ["x"]),
    ],
)
def test_flat(predictions, expected):
    assert serve._flat(predictions) == expected


# --- requests -------------------------------------------------------------------------------


def test_requests_are_counted_with_latency_and_errors_by_kind():
    m = metrics()
    m.record_request("/invocations", "POST", 200, 0.01)
    m.record_request("/invocations", "POST", 400, 0.02)
    m.record_request("/invocations", "POST", 422, 0.02)
    m.record_request("/invocations", "POST", 503, 0.5)
    requests = "mlgate_requests_total"
    assert value(m, requests, endpoint="/invocations", method="POST", status="200") == 1.0
    assert value(m, requests, endpoint="/invocations", method="POST", status="422") == 1.0
    errors = "mlgate_request_errors_total"
    assert value(m, errors, endpoint="/invocations", kind="client") == 2.0
    assert value(m, errors, endpoint="/invocations", kind="server") == 1.0
    latency = "mlgate_request_duration_seconds"
    assert value(m, f"{latency}_count", endpoint="/invocations") == 4.0
    assert value(m, f"{latency}_sum", endpoint="/invocations") == pytest.approx(0.55)


def test_scoring_error_series_start_at_zero():
    # Before any request: a rate() over them counts the very first error.
    m = metrics()
    for kind in ("client", "server"):
        assert value(m, "mlgate_request_errors_total", endpoint="/invocations", kind=kind) == 0.0


def test_a_success_is_not_an_error():
    m = metrics()
    m.record_request("/ping", "GET", 200, 0.001)
    m.record_request("/ping", "GET", 399, 0.001)
    assert value(m, "mlgate_request_errors_total", endpoint="/ping", kind="client") is None
    assert value(m, "mlgate_request_errors_total", endpoint="/ping", kind="server") is None


# --- the recording model --------------------------------------------------------------------


class ThresholdModel:
    """A pyfunc-shaped model: predict(data, params) and some metadata."""

    metadata = "churn/7"

    def __init__(self, outputs: Any = None) -> None:
        self.outputs = outputs
        self.calls: list[Any] = []

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        self.calls.append(params)
        if self.outputs is not None:
            return self.outputs
        if (data["x"] < 0).any():
            raise ValueError("x must not be negative")
        return (data["x"] > (params or {}).get("threshold", 0.5)).astype(int).to_numpy()


def test_recording_model_counts_and_returns_the_predictions_unchanged():
    m = metrics()
    model = ThresholdModel()
    recording = serve.RecordingModel(model, m)
    predictions = recording.predict(pd.DataFrame({"x": [0.1, 0.7, 0.9]}), params={"threshold": 0.8})
    assert predictions.tolist() == [0, 0, 1]
    assert model.calls == [{"threshold": 0.8}]
    assert class_counts(m) == {"0": 2.0, "1": 1.0}
    assert recording.metadata == "churn/7"  # everything else is the model's


def test_recording_model_lets_the_models_own_error_through():
    m = metrics()
    recording = serve.RecordingModel(ThresholdModel(), m)
    with pytest.raises(ValueError, match="must not be negative"):
        recording.predict(pd.DataFrame({"x": [-1.0]}))
    assert value(m, "mlgate_prediction_rows_total") == 0.0


def test_a_failure_to_count_never_fails_the_prediction(capsys: pytest.CaptureFixture[str]):
    # A "regression" model that answers with words: float() fails inside the counting.
    m = metrics(task="regression")
    outputs = np.array(["high", "low"])
    recording = serve.RecordingModel(ThresholdModel(outputs), m)
    assert recording.predict(pd.DataFrame({"x": [1.0, 2.0]})) is outputs
    assert "predictions not counted" in capsys.readouterr().err
    assert value(m, "mlgate_prediction_value_count") == 0.0


# --- the ASGI middleware --------------------------------------------------------------------


class Answer:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        start = next(message for message in messages if message["type"] == "http.response.start")
        self.status: int = start["status"]
        self.headers = {key.decode(): val.decode() for key, val in start.get("headers", [])}
        self.body = b"".join(
            message.get("body", b"")
            for message in messages
            if message["type"] == "http.response.body"
        )


def scoring_app(model: Any) -> Any:
    """A tiny stand-in for MLflow's scoring app: /ping, /invocations (a JSON list of x
    values), a 404 for anything else and a crash on /version."""
    import json

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == "/version":
            raise RuntimeError("the app crashed")
        if path == "/ping":
            status, answer = 200, b"\n"
        elif path == "/invocations":
            try:
                rows = pd.DataFrame({"x": json.loads(body)})
                predictions = model.predict(rows)
                status, answer = 200, json.dumps(predictions.tolist()).encode()
            except ValueError as error:
                status, answer = 400, str(error).encode()
        else:
            status, answer = 404, b"not found"
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": answer})

    return app


def call(app: Any, method: str, path: str, body: bytes = b"") -> Answer:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
    }
    chunks = [body[:3], body[3:]]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return Answer(sent)


@pytest.fixture
def server() -> tuple[Any, Any]:
    m = metrics()
    app = serve.MetricsMiddleware(scoring_app(serve.RecordingModel(ThresholdModel(), m)), m)
    return app, m


def scrape(app: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = call(app, "GET", "/metrics")
    assert answer.status == 200
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.body.decode())
        for sample in family.samples
    }


def requests_key(endpoint: str, method: str, status: str) -> tuple[str, tuple]:
    labels = {"endpoint": endpoint, "method": method, "status": status}
    return ("mlgate_requests_total", tuple(sorted(labels.items())))


def test_metrics_page_shows_requests_and_predictions(server):
    app, _ = server
    assert call(app, "GET", "/ping").status == 200
    answer = call(app, "POST", "/invocations", b"[0.1, 0.7, 0.9, 0.2]")
    assert (answer.status, answer.body) == (200, b"[0, 1, 1, 0]")

    samples = scrape(app)
    assert samples[requests_key("/ping", "GET", "200")] == 1.0
    assert samples[requests_key("/invocations", "POST", "200")] == 1.0
    assert samples[("mlgate_predictions_total", (("predicted", "0"),))] == 2.0
    assert samples[("mlgate_predictions_total", (("predicted", "1"),))] == 2.0
    assert samples[("mlgate_prediction_rows_total", ())] == 4.0
    info = ("mlgate_model_info", (("name", "churn"), ("role", "primary"), ("version", "7")))
    assert samples[info] == 1.0
    latency = ("mlgate_request_duration_seconds_count", (("endpoint", "/invocations"),))
    assert samples[latency] == 1.0
    # A scrape is counted after its page is made: the next one shows it.
    assert requests_key("/metrics", "GET", "200") not in samples
    assert scrape(app)[requests_key("/metrics", "GET", "200")] == 1.0


def test_metrics_page_answers_get_only(server):
    app, m = server
    answer = call(app, "POST", "/metrics", b"x")
    assert answer.status == 405
    assert answer.body == b"use GET\n"
    assert answer.headers["content-type"].startswith("text/plain")
    assert value(m, "mlgate_requests_total", endpoint="/metrics", method="POST", status="405")
    assert value(m, "mlgate_request_errors_total", endpoint="/metrics", kind="client") == 1.0


def test_an_unknown_path_is_counted_as_other(server):
    app, m = server
    assert call(app, "GET", "/admin/../../etc/passwd").status == 404
    assert call(app, "GET", "/favicon.ico").status == 404
    samples = scrape(app)
    assert samples[requests_key("other", "GET", "404")] == 2.0
    assert not [key for key in samples if ("endpoint", "/favicon.ico") in key[1]]
    assert value(m, "mlgate_request_errors_total", endpoint="other", kind="client") == 2.0


def test_a_bad_request_and_a_crash_are_client_and_server_errors(server):
    app, m = server
    answer = call(app, "POST", "/invocations", b"[-1.0]")
    assert answer.status == 400
    with pytest.raises(RuntimeError, match="crashed"):
        call(app, "GET", "/version")
    assert value(m, "mlgate_requests_total", endpoint="/version", method="GET", status="500")
    assert value(m, "mlgate_request_errors_total", endpoint="/version", kind="server") == 1.0
    assert value(m, "mlgate_request_errors_total", endpoint="/invocations", kind="client") == 1.0
    assert value(m, "mlgate_prediction_rows_total") == 0.0


def test_an_unknown_method_is_counted_as_other(server):
    app, m = server
    for method in ("BREW", "PROPFIND", "get"):
        assert call(app, method, "/ping").status == 200
    call(app, "DELETE", "/ping")
    requests = "mlgate_requests_total"
    assert value(m, requests, endpoint="/ping", method="other", status="200") == 3.0
    assert value(m, requests, endpoint="/ping", method="DELETE", status="200") == 1.0
    assert value(m, requests, endpoint="/ping", method="BREW", status="200") is None
    # The method check applies to /metrics too: only GET gets the page.
    assert call(app, "BREW", "/metrics").status == 405
    assert value(m, requests, endpoint="/metrics", method="other", status="405") == 1.0


def test_other_scopes_pass_through_uncounted(server):
    app, m = server
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert not [
        sample
        for family in m.registry.collect()
        if family.name == "mlgate_requests"
        for sample in family.samples
    ]
