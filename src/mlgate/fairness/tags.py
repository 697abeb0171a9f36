"""The fairness gate's registry tags: its verdict, and every judged figure as compact JSON."""

from __future__ import annotations

import json

from mlgate.results.fairness import CheckVerdict, FairnessResult
from mlgate.tracking import tags as keys

# MLflow caps a tag value at 5,000 characters (model version tags); keep well under it.
TAG_LIMIT = 4000


def tags(result: FairnessResult) -> dict[str, str]:
    """Registry tags: the gate's verdict and every judged figure (the failed ones if too long)."""
    checks = [
        {
            "feature": check.feature,
            "metric": check.metric,
            "value": None if check.value is None else round(check.value, 4),
            "interval": [round(end, 4) for end in check.interval] if check.interval else None,
            "threshold": check.threshold,
            "verdict": check.verdict.value,
        }
        for check in result.checks
        if check.threshold is not None
    ]
    text = json.dumps(checks, separators=(",", ":"))
    if len(text) > TAG_LIMIT:
        kept = [check for check in checks if check["verdict"] != CheckVerdict.PASSED.value]
        text = json.dumps(kept, separators=(",", ":"))[:TAG_LIMIT]
    found = {keys.gate_key("fairness"): result.verdict.value, keys.FAIRNESS: text}
    if result.policy:
        found[keys.FAIRNESS_POLICY] = f"{result.policy}/{result.mode}"
    return found
