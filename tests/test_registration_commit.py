"""A version registered without a git commit: said on its line, and not reused once committed.

Promotion refuses a version whose lineage lacks the commit; registration says so at once,
in promotion's own words, and a re-run after the first commit registers a version that has
it instead of reusing the one that does not (embedded store, examples/churn made small).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fastrepo import make_fast

pytestmark = pytest.mark.slow

MODEL = "production-churn-model"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _register(cli, repo: Path) -> dict:
    outcome = cli("run", str(repo), "--json", cwd=repo)
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)["stages"][-1]


def test_a_version_without_a_commit_says_so_and_is_not_reused_once_committed(
    churn_repo: Path, cli
) -> None:
    make_fast(churn_repo)

    uncommitted = _register(cli, churn_repo)

    assert uncommitted["verdict"] == "passed"
    assert uncommitted["summary"].startswith(f"{MODEL} v1 registered")
    assert "lineage incomplete: missing git commit" in uncommitted["summary"]
    assert "--force --reason TEXT" in uncommitted["summary"]
    # Promotion refuses it in the same words.
    refused = cli("promote", MODEL, "--version", "1", "--to", "staging", cwd=churn_repo)
    assert refused.code == 1, refused.err
    assert "lineage incomplete: missing git commit" in refused.err
    assert "--force --reason TEXT" in refused.err

    (churn_repo / ".gitignore").write_text(".mlgate/\n")
    _git(churn_repo, "init", "-q")
    _git(churn_repo, "add", "-A")
    _git(churn_repo, "commit", "-q", "-m", "model repo")

    committed = _register(cli, churn_repo)

    assert committed["cache"]["reused"] is False
    assert committed["reused"] is False
    assert committed["version"] == "2"
    assert "missing git commit" not in committed["summary"]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{churn_repo / '.mlgate' / 'mlflow.db'}")
    version = client.get_model_version(MODEL, "2")
    assert version.tags["mlgate.git.commit"] == _git(churn_repo, "rev-parse", "HEAD")
    assert cli("promote", MODEL, "--version", "2", "--to", "staging", cwd=churn_repo).code == 0
