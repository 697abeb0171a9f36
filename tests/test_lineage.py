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


@pytest.mark.slow
def test_lineage_json_gives_numbers_and_booleans_their_json_types(churn_repo: Path, cli) -> None:
    """`mlgate lineage --json` on a version the pipeline registered in the embedded store."""
    from fastrepo import make_fast

    make_fast(churn_repo)
    assert cli("run", str(churn_repo), cwd=churn_repo).code == 0
    target = "production-churn-model@candidate"

    as_json = cli("lineage", target, "--config", "mlgate.yaml", "--json", cwd=churn_repo)

    assert as_json.code == 0, as_json.err
    record = json.loads(as_json.out)
    rows = {role: fields["rows"] for role, fields in record["data"].items()}
    validation_rows = len((churn_repo / "data" / "validation.csv").read_text().splitlines()) - 1
    assert rows["validation"] == validation_rows
    assert all(type(count) is int for count in rows.values())
    assert record["code"]["dirty"] is None  # not a git checkout: unknown, not "None"
    metrics = record["gates"]["metrics"]
    assert metrics
    assert all(type(value) is float for value in metrics.values())
    assert 0.5 < metrics["roc_auc"] <= 1
    assert all(isinstance(check["value"], float) for check in record["gates"]["checks"])
    assert record["version"] == "1"  # MLflow's version numbers stay text, as in register.json
    # The human answer reads as before.
    text = cli("lineage", target, "--config", "mlgate.yaml", cwd=churn_repo)
    assert text.code == 0, text.err
    assert f"    rows: {validation_rows}\n" in text.out
    assert f"roc_auc {metrics['roc_auc']:.6g}" in text.out
    assert "uncommitted changes" not in text.out


def test_a_dirty_checkout_reads_as_a_boolean_and_is_said_in_words() -> None:
    from mlgate.promotion import audit
    from mlgate.tracking.model_store import VersionInfo

    tags = {
        "mlgate.git.dirty": "True",
        "mlgate.data.training.rows": "1047",
        "mlgate.data.training.uri": "data/train.csv",
        "mlgate.metric.roc_auc": "0.871234",
        "mlgate.metric.log_loss": "123457",
        "mlgate.env.numpy": "2.1.0",
    }
    info = VersionInfo("3", "READY", "run1", None, None, None, tags)

    record = audit.answer("m", info, {}, {}, None)

    assert record["code"]["dirty"] is True
    assert record["data"]["training"]["rows"] == 1047
    assert record["gates"]["metrics"] == {"log_loss": 123457.0, "roc_auc": 0.871234}
    assert record["environment"] == {"numpy": "2.1.0"}
    text = audit.render(record)
    assert "uncommitted changes: yes" in text
    assert "    rows: 1047\n" in text
    assert "metrics: log_loss 123457, roc_auc 0.871234" in text
