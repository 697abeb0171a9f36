"""The serving image's prediction log (src/mlgate/serving/image/predlog.py), on the host.

predlog.py runs inside the serving image beside serve.py; it is loaded here from its path
and driven with real sinks: a folder under tmp_path, a folder that cannot be written, and
the moto S3 server. The image itself (build, S3 on loopback, SIGTERM, /metrics) is tested
in test_build_image.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from mlgate.serving import plan
from mlgate.serving.dockerfile import render_dockerfile

IMAGE = Path(__file__).resolve().parents[1] / "src/mlgate/serving/image"
NAME = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/(\d{8}T\d{6}Z)-[0-9a-f]{16}\.jsonl$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _load(name: str) -> ModuleType:
    # Not modules of the mlgate package: their directory is copied into the image as is,
    # where serve.py imports predlog as a top-level module.
    spec = importlib.util.spec_from_file_location(name, IMAGE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


predlog = _load("predlog")
serve = _load("serve")


def frame(count: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tenure_months": np.arange(start, start + count, dtype=np.int64),
            "plan": ["basic", "plus"] * (count // 2) + ["premium"] * (count % 2),
            "monthly_charges": np.linspace(10.0, 20.0, count),
        }
    )


def new_log(sink: Any, **options: Any) -> Any:
    settings = {"sample": 1.0, "batch_rows": 5, "flush_seconds": 60.0, **options}
    return predlog.PredictionLog(sink, model="churn", version="3", **settings)


def written(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The log's files under `folder` (relative name -> its rows), partial ones excluded."""
    return {
        path.relative_to(folder).as_posix(): [
            json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
        ]
        for path in sorted(folder.rglob("*.jsonl"))
    }


def wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def samples(log: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(log.collector())
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def assert_contract(name: str, rows: list[dict[str, Any]]) -> None:
    """The object name and lines mlgate monitor reads (the fixed log format)."""
    match = NAME.match(name)
    assert match, name
    for row in rows:
        assert list(row) == ["timestamp", "model", "version", "inputs", "prediction"]
        assert STAMP.match(row["timestamp"]), row["timestamp"]
        assert (row["model"], row["version"]) == ("churn", "3")
    first = datetime.strptime(rows[0]["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert match.group(4) == f"{first:%Y%m%dT%H%M%SZ}"
    assert match.group(1, 2, 3) == (f"{first:%Y}", f"{first:%m}", f"{first:%d}")


# --- batching -------------------------------------------------------------------------------


def test_full_batches_are_written_at_once_and_the_rest_when_the_log_stops(tmp_path: Path):
    log = new_log(predlog.LocalSink(tmp_path), batch_rows=5, flush_seconds=60.0).start()
    rows = frame(12)
    predictions = np.array(["no", "yes"] * 6)
    log.offer(rows.iloc[:7], predictions[:7])
    log.offer(rows.iloc[7:], predictions[7:])
    wait_for(lambda: len(written(tmp_path)) == 2)
    assert log.counts().rows_buffered == 2  # no full batch, and far from its time limit
    log.stop()

    files = written(tmp_path)
    assert sorted(len(lines) for lines in files.values()) == [2, 5, 5]
    for name, lines in files.items():
        assert_contract(name, lines)
    logged = [(line["inputs"], line["prediction"]) for lines in files.values() for line in lines]
    expected = list(zip(rows.to_dict("records"), predictions.tolist(), strict=True))
    assert sorted(logged, key=str) == sorted(expected, key=str)
    assert samples(log)[("mlgate_prediction_log_rows_total", ())] == 12.0
    assert samples(log)[("mlgate_prediction_log_batches_written_total", ())] == 3.0
    assert not list(tmp_path.rglob(".*"))  # no partial file left behind


def test_a_batch_is_written_when_its_oldest_row_has_waited_the_time_limit(tmp_path: Path):
    log = new_log(predlog.LocalSink(tmp_path), batch_rows=1000, flush_seconds=0.5).start()
    try:
        started = time.monotonic()
        log.offer(frame(3), np.array([0, 1, 0]))
        assert written(tmp_path) == {}
        wait_for(lambda: len(written(tmp_path)) == 1)
        assert time.monotonic() - started >= 0.5
        log.offer(frame(2), np.array([1, 1]))  # a new batch, with a time limit of its own
        wait_for(lambda: len(written(tmp_path)) == 2)
    finally:
        log.stop()
    assert sorted(len(lines) for lines in written(tmp_path).values()) == [2, 3]
    assert log.counts().batches_written == 2


def test_the_sample_is_the_same_for_the_same_seed(tmp_path: Path):
    def picks(seed: int) -> list[int]:
        log = new_log(predlog.LocalSink(tmp_path), sample=0.25, seed=seed)
        return log.pick(2000) + log.pick(2000)

    first = picks(7)
    assert first == picks(7)
    assert first != picks(8)
    assert 800 < len(first) < 1200  # a quarter of 4000, give or take
    everything = new_log(predlog.LocalSink(tmp_path), sample=1.0)
    assert everything.pick(5) == [0, 1, 2, 3, 4]


def test_sampled_rows_keep_their_own_inputs_and_prediction(tmp_path: Path):
    log = new_log(predlog.LocalSink(tmp_path), sample=0.5, seed=3, batch_rows=1000)
    rows = frame(40)
    chosen = new_log(predlog.LocalSink(tmp_path), sample=0.5, seed=3).pick(40)
    log.offer(rows, rows["tenure_months"].to_numpy() * 10)
    log.stop()  # never started: stop writes what is buffered here
    (lines,) = written(tmp_path).values()
    assert [line["inputs"]["tenure_months"] for line in lines] == chosen
    assert all(line["prediction"] == 10 * line["inputs"]["tenure_months"] for line in lines)


# --- failures -------------------------------------------------------------------------------


def test_a_batch_that_cannot_be_written_is_counted_and_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    blocked = tmp_path / "log"
    blocked.write_text("a file where the log's folder should be")
    log = new_log(predlog.LocalSink(blocked), batch_rows=4).start()
    log.offer(frame(9), np.zeros(9))  # never raises on the request path
    wait_for(lambda: log.counts().batches_failed == 2)
    log.stop()
    counts = log.counts()
    assert (counts.batches_failed, counts.batches_written, counts.rows_logged) == (3, 0, 0)
    assert counts.rows_dropped_write_failed == 9
    err = capsys.readouterr().err.splitlines()
    failed = [line for line in err if "prediction log: a batch of" in line]
    assert len(failed) == 3
    assert "a batch of 4 rows was dropped, not written to " + str(blocked) in failed[0]
    metrics = samples(log)
    assert metrics[("mlgate_prediction_log_batches_failed_total", ())] == 3.0
    assert metrics[("mlgate_prediction_log_rows_dropped_total", (("reason", "write_failed"),))] == 9


def test_rows_beyond_the_buffer_are_dropped_and_counted(tmp_path: Path):
    log = new_log(predlog.LocalSink(tmp_path), batch_rows=100, max_rows=10)
    log.offer(frame(6), np.zeros(6))
    log.offer(frame(6), np.zeros(6))
    counts = log.counts()
    assert (counts.rows_buffered, counts.rows_dropped_buffer_full) == (10, 2)
    metrics = samples(log)
    assert metrics[("mlgate_prediction_log_rows_dropped_total", (("reason", "buffer_full"),))] == 2
    assert metrics[("mlgate_prediction_log_rows_buffered", ())] == 10
    log.stop()
    assert [len(lines) for lines in written(tmp_path).values()] == [10]


def test_a_request_the_log_cannot_read_is_not_logged_and_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    log = new_log(predlog.LocalSink(tmp_path))
    log.offer(frame(3), np.zeros(2))  # fewer predictions than rows
    assert "request not logged" in capsys.readouterr().err
    assert log.counts().rows_buffered == 0


def test_values_json_cannot_hold_become_null_or_text(tmp_path: Path):
    log = new_log(predlog.LocalSink(tmp_path))
    moment = pd.Timestamp("2026-01-02 03:04:05", tz="Europe/Paris")
    record = {
        "inputs": {
            "x": np.float32(1.5),
            "missing": float("nan"),
            "n": np.int64(4),
            "when": moment,
            "never": pd.NaT,
            "na": pd.NA,
        },
        "prediction": np.float64(float("inf")),
    }
    line = json.loads(log.line(0.0, record))
    assert line["timestamp"] == "1970-01-01T00:00:00.000Z"
    assert line["inputs"] == {
        "x": 1.5,
        "missing": None,
        "n": 4,
        "when": "2026-01-02T02:04:05Z",
        "never": None,
        "na": None,
    }
    assert line["prediction"] is None
    classes = pd.DataFrame({"no": [0.2, 0.9], "yes": [0.8, 0.1]})
    assert predlog._records(frame(2), classes, [1]) == [
        {"inputs": frame(2).iloc[1].to_dict(), "prediction": {"no": 0.9, "yes": 0.1}}
    ]


# --- settings, the S3 sink and the server's hook --------------------------------------------


def test_settings_come_from_serving_json_and_the_destination_from_the_environment(
    capsys: pytest.CaptureFixture[str],
):
    baked = {"sample": 0.5, "to": "s3://logs/churn/", "batch_rows": 10, "flush_seconds": 5}
    found = predlog.settings_from({"prediction_log": baked}, {})
    assert found == predlog.Settings(0.5, "s3://logs/churn/", 10, 5.0)
    moved = predlog.settings_from({"prediction_log": baked}, {"MLGATE_LOG_TO": "/var/log/p"})
    assert moved.to == "/var/log/p"
    assert predlog.settings_from({"prediction_log": None}, {}) is None
    assert predlog.settings_from({}, {"MLGATE_LOG_TO": "/var/log/p"}) is None
    assert "built with serving.log_sample 0" in capsys.readouterr().err


def test_a_destination_that_cannot_work_stops_the_server(tmp_path: Path):
    for bad in ("relative/folder", "/var/../etc", "s3://", "s3://Bad_Bucket/x"):
        with pytest.raises(predlog.SettingsError, match="prediction log"):
            predlog.sink_for(bad)
    folder = predlog.sink_for(str(tmp_path / "new" / "folder"))
    assert isinstance(folder, predlog.LocalSink)
    assert (tmp_path / "new" / "folder").is_dir()
    s3 = predlog.sink_for("s3://logs/churn")
    assert (s3.bucket, s3.prefix, s3.where) == ("logs", "churn/", "s3://logs/churn/")
    assert predlog.sink_for("s3://logs").prefix == ""


def test_the_s3_sink_puts_objects_under_the_prefix_and_fails_on_a_missing_bucket(
    s3_env: str, s3_bucket: Any, capsys: pytest.CaptureFixture[str]
):
    log = new_log(predlog.sink_for(f"s3://{s3_bucket.name}/served/churn/"), batch_rows=3)
    log.offer(frame(4), np.array(["yes", "no", "no", "yes"]))
    log.stop()
    listed = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    keys = sorted(item["Key"] for item in listed)
    assert len(keys) == 2
    for key in keys:
        assert key.startswith("served/churn/")
        body = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=key)["Body"].read()
        lines = [json.loads(line) for line in body.decode().splitlines()]
        assert_contract(key.removeprefix("served/churn/"), lines)

    missing = new_log(predlog.sink_for("s3://no-such-bucket-for-the-log/x/"), batch_rows=3)
    missing.offer(frame(3), np.zeros(3))
    missing.stop()
    assert missing.counts().batches_failed == 1
    assert "NoSuchBucket" in capsys.readouterr().err


def test_the_server_hands_predictions_to_the_log_and_returns_them_unchanged(tmp_path: Path):
    class Model:
        def predict(self, data: Any, params: Any = None) -> Any:
            return (data["tenure_months"] > 5).map({True: "yes", False: "no"}).to_numpy()

    metrics = serve.Metrics({"model": "churn", "version": "3", "task": "classification"})
    log = new_log(predlog.LocalSink(tmp_path))
    metrics.registry.register(log.collector())
    recording = serve.RecordingModel(Model(), metrics, log)
    answer = recording.predict(frame(8, start=2))
    assert answer.tolist() == ["no"] * 4 + ["yes"] * 4
    log.stop()
    lines = [line for lines in written(tmp_path).values() for line in lines]
    assert sorted((line["inputs"]["tenure_months"], line["prediction"]) for line in lines) == [
        (n, "yes" if n > 5 else "no") for n in range(2, 10)
    ]
    assert metrics.registry.get_sample_value("mlgate_prediction_log_rows_total") == 8.0


# --- what build-image puts in the image -----------------------------------------------------


def test_boto3_goes_into_the_image_only_when_the_log_goes_to_s3():
    pins = "mlflow==3.17.2\nscikit-learn==1.9.1"
    assert plan.image_requirements(pins, None, "s3://logs/churn/")[-1].startswith("boto3==")
    assert not any("boto3" in line for line in plan.image_requirements(pins, None, "/var/log/p"))
    assert not any("boto3" in line for line in plan.image_requirements(pins, None))
    own = plan.image_requirements(pins + "\nboto3==1.40.0", None, "s3://logs/x/")
    assert [line for line in own if "boto3" in line] == ["boto3==1.40.0"]
    assert plan.prediction_log(0.0, "s3://logs/x/", 10, 5.0) is None
    assert plan.prediction_log(0.1, "s3://logs/x/", 10, 5.0) == {
        "sample": 0.1,
        "to": "s3://logs/x/",
        "batch_rows": 10,
        "flush_seconds": 5.0,
    }


def test_a_log_folder_is_made_the_servers_in_the_image():
    settings = {
        "base_image": f"registry.example.com/python@sha256:{'ab' * 32}",
        "python_version": "3.11",
        "port": 8080,
        "wheels": False,
        "model_ref": "churn v3",
        "labels": {"mlgate.model.name": "churn"},
    }
    plain = render_dockerfile(**settings)
    assert "install -d" not in plain
    assert "--shell /usr/sbin/nologin mlgate\nENV " in plain
    folder = render_dockerfile(**settings, log_folder=plan.log_folder("/var/log/predictions/"))
    assert (
        "--shell /usr/sbin/nologin mlgate \\\n"
        " && install -d -o 10001 -g 10001 -m 0755 /var/log/predictions\nENV "
    ) in folder
    assert plan.log_folder("s3://logs/x/") is None
