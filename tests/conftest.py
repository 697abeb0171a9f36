"""Shared fixtures: a fresh copy of the bundled example, and the CLI called in-process."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Docker engine, loopback registries, base image and wheels: fixtures registered by import.
from docker_support import (  # noqa: F401
    docker_client,
    docker_registry,
    docker_registry_with_auth,
    serving_base_image,
    serving_wheels,
)
from mlgate.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"


def _name_the_main_module() -> None:
    """Under pytest-xdist a worker's `__main__` has no file and no spec, which pyspark's
    Spark Connect module (imported by Great Expectations) takes for a doctest run and
    answers with `sys.exit(0)`. A real `mlgate` process always has a main file."""
    import __main__

    if getattr(__main__, "__spec__", None) is None and not hasattr(__main__, "__file__"):
        __main__.__file__ = "pytest-xdist-worker"


_name_the_main_module()

# Variables that would make a test depend on the machine or CI it runs on.
ISOLATED_ENV = (
    "MLFLOW_TRACKING_URI",
    "GITHUB_ACTIONS",
    "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH",
    "GITHUB_REF",
    "GITHUB_SHA",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_ACTOR",
    "GITHUB_SERVER_URL",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    # The machine's own AWS setup must not reach tests (s3_env sets what a test needs).
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "MLFLOW_S3_ENDPOINT_URL",
    # The machine's own registry login must not reach the build-image tests.
    "MLGATE_REGISTRY_USERNAME",
    "MLGATE_REGISTRY_PASSWORD",
)


# Fixtures that start a server process (moto, MLflow, Prism) or a Docker engine's
# containers. A test that uses one, itself or through another fixture, is slow: the quick
# loop (`pytest -m "not slow"`) leaves it to the full suite.
SERVER_FIXTURES = frozenset(
    {
        "s3_server",
        "mlflow_server",
        "github_api",
        "docker_client",
        "docker_registry",
        "docker_registry_with_auth",
    }
)


# Fixtures of the one Docker engine and its build caches (tests/docker_support.py).
DOCKER_FIXTURES = frozenset(
    {
        "docker_client",
        "docker_registry",
        "docker_registry_with_auth",
        "serving_base_image",
        "serving_wheels",
    }
)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    docker_modules = set()
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if SERVER_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.slow)
        if DOCKER_FIXTURES.intersection(fixtures):
            docker_modules.add(item.nodeid.split("::")[0])
    # Under `pytest -n 2 --dist loadgroup` (the README's test command) a module's tests run
    # in one worker, in order, sharing its module fixtures; the modules that use Docker
    # run in one worker too, one after another: the engine removes the images a session
    # made when it ends, and image builds side by side would only slow each other down.
    for item in items:
        module = item.nodeid.split("::")[0]
        group = "docker" if module in docker_modules else module
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop a `--dist loadgroup` run whose groups did not reach the test ids: xdist would
    spread each module's tests over the workers, and a module whose tests build on each
    other (tests/test_workflows_act.py) would fail by the luck of the draw. pytest 9.2 did
    that to pytest-xdist 3.8 (pyproject.toml keeps pytest below it)."""
    if not getattr(session.config.option, "loadgroup", False):  # set in xdist's workers only
        return
    ungrouped = [item.nodeid for item in session.items if "@" not in item.nodeid]
    if ungrouped:
        raise pytest.UsageError(
            f"pytest-xdist did not add the xdist_group to {ungrouped[0]!r} (pytest "
            f"{pytest.__version__}): each module's tests would no longer share a worker"
        )


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ISOLATED_ENV:
        # setenv first, so that teardown also removes a value the test set (MLflow's
        # set_tracking_uri exports MLFLOW_TRACKING_URI): delenv of an unset name records
        # nothing to undo, and the value would reach the next module's fixtures.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture
def churn_repo(tmp_path: Path) -> Path:
    """A private copy of examples/churn (without any earlier .mlgate state)."""
    target = tmp_path / "churn"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    return target


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `mlgate ARGS` in-process from a working directory; return code and output."""

    def run(*args: str, cwd: Path | None = None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse exits for --help and usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve_on_loopback(
    command: list[str], *, port: int, health: str, log_path: Path, env=None, within: float = 90
):
    """Run a server process until the block ends; yields http://127.0.0.1:PORT once
    GET `health` answers (the server's own log is in `log_path`)."""
    import os
    import subprocess
    import time
    import urllib.request

    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        deadline = time.monotonic() + within
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{url}{health}", timeout=2):
                        break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"{Path(command[0]).name} {command[1:3]} did not start; see {log_path}"
                    )
                time.sleep(0.3)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()  # reap it, or Popen warns that it is still running


@contextlib.contextmanager
def start_mlflow_server(root: Path, *, artifacts: str, env=None):
    """A real `mlflow server` (SQLite backend in `root`, artifacts at `artifacts`)."""
    import sys

    port = _free_port()
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", f"sqlite:///{root / 'db.sqlite'}"),
        *("--artifacts-destination", artifacts),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    log_path = root / "server.log"
    # MLflow 3's server starts a job runner of eight processes (GenAI jobs) by default;
    # nothing here runs one, and on two cores they slow every server start.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    with serve_on_loopback(command, port=port, health="/health", log_path=log_path, env=env) as url:
        yield url


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """A real MLflow tracking server on loopback (SQLite backend, local artifact store)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    with start_mlflow_server(root, artifacts=str(root / "artifacts")) as url:
        yield url


# --- S3: a real moto server on loopback -----------------------------------------------------

MOTO_REGION = "us-east-1"
MOTO_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextlib.contextmanager
def start_moto_server(directory: Path, env: dict[str, str] | None = None):
    """Run `moto_server` on a free loopback port until the block ends; yields its URL.

    Each server keeps its own buckets in memory. `env` adds variables to the server's
    environment (moto reads settings such as INITIAL_NO_AUTH_ACTION_COUNT from it).
    """
    import sys

    port = _free_port()
    script = Path(sys.executable).with_name("moto_server")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    with serve_on_loopback(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        port=port,
        health="/moto-api/data.json",
        log_path=directory / f"moto-{port}.log",
        env=env,
        within=60,
    ) as url:
        yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """The endpoint URL (http://127.0.0.1:PORT) of a real S3 server (moto) for the session.

    Shared by every test that needs S3 (data sources, MLflow's S3 artifact store): use a
    bucket of your own (the `s3_bucket` fixture makes a fresh one) rather than resetting
    the server. Clients reach it with endpoint_url=this URL (boto3), AWS_ENDPOINT_URL_S3
    (mlgate, via the `s3_env` fixture) or MLFLOW_S3_ENDPOINT_URL (MLflow), and any
    credentials (moto accepts all; MOTO_CREDENTIALS are the conventional dummies).
    """
    with start_moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


def s3_client(endpoint_url: str):
    """A boto3 S3 client for a moto server, with dummy credentials."""
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=MOTO_REGION, **MOTO_CREDENTIALS
    )


@dataclass
class S3Bucket:
    """A fresh, versioned bucket on the test S3 server."""

    name: str
    endpoint_url: str
    client: Any

    def put(self, key: str, content: bytes | Path) -> str:
        """Upload `content` (bytes or a file) as `key`; return the new version id."""
        body = content.read_bytes() if isinstance(content, Path) else content
        return self.client.put_object(Bucket=self.name, Key=key, Body=body)["VersionId"]

    def uri(self, key: str) -> str:
        return f"s3://{self.name}/{key}"


@pytest.fixture
def s3_bucket(s3_server: str) -> S3Bucket:
    """A new versioned bucket (unique name) on `s3_server`, with a client to fill it."""
    import uuid

    client = s3_client(s3_server)
    name = f"test-{uuid.uuid4().hex[:20]}"
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return S3Bucket(name, s3_server, client)


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point the AWS environment of this test at `s3_server` with dummy credentials.

    Only the variables set here count: no shared config or credentials file, no instance
    metadata lookups. Returns the endpoint URL.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", MOTO_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MOTO_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", MOTO_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return s3_server


@pytest.fixture(scope="session")
def github_api(tmp_path_factory: pytest.TempPathFactory):
    """GitHub's REST API: a stateful fake behind Prism's proxy, checked against GitHub's own
    OpenAPI description (see tests/github_fake.py; add routes there for more endpoints)."""
    from github_fake import SPEC, FakeGitHub, ensure_npm_tools, load_spec, start_prism
    from github_fake_reviews import add_review_routes

    try:
        root = ensure_npm_tools()
    except Exception as error:  # no npm, or the registry unreachable
        pytest.skip(f"the GitHub contract tools could not be installed: {error}")
    fake = FakeGitHub(load_spec(root / SPEC))
    # Any command may look up a commit's review (the checklist): answered, never a 404.
    add_review_routes(fake)
    process, api = start_prism(root, fake, tmp_path_factory.mktemp("prism"))
    try:
        yield api
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:
            process.kill()
        fake.stop()
