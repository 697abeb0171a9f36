"""The checklist of a registered version, from what the registry recorded when it was made.

`version_facts` is pure: the version's tags, the alias the rollback box asks about and
the review the caller looked up. Promotion shows the boxes and refuses a version whose
boxes named by `promotion.require_checklist` are not ticked (exit 1, naming them).
"""

from __future__ import annotations

import json
from typing import Any

from mlgate.checklist import Facts, Review
from mlgate.promotion.rules import Finding
from mlgate.results.card import ChecklistBox
from mlgate.tracking import tags as keys

# The packages the register stage pins as the model's requirements from the training
# environment's versions, which the version's mlgate.env.* tags record
# (stages/register.py pip_requirements; its cloudpickle pin has no tag).
_PINNED = ("scikit-learn", "pandas", "numpy")
_JUDGED = frozenset({"passed", "failed", "warned"})


def version_facts(
    info: Any,
    *,
    previous_production: str | None,
    review: Review | None,
    review_unknown: str,
) -> Facts:
    """The evidence of `info` (a model_store.VersionInfo)."""
    tags: dict[str, str] = info.tags
    training_sha = tags.get(keys.data_key("training", "sha256"))
    validation_sha = tags.get(keys.data_key("validation", "sha256"))
    requirements = tuple(
        f"{package}=={tags[keys.env_key(package)]}"
        for package in _PINNED
        if tags.get(keys.env_key(package))
    )
    dirty = tags.get(keys.GIT_DIRTY)
    return Facts(
        commit=tags.get(keys.GIT_COMMIT),
        dirty={"True": True, "False": False}.get(dirty) if dirty else None,
        review=review,
        review_unknown=review_unknown or None,
        training_uri=tags.get(keys.data_key("training", "uri")),
        training_sha256=training_sha,
        training_version_id=tags.get(keys.data_key("training", "version_id")),
        training_dvc_md5=tags.get(keys.data_key("training", keys.DATA_DVC_MD5)),
        requirements=requirements or None,
        metrics=tuple(
            name for key in sorted(tags) if (name := keys.with_prefix(key, keys.METRIC_PREFIX))
        ),
        held_out=bool(training_sha and validation_sha and training_sha != validation_sha),
        sensitive_features=_judged_features(tags.get(keys.FAIRNESS)),
        fairness_verdict=tags.get(keys.gate_key("fairness")),
        image=tags.get(keys.IMAGE),
        training_image=tags.get(keys.TRAINING_IMAGE),
        training_image_by_digest=tags.get(keys.TRAINING_IMAGE_BY_DIGEST) == "True",
        version=info.version,
        previous_production=previous_production if previous_production != info.version else None,
    )


def required_findings(
    boxes: tuple[ChecklistBox, ...], required: list[str] | tuple[str, ...]
) -> list[Finding]:
    by_key = {box.key: box for box in boxes}
    return [
        Finding("checklist", f"checklist box '{key}' is not ticked ({by_key[key].evidence})")
        for key in required
        if not by_key[key].ticked
    ]


def _judged_features(text: str | None) -> tuple[str, ...]:
    try:
        checks = json.loads(text) if text else []
    except ValueError:
        return ()
    if not isinstance(checks, list):
        return ()
    names = {
        check["feature"]
        for check in checks
        if isinstance(check, dict)
        and isinstance(check.get("feature"), str)
        and check.get("verdict") in _JUDGED
    }
    return tuple(sorted(names))
