"""The same commands against a real MLflow tracking server on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_run_registers_on_the_tracking_server(churn_repo: Path, cli, mlflow_server, monkeypatch):
    # Each test registers under its own name: the server outlives a single test.
    config = churn_repo / "mlgate.yaml"
    config.write_text(config.read_text().replace("production-churn-model", "server-churn"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)

    first = cli("run", "--json", cwd=churn_repo)
    second = cli("run", "--json", "--no-cache", cwd=churn_repo)  # the registry's own reuse

    assert first.code == 0, first.err
    register = json.loads(first.out)["stages"][-1]  # stdout is JSON only: no MLflow run links
    assert register["version"] == "1"
    assert register["mlflow_run_url"].startswith(f"{mlflow_server}/#/experiments/")
    assert json.loads(second.out)["stages"][-1]["reused"] is True
    assert not (churn_repo / ".mlgate" / "mlflow.db").exists()

    import mlflow.pyfunc

    mlflow.set_tracking_uri(mlflow_server)
    model = mlflow.pyfunc.load_model("models:/server-churn@candidate")
    rows = pd.read_csv(churn_repo / "data" / "validation.csv").head(20)
    predicted = model.predict(rows.drop(columns=["customer_id", "gender", "age", "churned"]))
    assert set(predicted) <= {"yes", "no"}


def test_the_environment_wins_over_the_config_for_the_tracking_server(
    churn_repo: Path, monkeypatch
) -> None:
    from mlgate.project import load_project
    from mlgate.tracking.uri import tracking_uri as tracking_uri_for

    config = churn_repo / "mlgate.yaml"
    config.write_text(
        config.read_text().replace(
            "tracking:\n", "tracking:\n  tracking_uri: https://elsewhere.example.com\n", 1
        )
    )
    project = load_project(config)
    assert tracking_uri_for(project) == "https://elsewhere.example.com"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri_for(project) == "http://127.0.0.1:5000"
