"""Lineage and the registration policy: pure functions of the environment and the event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate._ci_context import _public_remote, ci_context, fingerprint
from mlgate.stages.register import registration_decision


def _event(tmp_path: Path, default_branch: str = "main") -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"repository": {"default_branch": default_branch}}))
    return str(path)


def test_local_run_is_not_in_github() -> None:
    ci = ci_context({})
    assert not ci.in_github
    assert ci.run_url is None
    assert ci.actor


def test_github_run_url_and_default_branch(tmp_path: Path) -> None:
    ci = ci_context(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_REF": "refs/heads/trunk",
            "GITHUB_EVENT_PATH": _event(tmp_path, "trunk"),
            "GITHUB_REPOSITORY": "acme/churn",
            "GITHUB_RUN_ID": "9",
            "GITHUB_RUN_ATTEMPT": "2",
            "GITHUB_SERVER_URL": "https://ghe.example.com/",
            "GITHUB_ACTOR": "octocat",
        }
    )
    assert ci.is_default_branch_push
    assert ci.run_url == "https://ghe.example.com/acme/churn/actions/runs/9/attempts/2"
    assert ci.actor == "octocat"


@pytest.mark.parametrize(
    ("policy", "env", "allowed", "reason"),
    [
        pytest.param("auto", {}, True, "", id="local-always"),
        pytest.param("never", {}, False, "tracking.registration is 'never'", id="never"),
        pytest.param(
            "auto",
            {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request"},
            False,
            "pull request runs are logged, not registered",
            id="pull-request",
        ),
        pytest.param(
            "auto",
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_EVENT_NAME": "push",
                "GITHUB_REF": "refs/heads/main",
            },
            True,
            "",
            id="push-default-branch",
        ),
        pytest.param(
            "auto",
            {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/dev"},
            False,
            "only a push to the default branch registers (this run: push)",
            id="push-other-branch",
        ),
        pytest.param(
            "always",
            {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request"},
            True,
            "",
            id="always-even-on-pr",
        ),
    ],
)
def test_registration_decision(tmp_path, policy, env, allowed, reason) -> None:
    ci = ci_context({**env, "GITHUB_EVENT_PATH": _event(tmp_path)} if env else env)
    assert registration_decision(policy, ci) == (allowed, reason)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param(
            "https://x-access-token:ghs_secret@github.com/acme/churn.git",
            "https://github.com/acme/churn.git",
            id="token",
        ),
        pytest.param(
            "https://github.com/acme/churn.git", "https://github.com/acme/churn.git", id="plain"
        ),
        pytest.param("git@github.com:acme/churn.git", "git@github.com:acme/churn.git", id="ssh"),
    ],
)
def test_remote_urls_never_carry_credentials(url: str, shown: str) -> None:
    assert _public_remote(url) == shown


def test_fingerprint_is_order_independent_and_sensitive_to_every_input() -> None:
    base = {"data": {"training": "a", "validation": "b"}, "config": "c", "commit": "d"}
    reordered = {"commit": "d", "config": "c", "data": {"validation": "b", "training": "a"}}
    assert fingerprint(base) == fingerprint(reordered)
    for key, value in (("config", "c2"), ("commit", "d2"), ("data", {"training": "a"})):
        assert fingerprint({**base, key: value}) != fingerprint(base), key
