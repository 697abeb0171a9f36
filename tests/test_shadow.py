"""The shadow model of a serving image and `mlgate shadow-report`, on the host.

image/shadow.py runs inside the image beside serve.py; it is loaded here from its path and
driven with small models of the test's own: one that waits until the test lets it go
(a slow shadow), one that fails, one that disagrees. The report's maths
(src/mlgate/serving/shadow_evidence.py) is checked against hand-computed Wilson bounds and
on /metrics text the real collectors wrote. The image itself is tested in
test_shadow_image.py.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import math
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import generate_latest

from mlgate.errors import InputError, UsageError
from mlgate.serving import plan, shadow_evidence

IMAGE = Path(__file__).resolve().parents[1] / "src/mlgate/serving/image"


def _load(name: str) -> ModuleType:
    # Top-level modules in the image (serve.py imports predlog and shadow by these names).
    spec = importlib.util.spec_from_file_location(name, IMAGE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


predlog = _load("predlog")
shadow = _load("shadow")
serve = _load("serve")


def rows(count: int) -> pd.DataFrame:
    return pd.DataFrame({"tenure": np.arange(count), "charges": np.linspace(1.0, 2.0, count)})


class Labels:
    """A classifier: "yes" where tenure is odd (or its opposite)."""

    def __init__(self, flip: bool = False) -> None:
        self.flip = flip

    def predict(self, data: Any, params: Any = None) -> np.ndarray:
        odd = data["tenure"].to_numpy() % 2 == 1
        return np.where(odd != self.flip, "yes", "no")


class Gate:
    """A shadow that waits for the test before it answers (a slow model)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def predict(self, data: Any, params: Any = None) -> Any:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(30)
        return self.model.predict(data)


class Failing:
    def predict(self, data: Any, params: Any = None) -> Any:
        raise RuntimeError("the shadow's feature store is down")


class Values:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def predict(self, data: Any, params: Any = None) -> np.ndarray:
        return data["charges"].to_numpy() * 10 + self.offset


def served(primary: Any, shadow_model: Any, task: str | None = "classification", **options: Any):
    """A RecordingModel with a started shadow, as serve.app makes it: (recording, metrics,
    shadow)."""
    config = {"model": "churn", "version": "1", "task": task}
    config["shadow"] = {"model": "churn", "version": "2", "task": task, "sample": 1.0}
    metrics = serve.Metrics(config)
    found = shadow.Shadow(
        shadow_model,
        shadow.ShadowMetrics(metrics.registry),
        version="2",
        task=task,
        **options,
    ).start()
    return serve.RecordingModel(primary, metrics, options.get("log"), found), metrics, found


def value(metrics: Any, sample: str, /, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(sample, labels)


# --- the queue and the worker ---------------------------------------------------------------


def test_a_slow_shadow_never_delays_an_answer_and_its_dropped_rows_are_counted():
    slow = Gate(Labels())
    recording, metrics, worker = served(Labels(), slow, queue_requests=4)
    first = recording.predict(rows(2))
    assert slow.entered.wait(10)  # the worker holds request 1; 4 more fit in the queue
    started = time.perf_counter()
    answers = [recording.predict(rows(2)) for _ in range(49)]
    waited = time.perf_counter() - started
    assert waited < 2.0, f"49 answers took {waited:.2f} s while the shadow was stuck"
    assert [list(a) for a in [first, *answers]] == [["no", "yes"]] * 50  # the primary's
    assert value(metrics, "mlgate_shadow_dropped_total") == 45 * 2
    assert value(metrics, "mlgate_shadow_requests_total") == 0.0

    slow.release.set()
    worker.stop()
    assert slow.calls == 5
    assert value(metrics, "mlgate_shadow_requests_total") == 5 * 2
    assert value(metrics, "mlgate_shadow_agreements_total") == 5 * 2
    assert value(metrics, "mlgate_shadow_latency_seconds_count") == 5
    assert value(metrics, "mlgate_shadow_errors_total") == 0.0
    assert value(metrics, "mlgate_prediction_rows_total") == 100  # the primary counts all


def test_a_failing_shadow_is_counted_and_the_answer_is_the_primarys(capfd):
    recording, metrics, worker = served(Labels(), Failing())
    answers = [list(recording.predict(rows(3))) for _ in range(4)]
    worker.stop()
    assert answers == [["no", "yes", "no"]] * 4
    assert value(metrics, "mlgate_shadow_errors_total") == 12
    assert value(metrics, "mlgate_shadow_requests_total") == 0.0
    assert "shadow v2 failed on 3 rows: RuntimeError: the shadow's feature store is down" in (
        capfd.readouterr().err
    )


def test_disagreement_is_counted_per_row():
    recording, metrics, worker = served(Labels(), Labels(flip=True))
    recording.predict(rows(4))
    worker.stop()
    assert value(metrics, "mlgate_shadow_requests_total") == 4
    assert value(metrics, "mlgate_shadow_agreements_total") == 0.0


def test_a_regressors_differences_go_into_the_histogram():
    recording, metrics, worker = served(Values(), Values(offset=0.3), task="regression")
    recording.predict(rows(5))
    worker.stop()
    assert value(metrics, "mlgate_shadow_requests_total") == 5
    assert value(metrics, "mlgate_shadow_abs_difference_count") == 5
    assert value(metrics, "mlgate_shadow_abs_difference_sum") == pytest.approx(1.5)
    assert value(metrics, "mlgate_shadow_abs_difference_bucket", le="0.25") == 0.0
    assert value(metrics, "mlgate_shadow_abs_difference_bucket", le="0.5") == 5.0
    assert value(metrics, "mlgate_shadow_agreements_total") == 0.0


def test_the_sample_takes_a_share_of_the_requests_and_zero_takes_none():
    # A queue that holds every request and a stop that waits for them: what is measured is
    # the sampling, not how far a worker on a busy machine got (a full queue drops).
    recording, metrics, worker = served(Labels(), Labels(), sample=0.25, seed=3, queue_requests=400)
    for _ in range(400):
        recording.predict(rows(1))
    worker.stop(timeout=120)
    assert value(metrics, "mlgate_shadow_dropped_total") == 0.0
    assert 70 <= value(metrics, "mlgate_shadow_requests_total") <= 130
    recording, metrics, worker = served(Labels(), Labels(), sample=0.0)
    recording.predict(rows(1))
    worker.stop()
    assert value(metrics, "mlgate_shadow_requests_total") == 0.0
    assert value(metrics, "mlgate_shadow_dropped_total") == 0.0


def test_the_environment_replaces_the_images_sample():
    assert shadow.sample_from({"sample": 0.5}, {}) == 0.5
    assert shadow.sample_from({"sample": 0.5}, {shadow.SAMPLE_VARIABLE: "0"}) == 0.0
    assert shadow.sample_from({"sample": 0.5}, {shadow.SAMPLE_VARIABLE: " "}) == 0.5
    for bad in ("1.5", "-0.1", "half"):
        with pytest.raises(shadow.SettingsError, match=shadow.SAMPLE_VARIABLE):
            shadow.sample_from({}, {shadow.SAMPLE_VARIABLE: bad})


def test_model_info_names_both_models_by_role():
    metrics = serve.Metrics(
        {"model": "churn", "version": "1", "shadow": {"model": "churn-b", "version": "4"}}
    )
    assert value(metrics, "mlgate_model_info", name="churn", version="1", role="primary") == 1
    assert value(metrics, "mlgate_model_info", name="churn-b", version="4", role="shadow") == 1
    alone = serve.Metrics({"model": "churn", "version": "1"})
    info = [s for f in alone.registry.collect() if f.name == "mlgate_model_info" for s in f.samples]
    assert [s.labels for s in info] == [{"name": "churn", "version": "1", "role": "primary"}]


def test_the_prediction_log_holds_the_shadows_prediction_beside_the_primarys(tmp_path):
    log = predlog.PredictionLog(
        predlog.LocalSink(tmp_path),
        model="churn",
        version="1",
        sample=1.0,
        batch_rows=1000,
        flush_seconds=600,
    )
    slow = Gate(Labels(flip=True))
    recording, _, worker = served(Labels(), slow, log=log, queue_requests=1)
    recording.predict(rows(2))  # shadowed
    assert slow.entered.wait(10)
    recording.predict(rows(2))  # queued
    recording.predict(rows(2))  # dropped: logged at once, without the shadow
    slow.release.set()
    worker.stop()
    served_failing, _, failing = served(Labels(), Failing(), log=log)
    served_failing.predict(rows(1))
    failing.stop()
    log.flush()
    lines = [
        json.loads(line)
        for path in sorted(tmp_path.rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert len(lines) == 7
    assert all({"timestamp", "model", "version", "inputs", "prediction"} <= set(ln) for ln in lines)
    shadowed = [ln for ln in lines if "shadow" in ln]
    assert [(ln["prediction"], ln["shadow"]) for ln in shadowed] == [
        ("no", {"version": "2", "prediction": "yes"}),
        ("yes", {"version": "2", "prediction": "no"}),
        ("no", {"version": "2", "prediction": "yes"}),
        ("yes", {"version": "2", "prediction": "no"}),
        ("no", {"version": "2", "prediction": None}),  # the shadow failed
    ]
    assert sum("shadow" not in ln for ln in lines) == 2  # the dropped request


# --- one image, two models' requirements ----------------------------------------------------


def test_requirements_merge_and_a_conflict_names_both_models():
    primary = "mlflow==3.4.0\nscikit-learn==1.5.2\ncloudpickle==3.1.0  # pinned\n"
    shadow_pins = "mlflow==3.4.0\nscikit-learn==1.5.2\nlightgbm==4.5.0\n"
    merged = plan.merge_requirements(primary, shadow_pins, "churn v1", "churn v2")
    assert merged.splitlines() == [
        "mlflow==3.4.0",
        "scikit-learn==1.5.2",
        "cloudpickle==3.1.0",
        "lightgbm==4.5.0",
    ]
    with pytest.raises(InputError) as refused:
        plan.merge_requirements(primary, "scikit_learn==1.6.0\n", "churn v1", "churn v2")
    assert "churn v1 and churn v2 cannot share one image" in refused.value.message
    assert "churn v1 needs 'scikit-learn==1.5.2', churn v2 'scikit_learn==1.6.0'" in (
        refused.value.message
    )


def test_the_shadow_image_is_tagged_apart_from_the_primarys():
    assert plan.image_names("churn", "3", None).tag == "v3"
    assert plan.image_names("churn", "3", None, shadow_version="4").tag == "v3-shadow-v4"


# --- shadow-report's maths ------------------------------------------------------------------


def test_wilson_bounds_match_the_closed_forms():
    z2 = 1.959963984540054**2
    low, high = shadow_evidence.wilson(0, 300, 0.95)
    assert low == 0.0
    assert high == pytest.approx(z2 / (300 + z2))
    low, high = shadow_evidence.wilson(300, 300, 0.95)
    assert low == pytest.approx(300 / (300 + z2))
    assert high == pytest.approx(1.0)
    low, high = shadow_evidence.wilson(50, 100, 0.95)
    assert (low + high) / 2 == pytest.approx(0.5)
    z = math.sqrt(z2)
    assert high - low == pytest.approx(2 * z * math.sqrt(0.25 / 100 + z2 / 40_000) / (1 + z2 / 100))
    assert shadow_evidence.wilson(0, 0, 0.95) == (0.0, 1.0)


def figures(**counts: Any) -> Any:
    base = {
        "rows": 0.0,
        "agreements": 0.0,
        "errors": 0.0,
        "dropped": 0.0,
        "difference_buckets": (),
        "difference_count": 0.0,
        "difference_sum": 0.0,
        "latency_buckets": (),
        "primary": "churn v1",
        "shadow": "churn v2",
    }
    return shadow_evidence.Figures(**{**base, **counts})


def test_the_same_agreement_promotes_only_when_the_whole_interval_clears():
    few = shadow_evidence.judge(figures(rows=100, agreements=98), min_agreement=0.95)
    many = shadow_evidence.judge(figures(rows=5000, agreements=4900), min_agreement=0.95)
    assert few.agreement == many.agreement == 0.98
    assert few.verdict == "hold"
    assert few.agreement_interval[0] < 0.95 < few.agreement_interval[1]
    assert "the interval is not all at or above 95.0%" in few.reasons[0]
    assert many.verdict == "promote"
    assert many.agreement_interval[0] > 0.95


def test_errors_hold_the_shadow_and_drops_are_reported():
    erring = shadow_evidence.judge(figures(rows=5000, agreements=5000, errors=200))
    assert erring.verdict == "hold"
    assert "errors on 200 of 5200 rows" in erring.reasons[0]
    dropping = shadow_evidence.judge(figures(rows=5000, agreements=5000, dropped=5000))
    assert dropping.verdict == "promote"
    assert dropping.drop_rate == 0.5
    nothing = shadow_evidence.judge(figures())
    assert nothing.verdict == "hold"
    assert nothing.reasons == ["the shadow has scored no rows yet"]


def test_a_regressor_is_judged_by_the_share_within_the_difference():
    buckets = ((0.0, 0.0), (0.1, 900.0), (0.5, 990.0), (1.0, 999.0), (float("inf"), 1000.0))
    found = figures(
        rows=1000, difference_buckets=buckets, difference_count=1000, difference_sum=80.0
    )
    wide = shadow_evidence.judge(found, max_difference=0.75)  # counted at 0.5: 99% within
    assert wide.difference_bound == 0.5
    assert wide.agreement == 0.99
    assert wide.verdict == "promote"
    assert wide.mean_difference == 0.08
    assert wide.difference_quantiles == {"p50": 0.1, "p90": 0.1, "p99": 0.5}
    tight = shadow_evidence.judge(found, max_difference=0.1)  # 90% within
    assert tight.verdict == "hold"
    with pytest.raises(UsageError, match="--max-difference"):
        shadow_evidence.judge(found)
    with pytest.raises(UsageError, match="--min-agreement"):
        shadow_evidence.judge(figures(rows=10, agreements=10), max_difference=1.0)


def test_text_without_shadow_metrics_or_not_prometheus_is_bad_input():
    with pytest.raises(InputError, match="not the /metrics of an image built with"):
        shadow_evidence.figures(shadow_evidence.parse("mlgate_requests_total 3\n", "m"), "m")
    with pytest.raises(InputError, match="line 2 is not a Prometheus sample"):
        shadow_evidence.parse("# HELP x\n<html>oops</html>\n", "m")


# --- the command, on the collectors' own text -----------------------------------------------


def metrics_text(agree: int, disagree: int) -> str:
    recording, metrics, worker = served(Labels(), Labels(), queue_requests=agree + 1)
    for _ in range(agree):
        recording.predict(rows(2))
    worker.stop()
    for _ in range(disagree):
        worker.score(rows(2), Labels(flip=True).predict(rows(2)))
    return generate_latest(metrics.registry).decode()


def test_shadow_report_reads_a_file_or_a_url_and_exits_by_its_verdict(cli, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(metrics_text(agree=2000, disagree=10))
    promote = cli("shadow-report", "--metrics", str(good))
    assert promote.code == 0, promote.err
    assert promote.out.splitlines()[0] == "churn v2 beside churn v1: promote"
    assert "agreement 99.5% of 4020 rows (95% interval 99.2% to 99.7%)" in promote.out
    strict = cli("shadow-report", "--metrics", str(good), "--min-agreement", "0.995", "--json")
    assert strict.code == 1
    verdict = json.loads(strict.out)
    assert verdict["verdict"] == "hold"
    assert verdict["agreeing"] == 4000
    assert verdict["rows"] == 4020

    body = good.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/metrics" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert cli("shadow-report", "--metrics", f"{url}/metrics").code == 0
        missing = cli("shadow-report", "--metrics", f"{url}/nothing")
        assert missing.code == 2
        assert "answered HTTP 404" in missing.err
    finally:
        server.shutdown()
        server.server_close()

    plain = tmp_path / "plain.txt"
    plain.write_text("mlgate_requests_total 4\n")
    absent = cli("shadow-report", "--metrics", str(tmp_path / "nope.txt"))
    assert absent.code == 2
    assert "nope.txt: no such file" in absent.err
    assert cli("shadow-report", "--metrics", str(plain)).code == 2
    assert cli("shadow-report", "--metrics", str(good), "--min-agreement", "2").code == 2
