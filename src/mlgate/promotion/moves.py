"""Promote and roll back: plan from one read, check the rules, then commit through the ledger.

Planning reads the model once (aliases, ledger) and the version to move; the
ledger's claim protocol (see `mlgate.promotion.ledger`) then makes sure that
nothing changed in between, and only the claimant writes the alias and the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlgate import checklist
from mlgate._ci_context import CiContext
from mlgate.errors import InputError, PromotionRefused
from mlgate.promotion import ledger, rules
from mlgate.promotion.checklist import required_findings, version_facts
from mlgate.promotion.ledger import Entry, Ledger, Move
from mlgate.results.card import ChecklistBox
from mlgate.tracking import tags as keys

# Looks up the review of a commit: (review, "") or (None, why not); see mlgate._reviews.
ReviewLookup = Callable[[str], tuple[checklist.Review | None, str]]

CANARY = "canary"
PRODUCTION = "production"


@dataclass(frozen=True)
class Request:
    """A promotion as the command line asked for it (already checked for usage)."""

    model: str
    target: str
    version: str | None = None
    from_alias: str | None = None
    canary_percent: float | None = None
    reason: str | None = None
    force: bool = False
    require_gates: bool = True
    require_checklist: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    entry: Entry | None  # None: nothing to do, the alias already held the version
    message: str
    findings: tuple[rules.Finding, ...] = ()
    deployment: dict[str, Any] | None = field(default=None)
    kept: tuple[str, str] | None = None  # without an entry: (alias, the version it still holds)
    checklist: tuple[ChecklistBox, ...] = ()  # the version's pre-deployment checklist

    @property
    def alias(self) -> str | None:
        """The alias asked to move."""
        if self.entry is not None:
            return self.entry.alias
        return self.kept[0] if self.kept else None

    @property
    def version(self) -> str | None:
        """The version the alias points at now, moved or not."""
        if self.entry is not None:
            return self.entry.to_version
        return self.kept[1] if self.kept else None

    @property
    def previous_version(self) -> str | None:
        """The version the alias pointed at before (None: it was unset); a no-op keeps it."""
        return self.entry.from_version if self.entry is not None else self.version

    def to_dict(self, model: str) -> dict[str, Any]:
        return {
            "model": model,
            "changed": self.entry is not None,
            "alias": self.alias,
            "version": self.version,
            "previous_version": self.previous_version,
            "message": self.message,
            "entry": self.entry.to_dict() if self.entry else None,
            "overridden": [f.message for f in self.findings],
            "deployment": self.deployment,
            "checklist": [
                {"key": b.key, "label": b.label, "ticked": b.ticked, "evidence": b.evidence}
                for b in self.checklist
            ],
        }


def promote(
    store: Any, request: Request, ci: CiContext, review_lookup: ReviewLookup | None = None
) -> Outcome:
    snapshot = store.read()
    version = _source_version(store, snapshot, request)
    info = store.version(version)
    if info is None:
        known = store.version_numbers()
        raise InputError(
            f"{request.model} has no version {version} at {store.where}; "
            f"versions: {', '.join(known) or 'none'}"
        )
    current = snapshot.aliases.get(request.target)
    percent = request.canary_percent if request.target == CANARY else None
    recorded_percent = _float(snapshot.tags.get(ledger.CANARY_PERCENT_TAG))
    if current == version and (percent is None or percent == recorded_percent):
        return Outcome(
            None,
            f"{request.target} already points at v{version}; nothing to do",
            kept=(request.target, version),
        )

    boxes = version_checklist(info, snapshot.aliases.get(PRODUCTION), review_lookup)
    decision = rules.decide(
        rules.check_version(info, require_gates=request.require_gates)
        + required_findings(boxes, request.require_checklist),
        force=request.force,
        reason=request.reason,
    )
    if not decision.allowed:
        raise PromotionRefused(
            rules.refusal_message(request.model, version, request.target, decision.findings)
        )
    # Promoting the canary's version to production ends the canary.
    clears = (
        (CANARY,)
        if request.target == PRODUCTION and snapshot.aliases.get(CANARY) == version
        else ()
    )
    move = Move("promote", request.target, current, version)
    seq, ours, _ = ledger.claim(store, move, actor=ci.actor, model=request.model)
    entry = Entry(
        seq=seq,
        kind="promote",
        alias=request.target,
        from_version=current,
        to_version=version,
        actor=ci.actor,
        at=ledger.utc_now(),
        reason=request.reason,
        run_url=ci.run_url,
        gates=rules.gate_summary(info.tags),
        canary_percent=percent,
        forced=decision.forced,
        cleared=clears,
    )
    _apply(store, ours, entry)
    return Outcome(entry, _said(request.model, entry), decision.findings, checklist=boxes)


def version_checklist(
    info: Any, production: str | None, review_lookup: ReviewLookup | None
) -> tuple[ChecklistBox, ...]:
    """The version's checklist; the rollback target is what production holds now."""
    commit = info.tags.get(keys.GIT_COMMIT)
    review, why = None, "not looked up"
    if commit and review_lookup is not None:
        review, why = review_lookup(commit)
    facts = version_facts(info, previous_production=production, review=review, review_unknown=why)
    return checklist.tick(facts)


def rollback(store: Any, model: str, alias: str, reason: str | None, ci: CiContext) -> Outcome:
    snapshot = store.read()
    book = Ledger.from_tags(snapshot.tags)
    moves = [e for e in book.for_alias(alias) if e.alias == alias]
    if not moves:
        raise InputError(
            f"no promotion history for alias {alias} of {model}: rollback restores the version "
            f"before from mlgate's ledger, and no `mlgate promote` has moved {alias} yet"
        )
    stack = book.history(alias)
    current = snapshot.aliases.get(alias)
    if stack[-1] != current:
        last = f"v{stack[-1]}" if stack[-1] else "unset"
        raise InputError(
            f"alias {alias} of {model} points at v{current} but its last recorded move left it "
            f"at {last}: it was moved outside mlgate; use `mlgate promote` to set it explicitly"
        )
    if len(stack) < 2 or stack[-2] is None:
        raise InputError(
            f"nothing to roll back to: alias {alias} of {model} had no version before "
            f"v{current} (ledger entry {moves[-1].seq}); promote the version you want instead"
        )
    previous = stack[-2]
    info = store.version(previous)
    if info is None:
        raise InputError(
            f"cannot roll {alias} of {model} back to v{previous}: that version was deleted"
        )
    last_promotion = next((e for e in reversed(moves) if e.to_version == current), moves[-1])
    move = Move("rollback", alias, current, previous)
    seq, ours, _ = ledger.claim(store, move, actor=ci.actor, model=model)
    entry = Entry(
        seq=seq,
        kind="rollback",
        alias=alias,
        from_version=current,
        to_version=previous,
        actor=ci.actor,
        at=ledger.utc_now(),
        reason=reason,
        run_url=ci.run_url,
        gates=rules.gate_summary(info.tags),
        reverts=last_promotion.seq,
    )
    _apply(store, ours, entry)
    return Outcome(entry, _said(model, entry))


def _apply(store: Any, ours: ledger.Claim, entry: Entry) -> None:
    """Move the alias (read back), clear what the move ends, then write the entry."""
    try:
        store.set_alias(entry.alias, entry.to_version)
    except Exception:
        ledger.abort(store, ours)
        raise
    if entry.canary_percent is not None:
        store.set_tag(ledger.CANARY_PERCENT_TAG, f"{entry.canary_percent:g}")
    for alias in entry.cleared:
        store.delete_alias(alias)
        if alias == CANARY:
            store.delete_tag(ledger.CANARY_PERCENT_TAG)
    ledger.record(store, entry)


def _source_version(store: Any, snapshot: Any, request: Request) -> str:
    if request.version is not None:
        return request.version
    version = snapshot.aliases.get(request.from_alias)
    if version is None:
        set_aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(snapshot.aliases.items()))
        raise InputError(
            f"alias {request.from_alias} of {request.model} is not set "
            f"(aliases: {set_aliases or 'none'}); give --version N instead"
        )
    return version


def _said(model: str, entry: Entry) -> str:
    was = f"v{entry.from_version}" if entry.from_version else "unset"
    verb = "rolled back" if entry.kind == "rollback" else "promoted"
    text = f"{model} {entry.alias}: {was} → v{entry.to_version} ({verb}, ledger entry {entry.seq})"
    if entry.canary_percent is not None:
        text += f" · {entry.canary_percent:g}% of traffic"
    if entry.cleared:
        text += f" · cleared {', '.join(entry.cleared)}"
    return text


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
