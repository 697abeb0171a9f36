"""The monitor issue's pure core: the hidden block, the decision, the escaped body."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from mlgate.report import monitor_issue as core
from monitor_results import monitor_result

NOW = datetime(2026, 1, 1, 6, 0, tzinfo=timezone.utc)
POLICY = core.Policy(
    close_after=2, retrain=True, retrain_workflow="train.yml", cooldown=timedelta(hours=24)
)


def _at(hours: float) -> str:
    return core.iso(NOW + timedelta(hours=hours))


def _found(plan: core.Plan, number: int = 7, *, open: bool = True) -> core.Found:
    """The issue as the next run finds it after `plan` was carried out."""
    state = core.read_state(core.body(monitor_result(), plan.state, POLICY), "churn")
    return core.Found(number=number, open=open, state=state)


def test_three_checks_create_then_edit_then_close_with_one_retraining() -> None:
    first = core.decide(core.Found(), monitor_result(at=_at(0)), POLICY, NOW, "run-1")
    assert first.action == "create"
    assert first.claim is not None
    assert first.claim.workflow == "train.yml"
    assert first.claim.reason.startswith("mlgate monitor: drift on churn v3: tenure_months")
    claimed = core.dispatched(first.state, "run-1", "main")

    # Six hours later: still drifting, inside the cool-down: edited, nothing started.
    second = core.decide(
        _found(core.Plan("edit", claimed)),
        monitor_result(at=_at(6)),
        POLICY,
        NOW + timedelta(hours=6),
        "run-2",
    )
    assert second.action == "edit"
    assert second.claim is None
    assert second.state.retrain == claimed.retrain

    ok = monitor_result("ok", at=_at(12))
    third = core.decide(_found(second), ok, POLICY, NOW + timedelta(hours=12), "run-3")
    assert third.action == "edit"  # one ok check of the two that close it
    fourth = core.decide(
        _found(third), monitor_result("ok", at=_at(18)), POLICY, NOW + timedelta(hours=18), "run-4"
    )
    assert fourth.action == "close"
    assert "ok for 2 consecutive checks" in (fourth.comment or "")
    assert not fourth.state.episode
    assert [c.verdict for c in fourth.state.history] == ["drift", "drift", "ok", "ok"]
    assert [c.retrain for c in fourth.state.history] == [True, False, False, False]

    # Ok with the issue closed and the episode over: nothing at all.
    fifth = core.decide(
        _found(fourth, open=False), monitor_result("ok", at=_at(24)), POLICY, NOW, "run-5"
    )
    assert fifth.action == "none"

    # Drift again after the cool-down: the same issue reopens and a retraining starts.
    later = NOW + timedelta(hours=30)
    again = core.decide(_found(fourth, open=False), monitor_result(at=_at(30)), POLICY, later, "r6")
    assert again.action == "reopen"
    assert again.claim is not None
    assert "again; reopening" in (again.comment or "")


@pytest.mark.parametrize(
    ("previous", "hours", "due"),
    [
        pytest.param(None, 0, True, id="never-started"),
        pytest.param("dispatched", 23.9, False, id="inside-the-cool-down"),
        pytest.param("dispatched", 24, True, id="cool-down-over"),
        pytest.param("claimed", 0.5, False, id="claim-pending"),
        pytest.param("claimed", 1, True, id="claim-abandoned"),
    ],
)
def test_retraining_is_due_once_per_cool_down(
    previous: str | None, hours: float, due: bool
) -> None:
    record = (
        None
        if previous is None
        else core.Retrain(
            claim="x", at=core.iso(NOW), workflow="train.yml", reason="r", status=previous
        )  # type: ignore[arg-type]
    )
    assert core.retrain_due(record, POLICY, NOW + timedelta(hours=hours)) is due


def test_no_retraining_without_retrain_true_and_none_on_ok() -> None:
    quiet = core.Policy(close_after=3)
    assert core.decide(core.Found(), monitor_result(), quiet, NOW, "a").claim is None
    plan = core.decide(core.Found(), monitor_result("ok"), POLICY, NOW, "a")
    assert plan.action == "none"
    assert plan.claim is None


def test_a_person_closing_the_issue_mutes_the_episode_not_the_next() -> None:
    first = core.decide(core.Found(), monitor_result(at=_at(0)), POLICY, NOW, "a")
    closed = _found(first, open=False)  # a person closed it; the episode is still open
    muted = core.decide(closed, monitor_result(at=_at(1)), core.Policy(close_after=1), NOW, "b")
    assert muted.action == "edit"
    assert muted.comment is None
    assert any("stays closed" in note for note in muted.notes)
    recovered = core.decide(
        _found(muted, open=False),
        monitor_result("ok", at=_at(2)),
        core.Policy(close_after=1),
        NOW,
        "c",
    )
    assert recovered.action == "edit"  # recorded on the closed issue; the episode ends
    assert not recovered.state.episode
    reopened = core.decide(
        _found(recovered, open=False),
        monitor_result(at=_at(3)),
        core.Policy(close_after=1),
        NOW,
        "d",
    )
    assert reopened.action == "reopen"


def test_the_same_result_synced_twice_adds_one_row_and_no_second_claim() -> None:
    result = monitor_result(at=_at(0))
    first = core.decide(core.Found(), result, POLICY, NOW, "a")
    again = core.decide(_found(first), result, POLICY, NOW + timedelta(hours=2), "b")
    assert len(again.state.history) == 1
    assert again.claim is None


def test_the_history_is_bounded() -> None:
    plan = core.decide(core.Found(), monitor_result(at=_at(0)), core.Policy(), NOW, "a")
    for hour in range(1, core.HISTORY_LIMIT + 10):
        plan = core.decide(_found(plan), monitor_result(at=_at(hour)), core.Policy(), NOW, "a")
    assert len(plan.state.history) == core.HISTORY_LIMIT
    assert plan.state.history[-1].at == _at(core.HISTORY_LIMIT + 9)


def test_a_full_history_of_very_long_feature_names_still_fits_in_an_issue() -> None:
    # GitHub refuses a body over 65,536 characters: every later edit would fail.
    names = {f"{i}" + "x" * 5000: 0.9 for i in range(8)}
    plan = core.decide(core.Found(), monitor_result(drifted=names, at=_at(0)), POLICY, NOW, "a")
    for hour in range(1, core.HISTORY_LIMIT + 2):
        result = monitor_result(drifted=names, at=_at(hour))
        plan = core.decide(_found(plan), result, POLICY, NOW, "a")
    text = core.body(result, plan.state, POLICY)
    assert len(text) <= 65536
    long_reasons = replace(result, reasons=tuple("y" * 20_000 for _ in range(12)))
    assert len(core.body(long_reasons, plan.state, POLICY)) <= 65536
    state = core.read_state(text, "churn")
    assert state is not None
    assert len(state.history) == core.HISTORY_LIMIT


def test_user_data_in_the_body_is_escaped_and_cannot_end_the_hidden_block() -> None:
    evil = '<img src=x>|`@team` https://evil.example --> {"v":1}'
    result = monitor_result(model=evil, drifted={evil: 0.9}, version="3")
    plan = core.decide(core.Found(), result, POLICY, NOW, "a")
    text = core.body(result, plan.state, POLICY)
    assert text.startswith(core.marker(evil) + "\n")
    shown = text.split(core.STATE_PREFIX)[0]  # the hidden block is an HTML comment
    assert "https://evil" not in shown
    # Code spans show their text literally: outside them nothing is HTML or a mention.
    spans = re.findall(r"`[^`\n]*`", text)
    assert any("<img src=x>" in span for span in spans)
    outside = re.sub(r"`[^`\n]*`", "", shown)
    assert "<img" not in outside
    assert "@team" not in outside.replace("@\u200bteam", "")
    assert outside.count("-->") == 1  # the marker's own
    assert text.split(core.STATE_PREFIX)[1].count("-->") == 1  # the block's own end
    state = core.read_state(text, evil)
    assert state is not None
    assert state.history[0].drifted == (evil,)
    assert len(text) < 65536


def test_a_foreign_or_broken_hidden_block_is_not_read() -> None:
    result = monitor_result()
    plan = core.decide(core.Found(), result, POLICY, NOW, "a")
    text = core.body(result, plan.state, POLICY)
    assert core.read_state(text, "other-model") is None
    assert core.read_state(text.replace('"verdict":"drift"', '"verdict":"gone"'), "churn") is None
    assert core.read_state("no block", "churn") is None
    broken = core.decide(core.Found(number=4, open=True, state=None), result, POLICY, NOW, "a")
    assert broken.action == "edit"
    assert any("no readable history" in note for note in broken.notes)


def test_a_failed_dispatch_gives_the_claim_back() -> None:
    plan = core.decide(core.Found(), monitor_result(at=_at(0)), POLICY, NOW, "a")
    back = core.released(plan.state, "a")
    assert back.retrain is None
    assert not back.history[-1].retrain
    assert core.released(plan.state, "someone-else") == plan.state
    assert core.retrain_due(back.retrain, POLICY, NOW)


def test_restated_changes_the_retraining_line_and_block_only() -> None:
    result = monitor_result()
    plan = core.decide(core.Found(), result, POLICY, NOW, "a")
    text = core.body(result, plan.state, POLICY)
    assert "claimed at" in text
    done = core.restated(text, core.dispatched(plan.state, "a", "main"), POLICY)
    assert "started on `main`" in done
    assert "claimed at" not in done
    state = core.read_state(done, "churn")
    assert state is not None
    assert state.retrain is not None
    assert state.retrain.status == "dispatched"
    assert done.split("### Retraining")[0] == text.split("### Retraining")[0]
