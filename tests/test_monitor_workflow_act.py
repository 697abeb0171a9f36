"""The monitoring loop under act: the starter workflows/monitor.yml on three scheduled runs.

A model repository whose version 1 (scikit-learn's breast-cancer table, as in
tests/test_monitor.py) is behind `production` on a real MLflow server calls mlgate's
reusable monitor workflow, as a team's copy of the starter does, against the
Prism-checked GitHub fake. Two runs on a shifted production window and one on an
unshifted window leave one issue (created, then edited, then closed with a comment)
and exactly one retraining dispatch, inside the cool-down, started by the retrain job.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from act_harness import (
    OWNER,
    ActRun,
    ActWorld,
    caller_workflow,
    load_workflow,
    make_model_repo,
    require_act,
)

RETRAIN = """\
name: train
on:
  workflow_dispatch:
    inputs:
      reason:
        description: Why the model is retrained
        required: true
permissions: {}
jobs:
  train:
    runs-on: ubuntu-latest
    permissions: {}
    timeout-minutes: 5
    steps:
      - run: echo "retraining"
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, github_api: Any):
    require_act()
    from act_harness import serve_run_artifacts
    from github_fake_issues import add_issue_routes

    if not any("/dispatches" in route[1].pattern for route in github_api.fake.routes):
        add_issue_routes(github_api.fake)
    world = ActWorld.create(tmp_path_factory.mktemp("act-monitor"))
    service = serve_run_artifacts(github_api.fake, world.artifacts, github_api.url)
    world.api_url = service.api_url
    yield world
    service.stop()


def _mlgate(repo: Path, tracking_uri: str, *args: str) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    done = subprocess.run(
        [sys.executable, "-m", "mlgate", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def deployed(
    world: ActWorld, tmp_path_factory: pytest.TempPathFactory, mlflow_server: str
) -> dict[str, Any]:
    """The model repository: version 1 behind `production` on the MLflow server, the
    starter monitor workflow and a retraining workflow, in git on github.com/acme/..."""
    from test_monitor import _table, _write_repo

    table = _table()
    reference, holdout = table.iloc[:300].reset_index(drop=True), table.iloc[300:]
    repo = tmp_path_factory.mktemp("monitored") / "bc"
    _write_repo(repo, reference, holdout.reset_index(drop=True))
    name = f"act-monitor-{uuid.uuid4().hex[:8]}"
    config = yaml.safe_load((repo / "mlgate.yaml").read_text(encoding="utf-8"))
    config["tracking"]["registry_name"] = name
    config["monitoring"] = {
        "data": "production/window.csv",
        "close_after": 1,  # the third run, back to normal, closes the issue
        "retrain": True,
        "retrain_workflow": "train.yml",
        "retrain_cooldown": "24h",
        "issue_labels": ["mlgate-monitor", "model-health"],
    }
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (repo / ".gitignore").write_text(".mlgate/\nmlruns/\nmlflow.db\n", encoding="utf-8")
    _mlgate(repo, mlflow_server, "run")
    _mlgate(
        repo, mlflow_server, "promote", name, "--version", "1", "--to", "production",
        "--force", "--reason", "monitor workflow test",
    )  # fmt: skip
    remote = f"{OWNER}/monitored-{uuid.uuid4().hex[:8]}"
    return {"repo": repo, "name": name, "holdout": holdout, "remote": remote}


def _window(deployed: dict[str, Any], *, shifted: bool) -> None:
    from test_monitor import TARGET, _shifted

    rows = deployed["holdout"].drop(columns=[TARGET]).reset_index(drop=True)
    window = _shifted(rows) if shifted else rows
    folder = deployed["repo"] / "production"
    folder.mkdir(exist_ok=True)
    window.to_csv(folder / "window.csv", index=False)
    make_model_repo(
        deployed["repo"],
        {"monitor.yml": caller_workflow("monitor"), "train.yml": RETRAIN},
        remote=deployed["remote"],
    )


def _scheduled(github_api: Any, remote: str) -> dict[str, Any]:
    return {
        "schedule": "17 */6 * * *",
        "repository": {
            "name": remote.split("/")[1],
            "full_name": remote,
            "default_branch": "main",
            "owner": {"login": OWNER},
        },
    }


def _assert_ran(run: ActRun) -> None:
    assert run.code == 0, f"act exited {run.code}:\n{run.tail(150)}"
    assert "Job succeeded" in run.log, run.tail(150)


def test_three_scheduled_runs_leave_one_issue_one_retraining_and_close_it(
    world: ActWorld, deployed: dict[str, Any], github_api: Any, mlflow_server: str
) -> None:
    from github_fake_issues import add_workflow, dispatches, issues
    from mlgate.report import monitor_issue as core

    fake, remote = github_api.fake, deployed["remote"]
    add_workflow(fake, "train.yml")
    offset, before = github_api.log_offset(), len(dispatches(fake))
    secrets = {"MLFLOW_TRACKING_URI": mlflow_server}
    event = _scheduled(github_api, remote)

    def ours() -> list[dict[str, Any]]:
        return [i for i in issues(fake, remote) if i["user"]["login"] == "github-actions[bot]"]

    def started() -> list[dict[str, Any]]:
        return [d for d in dispatches(fake)[before:] if d["repository"] == remote]

    # 1: the production window drifted: the issue is created, the retraining started.
    _window(deployed, shifted=True)
    first = world.run(deployed["repo"], "schedule", event, "monitor.yml", secrets=secrets)
    _assert_ran(first)
    [issue] = ours()
    assert issue["state"] == "open"
    assert {label["name"] for label in issue["labels"]} == {"mlgate-monitor", "model-health"}
    assert issue["body"].startswith(core.marker(deployed["name"]))
    [dispatch] = started()
    assert dispatch["workflow"] == "train.yml"
    assert dispatch["inputs"]["reason"].startswith(f"mlgate monitor: drift on {deployed['name']}")
    from mlgate.report import github

    client = github.connect("ghs_x", github_api.url, github.RetryPolicy())
    assert dispatch["ref"] == client.get_repo(remote).default_branch
    state = core.read_state(issue["body"], deployed["name"])
    assert state is not None
    assert state.retrain is not None
    assert state.retrain.status == "dispatched"  # recorded by the retrain job
    assert "Start the claimed retraining" in first.log
    warning = "the model drifted or degraded; see the job summary"
    assert warning in first.log  # a green job still says it found drift
    assert any(name.startswith("mlgate-monitor-") for name in first.artifact_names())

    # 2: still drifting, inside the 24h cool-down: the same issue edited, nothing started.
    edits = issue["_edits"]
    second = world.run(deployed["repo"], "schedule", event, "monitor.yml", secrets=secrets)
    _assert_ran(second)
    [issue] = ours()
    assert issue["state"] == "open"
    assert issue["_edits"] > edits
    assert len(started()) == 1
    assert "Start the claimed retraining" not in second.log

    # 3: the data is back to normal: with close_after 1 the issue closes with a comment.
    _window(deployed, shifted=False)
    third = world.run(deployed["repo"], "schedule", event, "monitor.yml", secrets=secrets)
    _assert_ran(third)
    [issue] = ours()
    assert issue["state"] == "closed"
    assert issue["state_reason"] == "completed"
    [comment] = fake.comments_on(issue["number"])
    assert "has been ok for 1 consecutive checks" in comment["body"]
    state = core.read_state(issue["body"], deployed["name"])
    assert state is not None
    assert [check.verdict for check in state.history] == ["drift", "drift", "ok"]
    assert [check.retrain for check in state.history] == [True, False, False]
    assert len(started()) == 1
    assert warning not in third.log
    assert github_api.violations(offset) == []


# --- what act does not check: the permissions, read from the YAML ---------------------------


def test_only_the_retrain_job_may_start_workflows_and_only_when_one_is_claimed() -> None:
    root = Path(__file__).resolve().parents[1]
    workflow = load_workflow(root / ".github" / "workflows" / "monitor.yml")
    assert workflow["permissions"] == {}
    monitor, retrain = workflow["jobs"]["monitor"], workflow["jobs"]["retrain"]
    assert monitor["permissions"] == {"contents": "read", "issues": "write"}
    assert retrain["permissions"] == {"contents": "read", "actions": "write", "issues": "write"}
    assert retrain["needs"] == "monitor"
    # A monitor job failed by fail-on-drift still hands its claim over.
    assert retrain["if"] == "${{ !cancelled() && needs.monitor.outputs.retrain-claim != '' }}"
    # The monitor job only claims; the claim travels as a job output to the retrain job.
    step = next(s for s in monitor["steps"] if s.get("id") == "monitor")
    assert step["with"]["dispatch"] == "false"
    assert monitor["outputs"]["retrain-claim"] == "${{ steps.monitor.outputs.retrain-claim }}"
    assert monitor["concurrency"]["cancel-in-progress"] is False
    starter = load_workflow(root / "workflows" / "monitor.yml")
    assert set(starter["on"]) == {"schedule", "workflow_dispatch"}
    granted = starter["jobs"]["monitor"]["permissions"]
    assert granted == {"contents": "read", "issues": "write", "actions": "write"}
