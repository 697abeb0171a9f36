"""Gate verdicts are pure: figures in, verdicts out."""

from __future__ import annotations

import pytest

from mlgate._gates import improvement, judge, overall
from mlgate.config import Gate
from mlgate.results import Verdict


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


# --- noise-aware comparative gates ------------------------------------------------------


def _difference(metric: str, candidate: float, champion: float, low: float, high: float):
    from mlgate._comparison import Difference, Interval

    diff = candidate - champion
    return Difference(
        metric=metric,
        candidate=candidate,
        champion=champion,
        difference=diff,
        interval=Interval(low, high),
        relative=diff / abs(champion),
        relative_interval=Interval(low / abs(champion), high / abs(champion)),
    )


def _judge_one(metric, candidate, champion, gate, low, high, *, noise_aware=True):
    [result] = judge(
        {metric: candidate},
        {metric: gate},
        champion={metric: champion},
        differences={metric: _difference(metric, candidate, champion, low, high)},
        noise_aware=noise_aware,
    )
    return result


def test_verdict_line_within_noise_reads_as_in_the_issue() -> None:
    result = _judge_one("roc_auc", 0.842, 0.851, Gate(max_drop=0.005), -0.021, 0.003)

    assert result.verdict is Verdict.PASSED
    assert result.message == (
        "roc_auc 0.842 vs champion 0.851: −0.009 [−0.021, +0.003], "
        "within noise of the 0.005 allowed drop"
    )
    assert (result.low, result.high, result.noise_aware) == (-0.021, 0.003, True)
    assert result.difference == pytest.approx(-0.009)
    assert result.champion == 0.851


@pytest.mark.parametrize(
    ("metric", "candidate", "champion", "gate", "interval", "noise_aware", "verdict", "words"),
    [
        pytest.param(
            "roc_auc", 0.848, 0.851, Gate(max_drop=0.01), (-0.015, 0.009), True,
            Verdict.PASSED, "within the 0.01 allowed drop", id="drop-small-point-and-noise",
        ),
        pytest.param(
            "roc_auc", 0.80, 0.851, Gate(max_drop=0.01), (-0.07, -0.03), True,
            Verdict.FAILED, "past the 0.01 allowed drop across the whole 95% interval",
            id="drop-whole-interval-past",
        ),
        pytest.param(
            "roc_auc", 0.830, 0.851, Gate(max_drop=0.01), (-0.04, 0.002), False,
            Verdict.FAILED, "past the 0.01 allowed drop (judged on the point estimate",
            id="drop-point-past-noise-aware-off",
        ),
        pytest.param(
            "roc_auc", 0.830, 0.851, Gate(max_drop=0.01), (-0.04, 0.002), True,
            Verdict.PASSED, "within noise of the 0.01 allowed drop",
            id="drop-point-past-interval-crosses",
        ),
        pytest.param(
            "accuracy", 0.805, 0.80, Gate(min_gain=0.01), (-0.01, 0.02), True,
            Verdict.PASSED, "within noise of the 0.01 required gain", id="gain-within-noise",
        ),
        pytest.param(
            "accuracy", 0.805, 0.80, Gate(min_gain=0.01), (-0.01, 0.02), False,
            Verdict.FAILED, "past the 0.01 required gain", id="gain-short-noise-aware-off",
        ),
        pytest.param(
            "accuracy", 0.79, 0.80, Gate(min_gain=0.01), (-0.02, -0.001), True,
            Verdict.FAILED, "past the 0.01 required gain across the whole 95% interval",
            id="gain-wholly-short",
        ),
        pytest.param(
            "accuracy", 0.83, 0.80, Gate(min_gain=0.01), (0.02, 0.04), True,
            Verdict.PASSED, "meets the 0.01 required gain", id="gain-met",
        ),
        # log loss: lower is better, so a rise is a drop and the interval flips.
        pytest.param(
            "log_loss", 0.50, 0.40, Gate(max_drop=0.05), (0.06, 0.14), True,
            Verdict.FAILED, "past the 0.05 allowed drop across the whole", id="log-loss-rise",
        ),
        pytest.param(
            "log_loss", 0.38, 0.40, Gate(max_drop=0.05), (-0.05, 0.01), True,
            Verdict.PASSED, "within the 0.05 allowed drop", id="log-loss-fall",
        ),
        pytest.param(
            "rmse", 10.8, 10.0, Gate(max_drop=0.05, relative=True), (0.6, 1.1), True,
            Verdict.FAILED, "past the 5% (relative) allowed drop across the whole",
            id="relative-rmse-rise",
        ),
        pytest.param(
            "rmse", 10.6, 10.0, Gate(max_drop=0.05, relative=True), (-0.2, 1.1), True,
            Verdict.PASSED, "within noise of the 5% (relative) allowed drop",
            id="relative-rmse-within-noise",
        ),
    ],
)  # fmt: skip
def test_noise_aware_comparative_bounds(
    metric, candidate, champion, gate, interval, noise_aware, verdict, words
) -> None:
    result = _judge_one(metric, candidate, champion, gate, *interval, noise_aware=noise_aware)

    assert result.verdict is verdict, result.message
    assert words in result.message
    assert result.message.startswith(f"{metric} ")
    assert "[" in result.message  # the interval is always shown


def test_relative_gate_shows_percent_differences() -> None:
    result = _judge_one("rmse", 10.6, 10.0, Gate(max_drop=0.05, relative=True), 0.1, 1.1)
    assert "+6.0% [+1.0%, +11.0%]" in result.message
    assert result.relative is True
    assert result.difference == pytest.approx(0.06)


def test_a_champion_without_the_figure_skips_the_bound_and_says_why() -> None:
    [result] = judge(
        {"roc_auc": 0.86}, {"roc_auc": Gate(max_drop=0.01)}, champion={"roc_auc": None}
    )
    assert result.verdict is Verdict.SKIPPED
    assert "champion has no roc_auc figure" in result.message
    assert overall([result]) is Verdict.PASSED


def test_absolute_bounds_quote_the_candidates_interval() -> None:
    from mlgate._comparison import Interval

    [result] = judge(
        {"roc_auc": 0.7123},
        {"roc_auc": Gate(min=0.8)},
        intervals={"roc_auc": Interval(0.69, 0.735)},
        confidence=0.9,
    )
    assert result.message == "roc_auc 0.7123 < min 0.8 (90% interval 0.690 to 0.735)"


def test_without_an_interval_the_point_estimate_decides() -> None:
    [result] = judge(
        {"accuracy": 0.78}, {"accuracy": Gate(max_drop=0.01)}, champion={"accuracy": 0.80}
    )
    assert result.verdict is Verdict.FAILED
    assert result.message == "accuracy 0.780 vs champion 0.800: −0.020, past the 0.01 allowed drop"
    assert result.noise_aware is False


def test_without_a_defined_interval_the_point_decides_and_says_so() -> None:
    from mlgate._comparison import Difference

    undefined = Difference("roc_auc", 0.70, 0.80, -0.10, None, -0.125, None)
    [result] = judge(
        {"roc_auc": 0.70},
        {"roc_auc": Gate(max_drop=0.01)},
        champion={"roc_auc": 0.80},
        differences={"roc_auc": undefined},
    )
    assert result.verdict is Verdict.FAILED
    assert result.message.endswith("too few bootstrap draws were defined)")
    assert result.low is None
