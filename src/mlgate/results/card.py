"""The card stage's result: the card's files and the facts they were rendered from.

The facts are what the card says, copied from the other stages' results
(`mlgate.card.facts` gathers them). `card.json` stores them so that a later run can
compare its card with this one; the templates render their JSON (`to_json(facts)`),
the same document a team's own template sees.

Typed here: the model, its uses, the fairness figures, the considerations and how to
load the model. The data, evaluation and data-validation parts and the `changes`
against the champion's card are still JSON documents (`dict[str, JsonValue]`): the
functions that build them return documents.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import JsonValue

from mlgate.results._base import STRICT, Number, StageResult, TaskKind, _adapter, omit_if_none
from mlgate.results.stopped import StoppedRun


@dataclass(frozen=True)
class CardFiles:
    """The card's files in the run directory."""

    __pydantic_config__ = STRICT

    markdown: str
    html: str


@dataclass(frozen=True)
class ChecklistBox:
    """One box of the pre-deployment checklist (`mlgate.checklist`): ticked only from evidence."""

    __pydantic_config__ = STRICT

    key: str
    label: str
    ticked: bool
    evidence: str  # what ticked it, or why it is not ticked


@dataclass(frozen=True, kw_only=True)
class ModelFacts:
    """The model: what it is, what it was trained with, and who answers for it."""

    __pydantic_config__ = STRICT

    name: str
    version: str | None  # None until the register stage names it
    alias: str | None
    type: str
    estimator: str | None
    estimator_class: str | None
    task: TaskKind | None
    classes: tuple[str, ...]
    positive_label: str | None
    params: dict[str, JsonValue]
    features: tuple[str, ...]
    owners: tuple[str, ...]
    license: str | None
    date: str  # ISO date of the card
    description: str
    run_id: str
    config_sha256: str | None
    feature_spec_sha256: str | None
    # compute.docker_image: the image it trained in (absent: trained where mlgate ran).
    training_image: str | None = omit_if_none()
    # compute.stages: the stages that ran in that image (absent: none did).
    image_stages: tuple[str, ...] | None = omit_if_none()


@dataclass(frozen=True, kw_only=True)
class UsesFacts:
    """The team's words on what the model is for, and what it is not for."""

    __pydantic_config__ = STRICT

    intended_use: str
    out_of_scope_uses: str


@dataclass(frozen=True, kw_only=True)
class GroupFacts:
    """One group of a sensitive feature; `metrics` leaves out `count`, its own column."""

    __pydantic_config__ = STRICT

    group: str
    count: int
    too_small: bool
    metrics: dict[str, Number | None]


@dataclass(frozen=True, kw_only=True)
class DisparityFacts:
    """One disparity of a sensitive feature, as the fairness stage judged it."""

    __pydantic_config__ = STRICT

    metric: str
    value: Number | None
    interval: tuple[Number, Number] | None
    threshold: Number | None
    verdict: str
    champion: Number | None
    message: str


@dataclass(frozen=True, kw_only=True)
class FeatureFacts:
    """A judged sensitive feature: its groups' figures and its disparities."""

    __pydantic_config__ = STRICT

    feature: str
    group_metrics: tuple[str, ...]  # the per-group figures shown, in order
    groups: tuple[GroupFacts, ...]
    disparities: tuple[DisparityFacts, ...]


@dataclass(frozen=True, kw_only=True)
class FairnessFacts:
    """The fairness stage's figures (`status` is "not run" when it left no result)."""

    __pydantic_config__ = STRICT

    status: str
    summary: str
    policy: str | None
    mode: str | None
    confidence: Number | None
    min_group_size: int | None
    chart: str | None
    features: tuple[FeatureFacts, ...]


@dataclass(frozen=True, kw_only=True)
class ConsiderationsFacts:
    """The team's words on limitations, ethics, caveats and recommendations."""

    __pydantic_config__ = STRICT

    limitations: str
    ethical_considerations: str
    caveats_and_recommendations: str


@dataclass(frozen=True, kw_only=True)
class HowToLoad:
    """The model URIs a reader loads the model with, and the Python that does it."""

    __pydantic_config__ = STRICT

    registered: bool
    model_uri: str
    version_uri: str | None  # None until a version is registered
    production_uri: str
    python: str


@dataclass(frozen=True, kw_only=True)
class CardFacts:
    """Everything the card says; `changes` is set once compared with the champion's card."""

    __pydantic_config__ = STRICT

    schema: int  # the facts' shape, so a diff against an older card knows what it may compare
    stages: dict[str, str]  # stage -> verdict, or "not run"
    model: ModelFacts
    uses: UsesFacts
    data: dict[str, JsonValue]
    evaluation: dict[str, JsonValue]
    fairness: FairnessFacts
    validation: dict[str, JsonValue]
    considerations: ConsiderationsFacts
    how_to_load: HowToLoad
    plots: tuple[str, ...]
    changes: dict[str, JsonValue] | None = omit_if_none()  # noqa: RUF009
    # An error stopped the run before this card: the card says it did not finish.
    stopped: StoppedRun | None = omit_if_none()  # noqa: RUF009
    # The pre-deployment checklist, as far as the run's evidence goes.
    checklist: tuple[ChecklistBox, ...] | None = omit_if_none()

    def replace(self, **changes: Any) -> CardFacts:
        return replace(self, **changes)

    @classmethod
    def from_json(cls, data: Any) -> CardFacts:
        """Facts read back from JSON; raises `pydantic.ValidationError` when malformed."""
        return _adapter(cls).validate_python(data)


@dataclass(frozen=True, kw_only=True)
class CardResult(StageResult):
    STAGE = "card"

    files: CardFiles
    template: str | None
    facts: CardFacts
