"""The promotion ledger: alias history kept in the registry itself, and how it is appended.

MLflow keeps no alias history, so `rollback` would have nothing to restore. mlgate
writes one registered-model tag per move, `mlgate.ledger.<seq>` (compact JSON: kind
promote|rollback|swap, alias, from- and to-version, actor, time, reason, workflow run URL,
gate summary, canary share, what was cleared, a swap's partner alias), plus
`mlgate.ledger.head`, the last sequence number. The ledger lives with the model, so it
survives without any other store and is read with the model in one request.

Concurrency. MLflow has no compare-and-set: tags and aliases are last-writer-wins
registers, and with registers alone two processes cannot agree on a winner without
timing (Herlihy: registers have consensus number 1). mlgate therefore claims the next
sequence number with Fischer's timed mutual exclusion, on the tag `mlgate.ledger.claim.<seq>`:

1. Read the model (aliases and tags). Refuse if the alias is no longer the version the
   command planned from (the expected-version check), or if another claim is open
   (written, not yet resolved by an entry, younger than CLAIM_TTL): that promotion is
   running now.
2. Write our claim (a fresh token, actor, intent) and time it: if more than CLAIM_BOUND
   passed between the start of the read in 1 and the end of the write, give up. So every
   claim that survives was written within CLAIM_BOUND of a read that saw the seat free.
3. Wait SETTLE (> CLAIM_BOUND) and read again. The claim tag now holds the last writer's
   token; only that process goes on, every other stops with a PromotionRace naming the
   winner. Proof sketch: if P verifies at v ≥ w_P + SETTLE and Q also went on, Q's read
   saw the seat free, so it began before P's write ended (≤ w_P), and Q's write ended
   within CLAIM_BOUND of it, i.e. before v; P would then have read Q's token.
4. The winner checks again that the alias and the ledger head are what it planned
   from, moves the alias, reads it back, writes the entry `mlgate.ledger.<seq>` and the
   head, and deletes its claim. A failure before the alias moved marks the claim aborted.

Two promotions at the same moment therefore end with exactly one winner (the last
claim written) and one PromotionRace; a later one sees the open claim or the moved
alias and stops too. Alias and ledger agree because only the claimant writes either.
What it assumes: process clocks run at the same rate (durations, not wall-clock times,
are compared), and a stall of more than CLAIM_BOUND inside one write is caught by the
timing check of step 2. A process that crashes between moving the alias and writing the
entry leaves its claim (with its intent) behind; it counts as abandoned after CLAIM_TTL.

A blue/green swap is one entry of kind `swap` that moves two aliases: `alias` goes from
`from` to `to` and `partner` the other way, from `to` to `from` (each took the other's
version). Its claim expects both aliases as planned, so it cannot interleave with a
promotion of either; undoing it is one `rollback` entry with the same partner.

Reading: `Ledger.from_tags` parses the tags; `history(alias)` replays the entries as a
stack (a promotion or a swap pushes, a rollback pops), which is what `rollback` restores from.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from mlgate.errors import PromotionRace
from mlgate.tracking import tags as keys

PREFIX = keys.LEDGER_PREFIX
HEAD_TAG = keys.LEDGER_HEAD
CLAIM_PREFIX = keys.LEDGER_CLAIM_PREFIX
CANARY_PERCENT_TAG = keys.CANARY_PERCENT

# Fischer's constants (seconds): a claim must be written within CLAIM_BOUND of the read
# that saw its seat free; every claimant waits SETTLE after writing before it checks.
CLAIM_BOUND = 2.5
SETTLE = 3.0
# A claim with no entry after this long belongs to a process that died.
CLAIM_TTL = 600.0
# How often a claim that was written too slowly is tried again.
CLAIM_ATTEMPTS = 3

_ENTRY_KEY = re.compile(rf"^{re.escape(PREFIX)}(\d+)$")
_CLAIM_KEY = re.compile(rf"^{re.escape(CLAIM_PREFIX)}(\d+)$")
entry_key = keys.ledger_entry_key
claim_key = keys.ledger_claim_key


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age_seconds(stamp: str) -> float:
    try:
        then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return float("inf")
    return (datetime.now(timezone.utc) - then).total_seconds()


@dataclass(frozen=True)
class Entry:
    """One move of one alias (of two, with a partner), as recorded in `mlgate.ledger.<seq>`."""

    seq: int
    kind: str  # promote | rollback | swap
    alias: str
    from_version: str | None
    to_version: str
    actor: str
    at: str
    reason: str | None = None
    run_url: str | None = None
    gates: dict[str, str] = field(default_factory=dict)
    canary_percent: float | None = None
    forced: bool = False
    cleared: tuple[str, ...] = ()
    reverts: int | None = None
    # A swap (or its rollback): this alias moved the other way, from to_version to from_version.
    partner: str | None = None

    def sides(self) -> tuple[Entry, ...]:
        """The entry as each alias it moved saw it: itself, and for a swap its mirror
        (the partner's move, with the partner's from- and to-version)."""
        if self.partner is None or self.from_version is None:
            return (self,)
        mirror = replace(
            self,
            alias=self.partner,
            from_version=self.to_version,
            to_version=self.from_version,
            partner=self.alias,
        )
        return (self, mirror)

    def side(self, alias: str) -> Entry | None:
        """The move of `alias` in this entry, or None when it did not move it."""
        return next((s for s in self.sides() if s.alias == alias), None)

    def encode(self) -> str:
        data = {
            "seq": self.seq,
            "kind": self.kind,
            "alias": self.alias,
            "from": self.from_version,
            "to": self.to_version,
            "actor": self.actor,
            "at": self.at,
            "reason": self.reason,
            "run_url": self.run_url,
            "gates": self.gates,
            "canary_percent": self.canary_percent,
            "forced": self.forced,
            "cleared": list(self.cleared),
            "reverts": self.reverts,
            "partner": self.partner,
        }
        # Compact: leave out what is empty, so a ledger of many moves stays small.
        kept = {k: v for k, v in data.items() if v not in (None, [], {}, False) or k == "from"}
        return json.dumps(kept, separators=(",", ":"), sort_keys=False)

    @classmethod
    def decode(cls, text: str) -> Entry | None:
        try:
            data = json.loads(text)
            return cls(
                seq=int(data["seq"]),
                kind=str(data["kind"]),
                alias=str(data["alias"]),
                from_version=None if data.get("from") is None else str(data["from"]),
                to_version=str(data["to"]),
                actor=str(data.get("actor") or "unknown"),
                at=str(data.get("at") or ""),
                reason=data.get("reason"),
                run_url=data.get("run_url"),
                gates={str(k): str(v) for k, v in (data.get("gates") or {}).items()},
                canary_percent=data.get("canary_percent"),
                forced=bool(data.get("forced", False)),
                cleared=tuple(data.get("cleared") or ()),
                reverts=data.get("reverts"),
                partner=None if data.get("partner") is None else str(data["partner"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # not ours, or damaged: shown as unreadable, never trusted

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cleared"] = list(self.cleared)
        return data

    def describe(self) -> str:
        was = f"v{self.from_version}" if self.from_version else "unset"
        text = f"#{self.seq} {self.kind} {self.alias}: {was} → v{self.to_version}"
        if self.partner is not None:
            text = (
                f"#{self.seq} {self.kind} {self.alias} ↔ {self.partner}: {self.alias} {was} → "
                f"v{self.to_version}, {self.partner} v{self.to_version} → {was}"
            )
        if self.canary_percent is not None:
            text += f" ({self.canary_percent:g}% of traffic)"
        text += f" · {self.actor} · {self.at}"
        if self.forced:
            text += " · forced"
        if self.cleared:
            text += f" · cleared {', '.join(self.cleared)}"
        if self.reason:
            text += f" · {self.reason}"
        return text


@dataclass(frozen=True)
class Claim:
    """A claim on one sequence number: who holds it and what they mean to do."""

    seq: int
    token: str
    actor: str
    at: str
    kind: str
    alias: str
    to_version: str
    state: str = "open"  # open | aborted
    partner: str | None = None  # a swap's other alias

    def encode(self) -> str:
        data = {
            "token": self.token,
            "actor": self.actor,
            "at": self.at,
            "kind": self.kind,
            "alias": self.alias,
            "to": self.to_version,
            "state": self.state,
        }
        if self.partner is not None:
            data["partner"] = self.partner
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, seq: int, text: str | None) -> Claim | None:
        if text is None:
            return None
        try:
            data = json.loads(text)
            return cls(
                seq=seq,
                token=str(data["token"]),
                actor=str(data.get("actor") or "unknown"),
                at=str(data.get("at") or ""),
                kind=str(data.get("kind") or "promote"),
                alias=str(data.get("alias") or "?"),
                to_version=str(data.get("to") or "?"),
                state=str(data.get("state") or "open"),
                partner=None if data.get("partner") is None else str(data["partner"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls(seq, token="", actor="unknown", at="", kind="?", alias="?", to_version="?")

    def describe(self) -> str:
        if self.partner is not None:
            intent = f"{self.kind} {self.alias} ↔ {self.partner}"
        else:
            intent = f"{self.kind} {self.alias} → v{self.to_version}"
        return f"{self.actor} claimed ledger entry {self.seq} at {self.at or '?'} to {intent}"


@dataclass(frozen=True)
class Ledger:
    """The ledger as read from a registered model's tags."""

    entries: tuple[Entry, ...]
    claims: tuple[Claim, ...]
    head: int | None
    unreadable: tuple[str, ...] = ()

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Ledger:
        entries, claims, unreadable = [], [], []
        for key, value in tags.items():
            if match := _ENTRY_KEY.match(key):
                entry = Entry.decode(value)
                if entry is None or entry.seq != int(match.group(1)):
                    unreadable.append(key)
                else:
                    entries.append(entry)
            elif match := _CLAIM_KEY.match(key):
                claim = Claim.decode(int(match.group(1)), value)
                if claim is not None:
                    claims.append(claim)
        head_text = tags.get(HEAD_TAG)
        head = int(head_text) if head_text and head_text.isdigit() else None
        return cls(
            entries=tuple(sorted(entries, key=lambda e: e.seq)),
            claims=tuple(sorted(claims, key=lambda c: c.seq)),
            head=head,
            unreadable=tuple(sorted(unreadable)),
        )

    @property
    def last_seq(self) -> int:
        """The highest sequence number in use, by an entry or by any claim."""
        numbers = [e.seq for e in self.entries] + [c.seq for c in self.claims]
        return max([*numbers, self.head or 0])

    def entry(self, seq: int) -> Entry | None:
        return next((e for e in self.entries if e.seq == seq), None)

    def open_claim(self) -> Claim | None:
        """A claim still being worked on: no entry yet, not aborted, not abandoned."""
        recorded = {e.seq for e in self.entries}
        for claim in reversed(self.claims):
            if claim.seq in recorded or claim.state != "open":
                continue
            if _age_seconds(claim.at) < CLAIM_TTL:
                return claim
        return None

    def for_alias(self, alias: str) -> list[Entry]:
        """Entries that moved `alias` (also as a swap's partner), or cleared it, oldest first."""
        return [e for e in self.entries if alias in (e.alias, e.partner) or alias in e.cleared]

    def for_version(self, version: str) -> list[Entry]:
        return [e for e in self.entries if version in (e.to_version, e.from_version)]

    def history(self, alias: str) -> list[str | None]:
        """The alias's versions as a stack, oldest first (None: the alias was unset).

        A promotion pushes its version, a rollback pops back to the one before,
        and clearing (the canary after its promotion to production) pushes None.
        A swap is a move of each of its two aliases, seen from that alias's side.
        """
        stack: list[str | None] = []
        for whole in self.for_alias(alias):
            entry = whole.side(alias)
            if entry is None:  # this entry cleared the alias
                stack.append(None)
                continue
            if not stack:
                stack.append(entry.from_version)
            if entry.kind == "rollback":
                if len(stack) > 1:
                    stack.pop()
                if stack[-1] != entry.to_version:  # moved outside mlgate in between
                    stack.append(entry.to_version)
            else:
                stack.append(entry.to_version)
        return stack


class Store(Protocol):
    """What the ledger needs from the registry (see `mlgate.tracking.model_store`)."""

    def read(self) -> Any: ...  # a Snapshot: .aliases, .tags, .started (monotonic)

    def set_tag(self, key: str, value: str) -> None: ...

    def delete_tag(self, key: str) -> None: ...


@dataclass(frozen=True)
class Move:
    """What to do once the claim is won: the entry, and the writes that make it true."""

    kind: str
    alias: str
    expected: str | None  # the alias's version the plan was made from
    to_version: str
    # A swap: the other alias, which must still hold `to_version` (and gets `expected`).
    partner: str | None = None


def claim(
    store: Store,
    move: Move,
    *,
    actor: str,
    model: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, Claim, Any]:
    """Win the next sequence number for `move` (steps 1-3 of the module docstring).

    Returns the sequence number, our claim and a fresh snapshot read after winning,
    or raises PromotionRace. Nothing but the claim tag has been written. A claim
    written too slowly (a server error retried inside the write) is tried again from
    a fresh read, on the same seat if it still holds our token: that read sees every
    claim that could compete with the new write, so the argument above still holds.
    """
    from mlgate.errors import ServiceError

    token = secrets.token_hex(16)
    for _attempt in range(CLAIM_ATTEMPTS):
        before = store.read()
        _check_expected(before, move, model)
        book = Ledger.from_tags(before.tags)
        busy = book.open_claim()
        if busy is not None and busy.token != token:
            raise PromotionRace(
                f"another promotion of {model} is in progress: {busy.describe()}; "
                "nothing was moved; wait for it to finish and run again"
            )
        seq = busy.seq if busy is not None else book.last_seq + 1
        ours = Claim(
            seq=seq,
            token=token,
            actor=actor,
            at=utc_now(),
            kind=move.kind,
            alias=move.alias,
            to_version=move.to_version,
            partner=move.partner,
        )
        try:
            store.set_tag(claim_key(seq), ours.encode())
        except ServiceError:
            # Two writes of one new tag at the same moment can fail on the server's
            # unique key: the seat then holds the other claim, and this one lost.
            holder = _holder(store, seq)
            if holder is not None and holder.token != token:
                raise PromotionRace(
                    f"lost the race for ledger entry {seq} of {model}: {holder.describe()} "
                    "at the same moment; nothing was moved by this command"
                ) from None
            abort(store, ours)  # the write may have landed although it failed
            raise
        took = clock() - before.started
        if took <= CLAIM_BOUND:
            break
    else:
        abort(store, ours)
        raise PromotionRace(
            f"the registry took {took:.1f}s (over {CLAIM_BOUND:g}s) to record the claim on "
            f"ledger entry {seq} of {model}, {CLAIM_ATTEMPTS} times: too slow to rule out a "
            "concurrent promotion; nothing was moved; run again"
        )
    sleep(SETTLE)
    after = store.read()
    holder = Claim.decode(seq, after.tags.get(claim_key(seq)))
    if holder is None or holder.token != ours.token:
        who = holder.describe() if holder is not None else "another promotion took it"
        raise PromotionRace(
            f"lost the race for ledger entry {seq} of {model}: {who} at the same moment; "
            "nothing was moved by this command"
        )
    try:
        _check_expected(after, move, model)
        newer = [e.seq for e in Ledger.from_tags(after.tags).entries if e.seq >= seq]
        if newer:
            raise PromotionRace(
                f"ledger entry {newer[0]} of {model} was written while this promotion waited; "
                "nothing was moved; read the state again and rerun"
            )
    except PromotionRace:
        abort(store, ours)
        raise
    return seq, ours, after


def _holder(store: Store, seq: int) -> Claim | None:
    """The claim on `seq` as the registry holds it now, or None (also when unreadable)."""
    import contextlib

    from mlgate.errors import ServiceError

    with contextlib.suppress(ServiceError):
        return Claim.decode(seq, store.read().tags.get(claim_key(seq)))
    return None


def abort(store: Store, ours: Claim) -> None:
    """Free our claim without an entry, if the seat still holds our token.

    Best effort: when the registry is down this fails quietly, and the claim
    expires after CLAIM_TTL.
    """
    import contextlib

    from mlgate.errors import ServiceError

    with contextlib.suppress(ServiceError):
        current = Claim.decode(ours.seq, store.read().tags.get(claim_key(ours.seq)))
        if current is not None and current.token == ours.token:
            aborted = Claim(**{**asdict(ours), "state": "aborted"})
            store.set_tag(claim_key(ours.seq), aborted.encode())


def record(store: Store, entry: Entry) -> None:
    """Write the entry, then the head and drop the claim (step 4, after the alias moved).

    Once the entry is written the move is complete: the head is a shortcut that
    readers check against the entries, and a claim with an entry is resolved, so
    those two writes failing does not fail the promotion.
    """
    import contextlib

    from mlgate.errors import ServiceError

    store.set_tag(entry_key(entry.seq), entry.encode())
    with contextlib.suppress(ServiceError):
        store.set_tag(HEAD_TAG, str(entry.seq))
        store.delete_tag(claim_key(entry.seq))


def _check_expected(snapshot: Any, move: Move, model: str) -> None:
    planned = [(move.alias, move.expected)]
    if move.partner is not None:
        planned.append((move.partner, move.to_version))
    for alias, expected in planned:
        current = snapshot.aliases.get(alias)
        if current != expected:
            was = f"v{expected}" if expected else "unset"
            now = f"v{current}" if current else "unset"
            raise PromotionRace(
                f"alias {alias} of {model} changed since it was read ({was} → {now}): "
                "another promotion moved it; nothing was moved; check `mlgate lineage "
                f"{model}@{alias}` and rerun"
            )
