"""Fairness verdicts from plain figures: pure functions, no I/O.

A check is one disparity of one judged feature against its threshold. A
`*_difference` may not exceed its threshold; a `*_ratio` may not fall below it.

- policy `point`: the point estimate decides.
- policy `confident`: a check fails only when the whole interval lies past the
  threshold, and warns when the interval straddles it.
- mode `warn`: what would fail is reported as a warning and the gate passes.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlgate.results.fairness import CheckVerdict, FairnessCheck

# A check as the fairness result records it (`mlgate.results.fairness`).
Check = FairnessCheck

__all__ = ["Check", "CheckVerdict", "bound_of", "format_limit", "judge", "worst_passing"]


def make_check(
    feature: str,
    metric: str,
    value: float | None,
    interval: tuple[float, float] | None,
    threshold: float | None,
    verdict: CheckVerdict,
    message: str,
    champion: float | None = None,
) -> Check:
    """A check with its bound and its change against the champion filled in."""
    change = value - champion if value is not None and champion is not None else None
    return Check(
        feature=feature,
        metric=metric,
        value=value,
        interval=interval,
        threshold=threshold,
        bound=bound_of(metric),
        verdict=verdict,
        message=message,
        champion=champion,
        change=change,
    )


def bound_of(metric: str) -> str:
    """`max` for a difference (lower is fairer), `min` for a ratio (closer to 1 is fairer)."""
    return "min" if metric.endswith("_ratio") else "max"


def judge(
    feature: str,
    metric: str,
    value: float | None,
    interval: tuple[float, float] | None,
    threshold: float | None,
    *,
    policy: str,
    mode: str,
    champion: float | None = None,
    why_undefined: str = "undefined",
) -> Check:
    figures = _figures(metric, value, interval)
    if value is None:
        verdict = CheckVerdict.NOT_JUDGED if threshold is not None else CheckVerdict.REPORTED
        return make_check(
            feature,
            metric,
            None,
            None,
            threshold,
            verdict,
            f"{feature}: {metric} not judged: {why_undefined}",
            champion,
        )
    if threshold is None:
        return make_check(
            feature,
            metric,
            value,
            interval,
            None,
            CheckVerdict.REPORTED,
            f"{feature}: {figures}",
            champion,
        )
    higher_is_worse = bound_of(metric) == "max"
    limit = format_limit(threshold)
    past = ">" if higher_is_worse else "<"
    within = "<=" if higher_is_worse else ">="
    excess = abs(value - threshold)
    if policy == "confident" and interval is not None:
        low, high = interval
        if higher_is_worse:
            wholly_past, wholly_within = low > threshold, high <= threshold
        else:
            wholly_past, wholly_within = high < threshold, low >= threshold
        if wholly_past:
            verdict = CheckVerdict.FAILED
            message = f"{feature}: {figures} {past} {limit} by {excess:.3f} (whole interval)"
        elif wholly_within:
            verdict = CheckVerdict.PASSED
            message = f"{feature}: {figures} {within} {limit}"
        else:
            verdict = CheckVerdict.WARNED
            message = f"{feature}: {figures} straddles {limit}; more data would settle it"
    else:
        failed = value > threshold if higher_is_worse else value < threshold
        verdict = CheckVerdict.FAILED if failed else CheckVerdict.PASSED
        message = (
            f"{feature}: {figures} {past} {limit} by {excess:.3f}"
            if failed
            else f"{feature}: {figures} {within} {limit}"
        )
    if verdict is CheckVerdict.FAILED and mode == "warn":
        verdict = CheckVerdict.WARNED
        message += " (mode warn: not blocking)"
    return make_check(feature, metric, value, interval, threshold, verdict, message, champion)


def worst_passing(checks: Sequence[Check]) -> Check | None:
    """The judged check closest to (or furthest past) its threshold, for a one-line summary."""
    judged = [c for c in checks if c.threshold is not None and c.value is not None]
    if not judged:
        return None

    def margin(check: Check) -> float:
        slack = float(check.threshold or 0.0) - float(check.value or 0.0)
        return slack if bound_of(check.metric) == "max" else -slack

    return min(judged, key=margin)


def format_limit(limit: float) -> str:
    """A threshold as people write it: 0.1 shows as 0.10, 0.125 as 0.125."""
    if abs(limit - round(limit, 2)) < 1e-12:
        return f"{limit:.2f}"
    return f"{limit:g}"


def _figures(metric: str, value: float | None, interval: tuple[float, float] | None) -> str:
    if value is None:
        return f"{metric} undefined"
    text = f"{metric} {value:.3f}"
    if interval is not None:
        text += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
    return text
