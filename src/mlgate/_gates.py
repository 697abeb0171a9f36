"""Gate verdicts from plain figures: pure functions, no I/O.

Absolute bounds (`min`, `max`) judge the candidate's own figure. Comparative bounds
(`max_drop`, `min_gain`, absolute or `relative`) judge how much better the candidate
is than the champion, where "better" respects the metric's direction (a rise in
log loss is a drop). With a `Difference` from the paired bootstrap and
`noise_aware` on (the default), a comparative bound fails only when the whole
interval is past it: a difference that noise alone could explain does not block a
model, and one that noise cannot explain does, whatever the point estimate says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlgate._catalogue import LOWER_IS_BETTER
from mlgate.config import Gate
from mlgate.results import Verdict
from mlgate.results.evaluate import GateResult

if TYPE_CHECKING:
    from mlgate._comparison import Difference


def judge(
    metrics: dict[str, float],
    gates: dict[str, Gate],
    champion: Mapping[str, float | None] | None = None,
    *,
    differences: Mapping[str, Difference] | None = None,
    noise_aware: bool = True,
    confidence: float = 0.95,
    intervals: Mapping[str, Any] | None = None,
) -> list[GateResult]:
    """Every bound of every gate, in config order.

    Comparative bounds need the champion's figures; with no champion yet the
    candidate is the first model and those bounds pass. A champion without a figure
    for the metric (e.g. it gives no probabilities) skips the bound, saying why.
    `differences` (from `mlgate._comparison.bootstrap`) adds intervals; without them a
    comparative bound is judged on the point estimate. `intervals` (candidate figure
    intervals, objects with `low`/`high`) only add to the messages of absolute bounds.
    """
    differences = differences or {}
    intervals = intervals or {}
    results: list[GateResult] = []
    for metric, gate in gates.items():
        value = metrics[metric]
        for bound in ("min", "max"):
            limit = getattr(gate, bound)
            if limit is not None:
                interval = intervals.get(metric)
                results.append(_absolute(metric, value, bound, limit, interval, confidence))
        for bound in ("max_drop", "min_gain"):
            limit = getattr(gate, bound)
            if limit is None:
                continue
            if champion is None:
                results.append(
                    GateResult(
                        metric,
                        bound,
                        limit,
                        value,
                        Verdict.PASSED,
                        f"{metric} {value:.4g}: no champion yet, so the {_bound_words(bound)} "
                        "check passes",
                        relative=gate.relative,
                    )
                )
            elif champion.get(metric) is None:
                results.append(
                    GateResult(
                        metric,
                        bound,
                        limit,
                        value,
                        Verdict.SKIPPED,
                        f"{metric} {value:.4g}: the champion has no {metric} figure (it gives "
                        f"no probabilities), so the {_bound_words(bound)} check cannot compare",
                        relative=gate.relative,
                    )
                )
            else:
                results.append(
                    _comparative(
                        metric,
                        value,
                        float(champion[metric]),  # type: ignore[arg-type]
                        bound,
                        limit,
                        gate,
                        differences.get(metric),
                        noise_aware=noise_aware,
                        confidence=confidence,
                    )
                )
    return results


def overall(results: list[GateResult]) -> Verdict:
    return Verdict.FAILED if any(r.verdict is Verdict.FAILED for r in results) else Verdict.PASSED


def _absolute(
    metric: str, value: float, bound: str, limit: float, interval: Any, confidence: float
) -> GateResult:
    passed = value >= limit if bound == "min" else value <= limit
    sign = (">=" if passed else "<") if bound == "min" else ("<=" if passed else ">")
    message = f"{metric} {value:.4g} {sign} {bound} {limit:g}"
    if interval is not None:
        message += f" ({confidence:.0%} interval {_plain(interval.low)} to {_plain(interval.high)})"
    return GateResult(metric, bound, limit, value, _verdict(passed), message)


def improvement(metric: str, candidate: float, champion: float, *, relative: bool) -> float:
    """How much better the candidate is (negative: worse), respecting the metric's direction."""
    change = candidate - champion
    if metric in LOWER_IS_BETTER:
        change = -change
    if relative:
        return change / abs(champion) if champion else 0.0
    return change


def _comparative(
    metric: str,
    value: float,
    champion_value: float,
    bound: str,
    limit: float,
    gate: Gate,
    difference: Difference | None,
    *,
    noise_aware: bool,
    confidence: float,
) -> GateResult:
    relative = gate.relative
    raw = value - champion_value  # what the reader sees: candidate − champion
    shown = raw / abs(champion_value) if relative and champion_value else raw
    if relative and not champion_value:
        shown = 0.0
    interval = None
    if difference is not None:
        interval = difference.relative_interval if relative else difference.interval
    gain = improvement(metric, value, champion_value, relative=relative)
    # The interval of the gain: the difference's interval, flipped for lower-is-better.
    gain_interval = None
    if interval is not None:
        if metric in LOWER_IS_BETTER:
            gain_interval = (-interval.high, -interval.low)
        else:
            gain_interval = (interval.low, interval.high)

    if bound == "max_drop":
        point_ok = -gain <= limit
        wholly_past = gain_interval is not None and -gain_interval[1] > limit
        words = f"{_limit(limit, relative)} allowed drop"
    else:
        point_ok = gain >= limit
        wholly_past = gain_interval is not None and gain_interval[1] < limit
        words = f"{_limit(limit, relative)} required gain"
    on_interval = noise_aware and gain_interval is not None
    passed = not wholly_past if on_interval else point_ok

    width = f"{confidence:.0%}"
    if passed and point_ok:
        clause = f"within the {words}" if bound == "max_drop" else f"meets the {words}"
    elif passed:
        clause = f"within noise of the {words}"
    elif on_interval:
        clause = f"past the {words} across the whole {width} interval"
    else:
        clause = f"past the {words}"
        if gain_interval is not None:
            clause += " (judged on the point estimate: evaluation.noise_aware is off)"
        elif noise_aware and difference is not None:
            clause += " (judged on the point estimate: too few bootstrap draws were defined)"
    figures = _signed(shown, relative)
    if interval is not None:
        figures += f" [{_signed(interval.low, relative)}, {_signed(interval.high, relative)}]"
    message = f"{metric} {_plain(value)} vs champion {_plain(champion_value)}: {figures}, {clause}"
    return GateResult(
        metric,
        bound,
        limit,
        value,
        _verdict(passed),
        message,
        champion=champion_value,
        difference=shown,
        low=interval.low if interval is not None else None,
        high=interval.high if interval is not None else None,
        relative=relative,
        noise_aware=on_interval,
    )


def _plain(value: float) -> str:
    """A figure in the style of the verdict lines: three decimals, or four digits if large."""
    if value != 0 and (abs(value) >= 1000 or abs(value) < 0.001):
        return f"{value:.4g}"
    return f"{value:.3f}"


def _signed(value: float, relative: bool) -> str:
    """A difference with a real minus sign; relative ones in percent."""
    if relative:
        text = f"{value * 100:+.1f}%"
    elif value != 0 and (abs(value) >= 1000 or abs(value) < 0.001):
        text = f"{value:+.3g}"
    else:
        text = f"{value:+.3f}"
    return text.replace("-", "−")


def _limit(limit: float, relative: bool) -> str:
    return f"{limit * 100:g}% (relative)" if relative else f"{limit:g}"


def _bound_words(bound: str) -> str:
    return "allowed-drop" if bound == "max_drop" else "required-gain"


def _verdict(passed: bool) -> Verdict:
    return Verdict.PASSED if passed else Verdict.FAILED
