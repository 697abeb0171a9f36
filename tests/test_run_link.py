"""The "MLflow run" link: from a non-secret UI address, never from a secret tracking URI.

On GitHub the runner masks every secret's value wherever it appears, and the tracking URI
is a secret there, so a link built from it reads `***/#/experiments/...`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.errors import ConfigError
from mlgate.tracking.uri import UI_URL_VARIABLE, run_page, ui_base

SERVER = "https://user:s3cret@mlflow.internal.example:5000/"
SHOWN = "https://mlflow.internal.example:5000"


def test_locally_the_link_is_the_tracking_servers_own() -> None:
    assert ui_base(SERVER, {"MLFLOW_TRACKING_URI": SERVER}) == SHOWN
    assert ui_base("http://127.0.0.1:5000", {}) == "http://127.0.0.1:5000"


def test_a_store_that_is_no_web_server_has_no_link() -> None:
    assert ui_base("sqlite:////tmp/mlflow.db", {}) is None
    assert ui_base("databricks", {"GITHUB_ACTIONS": "true"}) is None


def test_in_actions_a_tracking_uri_from_the_environment_gives_no_link() -> None:
    env = {"GITHUB_ACTIONS": "true", "MLFLOW_TRACKING_URI": SERVER}
    assert ui_base(SERVER, env) is None


def test_in_actions_a_tracking_uri_from_the_config_is_no_secret() -> None:
    assert ui_base(SERVER, {"GITHUB_ACTIONS": "true", "MLFLOW_TRACKING_URI": ""}) == SHOWN


@pytest.mark.parametrize("actions", ["true", ""])
def test_the_ui_address_wins_wherever_the_tracking_uri_came_from(actions: str) -> None:
    env = {
        "GITHUB_ACTIONS": actions,
        "MLFLOW_TRACKING_URI": SERVER,
        UI_URL_VARIABLE: " https://viewer:pw@mlflow.example.com/ui/ ",
    }
    assert ui_base(SERVER, env) == "https://mlflow.example.com/ui"
    assert ui_base("sqlite:////tmp/mlflow.db", env) == "https://mlflow.example.com/ui"
    assert run_page("https://mlflow.example.com/ui", "3", "abc") == (
        "https://mlflow.example.com/ui/#/experiments/3/runs/abc"
    )


@pytest.mark.parametrize("given", ["mlflow.example.com", "javascript:alert(1)", "https://"])
def test_a_ui_address_that_is_no_web_page_is_a_config_error(given: str) -> None:
    with pytest.raises(ConfigError, match=UI_URL_VARIABLE):
        ui_base(SERVER, {UI_URL_VARIABLE: given})


@pytest.mark.slow
def test_register_in_actions_links_under_the_ui_address(
    churn_repo: Path, cli, mlflow_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = churn_repo / "mlgate.yaml"
    config.write_text(config.read_text().replace("production-churn-model", "ui-link-churn"))
    outputs = tmp_path / "github_output"
    outputs.touch()
    ui = "https://mlflow-ui.example.com"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv(UI_URL_VARIABLE, ui)

    result = cli("run", cwd=churn_repo)

    assert result.code == 0, result.err
    (register_file,) = (churn_repo / ".mlgate" / "runs").glob("*/register.json")
    register = json.loads(register_file.read_text())
    url = register["mlflow_run_url"]
    assert url.startswith(f"{ui}/#/experiments/")
    assert url.endswith(f"/runs/{register['mlflow_run_id']}")
    host_port = mlflow_server.split("://", 1)[1]
    assert mlflow_server not in url
    assert host_port not in url
    assert f"\n{url}\n" in outputs.read_text()  # the step output mlflow-run-url
