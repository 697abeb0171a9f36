"""Where the commands call the alerts: each turns what a command knows into events.

- `notify_run`: `mlgate run` ended; a failed gate alerts, a pass resolves an earlier
  gate failure (PagerDuty). Pull-request runs only when `alerts.pull_requests` is true:
  their report is on the pull request.
- `notify_monitor`: `mlgate monitor` ended; drift or degradation alerts, and whatever of
  the two it did not find is resolved (PagerDuty), so an ok resolves both.
- `notify_refused`, `notify_moved`: a refused promotion; a forced one, a rollback.

Nothing happens when the config has no destination. Each raises `AlertError` (exit 3)
only when a delivery failed and `alerts.required` is true.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import mlgate.alerts.events as events
from mlgate._ci_context import ci_context
from mlgate.alerts.dispatch import Outcome, deliver

PULL_REQUEST_EVENTS = frozenset({"pull_request", "pull_request_target"})


def configured(config: Any) -> bool:
    """Whether `config` (mlgate.config.Config) names any destination."""
    settings = config.alerts
    return settings.slack is not None or settings.pagerduty is not None


def notify_run(
    project: Any, results: Sequence[Any], code: int, environ: Mapping[str, str] | None = None
) -> Outcome | None:
    """After `mlgate run`'s verdict: `results` are its stage results, `code` its exit code."""
    from mlgate.errors import EXIT_GATE_FAILED, EXIT_OK

    config = project.config
    env = os.environ if environ is None else environ
    if not configured(config):
        return None
    if env.get("GITHUB_EVENT_NAME") in PULL_REQUEST_EVENTS and not config.alerts.pull_requests:
        return None
    ci = ci_context(dict(env))
    model = project.registry_name
    failed = [(r.stage, r.summary) for r in results if r.verdict.value == "failed"]
    if code == EXIT_GATE_FAILED and failed:
        alert = events.run_failed(model, failed, run_url=ci.run_url, repository=ci.repository)
        return deliver(config.alerts, [alert], environ=env)
    if code == EXIT_OK:
        recovery = events.run_passed(model, repository=ci.repository)
        return deliver(config.alerts, recoveries=[recovery], environ=env)
    return None  # stopped by an error: not a gate's verdict


def notify_monitor(
    config: Any,
    result: Any,
    *,
    issue_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Outcome | None:
    """After `mlgate monitor`: `config` is the project's Config, `result` its MonitorResult."""
    env = os.environ if environ is None else environ
    if not configured(config):
        return None
    ci = ci_context(dict(env))
    alert = events.from_monitor(
        result, run_url=ci.run_url, repository=ci.repository, issue_url=issue_url
    )
    recovery = events.monitor_recovered(result, repository=ci.repository)
    return deliver(
        config.alerts,
        [alert] if alert else [],
        [recovery] if recovery else [],
        environ=env,
    )


def notify_refused(
    project: Any,
    model: str,
    version: str | None,
    target: str,
    why: str,
    environ: Mapping[str, str] | None = None,
) -> Outcome | None:
    """`mlgate promote` refused to move `target` to `version` (None: named by an alias)."""
    if project is None or not configured(project.config):
        return None
    env = os.environ if environ is None else environ
    ci = ci_context(dict(env))
    alert = events.promotion_refused(
        model, version, target, [why], actor=ci.actor, run_url=ci.run_url, repository=ci.repository
    )
    return deliver(project.config.alerts, [alert], environ=env)


def notify_moved(
    project: Any, model: str, outcome: Any, environ: Mapping[str, str] | None = None
) -> Outcome | None:
    """After `mlgate promote` or `rollback` moved an alias: a forced move or a rollback alerts."""
    if project is None or not configured(project.config) or outcome.entry is None:
        return None
    env = os.environ if environ is None else environ
    findings = [finding.message for finding in outcome.findings]
    alert = events.promotion_moved(
        model, outcome.entry, findings, repository=ci_context(dict(env)).repository
    )
    if alert is None:
        return None
    return deliver(project.config.alerts, [alert], environ=env)
