"""The reusable workflows end to end under a real runner emulator (nektos/act, host mode).

A model repository (a fast copy of examples/churn in git) calls mlgate's workflows as the
starter workflows in workflows/ do; act runs them against the Prism-checked GitHub fake
and a real `mlflow server` on loopback (see tests/act_harness.py for what is set up).
Each test asserts on what GitHub and MLflow recorded, not on log text alone.

What act cannot emulate (environments, a fork's read-only token, the runner dropping an
output that holds a secret, cache-mode) is checked by reading the YAML, at the end.

The tests skip with a reason where act, node, python3.12 or ../shared/gha-actions is
missing; with MLGATE_REQUIRE_ACT=1 (as .ci/run sets it) they fail instead.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from act_harness import (
    MODEL_REPOSITORY,
    OWNER,
    ActRun,
    ActWorld,
    caller_workflow,
    load_workflow,
    make_model_repo,
    require_act,
    serve_run_artifacts,
)
from fastrepo import make_fast

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"
REPO_NAME = MODEL_REPOSITORY.split("/")[1]
PROMOTION = "\npromotion:\n  canary_percent: 25                        # not the default 10\n"


# --- the session: act, the GitHub fake, MLflow, one model repository --------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, github_api: Any):
    require_act()
    from github_fake_deployments import add_deployment_routes

    add_deployment_routes(github_api.fake)
    world = ActWorld.create(tmp_path_factory.mktemp("act"))
    service = serve_run_artifacts(github_api.fake, world.artifacts, github_api.url)
    world.api_url = service.api_url
    yield world
    service.stop()


@pytest.fixture(scope="module")
def model(world: ActWorld, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The model repository: fast churn with a non-default promotion section, the three
    starter workflows, in git with github.com/acme/churn-model as its origin."""
    repo = tmp_path_factory.mktemp("model") / REPO_NAME
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    name = f"act-churn-{uuid.uuid4().hex[:8]}"
    make_fast(repo, registry_name=name)
    with (repo / "mlgate.yaml").open("a", encoding="utf-8") as config:
        config.write(PROMOTION)
    (repo / ".gitignore").write_text(".mlgate/\n", encoding="utf-8")
    workflows = {f"{w}.yml": caller_workflow(w) for w in ("model-ci", "promote", "report-fork")}
    head = make_model_repo(repo, workflows)
    return {"repo": repo, "name": name, "head": head}


def _mlflow(url: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=url, registry_uri=url)


def _versions(url: str, name: str) -> list[Any]:
    client = _mlflow(url)
    try:
        return sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    except Exception:
        return []


def _calls(github_api: Any, since: int) -> list[tuple[str, str, int]]:
    return list(github_api.fake.requests[since:])


def _assert_ran(run: ActRun) -> None:
    assert run.code == 0, f"act exited {run.code}:\n{run.tail()}"
    assert "Job succeeded" in run.log, run.tail()


def _zip_names(path: Path) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        return set(archive.namelist())


def _zip_json(path: Path, name: str) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        return json.loads(archive.read(name))


def _pull_request(github_api: Any, number: int, head: str, head_repo: str) -> dict[str, Any]:
    from test_report_github import _payload

    repository = {"name": REPO_NAME, "full_name": MODEL_REPOSITORY, "default_branch": "main"}
    return _payload(
        github_api,
        "pull_request$synchronize",
        number=number,
        pull_request={
            "number": number,
            "head": {"sha": head, "ref": "feature", "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "repo": repository},
        },
        repository=repository,
    )


def _secrets(mlflow_server: str) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": mlflow_server}


# --- model-ci.yml ------------------------------------------------------------------------


def test_a_pull_request_gets_one_comment_edited_by_the_second_run(
    world: ActWorld, model: dict[str, Any], github_api: Any, mlflow_server: str
) -> None:
    number = 700 + len(github_api.fake.pulls)
    github_api.fake.add_pull(number, head_sha=model["head"], owner=OWNER, repo=REPO_NAME)
    event = _pull_request(github_api, number, model["head"], MODEL_REPOSITORY)
    since, offset = len(github_api.fake.requests), github_api.log_offset()

    first = world.run(
        model["repo"], "pull_request", event, "model-ci.yml", secrets=_secrets(mlflow_server)
    )
    _assert_ran(first)
    comments = github_api.fake.comments_on(number)
    assert len(comments) == 1, first.tail(200)
    [comment] = comments
    assert f"<!-- mlgate:report model={model['name']} -->" in comment["body"]
    assert comment["_edits"] == 0
    created = [c for c in _calls(github_api, since) if c[0] == "POST" and "/comments" in c[1]]
    assert created == [("POST", f"/repos/{MODEL_REPOSITORY}/issues/{number}/comments", 201)]
    # The run directory went up as an artifact; a pull request registers nothing.
    [artifact] = first.artifact_names()
    assert artifact.startswith("mlgate-run-")
    assert {"validate.json", "evaluate.json", "report.md"} <= _zip_names(first.artifact(artifact))
    assert _versions(mlflow_server, model["name"]) == []
    runs = _mlflow(mlflow_server).search_experiments(
        filter_string="name = 'customer-churn-prediction'"
    )
    assert runs, "the pipeline logged no MLflow experiment on the server"

    # The first run left its stages in the Actions cache (act's cache server), keyed by
    # their fingerprints.
    assert re.search(r"Cache saved with key: mlgate-stages-v1-\S+", first.log), first.tail(200)
    first_id = artifact.removeprefix("mlgate-run-")

    second = world.run(
        model["repo"], "pull_request", event, "model-ci.yml", secrets=_secrets(mlflow_server)
    )
    _assert_ran(second)
    # A second push on a fresh runner workspace: validation and training come back from the
    # Actions cache, not from anything the first run left on disk.
    assert "Cache restored from key: mlgate-stages-v1-" in second.log, second.tail(200)
    [second_artifact] = second.artifact_names()
    for stage in ("validate", "train"):
        record = _zip_json(second.artifact(second_artifact), f"{stage}.json")["cache"]
        assert record["reused"] is True, (stage, record)
        assert record["from_run"] == first_id, (stage, record)
    [again] = github_api.fake.comments_on(number)
    assert again["id"] == comment["id"]
    assert again["_edits"] == 1  # the second run's report edited the one comment
    calls = _calls(github_api, since)
    assert [c for c in calls if c[0] == "POST" and "/comments" in c[1]] == created
    assert ("PATCH", f"/repos/{MODEL_REPOSITORY}/issues/comments/{comment['id']}", 200) in calls
    assert github_api.violations(offset) == []


def test_a_push_to_main_registers_a_version(
    world: ActWorld, model: dict[str, Any], github_api: Any, mlflow_server: str
) -> None:
    from test_report_github import _payload

    event = _payload(
        github_api,
        "push$event",
        ref="refs/heads/main",
        after=model["head"],
        repository={"name": REPO_NAME, "full_name": MODEL_REPOSITORY, "default_branch": "main"},
    )
    since = len(github_api.fake.requests)
    run = world.run(model["repo"], "push", event, "model-ci.yml", secrets=_secrets(mlflow_server))
    _assert_ran(run)
    [version] = _versions(mlflow_server, model["name"])
    assert version.version == "1"
    assert version.tags.get("mlgate.git.commit") == model["head"]
    gates = {k: v for k, v in version.tags.items() if k.startswith("mlgate.gate.")}
    assert gates
    assert set(gates.values()) <= {"passed", "skipped"}, gates
    [artifact] = run.artifact_names()
    assert "register.json" in _zip_names(run.artifact(artifact))
    # A push comments on nothing.
    assert not [c for c in _calls(github_api, since) if "/comments" in c[1]]


def test_the_readme_one_action_per_stage_snippet_runs_and_registers(
    world: ActWorld, model: dict[str, Any], github_api: Any, mlflow_server: str
) -> None:
    """The README's snippet as a job's steps, on a push of a changed model: each stage
    action in turn, registry-push registering the model's second version."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(- uses: OWNER/mlgate/actions/setup@v1.*?)```", readme, re.S)
    assert match, "README.md lost its one-action-per-stage snippet"
    steps = yaml.safe_load(match.group(1).replace("OWNER/", f"{OWNER}/"))
    assert [s["uses"].split("/")[3].split("@")[0] for s in steps] == [
        "setup",
        "validate-data",
        "train",
        "evaluate",
        "fairness-gate",
        "model-card",
        "registry-push",
        "pr-report",
    ]
    checkout = {
        "uses": "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "with": {"persist-credentials": False},
    }
    workflow = {
        "name": "stages",
        "on": {"push": {"branches": ["main"]}},
        "permissions": {},
        "jobs": {
            "stages": {
                "runs-on": "ubuntu-latest",
                "permissions": {"contents": "read"},
                "steps": [checkout, *steps],
            }
        },
    }
    repo = model["repo"]
    config = repo / "mlgate.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("n_estimators: 20,", "n_estimators: 30,"), encoding="utf-8")
    head = make_model_repo(repo, {"stages.yml": yaml.safe_dump(workflow, sort_keys=False)})
    model["head"] = head
    from test_report_github import _payload

    event = _payload(
        github_api,
        "push$event",
        ref="refs/heads/main",
        after=head,
        repository={"name": REPO_NAME, "full_name": MODEL_REPOSITORY, "default_branch": "main"},
    )
    run = world.run(repo, "push", event, "stages.yml", secrets=_secrets(mlflow_server))
    _assert_ran(run)
    versions = _versions(mlflow_server, model["name"])
    assert [v.version for v in versions] == ["1", "2"]
    assert versions[1].tags.get("mlgate.git.commit") == head


# --- promote.yml ---------------------------------------------------------------------------


def _dispatch(github_api: Any, **inputs: str) -> dict[str, Any]:
    from test_report_github import _payload

    given = {
        "version": "",
        "from-alias": "",
        "canary-percent": "",
        "rollback": "false",
        "build-image": "false",
        **inputs,
    }
    return _payload(
        github_api,
        "workflow_dispatch$event",
        inputs=given,
        ref="refs/heads/main",
        workflow=".github/workflows/promote.yml",
        repository={"name": REPO_NAME, "full_name": MODEL_REPOSITORY, "default_branch": "main"},
    )


def _deployments(github_api: Any) -> list[dict[str, Any]]:
    from github_fake_deployments import deployments

    return sorted(deployments(github_api.fake), key=lambda d: d["id"])


def test_promote_canary_and_rollback_by_workflow_dispatch(
    world: ActWorld, model: dict[str, Any], github_api: Any, mlflow_server: str
) -> None:
    """v1 to production, v2 to canary (the config's share: 25, not the action's old 10),
    the canary to production, then a rollback: each move an alias in MLflow, a ledger
    entry and one GitHub deployment with the version in its payload."""
    name = model["name"]
    assert [v.version for v in _versions(mlflow_server, name)] == ["1", "2"], "run the push tests"
    before = len(_deployments(github_api))
    offset = github_api.log_offset()
    moves = [
        {"version": "1", "target": "production", "reason": "first release"},
        {"version": "2", "target": "canary", "reason": "more trees"},
        {"from-alias": "canary", "target": "production", "reason": "canary held"},
        {"target": "production", "rollback": "true", "reason": "latency regression"},
    ]
    expected = [("production", "1"), ("canary", "2"), ("production", "2"), ("production", "1")]
    for move, (alias, version) in zip(moves, expected, strict=True):
        run = world.run(
            model["repo"],
            "workflow_dispatch",
            _dispatch(github_api, model=name, **move),
            "promote.yml",
            secrets=_secrets(mlflow_server),
        )
        _assert_ran(run)
        aliases = _mlflow(mlflow_server).get_registered_model(name).aliases
        assert aliases.get(alias) == version, (move, aliases)
    recorded = _deployments(github_api)[before:]
    assert [(d["environment"], d["payload"]["version"]) for d in recorded] == expected
    assert [d["payload"]["kind"] for d in recorded] == ["promote", "promote", "promote", "rollback"]
    assert recorded[1]["payload"]["canary_percent"] == 25  # mlgate.yaml's promotion section
    assert all(d["_statuses"][-1]["state"] == "success" for d in recorded)
    assert all(d["payload"]["model"] == name for d in recorded)
    tags = _mlflow(mlflow_server).get_registered_model(name).tags
    assert tags.get("mlgate.ledger.head") == "4"
    entries = {
        int(match.group(1)): json.loads(value)
        for key, value in tags.items()
        if (match := re.fullmatch(r"mlgate\.ledger\.(\d+)", key))
    }
    assert entries[2]["canary_percent"] == 25
    assert github_api.violations(offset) == []


# --- a fork's pull request, then report-fork.yml by workflow_run ---------------------------


def test_a_forks_pull_request_is_reported_by_the_workflow_run(
    world: ActWorld, model: dict[str, Any], github_api: Any, mlflow_server: str
) -> None:
    from test_report_github import _payload

    fork = f"forker/{REPO_NAME}"
    number = 800 + len(github_api.fake.pulls)
    github_api.fake.add_pull(number, head_sha=model["head"], owner=OWNER, repo=REPO_NAME)
    since, offset = len(github_api.fake.requests), github_api.log_offset()
    versions_before = [v.version for v in _versions(mlflow_server, model["name"])]

    # The fork's run: no secrets (GitHub gives a fork's pull request none), so MLflow runs
    # on a local file in the job; the report goes up as an artifact, not as a comment.
    pr = world.run(
        model["repo"],
        "pull_request",
        _pull_request(github_api, number, model["head"], fork),
        "model-ci.yml",
    )
    _assert_ran(pr)
    assert "mlgate-report" in pr.artifact_names()
    assert "report.json" in _zip_names(pr.artifact("mlgate-report"))
    assert github_api.fake.comments_on(number) == []
    assert not [c for c in _calls(github_api, since) if c[0] in ("POST", "PATCH")]

    workflow_run = _payload(
        github_api,
        "workflow_run$completed",
        workflow_run={
            "id": int(pr.run_id),
            "event": "pull_request",
            "conclusion": "success",
            "head_sha": model["head"],
            "html_url": f"https://github.com/{MODEL_REPOSITORY}/actions/runs/{pr.run_id}",
            "pull_requests": [],
            "head_repository": {"full_name": fork},
        },
        repository={"name": REPO_NAME, "full_name": MODEL_REPOSITORY},
    )
    mark = len(github_api.fake.requests)
    report = world.run(
        model["repo"],
        "workflow_run",
        workflow_run,
        "report-fork.yml",
        secrets=_secrets(mlflow_server),
    )
    _assert_ran(report)
    [comment] = github_api.fake.comments_on(number)
    assert f"<!-- mlgate:report model={model['name']} -->" in comment["body"]
    # The comment came from the fork run's artifact, fetched through GitHub's API; the
    # workflow_run job ran nothing of the fork: no stage, no MLflow write, no version.
    calls = _calls(github_api, mark)
    artifacts = f"/repos/{MODEL_REPOSITORY}/actions/runs/{pr.run_id}/artifacts"
    assert ("GET", artifacts, 200) in calls
    assert any(c[0] == "GET" and "/actions/artifacts/" in c[1] and c[2] == 302 for c in calls)
    assert [c for c in calls if c[0] in ("POST", "PATCH")] == [
        ("POST", f"/repos/{MODEL_REPOSITORY}/issues/{number}/comments", 201)
    ]
    assert "mlgate run" not in report.log.replace("mlgate run-", "")
    assert not report.artifact_names()
    assert [v.version for v in _versions(mlflow_server, model["name"])] == versions_before
    assert github_api.violations(offset) == []

    # A same-repository run is not this workflow's to report: the job is skipped.
    same = json.loads(json.dumps(workflow_run))
    same["workflow_run"]["head_repository"] = {"full_name": MODEL_REPOSITORY}
    skipped = world.run(model["repo"], "workflow_run", same, "report-fork.yml")
    assert skipped.code == 0, skipped.tail()
    assert "Job succeeded" not in skipped.log
    assert len(github_api.fake.comments_on(number)) == 1


# --- what act cannot emulate, read from the YAML --------------------------------------------


def test_no_job_output_carries_a_secret_derived_value() -> None:
    """The runner drops a job output that contains a secret's value: mlflow-run-url (the
    secret tracking URI plus a path) never reaches a caller. The workflow outputs the run
    id, and builds the link from the non-secret mlflow-ui-url input."""
    workflow = load_workflow(ROOT / ".github" / "workflows" / "model-ci.yml")
    call = workflow["on"]["workflow_call"]
    outputs = workflow["jobs"]["pipeline"]["outputs"]
    assert "mlflow-run-id" in call["outputs"]
    assert outputs["mlflow-run-id"] == "${{ steps.mlgate.outputs.mlflow-run-id }}"
    assert "steps.mlgate.outputs.mlflow-run-url" not in json.dumps(outputs)
    assert "inputs.mlflow-ui-url" in outputs["mlflow-run-url"]
    assert call["inputs"]["mlflow-ui-url"]["type"] == "string"
    # No job output anywhere takes a value the actions build from a secret.
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for job in load_workflow(path)["jobs"].values():
            for value in (job.get("outputs") or {}).values():
                assert "secrets." not in value, (path.name, value)
                assert not re.search(r"steps\.\w+\.outputs\.mlflow-run-url", value), path.name
    starter = load_workflow(ROOT / "workflows" / "model-ci.yml")
    assert starter["jobs"]["mlgate"]["with"]["mlflow-ui-url"] == "${{ vars.MLFLOW_UI_URL }}"


def test_promote_job_uses_its_environment_without_a_deployment_of_githubs() -> None:
    """A job with `environment:` gets a deployment from GitHub, which marks mlgate's own
    inactive when the job ends: the promote job keeps the environment's reviewers and
    wait timer but creates no deployment (mlgate records the move as the deployment)."""
    job = load_workflow(ROOT / ".github" / "workflows" / "promote.yml")["jobs"]["promote"]
    assert job["environment"] == {"name": "${{ inputs.target }}", "deployment": False}
    assert job["permissions"]["deployments"] == "write"


def test_promote_job_reads_the_model_repos_config() -> None:
    """The promotion section of mlgate.yaml applies in Actions: the job checks out the
    model repository (read-only, no credentials kept) and passes its config; the action
    passes a canary share only when the caller gave one."""
    workflow = load_workflow(ROOT / ".github" / "workflows" / "promote.yml")
    job = workflow["jobs"]["promote"]
    checkout, *rest = job["steps"]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"] == {"persist-credentials": False}
    assert job["permissions"]["contents"] == "read"
    inputs = workflow["on"]["workflow_call"]["inputs"]
    assert inputs["canary-percent"]["default"] == ""
    promote = next(step for step in rest if step.get("id") == "promote")
    assert promote["with"]["config"] == "${{ inputs.config }}"
    rollback = next(step for step in rest if step.get("id") == "rollback")
    assert '--config "${MLGATE_CONFIG}"' in rollback["run"]
    action = load_workflow(ROOT / "actions" / "promote" / "action.yml")
    assert action["inputs"]["canary-percent"]["default"] == ""
    script = next(s for s in action["runs"]["steps"] if s.get("id") == "promote")["run"]
    assert '[ -n "${MLGATE_CANARY_PERCENT}" ]' in script
    starter = load_workflow(ROOT / "workflows" / "promote.yml")
    assert "default" not in starter["on"]["workflow_dispatch"]["inputs"]["canary-percent"]


def test_the_fork_report_does_not_use_the_cache_it_may_only_read() -> None:
    """report-fork.yml runs under `cache-mode: read`; setup's cache would try to save."""
    job = load_workflow(ROOT / ".github" / "workflows" / "report-fork.yml")["jobs"]["comment"]
    assert job["cache-mode"] == "read"
    setup = next(step for step in job["steps"] if step["uses"].endswith("/actions/setup"))
    assert setup["with"]["cache"] == "false"
