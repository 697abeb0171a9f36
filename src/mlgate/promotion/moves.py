"""Promote, swap and roll back: plan from one read, check the rules, then commit through
the ledger.

Planning reads the model once (aliases, ledger) and the version to move; the
ledger's claim protocol (see `mlgate.promotion.ledger`) then makes sure that
nothing changed in between, and only the claimant writes the alias and the entry.

A blue/green swap exchanges the versions of two aliases as one ledger entry. mlgate
does not know which of the two serves live traffic (a router outside does), so each
version must pass the rules for the alias it takes, as a promotion would (`--force
--reason` overrides). The two alias writes cannot be one write in MLflow: if the second
fails, both aliases are written back to what they held (either write may have landed
although it failed), and only then is the claim given up, so no half-done swap remains.
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
    deployment: dict[str, Any] | None = field(default=None)  # the first of `deployments`
    kept: tuple[str, str] | None = None  # without an entry: (alias, the version it still holds)
    checklist: tuple[ChecklistBox, ...] = ()  # the version's pre-deployment checklist
    deployments: tuple[dict[str, Any], ...] = ()  # one per alias moved (two for a swap)

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
            "deployments": list(self.deployments),
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


@dataclass(frozen=True)
class SwapRequest:
    """A blue/green swap as the command line asked for it: two different aliases."""

    model: str
    aliases: tuple[str, str]
    reason: str | None = None
    force: bool = False
    require_gates: bool = True
    require_checklist: tuple[str, ...] = ()


def swap(
    store: Any, request: SwapRequest, ci: CiContext, review_lookup: ReviewLookup | None = None
) -> Outcome:
    """Exchange the versions of two aliases as one ledger entry of kind `swap`.

    Both must be set; holding the same version is a no-op. Each version is checked as
    a promotion to the alias it takes (gates, lineage, the required checklist boxes);
    the outcome shows the checklist of the version that takes the first alias.
    """
    first, second = request.aliases
    snapshot = store.read()
    held = {alias: snapshot.aliases.get(alias) for alias in (first, second)}
    for alias in (first, second):
        if held[alias] is None:
            set_aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(snapshot.aliases.items()))
            raise InputError(
                f"cannot swap {first} and {second} of {request.model}: alias {alias} is not set "
                f"(aliases: {set_aliases or 'none'}); promote a version to it first"
            )
    was_first, was_second = str(held[first]), str(held[second])
    if was_first == was_second:
        return Outcome(
            None,
            f"{first} and {second} of {request.model} both point at v{was_first}; nothing to swap",
            kept=(first, was_first),
        )
    production = snapshot.aliases.get(PRODUCTION)
    findings: list[rules.Finding] = []
    checked: dict[str, tuple[Any, tuple[ChecklistBox, ...]]] = {}
    for alias, version in ((first, was_second), (second, was_first)):
        info = store.version(version)
        if info is None:
            raise InputError(
                f"cannot swap {first} and {second} of {request.model}: v{version} (behind "
                f"{second if alias == first else first}) was deleted"
            )
        boxes = version_checklist(info, production, review_lookup)
        checked[alias] = (info, boxes)
        findings += [
            rules.Finding(f.check, f"v{version} (into {alias}): {f.message}")
            for f in rules.check_version(info, require_gates=request.require_gates)
            + required_findings(boxes, request.require_checklist)
        ]
    decision = rules.decide(findings, force=request.force, reason=request.reason)
    if not decision.allowed:
        raise PromotionRefused(
            rules.swap_refusal_message(request.model, first, second, decision.findings)
        )
    move = Move("swap", first, was_first, was_second, partner=second)
    seq, ours, _ = ledger.claim(store, move, actor=ci.actor, model=request.model)
    entry = Entry(
        seq=seq,
        kind="swap",
        alias=first,
        from_version=was_first,
        to_version=was_second,
        actor=ci.actor,
        at=ledger.utc_now(),
        reason=request.reason,
        run_url=ci.run_url,
        gates=rules.gate_summary(checked[first][0].tags),
        forced=decision.forced,
        partner=second,
    )
    _apply_swap(store, ours, entry)
    return Outcome(
        entry, _said(request.model, entry), decision.findings, checklist=checked[first][1]
    )


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
    moves = [e for e in book.for_alias(alias) if alias in (e.alias, e.partner)]
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
    if moves[-1].kind == "swap" and moves[-1] is book.for_alias(alias)[-1]:
        return _undo_swap(store, model, book, snapshot, moves[-1], reason, ci)
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
    last_promotion = next(
        (e for e in reversed(moves) if e.side(alias).to_version == current), moves[-1]
    )
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


def _undo_swap(
    store: Any,
    model: str,
    book: Ledger,
    snapshot: Any,
    swapped: Entry,
    reason: str | None,
    ci: CiContext,
) -> Outcome:
    """Roll back a swap as one move: both aliases back, one `rollback` entry with the partner."""
    assert swapped.partner is not None
    assert swapped.from_version is not None
    for alias in (swapped.alias, swapped.partner):
        later = book.for_alias(alias)[-1]
        if later.seq != swapped.seq:
            raise InputError(
                f"cannot undo the swap of {swapped.alias} and {swapped.partner} of {model} "
                f"(ledger entry {swapped.seq}): {alias} moved since ({later.describe()}); "
                f"roll {alias} back first, or promote the versions you want"
            )
        expected = swapped.side(alias).to_version
        current = snapshot.aliases.get(alias)
        if current != expected:
            now = f"v{current}" if current else "unset"
            raise InputError(
                f"alias {alias} of {model} points at {now} but the swap (ledger entry "
                f"{swapped.seq}) left it at v{expected}: it was moved outside mlgate; use "
                "`mlgate promote` to set it explicitly"
            )
    info = store.version(swapped.from_version)
    if info is None:
        raise InputError(
            f"cannot roll {swapped.alias} of {model} back to v{swapped.from_version}: "
            "that version was deleted"
        )
    move = Move(
        "rollback",
        swapped.alias,
        swapped.to_version,
        swapped.from_version,
        partner=swapped.partner,
    )
    seq, ours, _ = ledger.claim(store, move, actor=ci.actor, model=model)
    entry = Entry(
        seq=seq,
        kind="rollback",
        alias=swapped.alias,
        from_version=swapped.to_version,
        to_version=swapped.from_version,
        actor=ci.actor,
        at=ledger.utc_now(),
        reason=reason,
        run_url=ci.run_url,
        gates=rules.gate_summary(info.tags),
        reverts=swapped.seq,
        partner=swapped.partner,
    )
    _apply_swap(store, ours, entry)
    return Outcome(entry, _said(model, entry))


def _apply_swap(store: Any, ours: ledger.Claim, entry: Entry) -> None:
    """Write both aliases (each read back), then the entry; a failure leaves neither moved.

    When a write fails, both aliases are written back to what they held: the failed
    write may have landed all the same (an answer lost on the way back), and writing
    an alias's own version again changes nothing. Only once both are back is the claim
    given up; if putting them back fails too, the error names what each should hold.
    """
    from mlgate.errors import MlgateError, ServiceError

    first, second = entry.sides()
    try:
        store.set_alias(first.alias, first.to_version)
        store.set_alias(second.alias, second.to_version)
    except MlgateError as error:
        failed = []
        for side in (first, second):
            try:
                store.set_alias(side.alias, str(side.from_version))
            except MlgateError as repair:
                failed.append(f"{side.alias}: {repair.message}")
        ledger.abort(store, ours)  # best effort: a registry still down keeps it until CLAIM_TTL
        if failed:
            raise ServiceError(
                f"{error.message}; the swap may be half done and putting it back failed too "
                f"({'; '.join(failed)}): {first.alias} should hold v{first.from_version} and "
                f"{second.alias} v{second.from_version}; set them with `mlgate promote "
                "--version N --to ALIAS` once the registry answers; nothing was recorded"
            ) from None
        error.message = (
            f"{error.message}; the swap was undone: {first.alias} is back on "
            f"v{first.from_version}, {second.alias} on v{second.from_version}, nothing "
            "recorded; run again"
        )
        raise
    except Exception:
        ledger.abort(store, ours)
        raise
    ledger.record(store, entry)


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
    if entry.partner is not None:
        moved = ", ".join(
            f"{side.alias}: v{side.from_version} → v{side.to_version}" for side in entry.sides()
        )
        verb = "swap rolled back" if entry.kind == "rollback" else "swapped"
        return f"{model} {moved} ({verb}, ledger entry {entry.seq})"
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
