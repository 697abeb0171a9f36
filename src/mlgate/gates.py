"""Gate verdicts from plain figures: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from mlgate.catalogue import LOWER_IS_BETTER
from mlgate.config import Gate


class Verdict(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class GateResult:
    metric: str
    bound: str  # "min", "max", "max_drop", "min_gain"
    limit: float
    value: float | None
    verdict: Verdict
    message: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


def judge(
    metrics: dict[str, float],
    gates: dict[str, Gate],
    champion: dict[str, float] | None = None,
) -> list[GateResult]:
    """Every bound of every gate, in config order.

    Comparative bounds (`max_drop`, `min_gain`) need the champion's figures; with
    no champion yet the candidate is the first model and those bounds pass.
    """
    results: list[GateResult] = []
    for metric, gate in gates.items():
        value = metrics[metric]
        if gate.min is not None:
            results.append(_absolute(metric, value, "min", gate.min))
        if gate.max is not None:
            results.append(_absolute(metric, value, "max", gate.max))
        for bound in ("max_drop", "min_gain"):
            limit = getattr(gate, bound)
            if limit is None:
                continue
            if champion is None or metric not in champion:
                results.append(
                    GateResult(
                        metric,
                        bound,
                        limit,
                        value,
                        Verdict.PASSED,
                        f"{metric} {value:.4g}: no champion yet, so the {_bound_words(bound)} "
                        "check passes",
                    )
                )
            else:
                results.append(_comparative(metric, value, champion[metric], bound, limit, gate))
    return results


def overall(results: list[GateResult]) -> Verdict:
    return Verdict.FAILED if any(r.verdict is Verdict.FAILED for r in results) else Verdict.PASSED


def _absolute(metric: str, value: float, bound: str, limit: float) -> GateResult:
    passed = value >= limit if bound == "min" else value <= limit
    sign = (">=" if passed else "<") if bound == "min" else ("<=" if passed else ">")
    message = f"{metric} {value:.4g} {sign} {bound} {limit:g}"
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
    metric: str, value: float, champion_value: float, bound: str, limit: float, gate: Gate
) -> GateResult:
    gain = improvement(metric, value, champion_value, relative=gate.relative)
    unit = " (relative)" if gate.relative else ""
    if bound == "max_drop":
        passed = -gain <= limit
        words = f"allowed drop {limit:g}{unit}"
    else:
        passed = gain >= limit
        words = f"required gain {limit:g}{unit}"
    message = (
        f"{metric} {value:.4g} vs champion {champion_value:.4g}: {gain:+.4g}{unit}, "
        f"{'within' if passed else 'outside'} the {words}"
    )
    return GateResult(metric, bound, limit, value, _verdict(passed), message)


def _bound_words(bound: str) -> str:
    return "allowed-drop" if bound == "max_drop" else "required-gain"


def _verdict(passed: bool) -> Verdict:
    return Verdict.PASSED if passed else Verdict.FAILED
