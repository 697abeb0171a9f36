"""What must hold before a version may take an alias: pure checks on recorded tags.

The register stage writes every gate's verdict as `mlgate.gate.<name>` and the
lineage as `mlgate.git.*`, `mlgate.data.<role>.*`, ... (keys in `mlgate.tracking.tags`).
Promotion re-checks them from the registry, not from any run directory: the
version is judged by what was recorded when it was made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlgate.errors import UsageError
from mlgate.tracking import tags as keys

GATE_PREFIX = keys.GATE_PREFIX
METRIC_PREFIX = keys.METRIC_PREFIX
# Gates every promotable version must have passed. Other recorded gates (fairness,
# data validation, ...) block when they failed, and pass when passed or skipped.
REQUIRED_GATES = ("evaluation",)
NOT_BLOCKING = frozenset({"passed", "skipped"})

# The lineage the audit questions need: what code, what data, what config.
LINEAGE_TAGS = keys.LINEAGE_REQUIRED

_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,254}$")


@dataclass(frozen=True)
class Finding:
    """One reason a version may not be promoted."""

    check: str  # version | gates | lineage
    message: str


@dataclass(frozen=True)
class Decision:
    findings: tuple[Finding, ...]
    forced: bool

    @property
    def allowed(self) -> bool:
        return not self.findings or self.forced


def check_force(force: bool, reason: str | None) -> None:
    """`--force` must say why: the reason is what the ledger keeps for the auditor."""
    if force and not (reason and reason.strip()):
        raise UsageError(
            "--force needs --reason TEXT: a forced promotion is recorded with who and why"
        )


def check_alias(alias: str) -> None:
    if not _ALIAS.match(alias) or alias == "latest" or re.fullmatch(r"v\d+", alias):
        raise UsageError(
            f"'{alias}' is not a valid alias: start with a letter, then letters, digits, "
            "'_' or '-' ('latest' and 'v<number>' are reserved by MLflow)"
        )


def check_target(alias: str, allowed: list[str] | tuple[str, ...]) -> None:
    check_alias(alias)
    if alias not in allowed:
        raise UsageError(
            f"alias '{alias}' is not a promotion target; allowed: {', '.join(allowed)} "
            "(promotion.aliases in mlgate.yaml)"
        )


def check_canary_percent(percent: float) -> None:
    if not 0 < percent < 100:
        raise UsageError(f"--canary {percent:g}: a canary's share is above 0 and below 100")


def gate_verdicts(tags: dict[str, str]) -> dict[str, str]:
    return {
        key[len(GATE_PREFIX) :]: value
        for key, value in sorted(tags.items())
        if key.startswith(GATE_PREFIX)
    }


def gate_summary(tags: dict[str, str]) -> dict[str, str]:
    """Verdicts and headline metrics, compact enough for a ledger entry."""
    summary = gate_verdicts(tags)
    for key, value in sorted(tags.items()):
        if key.startswith(METRIC_PREFIX):
            summary[key[len(METRIC_PREFIX) :]] = value
    return summary


def check_gates(tags: dict[str, str], required: tuple[str, ...] = REQUIRED_GATES) -> list[Finding]:
    verdicts = gate_verdicts(tags)
    findings = [
        Finding("gates", f"no recorded {name} verdict (tag {GATE_PREFIX}{name})")
        for name in required
        if name not in verdicts
    ]
    for name, verdict in verdicts.items():
        acceptable = {"passed"} if name in required else NOT_BLOCKING
        if verdict not in acceptable:
            findings.append(Finding("gates", f"the {name} gate {verdict}"))
    return findings


def check_lineage(info: Any) -> list[Finding]:
    missing = [what for key, what in LINEAGE_TAGS.items() if not info.tags.get(key)]
    if not info.run_id:
        missing.append("the MLflow run that made it")
    if not missing:
        return []
    return [Finding("lineage", "lineage incomplete: missing " + ", ".join(missing))]


def check_version(info: Any, *, require_gates: bool = True) -> list[Finding]:
    """Everything that must hold for `info` (a store.VersionInfo) to take an alias."""
    if info.status != "READY":
        return [Finding("version", f"version {info.version} is {info.status}, not READY")]
    findings = check_gates(info.tags) if require_gates else []
    return findings + check_lineage(info)


def decide(findings: list[Finding], *, force: bool, reason: str | None) -> Decision:
    check_force(force, reason)
    return Decision(findings=tuple(findings), forced=bool(findings) and force)


def refusal_message(model: str, version: str, alias: str, findings: tuple[Finding, ...]) -> str:
    reasons = "; ".join(f.message for f in findings)
    return (
        f"refusing to promote {model} v{version} to {alias}: {reasons}; promote a version "
        "whose gates passed, or override with --force --reason TEXT (recorded in the ledger)"
    )


def check_swap(aliases: list[str] | tuple[str, ...], allowed: list[str] | tuple[str, ...]) -> None:
    """A swap takes two different aliases, each a promotion target."""
    for alias in aliases:
        check_target(alias, allowed)
    if len(set(aliases)) != 2:
        raise UsageError(
            f"--swap {' '.join(aliases)}: name two different aliases, e.g. --swap blue green"
        )


def swap_refusal_message(model: str, first: str, second: str, findings: tuple[Finding, ...]) -> str:
    reasons = "; ".join(f.message for f in findings)
    return (
        f"refusing to swap {first} and {second} of {model}: {reasons}; each version must be "
        "promotable to the alias it takes, or override with --force --reason TEXT (recorded "
        "in the ledger)"
    )
