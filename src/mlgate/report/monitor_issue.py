"""The monitor's GitHub issue as plain data: what the issue holds, and what a new result does.

A pure core, no I/O: `decide(found, result, policy, now, claim)` takes the issue GitHub
holds now (its hidden state, open or closed, or none), the new `MonitorResult`, the
`monitoring:` settings and the time, and returns the `Plan` the edge
(`mlgate.report.monitor_sync`) carries out.

One issue per model for the model's whole life, found again by its first line
(`marker`). Its body ends in a hidden block (`<!-- mlgate:monitor-state {json} -->`)
that keeps what a later run needs: the last `HISTORY_LIMIT` checks, whether a drift
episode is open, and the latest retraining (claimed or dispatched, and when).

The rules:
- drift or degraded, no issue: create it. A closed issue whose episode had ended (mlgate
  closed it after `close_after` ok checks): reopen it with a comment. A closed issue whose
  episode is still open (a person closed it while the model was still drifting): keep it
  closed, keep its figures current; that person muted this episode, not the next.
- ok: while the issue is open (or its episode is), record the check; after
  `close_after` consecutive ok checks, close the issue with a comment and end the episode.
  Ok with no open episode: nothing at all.
- retraining (`retrain: true`) on drift or degraded: claimed when none was dispatched
  within the cool-down (and no claim is pending), recorded in the hidden block before
  anything is dispatched, so the next scheduled run sees it.
- the same result synced twice (a re-run job) adds no second history row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import quote

from mlgate import _markdown as markdown
from mlgate.report.compose import safe_url
from mlgate.results.monitor import MonitorResult

MARKER_PREFIX = "<!-- mlgate:monitor model="
STATE_PREFIX = "<!-- mlgate:monitor-state "
STATE_SUFFIX = " -->"
STATE_VERSION = 1
HISTORY_LIMIT = 30  # checks kept in the hidden block
HISTORY_SHOWN = 15  # rows of the visible history table
FEATURES_SHOWN = 25  # rows of the feature table (drifted first, then by PSI)
REASONS_SHOWN = 10
NAMES_KEPT = 5  # drifted feature names kept per history row
NAME_LIMIT = 100  # characters of a name kept in the history: 30 rows must fit in a body
TEXT_LIMIT = 300  # characters of a reason kept
BODY_LIMIT = 60_000  # GitHub refuses a body over 65,536 characters
# A claim that was never dispatched (the retrain job was cancelled) stops counting after
# this long, so one lost job cannot hold retraining back for a whole cool-down.
CLAIM_TIMEOUT = timedelta(hours=1)

Verdict = Literal["ok", "drift", "degraded"]
Action = Literal["none", "create", "edit", "reopen", "close"]
MARKS = {"ok": "✅ ok", "drift": "⚠️ drift", "degraded": "❌ degraded"}


@dataclass(frozen=True)
class Policy:
    """The `monitoring:` keys the issue follows."""

    close_after: int = 3
    retrain: bool = False
    retrain_workflow: str | None = None
    cooldown: timedelta = timedelta(hours=24)
    labels: tuple[str, ...] = ("mlgate-monitor",)

    @classmethod
    def from_config(cls, section: Any) -> Policy:
        return cls(
            close_after=section.close_after,
            retrain=section.retrain,
            retrain_workflow=section.retrain_workflow,
            cooldown=timedelta(seconds=section.retrain_cooldown_seconds),
            labels=tuple(dict.fromkeys(section.issue_labels)),
        )


@dataclass(frozen=True)
class Check:
    """One monitor result, as the history keeps it."""

    at: str  # the result's created_at (ISO-8601 UTC)
    verdict: Verdict
    version: str
    drifted: tuple[str, ...] = ()
    psi: float | None = None  # the largest PSI of the check
    degraded: tuple[str, ...] = ()  # metrics past their limit
    retrain: bool = False  # this check claimed a retraining
    run_url: str | None = None

    @property
    def bad(self) -> bool:
        return self.verdict != "ok"


@dataclass(frozen=True)
class Retrain:
    """The latest retraining: claimed in the issue first, then dispatched."""

    claim: str  # who claimed it (a run's token): only that run dispatches it
    at: str  # when it was claimed (ISO-8601 UTC)
    workflow: str
    reason: str
    status: Literal["claimed", "dispatched"] = "claimed"
    ref: str | None = None  # the branch it was dispatched on


@dataclass(frozen=True)
class State:
    """The issue's hidden block."""

    model: str
    history: tuple[Check, ...] = ()
    episode: bool = False  # a drift episode is open: not yet `close_after` ok checks
    retrain: Retrain | None = None

    @property
    def ok_streak(self) -> int:
        """The consecutive ok checks at the end of the history."""
        streak = 0
        for check in reversed(self.history):
            if check.bad:
                break
            streak += 1
        return streak


@dataclass(frozen=True)
class Found:
    """The model's issue as GitHub holds it now (number None: there is none)."""

    number: int | None = None
    open: bool = False
    state: State | None = None  # None: no readable hidden block


@dataclass(frozen=True)
class Plan:
    """What to do on GitHub: `action` on the issue, its new state, a comment, a claim."""

    action: Action
    state: State
    comment: str | None = None
    claim: Retrain | None = None  # a retraining this run claimed and must dispatch
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- the hidden block -----------------------------------------------------------------------


def marker(model: str) -> str:
    """The first line of the model's issue (the model's name percent-encoded)."""
    return f"{MARKER_PREFIX}{quote(model, safe='')} -->"


def dump_state(state: State) -> str:
    """The hidden block: JSON in an HTML comment that no value can end early."""
    data = {
        "v": STATE_VERSION,
        "model": state.model,
        "episode": state.episode,
        "history": [_check_json(check) for check in state.history],
        "retrain": None if state.retrain is None else _retrain_json(state.retrain),
    }
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    # `<`, `>` and `&` only occur inside JSON strings: their \u escapes read back the same,
    # and no value can close the comment (`-->`) or open HTML.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"{STATE_PREFIX}{text}{STATE_SUFFIX}"


_STATE_BLOCK = re.compile(re.escape(STATE_PREFIX) + r"(\{.*?\})" + re.escape(STATE_SUFFIX), re.S)


def read_state(body: str | None, model: str) -> State | None:
    """The hidden block of an issue body, or None when it is missing or not mlgate's shape."""
    match = _STATE_BLOCK.search(body or "")
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
        if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
            return None
        if data.get("model") != model or not isinstance(data.get("episode"), bool):
            return None
        history = data.get("history")
        if not isinstance(history, list):
            return None
        checks = tuple(_check_from(item) for item in history[-HISTORY_LIMIT:])
        retrain = data.get("retrain")
        return State(
            model=model,
            history=checks,
            episode=data["episode"],
            retrain=None if retrain is None else _retrain_from(retrain),
        )
    except (ValueError, TypeError, KeyError):
        return None


def _check_json(check: Check) -> dict[str, Any]:
    return {
        "at": check.at,
        "verdict": check.verdict,
        "version": check.version,
        "drifted": list(check.drifted),
        "psi": check.psi,
        "degraded": list(check.degraded),
        "retrain": check.retrain,
        "run_url": check.run_url,
    }


def _check_from(item: Any) -> Check:
    if not isinstance(item, dict):
        raise TypeError("a history row is not an object")
    verdict = item["verdict"]
    if verdict not in MARKS:
        raise ValueError(f"unknown verdict {verdict!r}")
    psi = item.get("psi")
    if psi is not None and (isinstance(psi, bool) or not isinstance(psi, (int, float))):
        raise TypeError("psi is not a number")
    run_url = item.get("run_url")
    return Check(
        at=_timestamp(item["at"]),
        verdict=verdict,
        version=_string(item["version"]),
        drifted=tuple(_string(name) for name in item.get("drifted", []))[:NAMES_KEPT],
        psi=None if psi is None else float(psi),
        degraded=tuple(_string(name) for name in item.get("degraded", []))[:NAMES_KEPT],
        retrain=item.get("retrain") is True,
        run_url=run_url if isinstance(run_url, str) and safe_url(run_url) else None,
    )


def _retrain_json(retrain: Retrain) -> dict[str, Any]:
    return {
        "claim": retrain.claim,
        "at": retrain.at,
        "workflow": retrain.workflow,
        "reason": retrain.reason,
        "status": retrain.status,
        "ref": retrain.ref,
    }


def _retrain_from(item: Any) -> Retrain:
    if not isinstance(item, dict) or item.get("status") not in ("claimed", "dispatched"):
        raise ValueError("not a retraining record")
    ref = item.get("ref")
    return Retrain(
        claim=_string(item["claim"]),
        at=_timestamp(item["at"]),
        workflow=_string(item["workflow"]),
        reason=_string(item["reason"]),
        status=item["status"],
        ref=ref if isinstance(ref, str) else None,
    )


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value[:TEXT_LIMIT]


def _timestamp(value: Any) -> str:
    parse_time(_string(value))
    return value


def parse_time(value: str) -> datetime:
    """An ISO-8601 time, as UTC (a time without a zone is taken as UTC)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the decision ---------------------------------------------------------------------------


def check_of(result: MonitorResult, run_url: str | None = None) -> Check:
    drifted = tuple(item.feature[:NAME_LIMIT] for item in result.drifted)
    psis = [f.psi for f in result.features if f.psi is not None]
    if result.prediction is not None and result.prediction.drift.psi is not None:
        psis.append(result.prediction.drift.psi)
    return Check(
        at=result.created_at,
        verdict=result.verdict,
        version=result.version,
        drifted=drifted[:NAMES_KEPT],
        psi=round(max(psis), 4) if psis else None,
        degraded=tuple(c.metric[:NAME_LIMIT] for c in result.degraded_metrics)[:NAMES_KEPT],
        run_url=run_url if run_url and safe_url(run_url) else None,
    )


def decide(
    found: Found,
    result: MonitorResult,
    policy: Policy,
    now: datetime,
    claim: str,
    run_url: str | None = None,
) -> Plan:
    """What this result does to the model's issue (see the module docstring)."""
    model = result.model
    previous = found.state or State(model=model, episode=found.open)
    check = check_of(result, run_url)
    repeated = bool(previous.history) and previous.history[-1].at == check.at
    notes: list[str] = []
    if found.number is not None and found.state is None:
        notes.append(f"issue #{found.number} had no readable history; starting a new one")

    if not check.bad:
        if found.number is None or not (found.open or previous.episode):
            return Plan("none", previous, notes=tuple(notes))
        state = _with(previous, check, repeated)
        if state.ok_streak >= policy.close_after:
            state = replace(state, episode=False)
            if found.open:
                comment = (
                    f"mlgate: {markdown.text(model)} has been ok for "
                    f"{state.ok_streak} consecutive checks "
                    f"(monitoring.close_after: {policy.close_after}); closing."
                )
                return Plan("close", state, comment=comment, notes=tuple(notes))
        return Plan("edit", state, notes=tuple(notes))

    retrain = _claim(previous, policy, now, claim, result) if not repeated else None
    if retrain is not None:
        check = replace(check, retrain=True)
    state = _with(previous, check, repeated)
    state = replace(state, episode=True, retrain=retrain or previous.retrain)
    if found.number is None:
        return Plan("create", state, claim=retrain, notes=tuple(notes))
    if found.open:
        return Plan("edit", state, claim=retrain, notes=tuple(notes))
    if previous.episode and found.state is not None:
        notes.append(
            f"issue #{found.number} was closed during this drift episode; it stays closed "
            "until the model is ok again"
        )
        return Plan("edit", state, claim=retrain, notes=tuple(notes))
    comment = (
        f"mlgate: {markdown.text(model)} version {markdown.code(result.version)} shows "
        f"**{result.verdict}** again; reopening."
    )
    return Plan("reopen", state, comment=comment, claim=retrain, notes=tuple(notes))


def _with(state: State, check: Check, repeated: bool) -> State:
    history = state.history[:-1] if repeated else state.history
    return replace(state, history=(*history, check)[-HISTORY_LIMIT:])


def retrain_due(previous: Retrain | None, policy: Policy, now: datetime) -> bool:
    """Whether a retraining may start now: none dispatched within the cool-down, and no
    recent claim still waiting for its dispatch."""
    if not policy.retrain or policy.retrain_workflow is None:
        return False
    if previous is None:
        return True
    age = now - parse_time(previous.at)
    if previous.status == "claimed":
        return age >= CLAIM_TIMEOUT
    return age >= policy.cooldown


def _claim(
    previous: State, policy: Policy, now: datetime, claim: str, result: MonitorResult
) -> Retrain | None:
    if not retrain_due(previous.retrain, policy, now):
        return None
    assert policy.retrain_workflow is not None
    return Retrain(
        claim=claim,
        at=iso(now),
        workflow=policy.retrain_workflow,
        reason=retrain_reason(result),
    )


def retrain_reason(result: MonitorResult) -> str:
    """The `reason` input of the retraining workflow: one line, bounded."""
    first = result.reasons[0] if result.reasons else result.summary
    text = f"mlgate monitor: {result.verdict} on {result.model} v{result.version}: {first}"
    return " ".join(text.split())[:TEXT_LIMIT]


def released(state: State, claim: str) -> State:
    """The state without this run's claim (its dispatch failed: the next run may retry)."""
    if state.retrain is None or state.retrain.claim != claim:
        return state
    history = tuple(
        replace(check, retrain=False) if i == len(state.history) - 1 else check
        for i, check in enumerate(state.history)
    )
    return replace(state, retrain=None, history=history)


def dispatched(state: State, claim: str, ref: str) -> State:
    assert state.retrain is not None
    assert state.retrain.claim == claim
    return replace(state, retrain=replace(state.retrain, status="dispatched", ref=ref))


# --- the issue's text -------------------------------------------------------------------------


def title(model: str) -> str:
    """The issue's title (plain text: GitHub renders no markdown in titles)."""
    name = " ".join(model.split())
    return f"mlgate monitor: {name[:200]}"


def body(result: MonitorResult, state: State, policy: Policy) -> str:
    """The issue body: the latest figures, the retraining, the history, the hidden block."""
    head = [
        marker(result.model),
        f"## mlgate monitor · {markdown.text(result.model)} · {MARKS[result.verdict]}",
        "",
        f"Latest check {markdown.text(result.created_at)} of version "
        f"{markdown.code(result.version)} (alias {markdown.code(result.alias)}): "
        f"{markdown.count(result.window.rows)} production rows against "
        f"{markdown.count(result.reference.rows)} reference rows.",
        "",
    ]
    if result.verdict == "ok":
        head += [
            f"Ok for {state.ok_streak} consecutive checks; the issue closes after "
            f"{policy.close_after} (monitoring.close_after).",
            "",
        ]
    reasons = [f"- {markdown.text(_cut(r))}" for r in result.reasons[:REASONS_SHOWN]]
    if len(result.reasons) > REASONS_SHOWN:
        reasons.append(f"- … and {len(result.reasons) - REASONS_SHOWN} more")
    parts = ["\n".join(head + reasons).rstrip() + "\n"]
    parts.append(_features(result))
    parts.append(_metrics(result))
    parts.append(_retraining(state, policy))
    parts.append(_history(state))
    tail = (
        "\n<sub>Edited by every `mlgate monitor` run; closed after "
        f"{policy.close_after} consecutive ok checks. The block below is mlgate's record: "
        "leave it in place.</sub>\n\n" + dump_state(state) + "\n"
    )
    text = "\n".join(part for part in parts if part) + tail
    while len(text) > BODY_LIMIT and len(parts) > 1:
        parts.pop(1)  # the least needed sections go first; the hidden block always stays
        text = "\n".join(part for part in parts if part) + tail
    return text


def _cut(text: str, limit: int = 2 * TEXT_LIMIT) -> str:
    """A reason short enough that ten of them never crowd the hidden block out of a body."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _features(result: MonitorResult) -> str:
    records = [f for f in result.features if f.skipped is None]
    if result.prediction is not None:
        records.append(result.prediction.drift)
    if not records:
        return ""
    records.sort(key=lambda f: (not f.drifted, -(f.psi or 0.0)))
    rows = [
        [
            markdown.code(f.feature),
            markdown.number(f.psi),
            markdown.number(f.ks_pvalue, 4),
            "⚠️ drifted" if f.drifted else "–",
        ]
        for f in records[:FEATURES_SHOWN]
    ]
    table = markdown.table(["feature", "PSI", "KS p-value", "drift"], rows, align="lrrl")
    more = len(records) - FEATURES_SHOWN
    note = f"\n… and {more} more features without drift.\n" if more > 0 else ""
    skipped = len(result.features) - len([f for f in result.features if f.skipped is None])
    if skipped:
        note += f"\n{skipped} features were not checked (too few rows or no values).\n"
    return "### Drift by feature\n\n" + table + note


def _metrics(result: MonitorResult) -> str:
    checks = result.concept.metrics
    if not checks:
        return ""
    rows = [
        [
            markdown.code(c.metric),
            markdown.number(c.value),
            markdown.number(c.recorded),
            markdown.number(c.limit),
            "❌ degraded" if c.degraded else "–",
        ]
        for c in checks
    ]
    headers = ["metric", "production", "at registration", "limit", "verdict"]
    rows_text = markdown.table(headers, rows, align="lrrrl")
    labelled = markdown.count(result.concept.labelled_rows)
    return f"### Metrics on {labelled} labelled rows\n\n" + rows_text


def _retraining(state: State, policy: Policy) -> str:
    if not policy.retrain:
        return ""
    retrain = state.retrain
    if retrain is None:
        return "### Retraining\n\nNone started yet.\n"
    when = markdown.text(retrain.at)
    workflow = markdown.code(retrain.workflow)
    if retrain.status == "dispatched":
        on = f" on {markdown.code(retrain.ref)}" if retrain.ref else ""
        line = f"{workflow} started{on} at {when}"
    else:
        line = f"{workflow} claimed at {when}, being started"
    until = iso(parse_time(retrain.at) + policy.cooldown)
    return (
        f"### Retraining\n\n{line}, reason: {markdown.text(retrain.reason)}. No other "
        f"retraining starts before {markdown.text(until)} "
        f"(monitoring.retrain_cooldown).\n"
    )


def _history(state: State) -> str:
    if not state.history:
        return ""
    rows = []
    for check in reversed(state.history[-HISTORY_SHOWN:]):
        when = markdown.text(check.at)
        if check.run_url:
            when = f"[{when}]({check.run_url})"
        cause = [markdown.code(name) for name in (*check.degraded, *check.drifted)]
        rows.append(
            [
                when,
                markdown.code(check.version),
                MARKS[check.verdict],
                markdown.number(check.psi),
                ", ".join(cause) or "–",
                "started" if check.retrain else "–",
            ]
        )
    headers = ["checked", "version", "verdict", "max PSI", "what moved", "retraining"]
    return "### History\n\n" + markdown.table(headers, rows, align="lllrll")


_RETRAINING = re.compile(r"### Retraining\n\n[^\n]*\n")


def restated(text: str, state: State, policy: Policy) -> str:
    """An issue body with a new hidden block and retraining line, the figures kept (the
    retrain job has no monitor result to render them from)."""
    section = _retraining(state, policy)
    if section and _RETRAINING.search(text):
        text = _RETRAINING.sub(lambda _: section, text, count=1)
    return _STATE_BLOCK.sub(lambda _: dump_state(state), text, count=1)
