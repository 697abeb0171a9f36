"""`mlgate report` against GitHub's contract: a stateful fake behind Prism's validating proxy.

One real pipeline run (a pull request's, with a token in the environment) feeds every
test; each test uses its own pull request number on the shared fake.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from github_fake import PrismGitHub, webhook_payload
from mlgate.report import budget, github
from mlgate.report.compose import folded_note, marker
from test_report import _large_report, data, outside_code, result_json, table_problems

pytestmark = pytest.mark.slow

TOKEN = "ghs_mlgateTestToken0123456789abcdefABCDEF"
OWNER, REPO = "octo-org", "churn-model"
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
RUN_ID = "4242"
SERVER = "https://github.com"
RUN_URL = f"{SERVER}/{OWNER}/{REPO}/actions/runs/{RUN_ID}"
NOT_IN_SPEC = "Unable to match the returned status code"
_numbers = itertools.count(100)


def _payload(api: PrismGitHub, name: str, **changes: object) -> dict:
    """A webhook payload, checked against @octokit/webhooks-schemas before any test uses it."""
    payload = webhook_payload(api.webhook_schemas, name, **changes)
    schema = {"$ref": f"#/definitions/{name}", "definitions": api.webhook_schemas["definitions"]}
    jsonschema.Draft7Validator(schema).validate(payload)
    return payload


def _pull_request_event(api: PrismGitHub, number: int) -> dict:
    return _payload(
        api,
        "pull_request$synchronize",
        number=number,
        pull_request={"number": number, "head": {"sha": HEAD_SHA}},
        repository={"name": REPO, "full_name": f"{OWNER}/{REPO}", "default_branch": "main"},
    )


def _workflow_run_event(api: PrismGitHub) -> dict:
    return _payload(
        api,
        "workflow_run$completed",
        workflow_run={"head_sha": HEAD_SHA, "html_url": RUN_URL, "pull_requests": []},
        repository={"name": REPO, "full_name": f"{OWNER}/{REPO}"},
    )


def _github_env(api: PrismGitHub, tmp: Path, event_name: str, event: dict) -> dict[str, str]:
    event_path = tmp / f"event-{next(_numbers)}.json"
    event_path.write_text(json.dumps(event))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": api.url,
        "GITHUB_REPOSITORY": f"{OWNER}/{REPO}",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_SHA": "0" * 40,
        "GITHUB_REF": "refs/pull/1/merge",
        "GITHUB_RUN_ID": RUN_ID,
        "GITHUB_SERVER_URL": SERVER,
        "GITHUB_STEP_SUMMARY": str(tmp / "step-summary.md"),
    }


@pytest.fixture(scope="module")
def pr_run(tmp_path_factory: pytest.TempPathFactory, github_api: PrismGitHub) -> Path:
    """examples/churn run as a pull request's CI run, with a token in the environment."""
    import shutil

    from conftest import EXAMPLE

    root = tmp_path_factory.mktemp("pr-run")
    repo = root / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    # The report needs a real run's results, not a good model: keep the run quick.
    config = repo / "mlgate.yaml"
    text = config.read_text().replace("\nevaluation:\n", "\nevaluation:\n  bootstrap: {n: 50}\n")
    text = text.replace("\nfairness:", "\nfairness:\n  n_boot: 0", 1)
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    env.update(_github_env(github_api, root, "pull_request", _pull_request_event(github_api, 1)))
    completed = subprocess.run(
        [sys.executable, "-m", "mlgate", "run"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return repo


@pytest.fixture
def report(cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, github_api: PrismGitHub):
    """Run `mlgate report ARGS` in a pull request's job on PR `number` (or a workflow_run's)."""

    def run(
        repo: Path | None,
        *args: str,
        number: int | None = None,
        event: str = "pull_request",
        run_id: str = RUN_ID,
    ):
        payload = (
            _workflow_run_event(github_api)
            if event == "workflow_run"
            else _pull_request_event(github_api, number or 1)
        )
        for name in ("MLFLOW_TRACKING_URI",):
            monkeypatch.delenv(name, raising=False)
        for name, value in _github_env(github_api, tmp_path, event, payload).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("GITHUB_RUN_ID", run_id)
        return cli("report", *args, cwd=repo or tmp_path)

    return run


def _new_pull(api: PrismGitHub, head_sha: str = HEAD_SHA) -> int:
    number = next(_numbers)
    api.fake.add_pull(number, head_sha=head_sha, owner=OWNER, repo=REPO)
    return number


def test_two_runs_leave_one_comment_edited(pr_run: Path, github_api, report) -> None:
    number, since = _new_pull(github_api), github_api.log_offset()
    first = report(pr_run, number=number)
    assert first.code == 0, first.err
    assert f"::add-mask::{TOKEN}" == first.out.splitlines()[0]
    assert f"report comment created on #{number}" in first.out
    second = report(pr_run, number=number, run_id="4243")  # a later run: the links change
    assert second.code == 0, second.err
    comments = github_api.fake.comments_on(number)
    assert len(comments) == 1
    assert comments[0]["_edits"] == 1
    assert comments[0]["body"].startswith(marker("production-churn-model"))
    assert "actions/runs/4243#artifacts" in comments[0]["body"]
    assert github_api.violations(since) == []


@pytest.mark.parametrize("fault", ["502-after-write", "502"])
def test_a_create_retried_after_a_502_leaves_one_comment(pr_run, github_api, report, fault) -> None:
    number, since = _new_pull(github_api), github_api.log_offset()
    github_api.fake.inject("POST", rf"/repos/{OWNER}/{REPO}/issues/{number}/comments", fault)
    result = report(pr_run, number=number)
    assert result.code == 0, result.err
    assert len(github_api.fake.comments_on(number)) == 1
    posts = [r for r in github_api.fake.requests if r[0] == "POST" and f"/{number}/" in r[1]]
    assert [status for _, _, status in posts] == (
        [502] if fault == "502-after-write" else [502, 201]
    )
    # GitHub's description lists no 5xx for this call; the injected one is the only finding.
    assert [v for v in github_api.violations(since) if NOT_IN_SPEC not in v] == []
    assert len(github_api.violations(since)) == 1


def test_two_jobs_creating_at_once_leave_one_comment(pr_run, github_api, report) -> None:
    number, since = _new_pull(github_api), github_api.log_offset()
    github_api.fake.inject("POST", rf"/repos/{OWNER}/{REPO}/issues/{number}/comments", "race")
    result = report(pr_run, number=number)
    assert result.code == 0, result.err
    [comment] = github_api.fake.comments_on(number)
    [deleted] = [
        int(path.rsplit("/", 1)[1])
        for method, path, status in github_api.fake.requests
        if method == "DELETE" and status == 204 and path.startswith(f"/repos/{OWNER}/")
    ]
    assert deleted > comment["id"]  # the other job's older comment stays; ours goes
    assert github_api.violations(since) == []


def test_event_payloads_are_checked_against_the_webhook_schemas(github_api) -> None:
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'integer'"):
        _payload(github_api, "pull_request$synchronize", number="7")


def test_a_secondary_rate_limit_on_create_waits_and_leaves_one_comment(
    pr_run, github_api, report
) -> None:
    number, since = _new_pull(github_api), github_api.log_offset()
    github_api.fake.inject(
        "POST", rf"/repos/{OWNER}/{REPO}/issues/{number}/comments", "secondary-rate-limit"
    )
    result = report(pr_run, number=number)
    assert result.code == 0, result.err
    assert len(github_api.fake.comments_on(number)) == 1
    assert github_api.violations(since) == []


def test_a_200k_report_is_posted_under_the_limit_with_tables_intact(github_api) -> None:
    number, since = _new_pull(github_api), github_api.log_offset()
    composed = _large_report()
    assert len(composed.full()) > 200_000
    body = budget.fit(
        composed, limit=budget.COMMENT_TARGET, note=lambda t: folded_note(t, data())
    ).body
    policy = github.RetryPolicy()
    client = github.connect(TOKEN, github_api.url, policy)
    posted = github.upsert_comment(client, f"{OWNER}/{REPO}", number, marker("churn"), body)
    assert posted.action == "created"
    stored = github_api.fake.comments_on(number)[0]["body"]
    assert stored == body
    assert 50_000 < budget.utf16_length(stored) <= budget.COMMENT_LIMIT
    assert table_problems(stored) == []
    assert github_api.violations(since) == []


def test_the_fork_flow_posts_the_same_comment_as_the_direct_path(
    pr_run: Path, github_api, report, tmp_path: Path
) -> None:
    direct, fork = _new_pull(github_api), _new_pull(github_api)
    since = github_api.log_offset()
    assert report(pr_run, number=direct).code == 0
    out = tmp_path / "artifact"
    written = report(pr_run, "--write-artifact", str(out), number=fork)
    assert written.code == 0, written.err
    assert github_api.fake.comments_on(fork) == []  # the fork's run posts nothing
    assert json.loads((out / "report.json").read_text())["pull_request"] == fork
    posted = report(None, "--from-artifact", str(out), event="workflow_run")
    assert posted.code == 0, posted.err
    [from_direct] = github_api.fake.comments_on(direct)
    [from_fork] = github_api.fake.comments_on(fork)
    assert from_fork["body"] == from_direct["body"]
    assert github_api.violations(since) == []


def _hostile_artifact(directory: Path, number: int) -> None:
    hostile = "<img src=x onerror=alert(1)> @octo-org/admins [x](javascript:alert(1)) | a | b |"
    document = {
        "format": "mlgate-report/1",
        "model": "churn",
        "mlgate_version": "0.1.0",
        "commit": HEAD_SHA,
        "run_url": "https://evil.example/phish",
        "pull_request": number,
        "stages": [
            result_json(given)
            for given in [
                {"stage": "validate", "verdict": "failed", "summary": hostile + "\n\n# heading"},
                {
                    "stage": "evaluate",
                    "verdict": "passed",
                    "summary": hostile,
                    "metrics": {hostile: 0.9, "roc_auc": 0.5},
                    "gates": [{"metric": hostile, "verdict": "failed", "message": hostile}],
                    "champion": {"alias": hostile, "version": hostile, "metrics": {}},
                },
                {"stage": "fairness", "verdict": "failed", "summary": hostile},
                {
                    "stage": "register",
                    "verdict": "skipped",
                    "summary": "not registered",
                    "mlflow_run_url": "https://evil.example/mlflow",
                },
            ]
        ],
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(document))


def test_a_hostile_artifact_is_escaped(github_api, report, tmp_path: Path) -> None:
    number, since = _new_pull(github_api), github_api.log_offset()
    _hostile_artifact(tmp_path / "artifact", number)
    result = report(None, "--from-artifact", str(tmp_path / "artifact"), event="workflow_run")
    assert result.code == 1, result.err  # the artifact says gates failed: reported, not trusted
    [comment] = github_api.fake.comments_on(number)
    live = outside_code(comment["body"])
    for absent in ("<img", "@octo-org/admins", "](javascript:", "evil.example", "\n# heading"):
        assert absent not in live
    assert table_problems(comment["body"]) == []
    assert f"{RUN_URL}#artifacts" in comment["body"]  # links come from the trusted event
    # Failed gates become annotations, escaped so that data cannot issue a workflow command.
    annotations = [line for line in result.out.splitlines() if line.startswith("::error")]
    assert len(annotations) == 2
    assert annotations[0].startswith("::error title=mlgate churn%3A data validation::")
    assert "%0A%0A# heading" in annotations[0]
    summary = (tmp_path / "step-summary.md").read_text()
    assert summary.startswith(marker("churn"))
    assert github_api.violations(since) == []


@pytest.mark.parametrize("problem", ["oversized", "wrong-schema", "other-pull-request"])
def test_a_bad_artifact_is_refused_and_nothing_posted(
    github_api, report, tmp_path: Path, problem: str
) -> None:
    number = _new_pull(
        github_api, head_sha="f" * 40 if problem == "other-pull-request" else HEAD_SHA
    )
    directory = tmp_path / "artifact"
    _hostile_artifact(directory, number)
    path = directory / "report.json"
    if problem == "oversized":
        document = json.loads(path.read_text())
        document["stages"][0]["padding"] = "x" * (5 * 1024 * 1024)
        path.write_text(json.dumps(document))
    elif problem == "wrong-schema":
        document = json.loads(path.read_text())
        document["stages"][0]["verdict"] = "passed; rm -rf /"
        path.write_text(json.dumps(document))
    result = report(None, "--from-artifact", str(directory), event="workflow_run")
    assert result.code == 2
    assert github_api.fake.comments_on(number) == []


def test_github_trouble_warns_unless_the_report_is_required(pr_run, github_api, report) -> None:
    missing = 99_999  # the fake knows no such pull request: GitHub answers 404
    result = report(pr_run, "--pr", str(missing))
    assert result.code == 0
    assert "::warning title=mlgate report::" in result.out
    required = report(pr_run, "--pr", str(missing), "--required")
    assert required.code == 3
    assert "could not list the comments of #99999 (HTTP 404" in required.err
    assert "check the pull request number" in required.err


def test_no_file_written_by_a_run_and_its_reports_holds_the_token(
    pr_run: Path, github_api, report, tmp_path: Path
) -> None:
    number = _new_pull(github_api)
    assert report(pr_run, number=number).code == 0
    assert report(pr_run, "--write-artifact", str(tmp_path / "artifact"), number=number).code == 0
    assert (
        report(None, "--from-artifact", str(tmp_path / "artifact"), event="workflow_run").code == 0
    )
    written = [p for root in (pr_run, tmp_path) for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "report.md" for p in written)
    assert any(p.name == "step-summary.md" for p in written)
    leaking = [str(p) for p in written if TOKEN.encode() in p.read_bytes()]
    assert leaking == []
    assert not any(TOKEN in c["body"] for c in github_api.fake.comments.values())


def test_outside_github_the_report_is_written_and_printed(
    pr_run: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_EVENT_PATH", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    result = cli("report", cwd=pr_run)
    assert result.code == 0, result.err
    latest = pr_run / ".mlgate" / "runs" / (pr_run / ".mlgate/runs/LATEST").read_text().strip()
    written = (latest / "report.md").read_text()
    assert result.out == written
    assert written.startswith(marker("production-churn-model"))
    assert "::" not in result.out


def test_a_marked_comment_by_someone_else_is_left_alone(pr_run, github_api, report) -> None:
    """Anyone may post the marker line: mlgate edits only what its own identity wrote."""
    number, since = _new_pull(github_api), github_api.log_offset()
    fake = github_api.fake
    hostile = fake.add_comment(number, marker("production-churn-model") + "\nall green!", "mallory")
    first = report(pr_run, number=number)
    assert first.code == 0, first.err
    assert f"report comment created on #{number}" in first.out
    second = report(pr_run, number=number, run_id="4243")
    assert second.code == 0, second.err
    assert "::warning" not in first.out + second.out
    comments = sorted(fake.comments_on(number), key=lambda c: c["id"])
    assert [c["user"]["login"] for c in comments] == ["mallory", "github-actions[bot]"]
    assert comments[0]["body"] == hostile["body"]
    assert comments[0]["_edits"] == 0
    assert comments[1]["_edits"] == 1
    assert "actions/runs/4243#artifacts" in comments[1]["body"]
    assert github_api.violations(since) == []


def test_a_github_app_token_edits_the_comment_it_created(github_api) -> None:
    """An App's installation token cannot read /user, and writes as `<app>[bot]`: its
    comment must be found again, not posted anew on every push."""
    number, since = _new_pull(github_api), github_api.log_offset()
    token = "ghs_installationTokenOfAnApp0123456789"
    github_api.fake.add_user(token, "acme-ml[bot]")
    github_api.fake.add_comment(number, marker("churn") + "\nforged", "mallory")
    client = github.connect(token, github_api.url, github.RetryPolicy())
    line = marker("churn")
    first = github.upsert_comment(client, f"{OWNER}/{REPO}", number, line, line + "\na")
    second = github.upsert_comment(client, f"{OWNER}/{REPO}", number, line, line + "\nb")
    assert (first.action, second.action) == ("created", "updated")
    assert github_api.fake.comments[first.comment_id]["user"]["login"] == "acme-ml[bot]"
    assert github_api.violations(since) == []


def test_a_personal_token_edits_the_comment_of_its_own_login(github_api) -> None:
    number, since = _new_pull(github_api), github_api.log_offset()
    token = "ghp_mlgatePersonalToken0123456789abcdef"
    github_api.fake.add_user(token, "release-bot")
    github_api.fake.add_comment(number, marker("churn") + "\nforged", "mallory")
    client = github.connect(token, github_api.url, github.RetryPolicy())
    line = marker("churn")
    first = github.upsert_comment(client, f"{OWNER}/{REPO}", number, line, line + "\na")
    second = github.upsert_comment(client, f"{OWNER}/{REPO}", number, line, line + "\nb")
    assert (first.action, second.action) == ("created", "updated")
    assert first.comment_id == second.comment_id
    ours = github_api.fake.comments[first.comment_id]
    assert ours["user"]["login"] == "release-bot"
    assert ours["body"] == line + "\nb"
    assert github_api.violations(since) == []


def _check_artifact(api: PrismGitHub, tmp_path: Path, run_id: int, name: str = "mlgate-report"):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_TOKEN=TOKEN,
        GITHUB_API_URL=api.url,
        GITHUB_REPOSITORY=f"{OWNER}/{REPO}",
        GITHUB_OUTPUT=str(tmp_path / "output.txt"),
        MLGATE_RUN_ID=str(run_id),
        MLGATE_ARTIFACT_NAME=name,
    )
    (tmp_path / "output.txt").write_text("")
    return subprocess.run(
        [sys.executable, "-I", "-m", "mlgate.report.fork_artifact"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_fork_artifact_too_large_is_refused_before_download(github_api, tmp_path: Path) -> None:
    from mlgate.report.fork_artifact import MAX_ARTIFACT_BYTES

    since = github_api.log_offset()
    run_id = next(_numbers) + 90_000
    github_api.fake.add_artifact(run_id, "mlgate-report", 2 * 1024**3)  # a 2 GiB "report"
    refused = _check_artifact(github_api, tmp_path, run_id)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    [line] = [x for x in refused.stderr.splitlines() if x.startswith("mlgate: error:")]
    assert "2,147,483,648 bytes" in line
    assert "was not downloaded" in line
    assert (tmp_path / "output.txt").read_text() == ""

    small_run = run_id + 1
    artifact_id = github_api.fake.add_artifact(small_run, "mlgate-report", MAX_ARTIFACT_BYTES)
    github_api.fake.add_artifact(small_run, "other", 10 * 1024**3)
    accepted = _check_artifact(github_api, tmp_path, small_run)
    assert accepted.returncode == 0, accepted.stderr
    outputs = (tmp_path / "output.txt").read_text()
    assert f"\n{artifact_id}\n" in outputs
    assert _check_artifact(github_api, tmp_path, small_run + 1).returncode == 2  # none at all
    assert github_api.violations(since) == []


def test_the_fork_report_workflow_checks_the_artifact_size_before_downloading_it() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    workflow = yaml.safe_load((root / ".github/workflows/report-fork.yml").read_text())
    steps = workflow["jobs"]["comment"]["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    uses = [str(step.get("uses", "")) for step in steps]
    check = next(i for i, run in enumerate(runs) if "mlgate.report.fork_artifact" in run)
    download = next(i for i, use in enumerate(uses) if use.startswith("actions/download-artifact"))
    assert check < download
    # The artifact checked is the one downloaded: same run, same name (the latest upload).
    env, given = steps[check]["env"], steps[download]["with"]
    assert env["MLGATE_ARTIFACT_NAME"] == given["name"] == "${{ inputs.artifact-name }}"
    assert env["MLGATE_RUN_ID"] == given["run-id"] == "${{ github.event.workflow_run.id }}"
    assert "-I -m mlgate.report.fork_artifact" in runs[check]
