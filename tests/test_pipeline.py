"""End to end on the bundled example, with MLflow on its embedded SQLite store (no mocks)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

MODEL = "production-churn-model"


def _git_commit(repo: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
            cwd=repo,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "model repo")
    return git("rev-parse", "HEAD")


def _client(repo: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{repo / '.mlgate' / 'mlflow.db'}")


def _versions(repo: Path) -> list:
    if not (repo / ".mlgate" / "mlflow.db").exists():
        return []
    return _client(repo).search_model_versions(f"name = '{MODEL}'")


def _edit(config: Path, change) -> None:
    data = yaml.safe_load(config.read_text())
    change(data)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _latest_run(repo: Path) -> Path:
    runs = repo / ".mlgate" / "runs"
    return runs / (runs / "LATEST").read_text().strip()


def test_run_registers_once_with_lineage(churn_repo: Path, cli) -> None:
    commit = _git_commit(churn_repo)

    first = cli("run", cwd=churn_repo)

    assert first.code == 0, first.err
    lines = first.out.splitlines()
    for stage in ("validate", "train", "evaluate", "register"):
        assert any(line.strip().startswith(f"✓ {stage}") for line in lines), first.out
    [version] = _versions(churn_repo)
    tags = version.tags
    assert tags["mlgate.git.commit"] == commit
    assert tags["mlgate.data.training.sha256"] == _sha256(churn_repo / "data" / "train.csv")
    assert tags["mlgate.data.validation.uri"].endswith("data/validation.csv")
    assert tags["mlgate.gate.evaluation"] == "passed"
    assert float(tags["mlgate.metric.roc_auc"]) > 0.8
    for key in (
        "mlgate.config.sha256",
        "mlgate.feature_spec.sha256",
        "mlgate.actor",
        "mlgate.env.python",
        "mlgate.env.scikit-learn",
        "mlgate.fingerprint",
    ):
        assert tags.get(key), key
    assert str(_client(churn_repo).get_model_version_by_alias(MODEL, "candidate").version) == "1"

    # Without the stage cache, the registry itself finds the version by its fingerprint.
    second = cli("run", "--no-cache", cwd=churn_repo)

    assert second.code == 0, second.err
    assert "v1 already registered for these inputs" in second.out
    assert len(_versions(churn_repo)) == 1


def test_same_inputs_same_model(churn_repo: Path, cli) -> None:
    assert cli("train", cwd=churn_repo).code == 0
    assert cli("evaluate", cwd=churn_repo).code == 0
    first = pd.read_csv(_latest_run(churn_repo) / "predictions.csv")
    assert cli("train", cwd=churn_repo).code == 0
    assert cli("evaluate", cwd=churn_repo).code == 0
    second = pd.read_csv(_latest_run(churn_repo) / "predictions.csv")

    pd.testing.assert_frame_equal(first, second)


def test_stages_chain_through_the_run_directory(churn_repo: Path, cli) -> None:
    run_dir = churn_repo / "handoff"
    assert cli("train", "--run-dir", str(run_dir), cwd=churn_repo).code == 0
    kept = sorted(p.name for p in run_dir.iterdir())
    assert kept == ["model.joblib", "train.json", "validate.json"]

    evaluated = cli("evaluate", "--run-dir", str(run_dir), cwd=churn_repo)
    judged = cli("fairness", "--run-dir", str(run_dir), cwd=churn_repo)
    registered = cli("register", "--run-dir", str(run_dir), "--json", cwd=churn_repo)

    assert evaluated.code == 0, evaluated.err
    assert judged.code == 0, judged.err
    assert registered.code == 0, registered.err
    result = json.loads(registered.out)
    assert result["stages"][0]["version"] == "1"
    assert json.loads((run_dir / "register.json").read_text())["alias"] == "candidate"


def test_registered_model_takes_raw_rows(churn_repo: Path, cli) -> None:
    import mlflow.pyfunc

    assert cli("run", cwd=churn_repo).code == 0
    raw = pd.read_csv(churn_repo / "data" / "validation.csv")
    saved = pd.read_csv(_latest_run(churn_repo) / "predictions.csv")
    mlflow.set_tracking_uri(f"sqlite:///{churn_repo / '.mlgate' / 'mlflow.db'}")

    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@candidate")
    features = raw.drop(columns=["customer_id", "gender", "age", "churned"])
    predicted = model.predict(features)

    assert list(predicted) == saved["y_pred"].tolist()


def test_failed_gate_exits_1_and_registers_nothing(churn_repo: Path, cli) -> None:
    _edit(
        churn_repo / "mlgate.yaml",
        lambda c: c["evaluation"]["gates"].update({"roc_auc": {"min": 0.99}}),
    )

    result = cli("run", cwd=churn_repo)

    assert result.code == 1
    assert "✗ evaluate" in result.out
    assert re.search(r"✗ evaluate  roc_auc 0\.\d+ < min 0\.99", result.out), result.out
    assert "not registered: a gate failed" in result.out
    assert _versions(churn_repo) == []
    register = json.loads((_latest_run(churn_repo) / "register.json").read_text())
    assert _client(churn_repo).get_run(register["mlflow_run_id"]).data.metrics["roc_auc"] < 0.99


def test_pull_request_runs_are_logged_not_registered(churn_repo, cli, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")

    result = cli("run", cwd=churn_repo)

    assert result.code == 0, result.err
    assert "not registered: pull request runs are logged, not registered" in result.out
    assert _versions(churn_repo) == []


def test_push_to_default_branch_registers(churn_repo, cli, monkeypatch, tmp_path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"ref": "refs/heads/main", "repository": {"default_branch": "main"}})
    )
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")

    result = cli("run", cwd=churn_repo)

    assert result.code == 0, result.err
    [version] = _versions(churn_repo)
    assert version.tags["mlgate.ci.run_url"] == "https://github.com/acme/churn/actions/runs/42"
    assert version.tags["mlgate.actor"] == "octocat"
    assert version.tags["mlgate.git.commit"] == "a" * 40


def test_comparative_gate_uses_the_production_champion(churn_repo: Path, cli) -> None:
    assert cli("run", cwd=churn_repo).code == 0
    _client(churn_repo).set_registered_model_alias(MODEL, "production", "1")
    _edit(
        churn_repo / "mlgate.yaml",
        lambda c: c["model"]["params"].update({"max_depth": 1, "n_estimators": 5}),
    )
    _edit(
        churn_repo / "mlgate.yaml",
        lambda c: c["evaluation"]["gates"].update({"roc_auc": {"max_drop": 0.01}}),
    )

    result = cli("run", "--json", cwd=churn_repo)

    document = json.loads(result.out)
    evaluate = document["stages"][2]
    assert evaluate["champion"]["version"] == "1"
    assert evaluate["verdict"] == "failed"
    assert result.code == 1
    [drop] = [g for g in evaluate["gates"] if g["bound"] == "max_drop"]
    assert "vs champion" in drop["message"]
    assert len(_versions(churn_repo)) == 1


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_team_factory_model_loads_without_the_repo_on_the_path(churn_repo, cli, tmp_path) -> None:
    (churn_repo / "team_models.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n\n\n"
        "class TeamClassifier(LogisticRegression):\n    pass\n\n\n"
        "def build(C=1.0):\n    return TeamClassifier(C=C, max_iter=500)\n"
    )
    _edit(
        churn_repo / "mlgate.yaml",
        lambda c: c.update(model={"type": "team_models:build", "params": {"C": 0.5}}),
    )
    assert cli("run", cwd=churn_repo).code == 0
    probe = (
        "import sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri('sqlite:///{churn_repo / '.mlgate' / 'mlflow.db'}')\n"
        f"model = mlflow.pyfunc.load_model('models:/{MODEL}@candidate')\n"
        f"rows = pd.read_csv('{churn_repo / 'data' / 'validation.csv'}').head(3)\n"
        "features = rows.drop(columns=['customer_id', 'gender', 'age', 'churned'])\n"
        "print(list(model.predict(features)))\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, capture_output=True, text=True, check=False
    )

    # The model's class lives in the team's module, shipped with the model (code_paths).
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().startswith("[")


def test_a_new_run_in_a_reused_directory_starts_clean(churn_repo: Path, cli) -> None:
    run_dir = churn_repo / "ci-run"
    assert cli("run", "--run-dir", str(run_dir), cwd=churn_repo).code == 0
    _edit(churn_repo / "mlgate.yaml", lambda c: c["model"]["params"].update({"max_depth": "five"}))

    result = cli("run", "--run-dir", str(run_dir), "--json", cwd=churn_repo)

    assert result.code == 2
    assert json.loads(result.out)["error"].endswith('got "five"')
    # The earlier run's results are gone; what is left says this run did not finish.
    kept = sorted(p.name for p in run_dir.glob("*.json"))
    assert "stopped.json" in kept
    assert set(kept) <= {"stopped.json", "validate.json"}
    stopped = json.loads((run_dir / "stopped.json").read_text())
    assert stopped["exit_code"] == 2
    assert stopped["message"].endswith('got "five"')


def test_a_later_stage_refuses_a_changed_model_config(churn_repo: Path, cli) -> None:
    assert cli("train", cwd=churn_repo).code == 0
    _edit(churn_repo / "mlgate.yaml", lambda c: c["model"]["params"].update(max_depth=2))

    result = cli("evaluate", cwd=churn_repo)

    assert result.code == 2
    assert "changed since this run's model was trained" in result.err
