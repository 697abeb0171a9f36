"""PagerDuty Events API v2: trigger and resolve events (pure), and their delivery.

Each cause of an alert is one PagerDuty alert, keyed `mlgate/<model>/<cause>`
(`events.dedup_key`): every later trigger with the same key adds to the open alert
instead of paging again, and the resolve a recovery sends closes it. The Events API
answers 202 `{"status": "success", ...}`; 400 `{"status": "invalid event", ...}` is
final, 429 and 5xx are retried.

The endpoint is `https://events.pagerduty.com/v2/enqueue`; MLGATE_PAGERDUTY_EVENTS_URL
replaces it, for tests only (a loopback server).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mlgate.alerts._http import Reply, RetryPolicy, post_json
from mlgate.alerts.events import Alert, Cause, Recovery, dedup_key

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
ENDPOINT_VARIABLE = "MLGATE_PAGERDUTY_EVENTS_URL"
SUMMARY_MAX = 1024
SOURCE_MAX = 255
CLIENT = "mlgate"


def endpoint(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(ENDPOINT_VARIABLE) or EVENTS_URL


def trigger(alert: Alert, cause: Cause, routing_key: str, severity: str) -> dict[str, Any]:
    """The trigger event for one cause of `alert`."""
    reasons = list(alert.reasons)
    summary = alert.headline + (f": {reasons[0]}" if reasons else "")
    details: dict[str, Any] = {
        "model": alert.model,
        "version": alert.version,
        "verdict": alert.verdict,
        "reasons": reasons,
    }
    details.update({label.lower().replace(" ", "_"): value for label, value in alert.detail})
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(alert.model, cause),
        "payload": {
            "summary": _cut(" ".join(summary.split()), SUMMARY_MAX),
            "source": _cut(alert.repository or CLIENT, SOURCE_MAX),
            "severity": severity,
            "component": alert.model,
            "group": CLIENT,
            "class": cause.value,
            "custom_details": details,
        },
        "client": CLIENT,
    }
    links = [{"href": link.url, "text": link.text} for link in alert.links]
    if links:
        event["links"] = links
        event["client_url"] = links[0]["href"]
    return event


def resolve(recovery: Recovery, cause: Cause, routing_key: str) -> dict[str, Any]:
    """The resolve event closing what the trigger with the same dedup key opened."""
    return {
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": dedup_key(recovery.model, cause),
    }


def send(
    event: dict[str, Any],
    policy: RetryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
) -> Reply:
    return post_json(endpoint(environ), event, policy)


def delivered(reply: Reply) -> bool:
    return reply.status == 202


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
