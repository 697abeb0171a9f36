"""The ONNX flavour of the scoring server (`serving.flavor: onnx`): model.onnx on onnxruntime.

`OnnxModel` loads the model and predicts from a table given as columns; `scoring_app`
answers /ping, /health, /version and /invocations as MLflow's pyfunc scoring server
does, so a client cannot tell the two images apart: the same request bodies (JSON with
`dataframe_split`, `dataframe_records`, `instances` or `inputs`, or CSV) and the same
`{"predictions": [...]}` answers, errors as `{"error_code": ..., "message": ...}`.

Each ONNX input is one table column, fed as mlgate's parity check fed it
(`mlgate._onnx.feeds`): text for a string input (a missing value as "nan"), numbers for a
float, double or int64 input (a missing number as NaN, which the model imputes).

This file runs in the image, not in mlgate: it needs onnxruntime and numpy only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
from pathlib import Path
from typing import Any

# The model's metadata key for the table's column names, one per ONNX input in order
# (written by mlgate's export; skl2onnx makes input names safe identifiers).
COLUMNS_KEY = "table_columns"
MODEL_FILE = "model.onnx"  # in app/model/, beside the version's MLmodel
MISSING_TEXT = "nan"  # as mlgate._onnx feeds a missing category: skl2onnx's name for it
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
# As MLflow's scoring server words it.
REQUIRED_INPUT_FORMAT = (
    "The input must be a JSON dictionary with exactly one of the input fields "
    "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}"
)
PREDICT_FAILED = (
    "Encountered an unexpected error while evaluating the model. Verify that the "
    "serialized input Dataframe is compatible with the model for inference."
)
_NUMBERS = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64"}


class BadRequest(Exception):
    """The request cannot be scored: answered 400 with MLflow's error body."""

    def __init__(self, message: str, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code


class OnnxModel:
    """model.onnx in an onnxruntime session; `predict` takes the table as columns."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = self.session.get_inputs()
        meta = self.session.get_modelmeta().custom_metadata_map
        if COLUMNS_KEY in meta:
            self.columns = json.loads(meta[COLUMNS_KEY])
        else:
            self.columns = [item.name for item in self.inputs]
        self.output = self.session.get_outputs()[0].name  # label (classifier) or variable

    def predict(self, data: dict[str, list[Any]], params: dict[str, Any] | None = None) -> Any:
        missing = [name for name in self.columns if name not in data]
        if missing:
            raise BadRequest(
                f"Failed to enforce schema of data: missing column(s) {missing}; the model "
                f"needs {self.columns}"
            )
        feeds = {
            item.name: _array(data[name], item.type, name).reshape(-1, 1)
            for item, name in zip(self.inputs, self.columns, strict=True)
        }
        if len({len(values) for values in feeds.values()}) > 1:
            raise BadRequest("Failed to enforce schema of data: columns of different lengths")
        try:
            (predictions,) = self.session.run([self.output], feeds)
        except Exception as error:  # onnxruntime raises its own types for bad inputs
            raise BadRequest(f"{PREDICT_FAILED} {error}") from None
        if predictions.ndim == 2 and predictions.shape[1] == 1:
            return predictions[:, 0]
        return predictions


def _array(values: list[Any], kind: str, name: str) -> Any:
    import numpy as np

    if kind == "tensor(string)":
        return np.array([MISSING_TEXT if _missing(v) else str(v) for v in values], dtype=object)
    dtype = _NUMBERS.get(kind, "float64")
    try:
        if dtype == "int64":
            return np.array(values, dtype=np.int64)
        return np.array(
            [math.nan if _missing(v) else float(v) for v in values], dtype=np.dtype(dtype)
        )
    except (TypeError, ValueError) as error:
        raise BadRequest(
            f"Failed to enforce schema of data: column '{name}' must be numeric ({error})"
        ) from None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- requests ---------------------------------------------------------------------------


def parse(body: bytes, content_type: str) -> tuple[dict[str, list[Any]], dict[str, Any] | None]:
    """The table (as columns) and params of an /invocations body, as MLflow reads it."""
    mime = content_type.split(";")[0].strip().lower()
    text = _text(body)
    if mime == "text/csv":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            raise BadRequest("Failed to parse input as a Pandas DataFrame: no header row")
        header, data = rows[0], rows[1:]
        # An empty field is a missing value, as pandas reads CSV for the pyfunc server.
        return {
            name: [row[i] if i < len(row) and row[i] != "" else None for row in data]
            for i, name in enumerate(header)
        }, None
    try:
        decoded = json.loads(text)
    except ValueError as error:
        raise BadRequest(
            f"Ensure that input is a valid JSON formatted string. Error: '{error!r}'",
            "INVALID_PARAMETER_VALUE",
        ) from None
    if not isinstance(decoded, dict):
        raise BadRequest(f"{REQUIRED_INPUT_FORMAT}. Received a list.", "INVALID_PARAMETER_VALUE")
    found = [key for key in FORMATS if key in decoded]
    extra = sorted(set(decoded) - {*FORMATS, "params"})
    if len(found) != 1 or extra:
        raise BadRequest(
            f"{REQUIRED_INPUT_FORMAT}. Received: {sorted(decoded)}", "INVALID_PARAMETER_VALUE"
        )
    params = decoded.get("params")
    data = decoded[found[0]]
    if found[0] == "dataframe_split":
        if not isinstance(data, dict) or "columns" not in data or "data" not in data:
            raise BadRequest("dataframe_split needs 'columns' and 'data'")
        try:
            records = [dict(zip(data["columns"], row, strict=True)) for row in data["data"]]
        except (TypeError, ValueError) as error:
            raise BadRequest(f"dataframe_split: a row does not match 'columns' ({error})") from None
        return _from_records(records), params
    if isinstance(data, dict):  # instances/inputs as {column: [values]}
        return {name: list(v) if isinstance(v, list) else [v] for name, v in data.items()}, params
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return _from_records(data), params
    raise BadRequest(
        f"Failed to parse data as a table: {found[0]} must hold records or columns",
        "INVALID_PARAMETER_VALUE",
    )


def _from_records(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    return {name: [record.get(name) for record in records] for name in names}


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(
            f"Ensure that input is a valid UTF-8 encoded string. Error: '{error!r}'",
            "INVALID_PARAMETER_VALUE",
        ) from None


def invocations(model: Any, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of an /invocations answer."""
    mime = content_type.split(";")[0].strip().lower()
    if mime not in ("application/json", "text/csv"):
        message = (
            "This predictor only supports the following content types: Types: "
            f"['text/csv', 'application/json']. Got '{content_type}'."
        )
        return 415, "text/plain", message.encode()
    try:
        data, params = parse(body, content_type)
        predictions = model.predict(data, params=params)
    except BadRequest as error:
        answer = {"error_code": error.error_code, "message": error.message}
        return 400, "application/json", json.dumps(answer).encode()
    values = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
    return 200, "application/json", json.dumps({"predictions": values}).encode()


# --- the ASGI app -----------------------------------------------------------------------


def scoring_app(model: Any, version: str) -> Any:
    """An ASGI app with the endpoints of MLflow's scoring server, for `model`."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        routes = {"/ping": "GET", "/health": "GET", "/version": "GET", "/invocations": "POST"}
        if path not in routes:
            await _answer(send, 404, "application/json", b'{"detail":"Not Found"}')
        elif method != routes[path]:
            await _answer(send, 405, "application/json", b'{"detail":"Method Not Allowed"}')
        elif path in ("/ping", "/health"):
            await _answer(send, 200, "application/json", b"\n")
        elif path == "/version":
            await _answer(send, 200, "application/json", version.encode())
        else:
            body = await _body(receive)
            headers = dict(scope.get("headers") or [])
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            answer = await asyncio.to_thread(invocations, model, body, content_type)
            await _answer(send, *answer)

    return app


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, content_type: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
