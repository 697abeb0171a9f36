"""Gate verdicts are pure: figures in, verdicts out."""

from __future__ import annotations

import pytest

from mlgate.config import Gate
from mlgate.gates import Verdict, improvement, judge, overall


@pytest.mark.parametrize(
    ("value", "gate", "verdict"),
    [
        pytest.param(0.85, Gate(min=0.8), Verdict.PASSED, id="above-min"),
        pytest.param(0.80, Gate(min=0.8), Verdict.PASSED, id="at-min-passes"),
        pytest.param(0.79, Gate(min=0.8), Verdict.FAILED, id="below-min"),
        pytest.param(0.30, Gate(max=0.25), Verdict.FAILED, id="above-max"),
        pytest.param(0.20, Gate(max=0.25), Verdict.PASSED, id="below-max"),
        pytest.param(0.5, Gate(min=0.4, max=0.6), Verdict.PASSED, id="inside-band"),
    ],
)
def test_absolute_bounds(value: float, gate: Gate, verdict: Verdict) -> None:
    results = judge({"roc_auc": value}, {"roc_auc": gate})
    assert overall(results) is verdict


def test_failed_gate_names_metric_value_and_bound() -> None:
    [result] = judge({"roc_auc": 0.7123}, {"roc_auc": Gate(min=0.8)})
    assert result.verdict is Verdict.FAILED
    assert result.message == "roc_auc 0.7123 < min 0.8"


def test_comparative_gate_passes_without_a_champion() -> None:
    [result] = judge({"accuracy": 0.5}, {"accuracy": Gate(max_drop=0.01)}, champion=None)
    assert result.verdict is Verdict.PASSED
    assert "no champion yet" in result.message


@pytest.mark.parametrize(
    ("candidate", "champion", "gate", "verdict"),
    [
        pytest.param(0.80, 0.805, Gate(max_drop=0.01), Verdict.PASSED, id="small-drop"),
        pytest.param(0.78, 0.80, Gate(max_drop=0.01), Verdict.FAILED, id="large-drop"),
        pytest.param(0.82, 0.80, Gate(min_gain=0.01), Verdict.PASSED, id="enough-gain"),
        pytest.param(0.805, 0.80, Gate(min_gain=0.01), Verdict.FAILED, id="too-little-gain"),
        pytest.param(
            0.79,
            0.80,
            Gate(max_drop=0.02, relative=True),
            Verdict.PASSED,
            id="relative-drop-1.25pc",
        ),
    ],
)
def test_comparative_bounds(candidate, champion, gate, verdict) -> None:
    results = judge({"accuracy": candidate}, {"accuracy": gate}, champion={"accuracy": champion})
    assert overall(results) is verdict


def test_lower_is_better_metrics_count_a_rise_as_a_drop() -> None:
    assert improvement("log_loss", 0.40, 0.30, relative=False) == pytest.approx(-0.10)
    [result] = judge({"rmse": 1.2}, {"rmse": Gate(max_drop=0.1)}, champion={"rmse": 1.0})
    assert result.verdict is Verdict.FAILED
