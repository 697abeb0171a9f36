"""The tracking URI is checked before anything runs: where it comes from and what it is.

A pull request can edit mlgate.yaml, so a URI from the config alone must never receive
the MLflow credentials of the job's environment; and a URI MLflow cannot use is a config
error (exit 2) at the start, not a crash after training.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlgate.errors import ConfigError
from mlgate.tracking.uri import CREDENTIAL_VARIABLES, check_uri


@pytest.fixture
def listener():
    """A loopback HTTP server that records every request's headers (a hostile host)."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            seen.append(dict(self.headers.items()))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PATCH = do_DELETE = _record

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _configure(repo: Path, uri: str) -> None:
    config = repo / "mlgate.yaml"
    text = config.read_text()
    assert "\ntracking:\n" in text
    config.write_text(text.replace("\ntracking:\n", f"\ntracking:\n  tracking_uri: {uri}\n", 1))


@pytest.mark.parametrize(
    "variable", ["MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"]
)
def test_a_config_only_tracking_uri_never_gets_the_environment_s_credentials(
    churn_repo: Path, cli, monkeypatch, listener, variable: str
) -> None:
    url, seen = listener
    _configure(churn_repo, url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")  # the starter workflow's unset secret
    monkeypatch.setenv(variable, "s3cr3t-mlflow-credential")
    result = cli("run", cwd=churn_repo)
    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert "tracking.tracking_uri in mlgate.yaml" in line
    assert variable in line
    assert "set MLFLOW_TRACKING_URI" in line
    assert seen == []  # nothing reached the config's host, let alone the credential
    assert "✓" not in result.out  # refused before any stage
    assert not (churn_repo / ".mlgate" / "runs").exists()


def test_the_secret_tracking_uri_wins_and_the_config_s_is_not_refused(
    churn_repo: Path, monkeypatch
) -> None:
    from mlgate.project import load_project
    from mlgate.tracking.uri import tracking_uri

    _configure(churn_repo, "https://attacker.example")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cr3t")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.internal.example")
    assert tracking_uri(load_project(churn_repo / "mlgate.yaml")) == (
        "https://mlflow.internal.example"
    )
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    # Without credentials in the environment, the config's URI is the team's choice.
    assert tracking_uri(load_project(churn_repo / "mlgate.yaml")) == "https://attacker.example"


def test_every_credential_variable_counts(churn_repo: Path, monkeypatch) -> None:
    from mlgate.project import load_project
    from mlgate.tracking.uri import tracking_uri

    _configure(churn_repo, "https://attacker.example")
    project = load_project(churn_repo / "mlgate.yaml")
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.setenv(name, "x")
        with pytest.raises(ConfigError, match=name):
            tracking_uri(project)
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("not a uri at all", "is not a tracking URI"),
        ("htp://mlflow.example", "is not a tracking URI"),
        ("ftp://mlflow.example", "is not a tracking URI"),
        ("http://", "names no host"),
        (" https://mlflow.example", "spaces around it"),
        ("./mlruns", "MLFLOW_ALLOW_FILE_STORE=true"),
        ("file:///tmp/mlruns", "MLFLOW_ALLOW_FILE_STORE=true"),
    ],
)
def test_a_tracking_uri_mlflow_cannot_use_is_refused(uri: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        check_uri(uri, "MLFLOW_TRACKING_URI")


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:5000",
        "https://user:pass@mlflow.example/prefix",
        "sqlite:///tmp/mlflow.db",
        "postgresql://u@db.example/mlflow",
        "postgresql+psycopg2://u@db.example/mlflow",
        "mysql+pymysql://u@db.example/mlflow",
        "mssql+pyodbc://u@db.example/mlflow",
        "databricks",
        "databricks://profile",
        "databricks-uc",
    ],
)
def test_the_tracking_uris_mlflow_knows_are_accepted(uri: str) -> None:
    check_uri(uri, "MLFLOW_TRACKING_URI")


def test_a_file_store_is_accepted_when_mlflow_is_told_to_allow_it(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    check_uri("./mlruns", "MLFLOW_TRACKING_URI")
    check_uri("file:///tmp/mlruns", "MLFLOW_TRACKING_URI")


def test_a_tracking_uri_that_is_not_one_stops_the_run_before_any_stage(
    churn_repo: Path, cli, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "not a uri at all")
    result = cli("run", cwd=churn_repo)
    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert "MLFLOW_TRACKING_URI 'not a uri at all' is not a tracking URI" in line
    assert "✓" not in result.out
    assert not (churn_repo / ".mlgate" / "runs").exists()
