"""The monitor issue's sync through PyGithub against the Prism-checked GitHub fake.

Three checks (drift, drift, ok) leave one issue, created then edited, one retraining
dispatch inside the cool-down, and the issue closed with a comment; a planted issue, a
create that races another run's and a create that failed after writing never give the
model a second open issue; a dispatch GitHub refuses (exit 2 for a missing workflow, 3
when GitHub fails) gives its claim back.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from github_fake_issues import add_issue, add_issue_routes, add_workflow, dispatches, issues
from mlgate.errors import ConfigError, ServiceError
from mlgate.report import github, monitor_sync
from mlgate.report import monitor_issue as core
from monitor_results import monitor_result

NOW = datetime(2026, 1, 1, 6, 0, tzinfo=timezone.utc)
_USER_PATTERN = re.compile("/user/?")
FAST = github.RetryPolicy(attempts=2, backoff=0.01, max_wait=0.05, deadline=20, timeout=10)


@pytest.fixture
def api(github_api: Any) -> Any:
    if not any("/dispatches" in route[1].pattern for route in github_api.fake.routes):
        add_issue_routes(github_api.fake)
    return github_api


@pytest.fixture
def repository() -> str:
    return f"acme/model-{uuid.uuid4().hex[:8]}"


def _client(api: Any) -> Any:
    return github.connect("ghs_monitorIssueTestToken", api.url, FAST)


def _sync(api: Any, repository: str, result: Any, policy: core.Policy, hours: float, **kw: Any):
    return monitor_sync.sync(
        _client(api),
        repository,
        result,
        policy,
        now=NOW + timedelta(hours=hours),
        claim=f"run-{hours}",
        retry=FAST,
        sleep=lambda _: None,
        **kw,
    )


def _at(hours: float) -> str:
    return core.iso(NOW + timedelta(hours=hours))


def _ours(api: Any, repository: str) -> list[dict[str, Any]]:
    return [i for i in issues(api.fake, repository) if i["user"]["login"] == "github-actions[bot]"]


def test_drift_drift_ok_leaves_one_issue_one_retraining_and_closes_it(
    api: Any, repository: str
) -> None:
    add_workflow(api.fake, "train.yml")
    policy = core.Policy(
        close_after=1, retrain=True, retrain_workflow="train.yml", labels=("mlgate-monitor", "ml")
    )
    offset, before = api.log_offset(), len(dispatches(api.fake))

    first = _sync(api, repository, monitor_result(at=_at(0)), policy, 0)
    assert first.action == "created"
    assert first.dispatched is not None
    [issue] = _ours(api, repository)
    assert issue["number"] == first.number
    assert {label["name"] for label in issue["labels"]} == {"mlgate-monitor", "ml"}
    assert issue["body"].startswith(core.marker("churn"))
    [dispatch] = dispatches(api.fake)[before:]
    assert dispatch["workflow"] == "train.yml"
    assert dispatch["repository"] == repository
    assert dispatch["inputs"]["reason"].startswith("mlgate monitor: drift on churn v3")
    default_branch = _client(api).get_repo(repository).default_branch
    assert dispatch["ref"] == default_branch
    state = core.read_state(issue["body"], "churn")
    assert state is not None
    assert state.retrain is not None
    assert state.retrain.status == "dispatched"

    second = _sync(api, repository, monitor_result(at=_at(6)), policy, 6)
    assert second.action == "edited"
    assert second.number == first.number
    assert second.dispatched is None  # inside the 24h cool-down
    assert len(dispatches(api.fake)) == before + 1

    since = len(api.fake.requests)
    third = _sync(api, repository, monitor_result("ok", at=_at(12)), policy, 12)
    assert third.action == "closed"
    # One edit closes the issue with its new body, then the comment: a close that failed
    # after a comment would have the rerun comment a second time.
    writes = [method for method, _, _ in api.fake.requests[since:] if method != "GET"]
    assert writes == ["PATCH", "POST"]
    [issue] = _ours(api, repository)
    assert issue["state"] == "closed"
    assert issue["state_reason"] == "completed"
    [comment] = api.fake.comments_on(issue["number"])
    assert "has been ok for 1 consecutive checks" in comment["body"]
    state = core.read_state(issue["body"], "churn")
    assert state is not None
    assert [c.verdict for c in state.history] == ["drift", "drift", "ok"]

    # Ok again with the issue closed: no write at all.
    since = len(api.fake.requests)
    assert _sync(api, repository, monitor_result("ok", at=_at(18)), policy, 18).action == "none"
    assert [r for r in api.fake.requests[since:] if r[0] != "GET"] == []
    assert len(dispatches(api.fake)) == before + 1
    assert api.violations(offset) == []


def test_a_planted_issue_is_ignored_and_a_closed_one_reopens(api: Any, repository: str) -> None:
    planted = add_issue(
        api.fake, repository, "mlgate monitor: churn", core.marker("churn") + "\nhi", "mallory"
    )
    policy = core.Policy(close_after=1)
    offset = api.log_offset()
    created = _sync(api, repository, monitor_result(at=_at(0)), policy, 0)
    assert created.number != planted["number"]
    assert planted["_edits"] == 0
    _sync(api, repository, monitor_result("ok", at=_at(1)), policy, 1)
    reopened = _sync(
        api, repository, monitor_result("degraded", degraded=("roc_auc",), at=_at(2)), policy, 2
    )
    assert reopened.action == "reopened"
    assert reopened.number == created.number
    [issue] = _ours(api, repository)
    assert issue["state"] == "open"
    comments = [c["body"] for c in api.fake.comments_on(issue["number"])]
    assert len(comments) == 2
    assert "degraded" in comments[1]
    assert "again; reopening" in comments[1]
    assert api.violations(offset) == []


def test_a_github_app_token_finds_the_issue_it_created(api: Any, repository: str) -> None:
    """An App's installation token may not read /user either, and writes as `<app>[bot]`:
    its issue must be found again, not created anew on every drift."""
    from github_fake import Response

    app_token = "ghs_installationTokenOfAnApp"
    api.fake.add_user(app_token, "acme-ml[bot]")
    index = next(i for i, r in enumerate(api.fake.routes) if r[:2] == ("GET", _USER_PATTERN))
    method, pattern, original = api.fake.routes[index]

    def installation_user(fake: Any, request: Any) -> Any:
        if fake.author(request)["login"] != "acme-ml[bot]":
            return original(fake, request)
        return Response(
            403,
            {
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/users/users",
            },
        )

    api.fake.routes[index] = (method, pattern, installation_user)
    try:
        client = github.connect(app_token, api.url, FAST)
        runs = [
            monitor_sync.sync(
                client,
                repository,
                monitor_result(at=_at(hour)),
                core.Policy(),
                now=NOW + timedelta(hours=hour),
                claim=f"run-{hour}",
                retry=FAST,
                sleep=lambda _: None,
            )
            for hour in (0, 1)
        ]
    finally:
        api.fake.routes[index] = (method, pattern, original)
    assert [run.action for run in runs] == ["created", "edited"]
    [issue] = issues(api.fake, repository)
    assert issue["user"]["login"] == "acme-ml[bot]"


def test_a_create_racing_another_run_leaves_one_open_issue(api: Any, repository: str) -> None:
    api.fake.inject("POST", rf"/repos/{repository}/issues", "race")
    synced = _sync(api, repository, monitor_result(at=_at(0)), core.Policy(), 0)
    older, newer = _ours(api, repository)
    assert synced.number == older["number"]
    assert older["state"] == "open"
    assert newer["state"] == "closed"
    assert newer["state_reason"] == "not_planned"
    assert f"duplicate of #{older['number']}" in api.fake.comments_on(newer["number"])[0]["body"]
    # Later runs keep to the older issue.
    again = _sync(api, repository, monitor_result(at=_at(1)), core.Policy(), 1)
    assert again.number == older["number"]
    assert again.action == "edited"


def test_a_duplicate_is_closed_even_when_its_comment_fails(api: Any, repository: str) -> None:
    api.fake.inject("POST", rf"/repos/{repository}/issues", "race")
    api.fake.inject("POST", rf"/repos/{repository}/issues/\d+/comments", "502")
    synced = _sync(api, repository, monitor_result(at=_at(0)), core.Policy(), 0)
    older, newer = _ours(api, repository)
    assert synced.number == older["number"]
    assert (older["state"], newer["state"]) == ("open", "closed")
    assert api.fake.comments_on(newer["number"]) == []


def test_a_create_that_failed_after_writing_is_not_repeated(api: Any, repository: str) -> None:
    api.fake.inject("POST", rf"/repos/{repository}/issues", "502-after-write")
    synced = _sync(api, repository, monitor_result(at=_at(0)), core.Policy(), 0)
    [issue] = _ours(api, repository)
    assert synced.number == issue["number"]


def test_a_missing_retrain_workflow_is_a_config_error_and_gives_the_claim_back(
    api: Any, repository: str
) -> None:
    policy = core.Policy(retrain=True, retrain_workflow="missing.yml")
    before = len(dispatches(api.fake))
    with pytest.raises(ConfigError) as raised:  # exit 2: a rerun would fail the same way
        _sync(api, repository, monitor_result(at=_at(0)), policy, 0)
    message = str(raised.value)
    assert "\n" not in message
    assert "could not start the retraining workflow missing.yml" in message
    assert "HTTP 404" in message
    assert "monitoring.retrain_workflow" in message
    assert len(dispatches(api.fake)) == before
    [issue] = _ours(api, repository)
    state = core.read_state(issue["body"], "churn")
    assert state is not None
    assert state.retrain is None  # the next run may try again
    # The workflow exists now, but GitHub fails the dispatch: a service error (exit 3).
    add_workflow(api.fake, "missing.yml")
    api.fake.inject("POST", rf"/repos/{repository}/actions/workflows/[^/]+/dispatches", "502")
    with pytest.raises(ServiceError):
        _sync(api, repository, monitor_result(at=_at(1)), policy, 1)
    assert len(dispatches(api.fake)) == before
    # The next run starts it.
    synced = _sync(api, repository, monitor_result(at=_at(2)), policy, 2)
    assert synced.dispatched is not None


def test_a_claim_left_for_the_retrain_job_is_dispatched_there_once(
    api: Any, repository: str
) -> None:
    add_workflow(api.fake, "retrain.yml")
    policy = core.Policy(retrain=True, retrain_workflow="retrain.yml")
    before = len(dispatches(api.fake))
    synced = _sync(api, repository, monitor_result(at=_at(0)), policy, 0, dispatch=False)
    assert synced.claimed is not None
    assert len(dispatches(api.fake)) == before
    client = _client(api)
    done = monitor_sync.dispatch_claimed(client, repository, "churn", synced.claimed.claim, policy)
    assert done is not None
    assert done.status == "dispatched"
    assert (
        monitor_sync.dispatch_claimed(client, repository, "churn", synced.claimed.claim, policy)
        is None
    )
    assert monitor_sync.dispatch_claimed(client, repository, "churn", "another-run", policy) is None
    assert len(dispatches(api.fake)) == before + 1


def test_a_claim_edited_to_another_workflow_starts_nothing(api: Any, repository: str) -> None:
    # Whoever may edit the issue may edit its hidden block between the two jobs.
    add_workflow(api.fake, "retrain.yml")
    add_workflow(api.fake, "deploy.yml")
    policy = core.Policy(retrain=True, retrain_workflow="retrain.yml")
    before = len(dispatches(api.fake))
    synced = _sync(api, repository, monitor_result(at=_at(0)), policy, 0, dispatch=False)
    assert synced.claimed is not None
    [issue] = _ours(api, repository)
    issue["body"] = issue["body"].replace('"workflow":"retrain.yml"', '"workflow":"deploy.yml"')
    assert '"workflow":"deploy.yml"' in issue["body"]
    client = _client(api)
    assert (
        monitor_sync.dispatch_claimed(client, repository, "churn", synced.claimed.claim, policy)
        is None
    )
    assert len(dispatches(api.fake)) == before


# --- the command ----------------------------------------------------------------------------

MONITORING = """
monitoring:
  data: data/validation.csv
  close_after: 1
  retrain: true
  retrain_workflow: retrain-cli.yml
  retrain_cooldown: 12h
  issue_labels: [drift-watch]
"""


def _monitoring_run(repo: Path, result: Any, run_id: str) -> Path:
    from mlgate.rundir import LATEST, MONITOR_FILE, MONITOR_RUNS

    folder = repo / ".mlgate" / MONITOR_RUNS / run_id
    folder.mkdir(parents=True)
    (folder / MONITOR_FILE).write_text(json.dumps(result.to_json()), encoding="utf-8")
    (repo / ".mlgate" / MONITOR_RUNS / LATEST).write_text(run_id + "\n", encoding="utf-8")
    return folder


def _outputs(path: Path) -> dict[str, str]:
    entries = re.findall(r"(?m)^([\w-]+)<<(\S+)\n(.*?)\n\2$", path.read_text(encoding="utf-8"))
    return {name: value for name, _, value in entries}


def test_the_command_syncs_the_latest_monitoring_run_and_splits_the_retraining(
    api: Any,
    repository: str,
    churn_repo: Path,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from mlgate.project import find_config, load_project

    add_workflow(api.fake, "retrain-cli.yml")
    with (churn_repo / "mlgate.yaml").open("a", encoding="utf-8") as config:
        config.write(MONITORING)
    model = load_project(find_config(str(churn_repo))).registry_name
    outputs = tmp_path / "outputs"
    for name, value in {
        "GITHUB_TOKEN": "ghs_monitorIssueTestToken",
        "GITHUB_REPOSITORY": repository,
        "GITHUB_API_URL": api.url,
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_RUN_ID": "77",
    }.items():
        monkeypatch.setenv(name, value)
    before = len(dispatches(api.fake))

    _monitoring_run(churn_repo, monitor_result(model=model, at=_at(0)), "m1")
    done = cli("monitor-issue", "--no-dispatch", cwd=churn_repo)
    assert done.code == 1, done.err  # drift, like `mlgate monitor`
    written = _outputs(outputs)
    assert written["verdict"] == "drift"
    assert written["issue-action"] == "created"
    assert written["retrain-claim"].startswith("77.1.")
    [issue] = _ours(api, repository)
    assert [label["name"] for label in issue["labels"]] == ["drift-watch"]
    assert len(dispatches(api.fake)) == before  # claimed only

    outputs.unlink()
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    started = cli("monitor-issue", "--dispatch", written["retrain-claim"], cwd=churn_repo)
    assert started.code == 0, started.err
    assert _outputs(outputs)["retrained"] == "true"
    assert "retraining started: retrain-cli.yml" in summary.read_text(encoding="utf-8")
    summary.unlink()
    [dispatch] = dispatches(api.fake)[before:]
    assert dispatch["workflow"] == "retrain-cli.yml"

    _monitoring_run(churn_repo, monitor_result("ok", model=model, at=_at(1)), "m2")
    outputs.unlink()
    closed = cli("monitor-issue", cwd=churn_repo)
    assert closed.code == 0, closed.err
    assert _outputs(outputs)["issue-action"] == "closed"
    [issue] = _ours(api, repository)
    assert issue["state"] == "closed"


def test_the_command_without_a_token_or_a_run_is_one_line_exit_2(
    churn_repo: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/model")
    done = cli("monitor-issue", cwd=churn_repo)
    assert done.code == 2
    assert len(done.error_lines) == 1
    assert "GITHUB_TOKEN is not set" in done.err
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_x")
    done = cli("monitor-issue", cwd=churn_repo)
    assert done.code == 2
    assert len(done.error_lines) == 1
    assert "run `mlgate monitor` first" in done.err
