"""What an alert says, built from plain data: pure, no I/O.

An `Alert` is one thing that happened to one model (a gate failed, production data
drifted or the model degraded, a promotion was refused or forced, an alias was rolled
back). A `Recovery` says that conditions which last until a later check says otherwise
(a failing gate, drift, degradation) are over, so that PagerDuty resolves what an earlier
alert opened: its dedup key is the same (`dedup_key`). The senders (`slack`,
`pagerduty`) turn these into payloads; `dispatch` decides who gets what.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Cause(str, Enum):
    """Why an alert is sent; the names `alerts.<destination>.events` lists."""

    GATE_FAILURE = "gate_failure"
    DRIFT = "drift"
    DEGRADED = "degraded"
    PROMOTION_REFUSED = "promotion_refused"
    PROMOTION_FORCED = "promotion_forced"
    ROLLBACK = "rollback"


# Conditions that last until a later check ends them: a passing `mlgate run` ends a gate
# failure, a monitor verdict of ok ends drift and degradation. Only these are resolved.
LASTING = (Cause.GATE_FAILURE, Cause.DRIFT, Cause.DEGRADED)

# The words of a message's headline, per cause.
HEADLINES = {
    Cause.GATE_FAILURE: "a gate failed",
    Cause.DRIFT: "production data drifted",
    Cause.DEGRADED: "model performance degraded",
    Cause.PROMOTION_REFUSED: "promotion refused",
    Cause.PROMOTION_FORCED: "promotion forced past its gates",
    Cause.ROLLBACK: "rolled back",
}

# PagerDuty's limit on a dedup key (Events API v2).
MAX_DEDUP_KEY = 255


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Alert:
    """One event about one model. `causes` has one cause, or two for a monitor that found
    both drift and degradation (one message, one PagerDuty alert per cause)."""

    causes: tuple[Cause, ...]
    model: str
    version: str | None
    verdict: str  # "failed", "drift", "degraded", "refused", "forced", "rolled back"
    reasons: tuple[str, ...]
    links: tuple[Link, ...] = ()
    repository: str | None = None
    detail: tuple[tuple[str, str], ...] = ()  # extra labelled facts (alias, actor, ...)

    @property
    def cause(self) -> Cause:
        """The cause the message is about (the first, the more severe for a monitor)."""
        return self.causes[0]

    @property
    def headline(self) -> str:
        version = f" v{self.version}" if self.version else ""
        return f"{self.model}{version}: {HEADLINES[self.cause]}"


@dataclass(frozen=True)
class Recovery:
    """Lasting conditions of one model that a later check found over."""

    causes: tuple[Cause, ...]
    model: str
    version: str | None
    summary: str
    repository: str | None = None


def dedup_key(model: str, cause: Cause) -> str:
    """The same key for a model and cause on every run: `mlgate/<model>/<cause>`.

    PagerDuty groups every trigger with this key into one alert, and the resolve with
    the same key closes it. A name too long for the limit keeps its start and a hash.
    """
    key = f"mlgate/{model}/{cause.value}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:16]
    room = MAX_DEDUP_KEY - len(f"mlgate//{cause.value}") - len(digest) - 1
    return f"mlgate/{model[:room]}~{digest}/{cause.value}"


# --- from what the commands know --------------------------------------------------------------


def run_failed(
    model: str, failed: Iterable[tuple[str, str]], *, run_url: str | None, repository: str | None
) -> Alert:
    """`mlgate run` ended with a failed gate; `failed` is (stage, its one-line summary)."""
    return Alert(
        causes=(Cause.GATE_FAILURE,),
        model=model,
        version=None,  # a failed run registers nothing
        verdict="failed",
        reasons=tuple(f"{stage}: {summary}" for stage, summary in failed),
        links=_links(("Workflow run", run_url)),
        repository=repository,
    )


def run_passed(model: str, *, repository: str | None) -> Recovery:
    return Recovery(
        causes=(Cause.GATE_FAILURE,),
        model=model,
        version=None,
        summary=f"{model}: every gate passed again",
        repository=repository,
    )


def monitor_causes(result: Any) -> tuple[Cause, ...]:
    """The lasting conditions a `MonitorResult` found: degradation first, then drift."""
    causes = []
    if result.verdict == "degraded":
        causes.append(Cause.DEGRADED)
    prediction = result.prediction
    if (
        result.verdict == "drift"
        or result.drifted
        or (prediction is not None and prediction.drift.drifted)
    ):
        causes.append(Cause.DRIFT)
    return tuple(causes)


def from_monitor(
    result: Any, *, run_url: str | None, repository: str | None, issue_url: str | None = None
) -> Alert | None:
    """The alert of a `MonitorResult` (None when it is ok)."""
    causes = monitor_causes(result)
    if not causes:
        return None
    detail = [("Alias", result.alias), ("Rows checked", f"{result.window.rows:,}")]
    return Alert(
        causes=causes,
        model=result.model,
        version=result.version,
        verdict=result.verdict,
        reasons=tuple(result.reasons) or (result.summary,),
        links=_links(("Issue", issue_url), ("Workflow run", run_url)),
        repository=repository,
        detail=tuple(detail),
    )


def monitor_recovered(result: Any, *, repository: str | None) -> Recovery | None:
    """What a `MonitorResult` says is over: every monitor cause it did not find."""
    found = monitor_causes(result)
    over = tuple(cause for cause in (Cause.DRIFT, Cause.DEGRADED) if cause not in found)
    if not over:
        return None
    return Recovery(
        causes=over,
        model=result.model,
        version=result.version,
        summary=f"{result.model} v{result.version}: {result.summary}",
        repository=repository,
    )


def promotion_refused(
    model: str,
    version: str | None,
    target: str,
    reasons: Sequence[str],
    *,
    actor: str,
    run_url: str | None,
    repository: str | None,
) -> Alert:
    return Alert(
        causes=(Cause.PROMOTION_REFUSED,),
        model=model,
        version=version,
        verdict="refused",
        reasons=tuple(reasons),
        links=_links(("Workflow run", run_url)),
        repository=repository,
        detail=(("Target", target), ("Actor", actor)),
    )


def promotion_moved(
    model: str, entry: Any, findings: Sequence[str], *, repository: str | None
) -> Alert | None:
    """A ledger entry that needs an alert: a forced promotion or a rollback (else None)."""
    if entry.kind == "rollback":
        cause, verdict = Cause.ROLLBACK, "rolled back"
        reasons = [f"{entry.alias}: v{entry.from_version} → v{entry.to_version}"]
    elif entry.forced:
        cause, verdict = Cause.PROMOTION_FORCED, "forced"
        was = f"v{entry.from_version}" if entry.from_version else "unset"
        reasons = [f"{entry.alias}: {was} → v{entry.to_version}"]
        reasons += [f"overridden: {finding}" for finding in findings]
    else:
        return None
    if getattr(entry, "partner", None):  # a blue/green swap moved the partner the other way
        reasons.insert(1, f"{entry.partner}: v{entry.to_version} → v{entry.from_version}")
    if entry.reason:
        reasons.append(f"reason: {entry.reason}")
    return Alert(
        causes=(cause,),
        model=model,
        version=entry.to_version,
        verdict=verdict,
        reasons=tuple(reasons),
        links=_links(("Workflow run", entry.run_url)),
        repository=repository,
        detail=(("Alias", entry.alias), ("Actor", entry.actor), ("Ledger entry", str(entry.seq))),
    )


def _links(*pairs: tuple[str, str | None]) -> tuple[Link, ...]:
    return tuple(Link(text, url) for text, url in pairs if url)
