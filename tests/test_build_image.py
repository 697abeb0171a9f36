"""`mlgate build-image` against a real Docker engine and loopback registries.

The example's model is trained and registered once (a local SQLite store), then
built into an image from a Debian base pinned by digest, offline from a wheel
directory, and pushed to a loopback `docker-registry`. The image runs with
`--network none`; requests reach it through `docker exec`, as nothing else can. The
prediction log test runs it on the host's network instead, where it reaches the moto S3
server on loopback.
Tests that need the engine skip with the reason when it cannot start; .ci/run starts it
and sets MLGATE_REQUIRE_DOCKER=1, which turns those skips into failures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import pandas as pd
import pytest
import yaml

from actions_harness import parse_outputs, substitute
from fastrepo import make_fast
from mlgate.serving.plan import image_requirements

# Fixture set-up counts against the timeout: the first test builds the base image
# (debootstrap), downloads the wheels, trains the model and builds the image.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"
MODEL = "production-churn-model"
PYTHON = "/opt/mlgate/venv/bin/python"
SERVER = "/opt/mlgate/app/serve.py"
# The image logs every prediction to S3 in batches of 40 rows; each container that uses
# the log names its own bucket with MLGATE_LOG_TO (the others have no network: their
# batches fail, which they do not look at).
LOG_SETTINGS = {
    "log_sample": 1.0,
    "log_to": "s3://mlgate-prediction-log/churn/",
    "log_batch_rows": 40,
    "log_flush_seconds": 600,
}
# The Prometheus rules --monitoring-out writes: an error ratio of 0.2 for 1 s fires at once.
ALERT_SETTINGS = {"alerts": {"error_ratio": 0.2, "for": "1s"}}
# Travels from a version tag into a label: quotes, a backslash and a `$` must survive.
AWKWARD_TAG = ("mlgate.model.note", 'a "quoted" $HOME \\ value')
# Run inside the container (it has no network): POST or GET on the server's own port.
CLIENT = """
import os, sys, urllib.error, urllib.request
body = os.environ.get("BODY")
request = urllib.request.Request(
    "http://127.0.0.1:8080" + sys.argv[1],
    data=body.encode() if body is not None else None,
    headers={"Content-Type": "application/json"},
)
try:
    with urllib.request.urlopen(request, timeout=60) as answer:
        print(answer.status); print(answer.read().decode())
except urllib.error.HTTPError as error:
    print(error.code); print(error.read().decode())
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _env(**extra: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "MLFLOW_", "AWS_", "PYTEST_", "MLGATE_"))
    }
    return {**keep, **extra}


def mlgate(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlgate", *args],
        cwd=repo,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=1200,
    )


def use_store(uri: str) -> None:
    """Point MLflow's global tracking URI at `uri` (`models:/` URIs resolve through it),
    without the MLFLOW_TRACKING_URI that MLflow 3 also exports reaching later modules."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@dataclass
class Registered:
    repo: Path
    uri: str
    commit: str

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    def tags(self, version: str = "1") -> dict[str, str]:
        return dict(self.client().get_model_version(MODEL, version).tags)


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """The example (made quick), committed to git and registered as v1 in a local store."""
    repo = tmp_path_factory.mktemp("build-image") / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    make_fast(repo)
    with (repo / "mlgate.yaml").open("a", encoding="utf-8") as config:
        config.write("export: {onnx: true}\n")  # v1 holds model.onnx too: the ONNX image
    _git(repo, "init", "-q")
    _git(repo, "remote", "add", "origin", "https://github.com/acme/churn.git")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "model")
    done = mlgate(repo, "run")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    uri = f"sqlite:///{repo / '.mlgate' / 'mlflow.db'}"
    found = Registered(repo, uri, _git(repo, "rev-parse", "HEAD"))
    found.client().set_model_version_tag(MODEL, "1", *AWKWARD_TAG)
    return found


@dataclass
class Built:
    registered: Registered
    record: dict[str, Any]
    base_image: str
    wheels: Path
    registry: str
    log: str


@pytest.fixture(scope="module")
def built(
    registered: Registered,
    docker_client: Any,
    docker_registry: str,
    serving_base_image: str,
    serving_wheels: Any,
) -> Built:
    """v1 built offline from the wheel directory and pushed to the loopback registry, with
    the prediction log on (LOG_SETTINGS)."""
    from mlflow import artifacts

    config_path = registered.repo / "mlgate.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["serving"] = {**(config.get("serving") or {}), **LOG_SETTINGS}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    use_store(registered.uri)
    model_dir = artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}/1",
        dst_path=str(registered.repo.parent / "model"),
        tracking_uri=registered.uri,
    )
    pins = (Path(model_dir) / "requirements.txt").read_text(encoding="utf-8")
    wheels = serving_wheels(image_requirements(pins, None, LOG_SETTINGS["log_to"]))
    # serving.alerts for the Prometheus test: a low error ratio that holds for a second.
    settings = yaml.safe_load((registered.repo / "mlgate.yaml").read_text())
    settings["serving"] = {**(settings.get("serving") or {}), **ALERT_SETTINGS}
    (registered.repo / "mlgate.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    done = mlgate(
        registered.repo,
        "build-image",
        f"{MODEL}:1",
        "--config",
        "mlgate.yaml",
        "--base-image",
        serving_base_image,
        "--wheels",
        str(wheels),
        "--repository",
        f"{docker_registry}/acme/churn",
        "--push",
        "--monitoring-out",
        str(registered.repo / "monitoring"),
        "--json",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return Built(
        registered,
        json.loads(done.stdout),
        serving_base_image,
        wheels,
        docker_registry,
        done.stderr,
    )


@pytest.fixture
def container(built: Built, docker_client: Any):
    """The image running with no network, once its health check passes."""
    box = docker_client.containers.run(built.record["image"], detach=True, network_mode="none")
    try:
        deadline = time.monotonic() + 120
        while box.exec_run([PYTHON, SERVER, "--check"]).exit_code != 0:
            box.reload()
            assert box.status == "running", box.logs().decode()[-3000:]
            assert time.monotonic() < deadline, box.logs().decode()[-3000:]
            time.sleep(1)
        yield box
    finally:
        box.remove(force=True)


def _call(box: Any, path: str, body: Any = None) -> tuple[int, str]:
    environment = {"BODY": json.dumps(body)} if body is not None else {}
    result = box.exec_run([PYTHON, "-c", CLIENT, path], environment=environment)
    assert result.exit_code == 0, result.output.decode()
    status, _, text = result.output.decode().partition("\n")
    return int(status), text


def test_prometheus_scrapes_the_image_and_evaluates_the_rules_it_came_with(
    built: Built, docker_client: Any, tmp_path: Path
) -> None:
    """The dashboard and alerting rules `--monitoring-out` wrote for v1, with
    ALERT_SETTINGS (tests/prometheus_support.py)."""
    from mlgate.serving import observability
    from prometheus_support import check_scraped_image

    monitoring = built.registered.repo / "monitoring"
    names = (observability.DASHBOARD_FILE, observability.RULES_FILE)
    assert sorted(built.record["monitoring"]) == sorted(str(monitoring / n) for n in names)
    rules = (monitoring / observability.RULES_FILE).read_text()
    assert "> 0.2\n" in rules  # serving.alerts honoured
    assert "for: 1s" in rules
    assert f"{MODEL} v1" in (monitoring / observability.DASHBOARD_FILE).read_text()
    use_store(built.registered.uri)
    rows = _rows(built.registered, 5)
    check_scraped_image(docker_client, built.record["image"], monitoring, MODEL, rows, tmp_path)


def _rows(registered: Registered, count: int) -> pd.DataFrame:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/1")
    columns = model.metadata.get_input_schema().input_names()
    frame = pd.read_csv(registered.repo / "data" / "validation.csv")
    return frame[columns].head(count)


def test_the_image_answers_like_the_registered_model_and_counts_it(
    built: Built, container: Any
) -> None:
    import mlflow
    from prometheus_client.parser import text_string_to_metric_families

    use_store(built.registered.uri)
    rows = _rows(built.registered, 60)
    expected = list(mlflow.pyfunc.load_model(f"models:/{MODEL}/1").predict(rows))
    payload = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}

    for _ in range(3):
        status, text = _call(container, "/invocations", payload)
        assert status == 200, text
        assert json.loads(text)["predictions"] == expected
    status, text = _call(container, "/invocations", {"dataframe_split": {"columns": ["x"]}})
    assert status == 400, text
    assert _call(container, "/ping")[0] == 200

    status, text = _call(container, "/metrics")
    assert status == 200
    families = {family.name: family for family in text_string_to_metric_families(text)}

    def samples(family: str, name: str, **labels: str) -> list[Any]:
        return [
            s
            for s in families[family].samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    ok = samples("mlgate_requests", "mlgate_requests_total", endpoint="/invocations", status="200")
    assert [s.value for s in ok] == [3.0]
    bad = samples("mlgate_request_errors", "mlgate_request_errors_total", endpoint="/invocations")
    # Both series exist from the start; only the bad request's counted.
    assert sorted((s.labels["kind"], s.value) for s in bad) == [("client", 1.0), ("server", 0.0)]
    buckets = samples(
        "mlgate_request_duration_seconds",
        "mlgate_request_duration_seconds_bucket",
        endpoint="/invocations",
    )
    assert len(buckets) > 5
    counts = [s.value for s in sorted(buckets, key=lambda s: float(s.labels["le"]))]
    assert counts == sorted(counts)
    assert counts[-1] == 4.0  # 3 answered and 1 refused
    predicted = {
        s.labels["predicted"]: s.value
        for s in samples("mlgate_predictions", "mlgate_predictions_total")
    }
    assert predicted == {label: 3.0 * expected.count(label) for label in set(expected)}
    assert samples("mlgate_prediction_rows", "mlgate_prediction_rows_total")[0].value == 180.0
    info = samples("mlgate_model_info", "mlgate_model_info")
    assert [(s.labels["name"], s.labels["version"]) for s in info] == [(MODEL, "1")]


@pytest.fixture
def patient_docker(docker_client: Any) -> Any:
    """A client of the same engine that waits up to ten minutes for an answer: on vfs
    storage (.ci/run's fallback) the engine copies the whole image for each container and
    deletes the copy on removal, which takes longer than the SDK's default minute on a busy
    machine."""
    client = docker.from_env(timeout=600)
    try:
        yield client
    finally:
        client.close()


def _serve_on_host(docker_client: Any, image: str, environment: dict[str, str]) -> tuple[Any, str]:
    """The image on the host's network (it reaches the moto server on loopback), on a free
    loopback port: the container and its URL."""
    from conftest import _free_port

    port = _free_port()
    box = docker_client.containers.run(
        image,
        detach=True,
        network_mode="host",
        environment={**environment, "MLGATE_HOST": "127.0.0.1", "MLGATE_PORT": str(port)},
    )
    return box, f"http://127.0.0.1:{port}"


def _until(check: Any, box: Any, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        box.reload()
        assert box.status == "running", box.logs().decode()[-3000:]
        assert time.monotonic() < deadline, box.logs().decode()[-3000:]
        time.sleep(0.5)


def _http(url: str, body: Any = None) -> tuple[int, str]:
    import urllib.error

    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:  # not listening yet
        return 0, str(error)


def _log_metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    status, text = _http(f"{url}/metrics")
    assert status == 200, text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("mlgate_prediction_log")
        for sample in family.samples
    }


def test_the_served_model_logs_its_predictions_to_s3_and_mlgate_monitor_reads_them(
    built: Built, patient_docker: Any, s3_server: str, tmp_path: Path
) -> None:
    import re
    import uuid

    from conftest import MOTO_CREDENTIALS, MOTO_REGION, s3_client

    s3 = s3_client(s3_server)
    bucket, prefix = f"served-{uuid.uuid4().hex[:16]}", "served/churn/"
    s3.create_bucket(Bucket=bucket)
    aws = {
        "AWS_ENDPOINT_URL_S3": s3_server,
        "AWS_ACCESS_KEY_ID": MOTO_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": MOTO_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": MOTO_REGION,
    }
    image = built.record["image"]
    good, good_url = _serve_on_host(
        patient_docker, image, {**aws, "MLGATE_LOG_TO": f"s3://{bucket}/{prefix}"}
    )
    try:
        # The same image logging to a bucket that does not exist: every batch fails.
        bad, bad_url = _serve_on_host(
            patient_docker, image, {**aws, "MLGATE_LOG_TO": f"s3://no-such-{bucket}/x/"}
        )
        try:
            rows = _rows(built.registered, 95)
            predictions: list[Any] = []
            for url in (good_url, bad_url):
                box = good if url == good_url else bad
                _until(lambda url=url: _http(f"{url}/ping")[0] == 200, box)
                for part in (rows.iloc[:60], rows.iloc[60:]):
                    split = json.loads(part.to_json(orient="split", index=False))
                    status, text = _http(f"{url}/invocations", {"dataframe_split": split})
                    assert status == 200, text  # a failing log never fails a request
                    if url == good_url:
                        predictions += json.loads(text)["predictions"]

            def keys() -> list[str]:
                listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
                return sorted(item["Key"] for item in listed)

            # 95 rows: two full batches of 40 now, 15 rows wait (the time limit is 10 min).
            _until(lambda: len(keys()) == 2, good, seconds=60)
            counted = _log_metrics(good_url)
            assert counted[("mlgate_prediction_log_batches_written_total", ())] == 2.0
            assert counted[("mlgate_prediction_log_batches_failed_total", ())] == 0.0
            assert counted[("mlgate_prediction_log_rows_total", ())] == 80.0
            assert counted[("mlgate_prediction_log_rows_buffered", ())] == 15.0

            failed = ("mlgate_prediction_log_batches_failed_total", ())
            _until(lambda: _log_metrics(bad_url)[failed] == 2.0, bad, seconds=60)
            counted = _log_metrics(bad_url)
            assert counted[("mlgate_prediction_log_batches_written_total", ())] == 0.0
            dropped = ("mlgate_prediction_log_rows_dropped_total", (("reason", "write_failed"),))
            assert counted[dropped] == 80.0
            status, text = _http(f"{bad_url}/invocations", {"dataframe_split": split})
            assert status == 200, text
            assert "NoSuchBucket" in bad.logs().decode()
        finally:
            bad.remove(force=True)

        # docker stop sends SIGTERM: the server stops and writes the 15 buffered rows.
        good.stop(timeout=30)
        good.reload()
        assert good.attrs["State"]["ExitCode"] == 0, good.logs().decode()[-3000:]
        assert len(keys()) == 3, good.logs().decode()[-3000:]
    finally:
        good.remove(force=True)

    name = re.compile(
        rf"^{prefix}(\d{{4}})/(\d{{2}})/(\d{{2}})/(\d{{8}})T(\d{{6}})Z-[0-9a-f]+\.jsonl$"
    )
    logged = []
    for key in keys():
        match = name.match(key)
        assert match, key
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        lines = [json.loads(line) for line in body.splitlines()]
        first = lines[0]["timestamp"]  # the batch is named after its first row's time
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", first), first
        day, clock = first[:10].replace("-", ""), first[11:19].replace(":", "")
        assert match.group(4, 5) == (day, clock), (key, first)
        assert "".join(match.group(1, 2, 3)) == day
        logged += lines
    assert len(logged) == 95
    fields = ["timestamp", "model", "version", "inputs", "prediction"]
    assert all(list(line) == fields for line in logged)
    assert {(line["model"], line["version"]) for line in logged} == {(MODEL, "1")}
    sent = json.loads(rows.to_json(orient="records"))
    assert sorted(([line["inputs"], line["prediction"]] for line in logged), key=str) == sorted(
        ([inputs, prediction] for inputs, prediction in zip(sent, predictions, strict=True)),
        key=str,
    )

    # mlgate monitor reads the prefix as it is (in a copy of the model repo: it records a run).
    from mlgate.results.monitor import MonitorResult

    repo = tmp_path / "repo"
    shutil.copytree(built.registered.repo, repo, symlinks=True)
    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    config["monitoring"] = {"data": f"s3://{bucket}/{prefix}", "reference_alias": "candidate"}
    config["validation"] = {**config["validation"], "drift": {"min_rows": 50}}
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    done = mlgate(repo, "monitor", "--json", **aws)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    result = MonitorResult.from_json(json.loads(done.stdout)["monitor"])
    assert result.model == MODEL
    assert result.window.prediction_log
    assert result.window.rows == 95
    # Newest first by the time in their names (batches named in one second may come in
    # either order).
    assert sorted(result.window.files_read) == [f"s3://{bucket}/{key}" for key in keys()]
    assert result.prediction is not None
    assert result.prediction.source == "logged"


def test_the_image_runs_unprivileged_with_a_health_check(built: Built, docker_client: Any) -> None:
    config = docker_client.images.get(built.record["image"]).attrs["Config"]
    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"][-1] == "--check"
    assert "8080/tcp" in config["ExposedPorts"]
    history = docker_client.images.get(built.record["image"]).history()
    assert not any("/tmp/mlgate/wheels" in (layer.get("CreatedBy") or "") for layer in history)


def test_the_labels_carry_the_lineage(built: Built, docker_client: Any) -> None:
    labels = docker_client.images.get(built.record["image"]).labels
    tags = built.registered.tags()
    assert labels["org.opencontainers.image.source"] == "https://github.com/acme/churn"
    assert labels["org.opencontainers.image.revision"] == built.registered.commit
    assert labels["org.opencontainers.image.version"] == "1"
    assert labels["org.opencontainers.image.base.digest"] == built.base_image.split("@")[1]
    assert labels["org.opencontainers.image.created"].endswith("+00:00")
    assert labels["mlgate.model.name"] == MODEL
    assert labels["mlgate.model.uri"] == f"models:/{MODEL}/1"
    for role in ("training", "validation"):
        assert labels[f"mlgate.data.{role}.sha256"] == tags[f"mlgate.data.{role}.sha256"]
    for gate in ("validation", "evaluation", "fairness"):
        assert labels[f"mlgate.gate.{gate}"] == tags[f"mlgate.gate.{gate}"] == "passed"
    assert labels[AWKWARD_TAG[0]] == AWKWARD_TAG[1]
    assert built.record["labels"].items() <= labels.items()


def test_the_pushed_image_pulls_back_by_the_digest_on_the_version(
    built: Built, docker_client: Any
) -> None:
    pushed = built.record["pushed"]
    assert pushed.startswith(f"{built.registry}/acme/churn@sha256:")
    assert built.registered.tags()["mlgate.image"] == pushed
    # The registry serves the manifest under that digest (it is the hash of the manifest).
    repository, _, digest = pushed.partition("@")
    manifest = urllib.request.Request(
        f"http://{built.registry}/v2/{repository.partition('/')[2]}/manifests/{digest}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(manifest, timeout=30) as answer:
        assert f"sha256:{hashlib.sha256(answer.read()).hexdigest()}" == digest
    image_id = docker_client.images.get(built.record["image"]).id
    docker_client.images.remove(built.record["image"], noprune=True)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(pushed)
    pulled = docker_client.images.pull(pushed)
    assert pulled.id == image_id
    pulled.tag(built.record["image"])  # back under its name, for the other tests


def test_a_push_without_rights_is_denied_and_the_action_pushes_with_them(
    built: Built,
    docker_client: Any,
    docker_registry_with_auth: tuple[str, str, str],
    tmp_path: Path,
) -> None:
    from mlgate.errors import InputError
    from mlgate.serving import engine

    address, username, password = docker_registry_with_auth
    repository = f"{address}/acme/churn"
    docker_client.images.get(built.record["image"]).tag(repository, "v1")
    with pytest.raises(InputError) as denied:  # no credentials in the environment
        engine.push(docker_client, repository, "v1", lambda _: None)
    assert "denied the push" in str(denied.value)
    assert "MLGATE_REGISTRY_USERNAME" in str(denied.value)

    # The build-image action's own step, with its inputs as the runner would pass them.
    code, outputs, log = run_action_step(
        "build-image",
        "build",
        {
            "model": f"{MODEL}@candidate",
            "config": "mlgate.yaml",
            "base-image": built.base_image,
            "wheels": str(built.wheels),
            "repository": repository,
            "push": "true",
            "registry-username": username,
            "registry-password": password,
        },
        cwd=built.registered.repo,
        tmp_path=tmp_path,
    )
    assert code == 0, log[-3000:]
    assert log.index(f"::add-mask::{password}") < log.index("downloading")
    assert password not in log.replace(f"::add-mask::{password}", "")
    assert outputs["image"] == f"{repository}:v1"
    assert outputs["pushed-image"] == f"{repository}@{outputs['digest']}"
    assert outputs["version"] == "1"
    assert built.registered.tags()["mlgate.image"] == outputs["pushed-image"]


def run_action_step(
    action: str, step_id: str, given: dict[str, str], *, cwd: Path, tmp_path: Path
) -> tuple[int, dict[str, str], str]:
    """One step of a composite action: its script, with the env it declares, as in Actions."""
    document = yaml.safe_load((ROOT / "actions" / action / "action.yml").read_text())
    inputs = {name: spec.get("default", "") for name, spec in document["inputs"].items()}
    assert set(given) <= set(inputs), set(given) - set(inputs)
    inputs.update(given)
    step = next(step for step in document["runs"]["steps"] if step.get("id") == step_id)
    outputs = tmp_path / "github_output"
    outputs.write_text("")
    # The install step's output: the interpreter the step runs mlgate with (this one).
    context = {"inputs": inputs, "steps": {"install": {"outputs": {"python": sys.executable}}}}
    env = _env(
        **{name: substitute(value, context) for name, value in step["env"].items()},
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(outputs),
        MLFLOW_TRACKING_URI=f"sqlite:///{cwd / '.mlgate' / 'mlflow.db'}",
    )
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return done.returncode, parse_outputs(outputs), done.stdout + done.stderr


def _with_template(repo: Path, tmp_path: Path, runtime_block: str, **serving: str) -> Path:
    """A copy of the model repo whose serving.template extends mlgate's own template."""
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy, symlinks=True)
    (copy / "Dockerfile.j2").write_text(
        '{% extends "mlgate/Dockerfile.j2" %}\n'
        "{% block runtime %}{{ super() }}" + runtime_block + "\n{% endblock %}\n"
    )
    config = yaml.safe_load((copy / "mlgate.yaml").read_text())
    config["serving"] = {"template": "Dockerfile.j2", **serving}
    (copy / "mlgate.yaml").write_text(yaml.safe_dump(config))
    return copy


def test_a_failed_build_step_names_the_step_and_its_cause(built: Built, tmp_path: Path) -> None:
    repo = _with_template(
        built.registered.repo,
        tmp_path,
        'RUN echo "the team step broke" >&2 && false',
        base_image=built.base_image,
        wheels=str(built.wheels),
    )
    done = mlgate(repo, "build-image", f"{MODEL}:1")
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "the image build failed at Step" in last, last
    assert ': RUN echo "the team step broke"' in last, last
    assert "returned a non-zero code: 1 (the team step broke)" in last, last
    assert "Traceback" not in done.stderr


def test_an_image_that_does_not_serve_is_refused(built: Built, docker_client: Any) -> None:
    from mlgate.errors import InputError
    from mlgate.serving import engine

    # The base image has no server: its python3 exits at once. build-image checks each
    # image it builds this way, and pushes and tags only once the check has passed.
    with pytest.raises(InputError) as refused:
        engine.check_serves(docker_client, built.base_image, lambda _: None, timeout=60)
    assert "does not serve: the server exited with code 0" in str(refused.value)
    assert "nothing was pushed" in str(refused.value)


def test_a_wheel_directory_without_the_pins_is_named_before_building(
    built: Built, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for wheel in built.wheels.glob("prometheus_client-*.whl"):
        shutil.copyfile(wheel, wheels / wheel.name)
    done = mlgate(
        built.registered.repo,
        "build-image",
        f"{MODEL}:1",
        "--base-image",
        built.base_image,
        "--wheels",
        str(wheels),
    )
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "has no wheel for mlflow-skinny==3.17.2, scikit-learn==" in last, last
    assert "pip download -d" in last, last
    assert "Step " not in done.stderr  # refused before any build


def test_a_missing_base_image_is_named(built: Built) -> None:
    registry, _, _ = built.base_image.partition("/")
    absent = f"{registry}/mlgate-tests/absent@sha256:{'0' * 64}"
    done = mlgate(built.registered.repo, "build-image", f"{MODEL}:1", "--base-image", absent)
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert absent in last, last
    assert "--base-image" in last, last
    assert "cannot be pulled" in last, last


def test_no_engine_is_exit_3_naming_docker_host(registered: Registered) -> None:
    base = f"127.0.0.1:5000/base@sha256:{'a' * 64}"
    done = mlgate(
        registered.repo,
        "build-image",
        f"{MODEL}:1",
        "--base-image",
        base,
        DOCKER_HOST="tcp://127.0.0.1:9",
    )
    assert done.returncode == 3, done.stderr[-3000:]
    assert "no Docker engine reachable at tcp://127.0.0.1:9" in done.stderr.strip()


def test_bad_serving_settings_are_exit_2(registered: Registered, tmp_path: Path) -> None:
    def last_line(*args: str, target: str = f"{MODEL}:1") -> str:
        done = mlgate(registered.repo, "build-image", target, *args)
        assert done.returncode == 2, done.stderr[-2000:]
        return done.stderr.strip().splitlines()[-1]

    pinned = f"127.0.0.1:5000/base@sha256:{'a' * 64}"
    assert "serving.base_image" in last_line()
    assert "not pinned by digest" in last_line("--base-image", "debian:bookworm")
    assert "--push needs a repository" in last_line("--base-image", pinned, "--push")
    assert "not an image repository" in last_line(
        "--base-image", pinned, "--repository", "Acme/Churn:latest"
    )
    assert "does not exist" in last_line("--base-image", pinned, "--wheels", str(tmp_path / "no"))
    assert "has no version 7" in last_line("--base-image", pinned, target=f"{MODEL}:7")


def test_the_onnx_image_answers_like_the_sklearn_image_without_mlflow_or_sklearn(
    built: Built, container: Any, docker_client: Any, serving_wheels: Any
) -> None:
    """serving.flavor onnx: the same version, served by onnxruntime alone, gives the same
    answers as the scikit-learn image (`built`), in a smaller image."""
    from mlflow import artifacts

    from mlgate.serving.context import read_onnx
    from mlgate.serving.plan import onnx_requirements

    repo = built.registered.repo
    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    config["serving"] = {"flavor": "onnx"}  # no prediction log: onnxruntime, numpy, server
    (repo / "onnx.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    model_dir = Path(
        artifacts.download_artifacts(
            artifact_uri=f"models:/{MODEL}/1",
            dst_path=str(repo.parent / "onnx-model"),
            tracking_uri=built.registered.uri,
        )
    )
    pins = (model_dir / "requirements.txt").read_text(encoding="utf-8")
    runtime = read_onnx(model_dir, "v1", "serving.flavor")
    wheels = serving_wheels(onnx_requirements(pins, runtime))
    done = mlgate(
        repo,
        "build-image",
        f"{MODEL}:1",
        "--config",
        "onnx.yaml",
        "--base-image",
        built.base_image,
        "--wheels",
        str(wheels),
        "--json",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    record = json.loads(done.stdout)
    assert record["image"] == f"mlgate/{MODEL}:v1-onnx"
    image = docker_client.images.get(record["image"])
    assert image.labels["org.opencontainers.image.description"].endswith(
        "(ONNX Runtime scoring server)"
    )
    sklearn_image = docker_client.images.get(built.record["image"])
    assert image.attrs["Size"] < sklearn_image.attrs["Size"] * 0.7

    box = docker_client.containers.run(record["image"], detach=True, network_mode="none")
    try:
        deadline = time.monotonic() + 120
        while box.exec_run([PYTHON, SERVER, "--check"]).exit_code != 0:
            box.reload()
            assert box.status == "running", box.logs().decode()[-3000:]
            assert time.monotonic() < deadline, box.logs().decode()[-3000:]
            time.sleep(1)
        for package in ("mlflow", "sklearn", "pandas", "scipy"):
            found = box.exec_run([PYTHON, "-c", f"import {package}"])
            assert found.exit_code != 0, f"{package} is in the ONNX image"

        rows = _rows(built.registered, 120)
        assert rows["monthly_charges"].isna().any()  # missing numbers are imputed in both
        split = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        records = {"dataframe_records": json.loads(rows.to_json(orient="records"))}
        for payload in (split, records):
            answers = [_call(server, "/invocations", payload) for server in (container, box)]
            assert [status for status, _ in answers] == [200, 200], answers
            sklearn_answer, onnx_answer = (json.loads(text) for _, text in answers)
            assert onnx_answer == sklearn_answer
            assert set(onnx_answer) == {"predictions"}
        for path in ("/ping", "/version"):
            assert _call(box, path) == _call(container, path)
        refused = [_call(server, "/invocations", {"rows": []}) for server in (container, box)]
        assert [status for status, _ in refused] == [400, 400]
        assert set(json.loads(refused[1][1])) == {"error_code", "message"}

        status, text = _call(box, "/metrics")
        assert status == 200
        assert "mlgate_prediction_rows_total 240.0" in text
        assert 'mlgate_requests_total{endpoint="/invocations",method="POST",status="400"} 1.0' in (
            text
        )
    finally:
        box.remove(force=True)
