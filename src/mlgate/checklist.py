"""The pre-deployment checklist: eight boxes, each ticked only from recorded evidence.

The guide's checklist, as the report, the card and `mlgate promote` show it. A box is
ticked when the evidence for it was found, never by default: what is unknown (no
GitHub token to look up the review, not registered yet) stays unticked, with why.
`tick(facts)` is pure; the run (`card` stage, registration) and promotion (the
version's tags, the registry's aliases, GitHub) gather the facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlgate.results.card import ChecklistBox

# (key, what the box says), in the guide's order. `promotion.require_checklist` names keys.
BOXES: tuple[tuple[str, str], ...] = (
    ("code", "Code versioned in git and reviewed"),
    ("data", "Training data versioned and its location logged"),
    ("dependencies", "Dependencies pinned (the model's requirements logged)"),
    ("evaluation", "Evaluated on held-out data, metrics logged"),
    ("bias", "Tested for bias on the sensitive features"),
    ("environment", "Training environment captured in a Docker image"),
    ("registry", "Logged in the model registry with a unique version"),
    ("rollback", "A rollback plan: a previous production version to roll back to"),
)
KEYS = tuple(key for key, _ in BOXES)


@dataclass(frozen=True)
class Review:
    """A merged pull request of the commit, and who approved it (empty: nobody)."""

    number: int
    approvers: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What was found; None (or empty) where nothing was."""

    commit: str | None = None
    dirty: bool | None = None
    review: Review | None = None
    review_unknown: str | None = None  # why no review was looked up or found
    training_uri: str | None = None
    training_sha256: str | None = None
    training_version_id: str | None = None  # S3 object version
    training_dvc_md5: str | None = None
    requirements: tuple[str, ...] | None = None  # None: the model is not logged yet
    metrics: tuple[str, ...] = ()  # figures computed and logged
    held_out: bool | None = None  # evaluated on data other than the training data
    sensitive_features: tuple[str, ...] = ()  # judged by the fairness stage
    fairness_verdict: str | None = None
    image: str | None = None  # the image build-image pushed for the version
    training_image: str | None = None  # compute.docker_image, by digest or local image id
    training_image_by_digest: bool = False
    version: str | None = None  # the registered version
    previous_production: str | None = None  # the version production held before this one


def tick(facts: Facts) -> tuple[ChecklistBox, ...]:
    found = {
        "code": _code(facts),
        "data": _data(facts),
        "dependencies": _dependencies(facts),
        "evaluation": _evaluation(facts),
        "bias": _bias(facts),
        "environment": _environment(facts),
        "registry": _registry(facts),
        "rollback": _rollback(facts),
    }
    return tuple(
        ChecklistBox(key=key, label=label, ticked=found[key][0], evidence=found[key][1])
        for key, label in BOXES
    )


def _code(facts: Facts) -> tuple[bool, str]:
    if not facts.commit:
        return False, "no git commit recorded"
    commit = f"commit {facts.commit[:12]}"
    if facts.dirty:
        return False, f"{commit} with uncommitted changes"
    review = facts.review
    if review is None:
        return False, f"{commit}; review not found: {facts.review_unknown or 'not looked up'}"
    if not review.approvers:
        return False, f"{commit}; pull request #{review.number} merged without an approving review"
    approvers = ", ".join(review.approvers)
    return True, f"{commit}; pull request #{review.number} merged, approved by {approvers}"


def _data(facts: Facts) -> tuple[bool, str]:
    if not facts.training_uri:
        return False, "no training data location recorded"
    versions = [
        f"{name} {value}"
        for name, value in (
            ("DVC md5", facts.training_dvc_md5),
            ("S3 version", facts.training_version_id),
            ("SHA-256", facts.training_sha256[:12] if facts.training_sha256 else None),
        )
        if value
    ]
    if not versions:
        return False, f"{facts.training_uri}: no hash or version recorded"
    return True, f"{facts.training_uri} ({', '.join(versions)})"


def _dependencies(facts: Facts) -> tuple[bool, str]:
    if facts.requirements is None:
        return False, "the model's requirements are logged when it is registered"
    loose = [line for line in facts.requirements if "==" not in line]
    if not facts.requirements:
        return False, "the model was logged without requirements"
    if loose:
        return False, f"not pinned: {', '.join(loose)}"
    return True, ", ".join(facts.requirements)


def _evaluation(facts: Facts) -> tuple[bool, str]:
    if not facts.metrics:
        return False, "no evaluation figures recorded"
    metrics = ", ".join(facts.metrics)
    if not facts.held_out:
        return False, f"{metrics} computed on the training data, not held-out data"
    return True, f"{metrics} on the held-out validation data"


def _bias(facts: Facts) -> tuple[bool, str]:
    if not facts.sensitive_features:
        return False, "no sensitive feature was judged (fairness.sensitive_features)"
    features = ", ".join(facts.sensitive_features)
    return True, f"{features}: fairness {facts.fairness_verdict or 'judged'}"


def _environment(facts: Facts) -> tuple[bool, str]:
    trained = facts.training_image
    if trained and facts.training_image_by_digest:
        return True, f"trained in {trained}"
    if trained and not (facts.image and "@sha256:" in facts.image):
        return False, f"trained in {trained}, a local image never pushed: no registry digest"
    if not facts.image:
        return False, "no image built for this version (mlgate build-image --push)"
    if "@sha256:" not in facts.image:
        return False, f"{facts.image} is not pinned by digest"
    return True, facts.image


def _registry(facts: Facts) -> tuple[bool, str]:
    if not facts.version:
        return False, "not registered"
    return True, f"version {facts.version}"


def _rollback(facts: Facts) -> tuple[bool, str]:
    if not facts.previous_production:
        return False, "no earlier production version to roll back to"
    return True, f"roll back to version {facts.previous_production} (mlgate rollback)"
