"""Who gets what: the configured destinations, their secrets, the sends and the warnings.

Each destination of `alerts:` receives the alerts whose cause its `events` lists; a
recovery becomes a PagerDuty resolve for each lasting cause PagerDuty is sent (Slack
gets no message when things are fine: a scheduled monitor would post one every run).

Secrets are read here, from the environment variables the config names, and nowhere
else: in GitHub Actions each is masked (`::add-mask::`) the moment it is read, and every
line this module prints or raises has them replaced by `***` even so. A delivery that
fails is one warning line; with `alerts.required: true` the failures are one
`AlertError` (exit 3) once every destination has been tried.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import mlgate.alerts.pagerduty as pagerduty
import mlgate.alerts.slack as slack
from mlgate import _actions_io as actions_io
from mlgate.alerts._http import Reply, RetryPolicy
from mlgate.alerts.events import Alert, Cause, Recovery
from mlgate.errors import ServiceError

HIDDEN = "***"


class AlertError(ServiceError):
    """An alert could not be delivered and `alerts.required` is true."""


@dataclass(frozen=True)
class Delivery:
    """One send: where, what, and whether it arrived (with why not, secrets hidden)."""

    destination: str  # "slack" or "pagerduty"
    what: str  # "drift", "resolve drift", ...
    ok: bool
    problem: str | None = None

    def line(self) -> str:
        if self.ok:
            return f"{self.destination} ({self.what})"
        return f"{self.destination} ({self.what}): {self.problem}"


@dataclass(frozen=True)
class Outcome:
    deliveries: tuple[Delivery, ...]

    @property
    def failed(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if not d.ok)

    @property
    def sent(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.ok)


def deliver(
    settings: Any,  # mlgate.config.AlertsSection
    alerts: Sequence[Alert] = (),
    recoveries: Sequence[Recovery] = (),
    *,
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
) -> Outcome:
    """Send `alerts` and `recoveries` where `settings` says; print one line per failure.

    Raises `AlertError` when something failed and `settings.required` is true.
    """
    env = os.environ if environ is None else environ
    secrets = _Secrets(env)
    deliveries: list[Delivery] = []
    if settings.slack is not None:
        deliveries += _to_slack(settings.slack, alerts, secrets, policy)
    if settings.pagerduty is not None:
        deliveries += _to_pagerduty(settings.pagerduty, alerts, recoveries, secrets, policy, env)
    outcome = Outcome(tuple(deliveries))
    _say(outcome, required=settings.required, secrets=secrets, env=env)
    if outcome.failed and settings.required:
        failures = "; ".join(d.line() for d in outcome.failed)
        raise AlertError(secrets.hide(f"alert not delivered: {failures} (alerts.required is true)"))
    return outcome


def _to_slack(
    config: Any, alerts: Sequence[Alert], secrets: _Secrets, policy: RetryPolicy | None
) -> list[Delivery]:
    wanted = [alert for alert in alerts if _listed(alert.causes, config.events)]
    if not wanted:
        return []
    url = secrets.read(config.webhook_env)
    deliveries = []
    for alert in wanted:
        what = "+".join(cause.value for cause in alert.causes)
        if url is None:
            problem = _unset(config.webhook_env, "alerts.slack.webhook_env")
            deliveries.append(Delivery("slack", what, False, problem))
            continue
        reply = slack.send(url, slack.message(alert), policy)
        deliveries.append(_delivery("slack", what, reply, slack.delivered(reply)))
    return deliveries


def _to_pagerduty(
    config: Any,
    alerts: Sequence[Alert],
    recoveries: Sequence[Recovery],
    secrets: _Secrets,
    policy: RetryPolicy | None,
    env: Mapping[str, str],
) -> list[Delivery]:
    events: list[tuple[str, Callable[[str], dict[str, Any]]]] = []
    for alert in alerts:
        for cause in alert.causes:
            if cause.value in config.events:
                events.append((cause.value, _trigger_of(alert, cause, config.severity)))
    for recovery in recoveries:
        for cause in recovery.causes:
            if cause.value in config.events:
                events.append((f"resolve {cause.value}", _resolve_of(recovery, cause)))
    if not events:
        return []
    key = secrets.read(config.routing_key_env)
    if key is None and all(what.startswith("resolve ") for what, _ in events):
        # Only resolves, and no key here (a laptop, a job without the secret): nothing
        # this environment could have triggered, and no warning on every passing run.
        return []
    deliveries = []
    for what, build in events:
        if key is None:
            problem = _unset(config.routing_key_env, "alerts.pagerduty.routing_key_env")
            deliveries.append(Delivery("pagerduty", what, False, problem))
            continue
        reply = pagerduty.send(build(key), policy, env)
        deliveries.append(_delivery("pagerduty", what, reply, pagerduty.delivered(reply)))
    return deliveries


def _trigger_of(alert: Alert, cause: Cause, severity: str) -> Callable[[str], dict[str, Any]]:
    return lambda key: pagerduty.trigger(alert, cause, key, severity)


def _resolve_of(recovery: Recovery, cause: Cause) -> Callable[[str], dict[str, Any]]:
    return lambda key: pagerduty.resolve(recovery, cause, key)


def _listed(causes: Sequence[Cause], events: Sequence[str]) -> bool:
    return any(cause.value in events for cause in causes)


def _delivery(destination: str, what: str, reply: Reply, ok: bool) -> Delivery:
    return Delivery(destination, what, ok, None if ok else reply.describe())


def _unset(variable: str, key: str) -> str:
    return f"environment variable {variable} is not set ({key} names it)"


def _say(outcome: Outcome, *, required: bool, secrets: _Secrets, env: Mapping[str, str]) -> None:
    """One stderr line for what was sent, one warning per failure (stdout may carry JSON)."""
    if outcome.sent:
        sent = ", ".join(d.line() for d in outcome.sent)
        print(actions_io.one_line(secrets.hide(f"mlgate: alerts sent: {sent}")), file=sys.stderr)
    if required:
        return  # the failures are the error the command ends with
    for failure in outcome.failed:
        message = secrets.hide(
            f"alert not delivered: {failure.line()} (alerts.required is false, so this does "
            "not change the exit code)"
        )
        print(actions_io.one_line(f"mlgate: warning: {message}"), file=sys.stderr)
        if actions_io.in_github_actions(env):
            actions_io.annotate("warning", message, title="mlgate alerts", stream=sys.stderr)


class _Secrets:
    """The secrets read so far: masked in GitHub Actions, hidden from every message."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._values: list[str] = []

    def read(self, variable: str) -> str | None:
        value = self._env.get(variable, "").strip()
        if not value:
            return None
        if value not in self._values:
            if actions_io.in_github_actions(self._env):
                actions_io.add_mask(value, stream=sys.stderr)
            self._values.append(value)
        return value

    def hide(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            for form in {value, quote(value, safe=""), quote(value)}:
                text = text.replace(form, HIDDEN)
        return text
