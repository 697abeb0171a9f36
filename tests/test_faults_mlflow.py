"""MLflow behind a fault proxy: retried within bounds, exit 3 when down, nothing lost or doubled.

One real run prepares validate → card against the tracking server; each test copies that
repo and runs the register stage through a FaultProxy with its own commit (GITHUB_SHA), so
each registers under its own fingerprint. MLflow's retry settings are lowered through the
environment so that a server that stays down is given up on in about a second.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import pytest

from conftest import EXAMPLE
from fastrepo import check_consistent, latest_run, make_fast
from faultproxy import Fault, FaultProxy

pytestmark = pytest.mark.slow

MODEL = f"faults-churn-{uuid.uuid4().hex[:8]}"
RETRIES = 2  # MLFLOW_HTTP_REQUEST_MAX_RETRIES in these tests: 1 try + 2 retries
BEFORE_REGISTER = ("validate", "train", "evaluate", "fairness", "card")
CREATE_VERSION = "/mlflow/model-versions/create"
SET_ALIAS = "/mlflow/registered-models/alias"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, mlflow_server: str) -> Path:
    """examples/churn with every stage but register done against the tracking server."""
    from mlgate.cli import main

    repo = tmp_path_factory.mktemp("faults") / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    make_fast(repo, registry_name=MODEL)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        for command in ("train", "evaluate", "fairness", "card"):
            assert main([command, "--json"]) == 0, command
    return repo


@pytest.fixture
def repo(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the prepared repo whose run has a commit of its own."""
    copy = tmp_path / "churn"
    shutil.copytree(prepared, copy, symlinks=True)
    monkeypatch.setenv("GITHUB_SHA", uuid.uuid4().hex + uuid.uuid4().hex[:8])
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(RETRIES))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")  # an integer for MLflow
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    return copy


@pytest.fixture
def proxy(mlflow_server: str, monkeypatch: pytest.MonkeyPatch):
    with FaultProxy(mlflow_server) as fault_proxy:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", fault_proxy.url)
        yield fault_proxy


@pytest.fixture
def client(mlflow_server: str):
    """A client straight to the server (no proxy), to see what the registry really holds."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server)


def _versions(client, fingerprint: str) -> list:
    query = f"name = '{MODEL}' and tags.`mlgate.fingerprint` = '{fingerprint}'"
    return client.search_model_versions(query)


def _fingerprint(repo: Path) -> str:
    """The fingerprint the register stage computes, read back from what it wrote to MLflow."""
    register = json.loads((latest_run(repo) / "register.json").read_text())
    return register["fingerprint"]


def _statuses(proxy: FaultProxy, path: str, method: str = "POST") -> list[int | None]:
    return [r.status for r in proxy.requests if r.method == method and path in r.path]


def _snapshot(run_dir: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run_dir.iterdir() if p.is_file()
    }


def test_5xx_and_429_are_retried_and_the_version_registered(
    repo: Path, proxy: FaultProxy, client, cli
) -> None:
    proxy.inject(Fault.respond(503), method="POST", path_contains="/mlflow/runs/create", times=2)
    proxy.inject(
        Fault.respond(429, headers={"Retry-After": "1"}),
        method="POST",
        path_contains=CREATE_VERSION,
    )

    result = cli("register", "--json", cwd=repo)

    assert result.code == 0, result.err
    assert _statuses(proxy, "/mlflow/runs/create") == [503, 503, 200]
    assert _statuses(proxy, CREATE_VERSION) == [429, 200]
    register = json.loads(result.out)["stages"][-1]
    [version] = _versions(client, register["fingerprint"])
    assert register["version"] == version.version
    assert client.get_model_version_by_alias(MODEL, "candidate").version == version.version


@pytest.mark.parametrize(
    "fault",
    [Fault.respond(503, b"upstream down"), Fault.drop()],
    ids=["503-forever", "connection-dropped-forever"],
)
def test_a_server_that_stays_down_ends_in_exit_3_and_the_next_run_resumes(
    repo: Path, proxy: FaultProxy, client, cli, fault: Fault
) -> None:
    run_dir = latest_run(repo)
    before = _snapshot(run_dir)
    proxy.inject(fault, times=None)

    down = cli("register", cwd=repo)

    assert down.code == 3, down.err
    [line] = down.error_lines
    assert line.startswith(f"mlgate: error: MLflow at {proxy.url} failed to ")
    assert "a bug in mlgate" not in line
    # Bounded: the call that failed was tried 1 + RETRIES times, and nothing came after it
    # (a champion lookup before it may give up early: a missing champion is not fatal).
    attempts = [r.path for r in proxy.requests]
    assert "model-versions/search" in attempts[-1]
    assert attempts.count(attempts[-1]) == 1 + RETRIES
    assert len(attempts) <= 2 * (1 + RETRIES)
    stopped = json.loads((run_dir / "stopped.json").read_text())  # the run did not finish
    assert (stopped["stage"], stopped["exit_code"]) == ("register", 3)
    kept = {name: digest for name, digest in _snapshot(run_dir).items() if name != "stopped.json"}
    assert kept == before  # every finished stage kept, nothing half-written
    assert sorted(p.stem for p in run_dir.glob("*.json")) == sorted([*BEFORE_REGISTER, "stopped"])
    assert check_consistent(run_dir) == []

    proxy.clear()
    again = cli("register", "--run-dir", str(run_dir), "--json", cwd=repo)

    assert again.code == 0, again.err
    assert [s["stage"] for s in json.loads(again.out)["stages"]] == ["register"]
    assert not (run_dir / "stopped.json").exists()  # the stage that stopped has finished
    after = _snapshot(run_dir)
    changed = {name for name in before if before[name] != after.get(name)}
    # Resumed, not redone: only the card is stamped with the version it now describes.
    assert changed <= {"model_card.md", "model_card.html", "card.json"}
    [version] = _versions(client, _fingerprint(repo))
    assert client.get_model_version_by_alias(MODEL, "candidate").version == version.version


def test_a_failure_between_version_and_alias_is_repaired_by_the_next_run(
    repo: Path, proxy: FaultProxy, client, cli
) -> None:
    proxy.inject(Fault.respond(503), method="POST", path_contains=SET_ALIAS, times=None)

    broken = cli("register", cwd=repo)

    assert broken.code == 3, broken.err
    assert "failed to set alias candidate" in broken.err
    assert _statuses(proxy, SET_ALIAS) == [503] * (1 + RETRIES)
    assert not (latest_run(repo) / "register.json").exists()
    created = client.search_model_versions(f"name = '{MODEL}'", order_by=["version_number DESC"])
    newest = created[0]
    assert client.get_model_version_by_alias(MODEL, "candidate").version != newest.version

    proxy.clear()
    repaired = cli("register", "--json", cwd=repo)

    assert repaired.code == 0, repaired.err
    register = json.loads(repaired.out)["stages"][-1]
    assert register["reused"] is True
    assert register["version"] == newest.version
    assert _statuses(proxy, CREATE_VERSION) == []  # no second version was even attempted
    [version] = _versions(client, register["fingerprint"])
    assert version.version == newest.version
    assert client.get_model_version_by_alias(MODEL, "candidate").version == version.version
    # The version's own run is reported, not the run that found the version again.
    assert register["mlflow_run_id"] == newest.run_id
    assert register["mlflow_run_url"].endswith(f"/runs/{newest.run_id}")
    assert f"run {newest.run_id[:8]} in " in register["summary"]
    written = json.loads((latest_run(repo) / "register.json").read_text())
    assert written["mlflow_run_id"] == newest.run_id
    tags = client.get_model_version(MODEL, version.version).tags
    assert tags["mlgate.fingerprint"] == register["fingerprint"]
    assert tags["mlgate.git.commit"] == _github_sha()
    assert tags["mlgate.gate.evaluation"] == "passed"


def _mlflow_runs(client, repo: Path, since_ms: int) -> list:
    """The MLflow runs that mlgate's latest run directory in `repo` started since `since_ms`
    (every test's repo is a copy of one prepared repo, with the same run directory)."""
    experiment = client.get_experiment_by_name(_experiment(repo))
    name = f"mlgate-{latest_run(repo).name}"
    query = f"attributes.run_name = '{name}' and attributes.start_time >= {since_ms}"
    return client.search_runs([experiment.experiment_id], query, order_by=["start_time"])


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def _experiment(repo: Path) -> str:
    import yaml

    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    return config["tracking"]["experiment_name"]


def test_a_run_whose_logging_fails_ends_failed_not_running(
    repo: Path, proxy: FaultProxy, client, cli
) -> None:
    # The artifact store fails for good; the tracking API still answers.
    proxy.inject(Fault.respond(503), path_contains="/mlflow-artifacts/", times=None)
    since = _now_ms()

    broken = cli("register", cwd=repo)

    assert broken.code == 3, broken.err
    [run] = _mlflow_runs(client, repo, since)
    assert run.info.status == "FAILED"


def test_a_server_that_dies_mid_logging_leaves_no_run_running(
    repo: Path, proxy: FaultProxy, client, cli
) -> None:
    # The run is created, then the server is gone: logging fails, and so does ending it.
    for path in ("/mlflow/runs/log-batch", "/mlflow/runs/update", "/mlflow-artifacts/"):
        proxy.inject(Fault.drop(), path_contains=path, times=None)
    since = _now_ms()

    broken = cli("register", cwd=repo)

    assert broken.code == 3, broken.err
    [line] = broken.error_lines
    assert line.startswith(f"mlgate: error: MLflow at {proxy.url} failed to log the run")
    assert _statuses(proxy, "/mlflow/runs/update") == [None]  # one try to end it, no more
    [left] = _mlflow_runs(client, repo, since)
    assert left.info.status == "RUNNING"  # nobody could tell the server otherwise

    proxy.clear()
    again = cli("register", "--json", cwd=repo)

    assert again.code == 0, again.err
    register = json.loads(again.out)["stages"][-1]
    runs = {run.info.run_id: run.info.status for run in _mlflow_runs(client, repo, since)}
    assert runs == {left.info.run_id: "FAILED", register["mlflow_run_id"]: "FINISHED"}


def _github_sha() -> str:
    import os

    return os.environ["GITHUB_SHA"]


def test_an_answer_lost_after_the_version_was_created_leaves_one_version(
    repo: Path, proxy: FaultProxy, client, cli
) -> None:
    # The server creates the version, the client hears 503 and MLflow retries the POST.
    proxy.inject(Fault.lose_answer(503), method="POST", path_contains=CREATE_VERSION)

    result = cli("register", "--json", cwd=repo)

    assert result.code == 0, result.err
    assert _statuses(proxy, CREATE_VERSION) == [503, 200]
    register = json.loads(result.out)["stages"][-1]
    [version] = _versions(client, register["fingerprint"])
    assert register["version"] == version.version
    assert client.get_model_version_by_alias(MODEL, "candidate").version == version.version


def test_an_interrupt_while_registering_is_completed_by_the_next_run(
    repo: Path, proxy: FaultProxy, client, cli
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    # The create reaches the server late, after the command was interrupted: the version
    # then exists without its alias, which the next run must complete, not duplicate.
    proxy.inject(Fault.delay(4), method="POST", path_contains=CREATE_VERSION)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_ACTIONS")}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlgate", "register"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while proxy.count("POST", CREATE_VERSION) == 0:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the register stage never created a version"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, out + err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert not (latest_run(repo) / "register.json").exists()
    assert check_consistent(latest_run(repo)) == []
    deadline = time.monotonic() + 30
    while _statuses(proxy, CREATE_VERSION) != [200]:  # the late create has now been done
        assert time.monotonic() < deadline, proxy.requests
        time.sleep(0.1)

    again = cli("register", "--json", cwd=repo)

    assert again.code == 0, again.err
    register = json.loads(again.out)["stages"][-1]
    assert register["reused"] is True
    [version] = _versions(client, register["fingerprint"])
    assert client.get_model_version_by_alias(MODEL, "candidate").version == version.version
