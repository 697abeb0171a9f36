"""Whether a shadow model is fit to promote, from a serving image's /metrics text (pure).

A `build-image --shadow` image counts, per row the shadow scored, whether it agreed with
the primary (classifiers) or by how much it differed (regressors, a histogram), and the
rows it failed on or dropped (image/shadow.py). `mlgate shadow-report` reads that text
and judges it here:

- classifiers: the agreement rate with its Wilson score interval; "promote" only when the
  interval's lower end is at least `min_agreement`;
- regressors: the share of rows whose |shadow - primary| is at most `max_difference`
  (counted at the largest histogram bound not above it, which can only undercount), with
  its Wilson interval, against `min_agreement` in the same way: with the defaults, "the
  95th percentile of the difference is at most max_difference", with 95% confidence;
- either: the shadow's error rate (rows of requests it failed on), whose interval's upper
  end must be at most `max_error_rate`. Dropped rows are reported, not judged: they are
  rows not seen, which the interval's width already accounts for.

Anything else is "hold".
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

from mlgate.errors import InputError, UsageError

REQUESTS = "mlgate_shadow_requests_total"
AGREEMENTS = "mlgate_shadow_agreements_total"
ERRORS = "mlgate_shadow_errors_total"
DROPPED = "mlgate_shadow_dropped_total"
DIFFERENCE = "mlgate_shadow_abs_difference"
LATENCY = "mlgate_shadow_latency_seconds"
MODEL_INFO = "mlgate_model_info"

_SAMPLE = re.compile(
    r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?$"
)
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str, where: str) -> list[Sample]:
    """The samples of Prometheus' text format (or OpenMetrics'); an InputError naming
    `where` and the line for one that is neither."""
    samples = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        value = _number(match.group("value")) if match else None
        labels = _labels(match.group("labels") or "") if match else None
        if match is None or value is None or labels is None:
            raise InputError(
                f"line {number} is not a Prometheus sample ({line[:80]!r}): give the text of "
                "a serving image's /metrics",
                file=where,
            )
        samples.append(Sample(match.group("name"), labels, value))
    return samples


def _number(text: str) -> float | None:
    try:
        return float(text)  # also +Inf, -Inf, NaN
    except ValueError:
        return None


def _labels(text: str) -> dict[str, str] | None:
    found, at = {}, 0
    while at < len(text):
        match = _LABEL.match(text, at)
        if match is None or match.end() == at:
            return None
        value = match.group(2)
        found[match.group(1)] = value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        at = match.end()
    return found


@dataclass(frozen=True)
class Figures:
    """The shadow's counts from one /metrics text (summed over its series)."""

    rows: float  # scored by the shadow
    agreements: float
    errors: float
    dropped: float
    # |shadow - primary| (regressors): cumulative counts by upper bound, and count and sum.
    difference_buckets: tuple[tuple[float, float], ...]
    difference_count: float
    difference_sum: float
    latency_buckets: tuple[tuple[float, float], ...]
    primary: str | None  # "NAME vVERSION" from mlgate_model_info
    shadow: str | None


def figures(samples: list[Sample], where: str) -> Figures:
    """The shadow's figures, or an InputError when the text holds none (no shadow image)."""
    names = {sample.name for sample in samples}
    if REQUESTS not in names:
        raise InputError(
            f"no {REQUESTS} in it: this is not the /metrics of an image built with "
            "`mlgate build-image ... --shadow`",
            file=where,
        )

    def total(name: str) -> float:
        return sum(s.value for s in samples if s.name == name)

    def buckets(name: str) -> tuple[tuple[float, float], ...]:
        by_bound: dict[float, float] = {}
        for s in samples:
            bound = _number(s.labels.get("le", "")) if s.name == f"{name}_bucket" else None
            if bound is not None:
                by_bound[bound] = by_bound.get(bound, 0.0) + s.value
        return tuple(sorted(by_bound.items()))

    def model(role: str) -> str | None:
        for s in samples:
            if s.name == MODEL_INFO and s.labels.get("role", "primary") == role:
                return f"{s.labels.get('name')} v{s.labels.get('version')}"
        return None

    return Figures(
        rows=total(REQUESTS),
        agreements=total(AGREEMENTS),
        errors=total(ERRORS),
        dropped=total(DROPPED),
        difference_buckets=buckets(DIFFERENCE),
        difference_count=total(f"{DIFFERENCE}_count"),
        difference_sum=total(f"{DIFFERENCE}_sum"),
        latency_buckets=buckets(LATENCY),
        primary=model("primary"),
        shadow=model("shadow"),
    )


def wilson(successes: float, trials: float, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0, 1 when there are no trials)."""
    if trials <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = successes / trials
    centre = share + z * z / (2 * trials)
    spread = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    scale = 1 + z * z / trials
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def quantile(buckets: tuple[tuple[float, float], ...], q: float) -> float | None:
    """The upper bound of the bucket holding the q-quantile (None without observations, or
    when it lies above the largest finite bound)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    wanted = q * buckets[-1][1]
    for bound, count in buckets:
        if count >= wanted:
            return bound if math.isfinite(bound) else None
    return None


@dataclass(frozen=True)
class Verdict:
    """What shadow-report says, and every figure it says it from."""

    verdict: str  # promote or hold
    reasons: list[str]
    kind: str  # classification or regression
    primary: str | None
    shadow: str | None
    rows: float
    confidence: float
    min_agreement: float
    # classifiers: rows agreeing; regressors: rows within `difference_bound`
    agreeing: float
    agreement: float | None
    agreement_interval: tuple[float, float]
    max_difference: float | None
    difference_bound: float | None
    mean_difference: float | None
    difference_quantiles: dict[str, float | None] = field(default_factory=dict)
    errors: float = 0.0
    error_rate: float | None = None
    error_interval: tuple[float, float] = (0.0, 1.0)
    max_error_rate: float = 0.02
    dropped: float = 0.0
    drop_rate: float | None = None
    latency_quantiles: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["agreement_interval"] = list(self.agreement_interval)
        found["error_interval"] = list(self.error_interval)
        return found


def judge(
    found: Figures,
    *,
    min_agreement: float = 0.95,
    max_difference: float | None = None,
    max_error_rate: float = 0.02,
    confidence: float = 0.95,
) -> Verdict:
    """The verdict on the shadow's figures: "promote" only when every interval clears."""
    regression = found.difference_count > 0
    if regression and max_difference is None:
        raise UsageError(
            "the shadow is a regressor (its /metrics has mlgate_shadow_abs_difference): give "
            "--max-difference X, the largest |shadow - primary| acceptable, in the target's unit"
        )
    if not regression and max_difference is not None and found.rows > 0:
        raise UsageError(
            "the shadow is a classifier (no mlgate_shadow_abs_difference observations): "
            "judge it by --min-agreement, not --max-difference"
        )
    reasons = []
    bound = None
    if regression:
        assert max_difference is not None
        usable = [(b, c) for b, c in found.difference_buckets if b <= max_difference]
        if not usable:
            raise UsageError(f"--max-difference {max_difference:g} is below every bucket")
        bound, agreeing = usable[-1]
        trials = found.difference_count
    else:
        agreeing, trials = found.agreements, found.rows
    share = agreeing / trials if trials else None
    interval = wilson(agreeing, trials, confidence)
    what = f"rows within |difference| {bound:g}" if regression else "rows agreeing with the primary"
    if not trials:
        reasons.append("the shadow has scored no rows yet")
    elif interval[0] < min_agreement:
        reasons.append(
            f"{what}: {share:.1%} (interval {interval[0]:.1%} to {interval[1]:.1%}), "
            f"the interval is not all at or above {min_agreement:.1%}"
        )
    attempted = found.rows + found.errors
    error_interval = wilson(found.errors, attempted, confidence)
    if attempted and error_interval[1] > max_error_rate:
        reasons.append(
            f"errors on {found.errors:g} of {attempted:g} rows (up to {error_interval[1]:.1%}), "
            f"more than {max_error_rate:.1%} cannot be ruled out"
        )
    offered = attempted + found.dropped
    return Verdict(
        verdict="hold" if reasons else "promote",
        reasons=reasons,
        kind="regression" if regression else "classification",
        primary=found.primary,
        shadow=found.shadow,
        rows=found.rows,
        confidence=confidence,
        min_agreement=min_agreement,
        agreeing=agreeing,
        agreement=share,
        agreement_interval=interval,
        max_difference=max_difference,
        difference_bound=bound,
        mean_difference=(
            found.difference_sum / found.difference_count if found.difference_count else None
        ),
        difference_quantiles={
            f"p{round(q * 100)}": quantile(found.difference_buckets, q) for q in (0.5, 0.9, 0.99)
        }
        if regression
        else {},
        errors=found.errors,
        error_rate=found.errors / attempted if attempted else None,
        error_interval=error_interval,
        max_error_rate=max_error_rate,
        dropped=found.dropped,
        drop_rate=found.dropped / offered if offered else None,
        latency_quantiles={
            f"p{round(q * 100)}": quantile(found.latency_buckets, q) for q in (0.5, 0.99)
        },
    )


def render(verdict: Verdict) -> list[str]:
    """The verdict as lines of text: the verdict first, then its figures."""
    who = verdict.shadow or "the shadow"
    beside = f" beside {verdict.primary}" if verdict.primary else ""
    lines = [f"{who}{beside}: {verdict.verdict}"]
    level = f"{verdict.confidence:.0%} interval"
    if verdict.kind == "classification":
        if verdict.agreement is not None:
            lines.append(
                f"agreement {verdict.agreement:.1%} of {verdict.rows:g} rows ({level} "
                f"{verdict.agreement_interval[0]:.1%} to {verdict.agreement_interval[1]:.1%}), "
                f"needs at least {verdict.min_agreement:.1%}"
            )
    else:
        quantiles = ", ".join(
            f"{name} <= {value:g}"
            for name, value in verdict.difference_quantiles.items()
            if value is not None
        )
        mean = verdict.mean_difference if verdict.mean_difference is not None else math.nan
        lines.append(f"|shadow - primary|: mean {mean:.4g}, {quantiles}")
        if verdict.agreement is not None and verdict.difference_bound is not None:
            lines.append(
                f"within {verdict.difference_bound:g}: {verdict.agreement:.1%} of "
                f"{verdict.rows:g} rows ({level} {verdict.agreement_interval[0]:.1%} to "
                f"{verdict.agreement_interval[1]:.1%}), needs at least "
                f"{verdict.min_agreement:.1%}"
                + (
                    f" (--max-difference {verdict.max_difference:g} counted at the bucket "
                    f"bound {verdict.difference_bound:g})"
                    if verdict.max_difference != verdict.difference_bound
                    else ""
                )
            )
    if verdict.error_rate is not None:
        lines.append(
            f"errors {verdict.errors:g} rows ({verdict.error_rate:.1%}, at most "
            f"{verdict.error_interval[1]:.1%}; limit {verdict.max_error_rate:.1%})"
        )
    if verdict.drop_rate is not None:
        lines.append(
            f"dropped {verdict.dropped:g} rows ({verdict.drop_rate:.1%} of those offered: the "
            "shadow's queue was full)"
        )
    latency = ", ".join(
        f"{name} <= {value:g} s"
        for name, value in verdict.latency_quantiles.items()
        if value is not None
    )
    if latency:
        lines.append(f"shadow latency {latency}")
    lines.extend(f"hold: {reason}" for reason in verdict.reasons)
    return lines
