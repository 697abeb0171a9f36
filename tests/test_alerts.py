"""Alerts: Slack Block Kit messages and PagerDuty Events v2, against loopback fakes that
check every payload against the services' documented schemas (tests/alert_fakes.py).

Pure payloads first (every cause, limits, escaping), then the fakes' refusals, then the
deliveries: a monitor's drift triggers and its recovery resolves with the same dedup key;
`mlgate run`'s gate failure reaches both services, a passing run resolves it; a secret
never reaches stdout, stderr or the run directory; a service that is down is a warning,
and exit 3 with `alerts.required: true`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from alert_fakes import AlertServices, alert_services, pagerduty_problems, slack_problems
from mlgate.alerts import AlertError, events, notify_monitor, pagerduty, slack
from mlgate.alerts._http import RetryPolicy, post_json
from mlgate.alerts.dispatch import deliver
from mlgate.config import AlertsSection
from mlgate.promotion.ledger import Entry
from monitor_results import monitor_result

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"
ROUTING_KEY = "0123456789abcdef0123456789abcdef"
FAST = RetryPolicy(attempts=3, backoff=0.01, timeout=5)


@pytest.fixture
def services():
    with alert_services() as running:
        yield running


def _entry(kind: str, *, forced: bool = False) -> Entry:
    return Entry(
        seq=7,
        kind=kind,
        alias="production",
        from_version="4",
        to_version="3" if kind == "rollback" else "5",
        actor="octocat",
        at="2026-01-01T00:00:00Z",
        reason="bad canary <!channel>",
        run_url="https://github.com/acme/churn/actions/runs/9",
        gates={},
        forced=forced,
    )


LONG_NAME = "churn-" + "x" * 300 + " <!channel> & <https://evil.example|click>"
ALERTS = [
    pytest.param(
        events.run_failed(
            "churn",
            [("evaluate", "roc_auc 0.71 < min 0.8"), ("fairness", "1/2 checks failed")],
            run_url="https://github.com/acme/churn/actions/runs/1",
            repository="acme/churn",
        ),
        id="gate-failure",
    ),
    pytest.param(
        events.from_monitor(
            monitor_result("degraded", drifted={"tenure": 0.4}, degraded=("roc_auc",)),
            run_url=None,
            repository="acme/churn",
            issue_url="https://github.com/acme/churn/issues/4",
        ),
        id="degraded-and-drift",
    ),
    pytest.param(
        events.from_monitor(
            monitor_result(
                "drift", model=LONG_NAME, drifted={f"f{i}" * 40: 0.5 for i in range(300)}
            ),
            run_url=None,
            repository=None,
        ),
        id="long-name-many-reasons",
    ),
    pytest.param(
        events.promotion_refused(
            "churn",
            None,
            "production",
            ["refusing to promote churn v5 to production: the evaluation gate failed"],
            actor="octocat",
            run_url=None,
            repository="acme/churn",
        ),
        id="promotion-refused",
    ),
    pytest.param(
        events.promotion_moved(
            "churn", _entry("promote", forced=True), ["the evaluation gate failed"], repository=None
        ),
        id="promotion-forced",
    ),
    pytest.param(
        events.promotion_moved("churn", _entry("rollback"), [], repository="acme/churn"),
        id="rollback",
    ),
]


@pytest.mark.parametrize("alert", ALERTS)
def test_every_payload_matches_the_documented_schemas(alert: events.Alert) -> None:
    message = slack.message(alert)
    assert slack_problems(message) == []
    shown = json.dumps(message)
    # mrkdwn: a name or reason can never mention a channel or make a link of its own.
    assert "<!channel>" not in shown
    assert "<https://evil" not in shown
    for cause in alert.causes:
        trigger = pagerduty.trigger(alert, cause, ROUTING_KEY, "error")
        assert pagerduty_problems(trigger) == []
        assert trigger["dedup_key"] == events.dedup_key(alert.model, cause)
        assert len(trigger["dedup_key"]) <= 255
        resolve = pagerduty.resolve(
            events.Recovery((cause,), alert.model, alert.version, "ok"), cause, ROUTING_KEY
        )
        assert pagerduty_problems(resolve) == []
        assert resolve["dedup_key"] == trigger["dedup_key"]


def test_a_dedup_key_is_stable_per_model_and_cause() -> None:
    assert events.dedup_key("churn", events.Cause.DRIFT) == "mlgate/churn/drift"
    assert events.dedup_key("churn", events.Cause.DEGRADED) == "mlgate/churn/degraded"
    long_one = events.dedup_key("m" * 400, events.Cause.DRIFT)
    assert long_one == events.dedup_key("m" * 400, events.Cause.DRIFT)
    assert long_one != events.dedup_key("m" * 399 + "n", events.Cause.DRIFT)
    assert len(long_one) == 255


def test_the_fakes_refuse_what_the_services_refuse(services: AlertServices) -> None:
    """The fakes can fail a test: a payload that breaks the documented schema is refused
    with the service's own answer."""
    alert = ALERTS[0].values[0]
    too_long = slack.message(alert)
    too_long["blocks"][0]["text"]["text"] = "x" * 151
    refused = post_json(services.webhook_url, too_long, FAST)
    assert (refused.status, refused.body) == (400, "invalid_blocks")
    eleven = slack.message(alert)
    eleven["blocks"][1]["fields"] = eleven["blocks"][1]["fields"] * 3
    assert post_json(services.webhook_url, eleven, FAST).body == "invalid_blocks"
    assert post_json(services.base + "/services/T0/B0/nope", {"text": "hi"}, FAST).body == (
        "no_service"
    )

    no_payload = {"routing_key": services.routing_key, "event_action": "trigger"}
    answer = post_json(services.events_url, no_payload, FAST)
    assert answer.status == 400
    body = json.loads(answer.body)
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert any("payload" in error for error in body["errors"])
    bad_severity = pagerduty.trigger(alert, events.Cause.GATE_FAILURE, services.routing_key, "x")
    assert post_json(services.events_url, bad_severity, FAST).status == 400
    short_key = pagerduty.trigger(alert, events.Cause.GATE_FAILURE, "short", "error")
    assert post_json(services.events_url, short_key, FAST).status == 400
    assert services.slack == []
    assert services.pagerduty == []
    assert len(services.rejected) == 6


def _settings(**alerts) -> AlertsSection:
    return AlertsSection.model_validate(alerts)


BOTH = {
    "slack": {"webhook_env": "TEAM_SLACK_HOOK"},
    "pagerduty": {"routing_key_env": "TEAM_PD_KEY", "severity": "critical"},
}


def test_drift_triggers_and_recovery_resolves_with_the_same_dedup_key(
    services: AlertServices, capsys: pytest.CaptureFixture[str]
) -> None:
    env = services.env("TEAM_SLACK_HOOK", "TEAM_PD_KEY")
    config = type("Config", (), {"alerts": _settings(**BOTH)})()

    notify_monitor(config, monitor_result("drift"), environ=env)
    notify_monitor(
        config, monitor_result("degraded", drifted={}, degraded=("roc_auc",)), environ=env
    )
    notify_monitor(config, monitor_result("ok", drifted={}), environ=env)

    assert services.rejected == []
    assert len(services.slack) == 2  # drift, degraded; nothing when ok
    assert "production data drifted" in services.slack[0]["blocks"][0]["text"]["text"]
    fields = " ".join(f["text"] for f in services.slack[0]["blocks"][1]["fields"])
    for shown in ("*Model*\nchurn", "*Version*\nv3", "*Verdict*\ndrift"):
        assert shown in fields
    assert "tenure_months drifted" in services.slack[0]["blocks"][2]["text"]["text"]
    sent = [(e["event_action"], e["dedup_key"]) for e in services.pagerduty]
    assert sent == [
        ("trigger", "mlgate/churn/drift"),
        ("resolve", "mlgate/churn/degraded"),  # what the model is not now is resolved
        ("trigger", "mlgate/churn/degraded"),
        ("resolve", "mlgate/churn/drift"),
        ("resolve", "mlgate/churn/drift"),
        ("resolve", "mlgate/churn/degraded"),
    ]
    assert services.pagerduty[0]["payload"]["severity"] == "critical"
    assert services.pagerduty[0]["payload"]["source"] == "mlgate"
    err = capsys.readouterr().err
    assert "mlgate: alerts sent: slack (drift), pagerduty (drift), pagerduty (resolve" in err
    for secret in services.secrets:
        assert secret not in err


def test_each_destination_gets_only_the_events_it_lists(services: AlertServices) -> None:
    settings = _settings(slack={"events": ["rollback"]}, pagerduty={"events": ["degraded"]})
    env = services.env()
    alert = events.from_monitor(monitor_result("drift"), run_url=None, repository=None)
    recovery = events.monitor_recovered(monitor_result("ok", drifted={}), repository=None)
    assert alert is not None
    assert recovery is not None
    outcome = deliver(settings, [alert], [recovery], environ=env, policy=FAST)
    assert services.slack == []
    assert [(e["event_action"], e["dedup_key"]) for e in services.pagerduty] == [
        ("resolve", "mlgate/churn/degraded")
    ]
    assert [d.what for d in outcome.deliveries] == ["resolve degraded"]


def test_a_down_service_is_a_warning_unless_alerts_are_required(
    services: AlertServices, capsys: pytest.CaptureFixture[str]
) -> None:
    services.down = True
    env = {**services.env(), "GITHUB_ACTIONS": "true"}
    alert = events.from_monitor(monitor_result("drift"), run_url=None, repository=None)
    assert alert is not None

    outcome = deliver(_settings(slack={}, pagerduty={}), [alert], environ=env, policy=FAST)

    assert [d.ok for d in outcome.deliveries] == [False, False]
    assert len(services.requests) == 6  # three attempts each: 503 is retried
    err = capsys.readouterr().err
    assert "mlgate: warning: alert not delivered: slack (drift): HTTP 503" in err
    assert "::warning title=mlgate alerts::alert not delivered: pagerduty (drift)" in err
    assert "::add-mask::" + services.routing_key in err  # masked before anything else
    shown = "\n".join(line for line in err.splitlines() if not line.startswith("::add-mask::"))
    for secret in services.secrets:
        assert secret not in shown

    with pytest.raises(AlertError) as raised:
        deliver(_settings(slack={}, required=True), [alert], environ=env, policy=FAST)
    assert raised.value.exit_code == 3
    assert "alert not delivered: slack (drift): HTTP 503" in str(raised.value)
    for secret in services.secrets:
        assert secret not in str(raised.value)


def test_429_and_5xx_are_retried_with_backoff_and_a_silent_server_times_out(
    services: AlertServices,
) -> None:
    import socket

    waits: list[float] = []
    policy = RetryPolicy(attempts=4, backoff=0.5, max_wait=3, timeout=5)
    services.trouble = [(429, "2"), (502, None), (429, "120")]
    body = slack.message(ALERTS[0].values[0])
    reply = post_json(services.webhook_url, body, policy, sleep=waits.append)
    assert (reply.status, reply.body, reply.attempts) == (200, "ok", 4)
    assert waits == [2.0, 1.0, 3.0]  # Retry-After, the doubled backoff, Retry-After capped
    assert len(services.slack) == 1

    services.trouble = [(400, None)]  # final: never retried
    assert post_json(services.webhook_url, body, policy, sleep=waits.append).attempts == 1

    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/services/T0/B0/token"
        quick = RetryPolicy(attempts=2, backoff=0.01, timeout=0.3)
        timed_out = post_json(url, body, quick)
    assert timed_out.status is None
    assert timed_out.describe() in (
        "no answer within 0.3 s after 2 attempts",
        "timed out after 2 attempts",
    )


def test_an_unset_secret_is_a_warning_and_a_resolve_without_one_is_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    alert = events.from_monitor(monitor_result("drift"), run_url=None, repository=None)
    recovery = events.monitor_recovered(monitor_result("ok", drifted={}), repository=None)
    assert alert is not None
    assert recovery is not None
    settings = _settings(slack={}, pagerduty={})

    assert deliver(settings, recoveries=[recovery], environ={}).deliveries == ()
    assert capsys.readouterr().err == ""
    outcome = deliver(settings, [alert], environ={})
    assert [d.problem for d in outcome.deliveries] == [
        "environment variable SLACK_WEBHOOK_URL is not set (alerts.slack.webhook_env names it)",
        "environment variable PAGERDUTY_ROUTING_KEY is not set "
        "(alerts.pagerduty.routing_key_env names it)",
    ]


def test_a_webhook_url_that_is_not_https_is_refused_without_being_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret_url = "http://hooks.slack.example/services/T0/B0/s3cr3t-token"
    alert = events.from_monitor(monitor_result("drift"), run_url=None, repository=None)
    assert alert is not None
    outcome = deliver(
        _settings(slack={}), [alert], environ={"SLACK_WEBHOOK_URL": secret_url}, policy=FAST
    )
    assert outcome.deliveries[0].problem == "not an https:// URL"
    assert "s3cr3t" not in capsys.readouterr().err


def _repo(tmp_path: Path, alerts: dict | None, *, gate_min: float = 0.8) -> Path:
    repo = tmp_path / "churn"
    if not repo.exists():
        shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    config = repo / "mlgate.yaml"
    data = yaml.safe_load(config.read_text())
    data["model"]["params"].update(n_estimators=20, max_depth=3)
    data["evaluation"].update(noise_aware=False, bootstrap={"n": 50})
    data["evaluation"]["gates"]["roc_auc"] = {"min": gate_min}
    data["fairness"]["n_boot"] = 0
    data["tracking"]["registration"] = "never"
    data.pop("alerts", None)
    if alerts is not None:
        data["alerts"] = alerts
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return repo


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("webhook_env", "https://hooks.slack.com/services/T0/B0/s3cr3tT0ken", id="url"),
        pytest.param("routing_key_env", "e93facc04764012d7bfb002500d5d1a6", id="routing-key"),
    ],
)
def test_a_secret_written_in_the_config_is_refused_and_not_shown(
    cli, tmp_path: Path, key: str, value: str
) -> None:
    destination = "slack" if key == "webhook_env" else "pagerduty"
    repo = _repo(tmp_path, {destination: {key: value}})
    result = cli("run", str(repo))
    assert result.code == 2
    assert "mlgate.yaml:" in result.err
    assert f"alerts.{destination}.{key}" in result.err
    assert "a secret must never be written in mlgate.yaml" in result.err
    assert value not in result.out + result.err
    assert value[-12:] not in result.out + result.err


@pytest.mark.parametrize(
    ("destination", "key", "variable"),
    [
        pytest.param("slack", "webhook_env", "GITHUB_TOKEN", id="github-token"),
        pytest.param("pagerduty", "routing_key_env", "AWS_SECRET_ACCESS_KEY", id="aws-key"),
        pytest.param("slack", "webhook_env", "mlflow_tracking_password", id="mlflow-password"),
    ],
)
def test_a_config_cannot_send_another_credential_as_an_alert_secret(
    cli, tmp_path: Path, destination: str, key: str, variable: str
) -> None:
    repo = _repo(tmp_path, {destination: {key: variable}})
    result = cli("run", str(repo))
    assert result.code == 2
    assert len(result.error_lines) == 1
    assert f"alerts.{destination}.{key}" in result.err
    assert "the runner's or mlgate's own credentials" in result.err


def _printed(result) -> str:
    """stdout and stderr but the runner's `::add-mask::` commands, which it never shows."""
    err = [line for line in result.err.splitlines() if not line.startswith("::add-mask::")]
    return result.out + "\n".join(err)


def _files_holding(root: Path, secrets: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}" for secret in secrets if secret.encode() in data]
    return found


@pytest.mark.slow
def test_a_gate_failure_alerts_both_services_and_a_passing_run_resolves_it(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, services: AlertServices
) -> None:
    alerts = {"slack": {}, "pagerduty": {}}
    for name, value in {
        **services.env(),
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REPOSITORY": "acme/churn",
        "GITHUB_RUN_ID": "77",
        "GITHUB_SERVER_URL": "https://github.com",
    }.items():
        monkeypatch.setenv(name, value)
    repo = _repo(tmp_path, alerts, gate_min=0.99)

    failed = cli("run", str(repo))

    assert failed.code == 1, failed.err
    assert services.rejected == []
    [message] = services.slack
    assert message["blocks"][0]["text"]["text"] == "production-churn-model: a gate failed"
    assert "evaluate: roc_auc" in message["blocks"][2]["text"]["text"]
    assert "<https://github.com/acme/churn/actions/runs/77|Workflow run>" in json.dumps(message)
    [trigger] = services.pagerduty
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "mlgate/production-churn-model/gate_failure"
    assert trigger["payload"]["source"] == "acme/churn"
    assert trigger["links"][0]["href"] == "https://github.com/acme/churn/actions/runs/77"
    # Masked for the runner first; then nowhere in what was printed, nor in any file.
    assert f"::add-mask::{services.webhook_url}" in failed.err
    for secret in services.secrets:
        assert secret not in _printed(failed)
    assert _files_holding(repo, services.secrets) == []

    services.clear()
    _repo(tmp_path, alerts, gate_min=0.8)
    passed = cli("run", str(repo))
    assert passed.code == 0, passed.err
    assert services.slack == []  # nothing to say when every gate passed
    assert [(e["event_action"], e["dedup_key"]) for e in services.pagerduty] == [
        ("resolve", "mlgate/production-churn-model/gate_failure")
    ]

    # Down: a warning, the run's own exit code; required: exit 3.
    services.clear()
    services.down = True
    _repo(tmp_path, alerts, gate_min=0.99)
    warned = cli("run", str(repo))
    assert warned.code == 1
    assert "mlgate: warning: alert not delivered: slack (gate_failure): HTTP 503" in warned.err
    assert len(services.requests) == 6  # both services, three attempts each
    _repo(tmp_path, {**alerts, "required": True}, gate_min=0.99)
    required = cli("run", str(repo), "--json")
    assert required.code == 3
    assert "mlgate: error: alert not delivered: slack (gate_failure): HTTP 503" in required.err
    assert json.loads(required.out)["exit_code"] == 3
    for secret in services.secrets:
        assert secret not in _printed(warned) + _printed(required)
    assert _files_holding(repo, services.secrets) == []


@pytest.mark.slow
def test_monitor_on_real_data_alerts_then_resolves_and_promotions_alert(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, services: AlertServices
) -> None:
    """scikit-learn's breast-cancer table split as test_monitor.py splits it: a registered
    version promoted (refused, then forced), a second one promoted and rolled back, a
    shifted production window, then a steady one."""
    from mlflow import MlflowClient

    from mlgate.project import load_project
    from mlgate.tracking.uri import tracking_uri
    from test_monitor import MODEL, _shifted, _table, _write_repo

    for name, value in {
        **services.env(),
        "GITHUB_REPOSITORY": "acme/bc",
        "GITHUB_RUN_ID": "5",
        "GITHUB_SERVER_URL": "https://github.com",
    }.items():
        monkeypatch.setenv(name, value)
    table = _table()
    reference, holdout = table.iloc[:300].reset_index(drop=True), table.iloc[300:]
    holdout = holdout.reset_index(drop=True)
    repo = tmp_path / "bc"
    _write_repo(repo, reference, holdout)
    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    config["alerts"] = {
        "slack": {},
        "pagerduty": {"events": ["drift", "degraded", "promotion_refused"]},
    }
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert cli("run", str(repo)).code == 0
    assert services.slack == []  # every gate passed; no gate_failure in PagerDuty's events
    assert services.pagerduty == []

    # A version whose recorded evaluation failed: refused, then forced past it.
    project = load_project(repo / "mlgate.yaml")
    MlflowClient(tracking_uri(project)).set_model_version_tag(
        MODEL, "1", "mlgate.gate.evaluation", "failed"
    )
    promote = ("promote", MODEL, "--version", "1", "--to", "production")
    refused = cli(*promote, "--config", str(repo / "mlgate.yaml"))
    assert refused.code == 1, refused.err
    forced = cli(
        *promote, "--force", "--reason", "a known gap", "--config", str(repo / "mlgate.yaml")
    )
    assert forced.code == 0, forced.err
    assert services.rejected == []
    heads = [m["blocks"][0]["text"]["text"] for m in services.slack]
    assert heads == [
        f"{MODEL} v1: promotion refused",
        f"{MODEL} v1: promotion forced past its gates",
    ]
    assert "the evaluation gate failed" in json.dumps(services.slack[0])
    [refusal] = services.pagerduty
    assert refusal["dedup_key"] == f"mlgate/{MODEL}/promotion_refused"

    # A second version promoted, then rolled back: Slack hears of the rollback only.
    config["model"]["params"]["C"] = 0.5
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert cli("run", str(repo)).code == 0
    config_option = ("--config", str(repo / "mlgate.yaml"))
    promote_2 = ("promote", MODEL, "--version", "2", "--to", "production")
    # Forced: the repository is no git checkout, so its lineage has no commit.
    assert cli(*promote_2, "--force", "--reason", "no git", *config_option).code == 0
    services.clear()
    rolled = cli("rollback", MODEL, "--reason", "latency", *config_option)
    assert rolled.code == 0, rolled.err
    [rollback] = services.slack
    assert rollback["blocks"][0]["text"]["text"] == f"{MODEL} v1: rolled back"
    assert "production: v2 → v1" in json.dumps(rollback, ensure_ascii=False)
    assert services.pagerduty == []  # rollback is not in PagerDuty's events

    # Production data drifts: both services; then it is back to normal: resolved.
    services.clear()
    production = repo / "production"
    production.mkdir()
    _shifted(holdout).drop(columns=["diagnosis"]).to_csv(production / "window.csv", index=False)
    drifted = cli("monitor", str(repo))
    assert drifted.code == 1, drifted.err
    holdout.to_csv(production / "window.csv", index=False)
    steady = cli("monitor", str(repo))
    assert steady.code == 0, steady.err

    assert services.rejected == []
    [message] = services.slack
    assert message["blocks"][0]["text"]["text"] == f"{MODEL} v1: production data drifted"
    assert "feature mean_radius: PSI" in message["blocks"][2]["text"]["text"]
    sent = [(e["event_action"], e["dedup_key"]) for e in services.pagerduty]
    assert sent == [
        ("trigger", f"mlgate/{MODEL}/drift"),
        ("resolve", f"mlgate/{MODEL}/degraded"),
        ("resolve", f"mlgate/{MODEL}/drift"),
        ("resolve", f"mlgate/{MODEL}/degraded"),
    ]
    assert services.pagerduty[0]["payload"]["component"] == MODEL

    # Alerts required and Slack down: exit 3, after the verdict was printed in full.
    config["alerts"]["required"] = True
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _shifted(holdout).drop(columns=["diagnosis"]).to_csv(production / "window.csv", index=False)
    services.down = True
    undelivered = cli("monitor", str(repo))
    services.down = False
    assert undelivered.code == 3, undelivered.err
    assert "alert not delivered: slack (drift)" in undelivered.err
    assert "✗ drift: 269 production rows vs version 1" in undelivered.out
    for result in (refused, forced, rolled, drifted, steady, undelivered):
        for secret in services.secrets:
            assert secret not in _printed(result)
    assert _files_holding(repo, services.secrets) == []
