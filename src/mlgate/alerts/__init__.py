"""Alerts (`alerts:` in mlgate.yaml): Slack incoming webhooks and PagerDuty Events API v2.

`events` builds what an alert says (pure), `slack` and `pagerduty` their payloads (pure)
and deliveries, `dispatch` the destinations, secrets and warnings, `hooks` the calls the
commands make.
"""

from __future__ import annotations

from mlgate.alerts.dispatch import AlertError
from mlgate.alerts.hooks import notify_monitor, notify_moved, notify_refused, notify_run

__all__ = ["AlertError", "notify_monitor", "notify_moved", "notify_refused", "notify_run"]
