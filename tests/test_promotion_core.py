"""The pure core of promotion: ledger entries and history, the claim protocol, the rules."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from mlgate.errors import InputError, PromotionRace, UsageError
from mlgate.promotion import audit as lineage
from mlgate.promotion import ledger, rules
from mlgate.promotion.ledger import Claim, Entry, Ledger, Move
from mlgate.tracking.model_store import VersionInfo


def _entry(seq, kind, alias, was, to, **extra) -> Entry:
    return Entry(seq, kind, alias, was, to, "octocat", "2026-01-01T00:00:00Z", **extra)


def _tags(*entries: Entry) -> dict[str, str]:
    tags = {ledger.entry_key(e.seq): e.encode() for e in entries}
    if entries:
        tags[ledger.HEAD_TAG] = str(entries[-1].seq)
    return tags


def test_an_entry_survives_its_tag() -> None:
    entry = _entry(3, "promote", "canary", "1", "2", reason="try it", canary_percent=10.0)

    decoded = Entry.decode(entry.encode())

    assert decoded == entry
    assert len(entry.encode()) < 200  # compact: many moves fit in a model's tags


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        pytest.param([], [], id="no-history"),
        pytest.param([_entry(1, "promote", "production", None, "1")], [None, "1"], id="first"),
        pytest.param(
            [
                _entry(1, "promote", "production", None, "1"),
                _entry(2, "promote", "production", "1", "2"),
            ],
            [None, "1", "2"],
            id="two-promotions",
        ),
        pytest.param(
            [
                _entry(1, "promote", "production", None, "1"),
                _entry(2, "promote", "production", "1", "2"),
                _entry(3, "rollback", "production", "2", "1"),
            ],
            [None, "1"],
            id="rollback-pops",
        ),
        pytest.param(
            [
                _entry(1, "promote", "production", None, "1"),
                _entry(2, "promote", "production", "1", "2"),
                _entry(3, "promote", "production", "2", "3"),
                _entry(4, "rollback", "production", "3", "2"),
                _entry(5, "rollback", "production", "2", "1"),
            ],
            [None, "1"],
            id="rollback-twice-walks-back",
        ),
        pytest.param(
            [
                _entry(1, "promote", "canary", None, "2"),
                _entry(2, "promote", "production", "1", "2", cleared=("canary",)),
            ],
            [None, "2", None],
            id="canary-cleared-by-production",
        ),
        pytest.param(
            [_entry(4, "promote", "production", "7", "8")],
            ["7", "8"],
            id="alias-set-before-mlgate",
        ),
    ],
)
def test_history_is_a_stack(moves: list[Entry], expected: list[str | None]) -> None:
    alias = moves[0].alias if moves else "production"
    assert Ledger.from_tags(_tags(*moves)).history(alias) == expected


def test_a_damaged_entry_is_reported_not_trusted() -> None:
    tags = {**_tags(_entry(1, "promote", "production", None, "1")), ledger.entry_key(2): "{oops"}

    book = Ledger.from_tags(tags)

    assert [e.seq for e in book.entries] == [1]
    assert book.unreadable == (ledger.entry_key(2),)
    assert book.last_seq == 1


def test_an_open_claim_blocks_and_an_old_or_aborted_one_does_not() -> None:
    fresh = Claim(5, "t", "alice", ledger.utc_now(), "promote", "production", "2")
    old = Claim(5, "t", "alice", "2020-01-01T00:00:00Z", "promote", "production", "2")
    aborted = Claim(**{**fresh.__dict__, "state": "aborted"})

    def book(claim: Claim) -> Ledger:
        return Ledger.from_tags({ledger.claim_key(5): claim.encode()})

    assert book(fresh).open_claim() == fresh
    assert book(old).open_claim() is None
    assert book(aborted).open_claim() is None
    assert book(fresh).last_seq == 5


# --- the claim protocol against an in-memory register store ---------------------------


@dataclass
class Snapshot:
    aliases: dict[str, str]
    tags: dict[str, str]
    started: float


@dataclass
class RegisterStore:
    """Last-writer-wins tags, like MLflow's: no compare-and-set."""

    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    write_delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> Snapshot:
        started = time.monotonic()
        with self.lock:
            return Snapshot(dict(self.aliases), dict(self.tags), started)

    def set_tag(self, key: str, value: str) -> None:
        time.sleep(self.write_delay)
        with self.lock:
            self.tags[key] = value

    def delete_tag(self, key: str) -> None:
        with self.lock:
            self.tags.pop(key, None)


@pytest.fixture
def quick_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shorter than the real protocol's, but with room for a busy CI machine's stalls.
    monkeypatch.setattr(ledger, "CLAIM_BOUND", 1.0)
    monkeypatch.setattr(ledger, "SETTLE", 1.2)


@pytest.mark.slow  # waits out the claim protocol on purpose
@pytest.mark.usefixtures("quick_protocol")
def test_concurrent_claims_have_exactly_one_winner() -> None:
    for _ in range(5):
        store = RegisterStore(aliases={"production": "1"})
        start = threading.Barrier(3)
        won, lost = [], []

        def attempt(version: str, store=store, start=start, won=won, lost=lost) -> None:
            start.wait()
            try:
                move = Move("promote", "production", "1", version)
                won.append(ledger.claim(store, move, actor=f"actor-{version}", model="m"))
            except PromotionRace as race:
                lost.append(str(race))

        threads = [threading.Thread(target=attempt, args=(v,)) for v in ("2", "3", "4")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(won) == 1, lost
        assert len(lost) == 2
        assert all("race" in message or "in progress" in message for message in lost)
        seq, claim, _ = won[0]
        assert Claim.decode(seq, store.tags[ledger.claim_key(seq)]).token == claim.token


@pytest.mark.slow  # waits out the claim protocol on purpose
@pytest.mark.usefixtures("quick_protocol")
def test_a_claim_written_too_slowly_is_given_up() -> None:
    store = RegisterStore(aliases={"production": "1"}, write_delay=1.5)  # > CLAIM_BOUND

    with pytest.raises(PromotionRace, match="too slow to rule out a concurrent promotion"):
        ledger.claim(store, Move("promote", "production", "1", "2"), actor="a", model="m")


@pytest.mark.slow  # waits out the claim protocol on purpose
@pytest.mark.usefixtures("quick_protocol")
def test_a_slow_claim_is_tried_again_on_the_same_seat() -> None:
    delays = iter([1.5, 0.0])  # the first write is slower than CLAIM_BOUND

    class OnceSlow(RegisterStore):
        def set_tag(self, key: str, value: str) -> None:
            self.write_delay = next(delays, 0.0)
            super().set_tag(key, value)

    store = OnceSlow(aliases={"production": "1"})

    seq, claim, _ = ledger.claim(
        store, Move("promote", "production", "1", "2"), actor="a", model="m"
    )

    assert seq == 1
    assert Claim.decode(1, store.tags[ledger.claim_key(1)]).token == claim.token


@pytest.mark.usefixtures("quick_protocol")
def test_a_claim_write_refused_because_another_landed_first_lost_the_race() -> None:
    from mlgate.errors import ServiceError

    other = Claim(1, "x", "bob", ledger.utc_now(), "promote", "production", "9")

    class UniqueKey(RegisterStore):
        """MLflow's SQL store: two inserts of one new tag, the second fails."""

        def set_tag(self, key: str, value: str) -> None:
            with self.lock:
                self.tags[key] = other.encode()  # bob's insert landed a moment earlier
            raise ServiceError(f"failed to write tag {key}: UNIQUE constraint failed")

    store = UniqueKey(aliases={"production": "1"})
    with pytest.raises(PromotionRace, match="lost the race for ledger entry 1 of m: bob"):
        ledger.claim(store, Move("promote", "production", "1", "2"), actor="a", model="m")
    assert Claim.decode(1, store.tags[ledger.claim_key(1)]).token == "x"  # bob's, untouched

    class Down(RegisterStore):
        def set_tag(self, key: str, value: str) -> None:
            raise ServiceError("the registry is down")

    with pytest.raises(ServiceError, match="down"):
        ledger.claim(
            Down(aliases={"production": "1"}),
            Move("promote", "production", "1", "2"),
            actor="a",
            model="m",
        )


@pytest.mark.usefixtures("quick_protocol")
def test_an_alias_moved_since_planning_is_refused() -> None:
    store = RegisterStore(aliases={"production": "3"})

    with pytest.raises(PromotionRace, match=r"changed since it was read \(v1 → v3\)"):
        ledger.claim(store, Move("promote", "production", "1", "2"), actor="a", model="m")
    assert store.tags == {}


@pytest.mark.usefixtures("quick_protocol")
def test_a_promotion_in_progress_is_named() -> None:
    store = RegisterStore(aliases={"production": "1"})
    other = Claim(1, "x", "bob", ledger.utc_now(), "promote", "production", "9")
    store.tags[ledger.claim_key(1)] = other.encode()

    with pytest.raises(PromotionRace, match="in progress: bob claimed ledger entry 1"):
        ledger.claim(store, Move("promote", "production", "1", "2"), actor="a", model="m")


@pytest.mark.usefixtures("quick_protocol")
def test_record_writes_entry_and_head_and_drops_the_claim() -> None:
    store = RegisterStore()
    seq, _, _ = ledger.claim(store, Move("promote", "staging", None, "1"), actor="a", model="m")

    ledger.record(store, _entry(seq, "promote", "staging", None, "1"))

    assert seq == 1
    assert set(store.tags) == {ledger.entry_key(1), ledger.HEAD_TAG}
    assert store.tags[ledger.HEAD_TAG] == "1"


def test_a_recorded_entry_stands_when_the_head_cannot_be_written() -> None:
    from mlgate.errors import ServiceError

    class HeadDown(RegisterStore):
        def set_tag(self, key: str, value: str) -> None:
            if key == ledger.HEAD_TAG:
                raise ServiceError("MLflow at http://x failed to write tag")
            super().set_tag(key, value)

    store = HeadDown()

    ledger.record(store, _entry(7, "promote", "staging", None, "1"))

    book = Ledger.from_tags(store.tags)
    assert [e.seq for e in book.entries] == [7]
    assert book.last_seq == 7


# --- rules -------------------------------------------------------------------------------

LINEAGE = {
    "mlgate.git.commit": "a" * 40,
    "mlgate.config.sha256": "c" * 64,
    "mlgate.feature_spec.sha256": "f" * 64,
    "mlgate.data.training.uri": "s3://data/train.csv",
    "mlgate.data.training.sha256": "1" * 64,
    "mlgate.data.validation.uri": "s3://data/validation.csv",
    "mlgate.data.validation.sha256": "2" * 64,
}


def _version(tags: dict[str, str], run_id: str | None = "run1", status="READY") -> VersionInfo:
    return VersionInfo("3", status, run_id, None, None, None, tags)


@pytest.mark.parametrize(
    ("tags", "messages"),
    [
        pytest.param({"mlgate.gate.evaluation": "passed"}, [], id="passed"),
        pytest.param(
            {"mlgate.gate.evaluation": "passed", "mlgate.gate.fairness": "skipped"},
            [],
            id="skipped-fairness-is-fine",
        ),
        pytest.param(
            {"mlgate.gate.evaluation": "failed"}, ["the evaluation gate failed"], id="eval-failed"
        ),
        pytest.param(
            {"mlgate.gate.evaluation": "passed", "mlgate.gate.fairness": "failed"},
            ["the fairness gate failed"],
            id="fairness-failed",
        ),
        pytest.param({}, ["no recorded evaluation verdict"], id="missing-verdict"),
    ],
)
def test_gate_rules(tags: dict[str, str], messages: list[str]) -> None:
    findings = rules.check_version(_version({**LINEAGE, **tags}))

    assert [f.message.split(" (")[0] for f in findings] == messages


def test_incomplete_lineage_is_named() -> None:
    tags = {k: v for k, v in LINEAGE.items() if "validation" not in k}
    findings = rules.check_version(
        _version({**tags, "mlgate.gate.evaluation": "passed"}, run_id=None)
    )

    [finding] = findings
    assert finding.check == "lineage"
    assert "validation data hash" in finding.message
    assert "the MLflow run that made it" in finding.message


def test_force_needs_a_reason_and_is_recorded() -> None:
    findings = rules.check_version(_version({**LINEAGE, "mlgate.gate.evaluation": "failed"}))

    with pytest.raises(UsageError, match="--force needs --reason"):
        rules.decide(findings, force=True, reason=" ")
    assert not rules.decide(findings, force=False, reason=None).allowed
    forced = rules.decide(findings, force=True, reason="hotfix approved by risk")
    assert forced.allowed
    assert forced.forced


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("production-churn-model@production", ("production-churn-model", "production", None)),
        ("production-churn-model:3", ("production-churn-model", None, "3")),
        ("churn model", ("churn model", None, None)),
    ],
)
def test_lineage_targets(text: str, parsed: tuple) -> None:
    assert lineage.parse_target(text) == parsed


@pytest.mark.parametrize("text", ["", "model@", "model:x", "@production"])
def test_bad_lineage_targets(text: str) -> None:
    with pytest.raises(UsageError):
        lineage.parse_target(text)


# --- blue/green: a swap of two aliases as one entry ------------------------------------------

SWAPPED = (
    _entry(1, "promote", "blue", None, "1"),
    _entry(2, "promote", "green", None, "2"),
    _entry(3, "swap", "blue", "1", "2", partner="green"),
)


def test_a_swap_is_one_entry_that_moves_both_aliases() -> None:
    undone = _entry(4, "rollback", "blue", "2", "1", partner="green", reverts=3)

    assert Entry.decode(SWAPPED[2].encode()) == SWAPPED[2]
    assert '"partner":"green"' in SWAPPED[2].encode()
    assert '"partner"' not in SWAPPED[0].encode()  # compact: only a swap names one
    book = Ledger.from_tags(_tags(*SWAPPED))
    assert book.history("blue") == [None, "1", "2"]
    assert book.history("green") == [None, "2", "1"]
    assert [e.seq for e in book.for_alias("green")] == [2, 3]
    assert "swap blue ↔ green: blue v1 → v2, green v2 → v1" in SWAPPED[2].describe()
    # Its rollback pops both stacks, as one entry.
    book = Ledger.from_tags(_tags(*SWAPPED, undone))
    assert book.history("blue") == [None, "1"]
    assert book.history("green") == [None, "2"]
    [green_side] = [s for s in undone.sides() if s.alias == "green"]
    assert (green_side.from_version, green_side.to_version) == ("1", "2")


def test_lineage_shows_the_swap_as_the_move_into_each_alias() -> None:
    info = VersionInfo("1", "READY", "run1", None, None, None, LINEAGE)

    record = lineage.answer("m", info, {"green": "1", "blue": "2"}, _tags(*SWAPPED), None)

    assert [(p["seq"], p["kind"], p["alias"]) for p in record["promotions"]] == [
        (1, "promote", "blue"),
        (3, "swap", "green"),
    ]
    assert "#3 2026-01-01T00:00:00Z swap green (v2 → v1) by octocat, swapped with blue" in (
        lineage.render(record)
    )


@dataclass
class AliasStore(RegisterStore):
    """The register store with versions and aliases that move, and alias writes that fail."""

    versions: dict[str, VersionInfo] = field(default_factory=dict)
    # (alias, version, lands): that write fails once; `lands` when the registry did it anyway.
    faults: list[tuple[str, str, bool]] = field(default_factory=list)
    alias_writes: list[tuple[str, str]] = field(default_factory=list)

    def version(self, version: str) -> VersionInfo | None:
        return self.versions.get(version)

    def set_alias(self, alias: str, version: str) -> None:
        from mlgate.errors import ServiceError

        with self.lock:
            self.alias_writes.append((alias, version))
            for fault in self.faults:
                if fault[:2] == (alias, version):
                    self.faults.remove(fault)
                    if fault[2]:
                        self.aliases[alias] = version
                    raise ServiceError(f"MLflow failed to set alias {alias}")
            self.aliases[alias] = version

    def delete_alias(self, alias: str) -> None:
        with self.lock:
            self.aliases.pop(alias, None)


def _blue_green(**tags: str) -> AliasStore:
    store = AliasStore(aliases={"blue": "1", "green": "2"}, tags=_tags(*SWAPPED[:2]))
    good = {**LINEAGE, "mlgate.gate.evaluation": "passed"}
    store.versions = {
        v: VersionInfo(v, "READY", "run1", None, None, None, {**good, **tags}) for v in ("1", "2")
    }
    return store


def _ci():
    from mlgate._ci_context import ci_context

    return ci_context({"GITHUB_ACTOR": "octocat"})


@pytest.mark.usefixtures("quick_protocol")
def test_a_swap_and_its_rollback_each_are_one_move() -> None:
    from mlgate.promotion import moves

    store = _blue_green()

    swapped = moves.swap(store, moves.SwapRequest("m", ("blue", "green")), _ci())
    undone = moves.rollback(store, "m", "green", "wrong way round", _ci())

    assert swapped.entry is not None
    assert (swapped.entry.kind, swapped.entry.partner, swapped.entry.seq) == ("swap", "green", 3)
    assert "blue: v1 → v2, green: v2 → v1 (swapped, ledger entry 3)" in swapped.message
    assert undone.entry is not None
    assert (undone.entry.kind, undone.entry.reverts, undone.entry.partner) == (
        "rollback",
        3,
        "green",
    )
    assert store.aliases == {"blue": "1", "green": "2"}
    book = Ledger.from_tags(store.tags)
    assert [e.kind for e in book.entries] == ["promote", "promote", "swap", "rollback"]
    assert book.open_claim() is None
    # Rolled back to where each was first set: nothing older to go back to.
    with pytest.raises(InputError, match="nothing to roll back to"):
        moves.rollback(store, "m", "blue", None, _ci())


@pytest.mark.usefixtures("quick_protocol")
def test_a_swap_checks_both_versions_and_needs_both_aliases() -> None:
    from mlgate.errors import PromotionRefused
    from mlgate.promotion import moves

    refused = _blue_green(**{"mlgate.gate.evaluation": "failed"})
    with pytest.raises(PromotionRefused) as caught:
        moves.swap(refused, moves.SwapRequest("m", ("blue", "green")), _ci())
    assert "refusing to swap blue and green of m" in caught.value.message
    assert "v2 (into blue): the evaluation gate failed" in caught.value.message
    assert "v1 (into green): the evaluation gate failed" in caught.value.message
    assert refused.aliases == {"blue": "1", "green": "2"}

    unset = _blue_green()
    del unset.aliases["green"]
    with pytest.raises(InputError, match="alias green is not set"):
        moves.swap(unset, moves.SwapRequest("m", ("blue", "green")), _ci())

    same = _blue_green()
    same.aliases["green"] = "1"
    outcome = moves.swap(same, moves.SwapRequest("m", ("blue", "green")), _ci())
    assert outcome.entry is None
    assert "both point at v1; nothing to swap" in outcome.message

    with pytest.raises(UsageError, match="two different aliases"):
        rules.check_swap(["blue", "blue"], ["blue", "green"])


@pytest.mark.usefixtures("quick_protocol")
@pytest.mark.parametrize(
    "fault",
    [("green", "1", False), ("green", "1", True), ("blue", "2", True)],
    ids=["second-write-failed", "second-answer-lost", "first-answer-lost"],
)
def test_a_half_done_swap_is_put_back(fault: tuple[str, str, bool]) -> None:
    from mlgate.errors import ServiceError
    from mlgate.promotion import moves

    store = _blue_green()
    store.faults.append(fault)

    with pytest.raises(ServiceError, match="the swap was undone: blue is back on v1, green on v2"):
        moves.swap(store, moves.SwapRequest("m", ("blue", "green")), _ci())

    assert store.aliases == {"blue": "1", "green": "2"}
    book = Ledger.from_tags(store.tags)
    assert [e.seq for e in book.entries] == [1, 2]
    assert book.open_claim() is None
    assert moves.swap(store, moves.SwapRequest("m", ("blue", "green")), _ci()).entry is not None
    assert store.aliases == {"blue": "2", "green": "1"}


@pytest.mark.usefixtures("quick_protocol")
def test_a_swap_that_cannot_be_put_back_says_what_each_alias_should_hold() -> None:
    from mlgate.errors import ServiceError
    from mlgate.promotion import moves

    store = _blue_green()
    store.faults += [("green", "1", True), ("green", "2", False)]  # and green's way back fails

    with pytest.raises(ServiceError) as caught:
        moves.swap(store, moves.SwapRequest("m", ("blue", "green")), _ci())

    assert "putting it back failed too" in caught.value.message
    assert "blue should hold v1 and green v2" in caught.value.message
    assert store.aliases == {"blue": "1", "green": "1"}  # blue was still put back
    assert Ledger.from_tags(store.tags).open_claim() is None  # the repair is not blocked


def test_the_rollback_alert_of_a_swap_names_both_aliases() -> None:
    from mlgate.alerts import events

    undone = _entry(4, "rollback", "blue", "2", "1", partner="green", reverts=3, reason="errors")
    forced = _entry(3, "swap", "blue", "1", "2", partner="green", forced=True, reason="hotfix")

    rolled = events.promotion_moved("m", undone, [], repository=None)
    overridden = events.promotion_moved(
        "m", forced, ["the evaluation gate failed"], repository=None
    )

    assert rolled is not None
    assert rolled.reasons == ("blue: v2 → v1", "green: v1 → v2", "reason: errors")
    assert overridden is not None
    assert overridden.reasons[:2] == ("blue: v1 → v2", "green: v2 → v1")
    assert events.promotion_moved("m", SWAPPED[2], [], repository=None) is None  # a plain swap
