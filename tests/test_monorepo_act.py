"""monorepo-ci.yml end to end under nektos/act: a pull request that changes one model's
feature spec plans that model alone, which runs model-ci.yml and comments once; a push
that changes only a README runs no model job.

A copy of examples/monorepo in git (origin github.com/acme/churn-model) calls the starter
workflows/monorepo-ci.yml; act runs the plan job, then the matrix of model jobs, against
the Prism-checked GitHub fake (see tests/act_harness.py). Skips where act cannot run,
unless MLGATE_REQUIRE_ACT=1.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from act_harness import (
    MODEL_REPOSITORY,
    OWNER,
    ActWorld,
    caller_workflow,
    git,
    make_model_repo,
    require_act,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "monorepo"
REPO_NAME = MODEL_REPOSITORY.split("/")[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, github_api: Any):
    require_act()
    world = ActWorld.create(tmp_path_factory.mktemp("act"))
    world.api_url = github_api.url
    return world


@pytest.mark.slow
def test_a_pull_request_changing_one_models_spec_runs_that_model_alone(
    world: ActWorld, github_api: Any, tmp_path: Path
) -> None:
    from test_report_github import _payload

    repo = tmp_path / REPO_NAME
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    (repo / ".gitignore").write_text(".mlgate/\n", encoding="utf-8")
    workflows = {"model-ci.yml": caller_workflow("monorepo-ci")}
    base = make_model_repo(repo, workflows)
    git(repo, "checkout", "-q", "-b", "feature")
    spec = repo / "monthly" / "configs" / "features.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    head = make_model_repo(repo, workflows)

    number = 900 + len(github_api.fake.pulls)
    github_api.fake.add_pull(number, head_sha=head, owner=OWNER, repo=REPO_NAME)
    repository = {"name": REPO_NAME, "full_name": MODEL_REPOSITORY, "default_branch": "main"}
    event = _payload(
        github_api,
        "pull_request$synchronize",
        number=number,
        pull_request={
            "number": number,
            "head": {"sha": head, "ref": "feature", "repo": {"full_name": MODEL_REPOSITORY}},
            "base": {"sha": base, "ref": "main", "repo": repository},
        },
        repository=repository,
    )
    offset = github_api.log_offset()

    run = world.run(repo, "pull_request", event, "model-ci.yml")

    assert run.code == 0, f"act exited {run.code}:\n{run.tail(200)}"
    assert re.findall(r"::set-output:: count=(\d+)", run.log) == ["1"], run.tail(200)
    # One model job ran the pipeline, for the monthly model only.
    assert "mlgate run · churn-monthly" in run.log, run.tail(200)
    assert "churn-annual" not in run.log.split("::set-output:: count=")[1]
    [artifact] = run.artifact_names()
    assert artifact.startswith("mlgate-run-")
    [comment] = github_api.fake.comments_on(number)
    assert comment["body"].startswith("<!-- mlgate:report model=churn-monthly -->")
    assert github_api.violations(offset) == []

    # A push that changes no model's files: the plan job runs, no model job does.
    (repo / "README.md").write_text("# Our churn models\n", encoding="utf-8")
    docs = make_model_repo(repo, workflows)
    push = _payload(
        github_api,
        "push$event",
        ref="refs/heads/main",
        before=head,
        after=docs,
        repository=repository,
    )
    quiet = world.run(repo, "push", push, "model-ci.yml")
    assert quiet.code == 0, f"act exited {quiet.code}:\n{quiet.tail(200)}"
    assert re.findall(r"::set-output:: count=(\d+)", quiet.log) == ["0"], quiet.tail(200)
    assert "mlgate model CI/mlgate" not in quiet.log, quiet.tail(200)
    assert quiet.artifact_names() == []
