"""What a model card says, collected from the stage results: a pure function, no I/O.

The facts are a `CardFacts` (`mlgate.results.card`). The templates render their
JSON, `card.json` stores it so that a later run can compare its card with this
one, and a test reads them back against the stage results. Every figure is copied
from a stage result; a stage whose result is absent is recorded as not run, never
filled in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from mlgate._catalogue import LOWER_IS_BETTER
from mlgate.results import (
    EvaluateResult,
    FairnessResult,
    Number,
    RegisterResult,
    StageResult,
    StoppedRun,
    TrainResult,
    ValidateResult,
    to_json,
)
from mlgate.results.card import (
    CardFacts,
    ConsiderationsFacts,
    DisparityFacts,
    FairnessFacts,
    FeatureFacts,
    GroupFacts,
    HowToLoad,
    ModelFacts,
    UsesFacts,
)
from mlgate.results.evaluate import GateResult, Interval
from mlgate.results.fairness import FeatureFairness
from mlgate.results.validate import Drift, DriftChecked

R = TypeVar("R", bound=StageResult)

# Bumped when the shape of the facts changes, so that a diff against an older
# champion's card can tell which fields it may compare.
SCHEMA_VERSION = 1
NOT_RUN = "not run"

# The card's sections, in order, with their titles (the templates follow this list).
SECTIONS = (
    ("model_details", "Model details"),
    ("intended_use", "Intended use"),
    ("training_data", "Training data"),
    ("evaluation_data", "Evaluation data"),
    ("metrics", "Metrics"),
    ("fairness", "Fairness"),
    ("data_validation", "Data validation"),
    ("limitations", "Limitations"),
    ("ethical_considerations", "Ethical considerations"),
    ("caveats_and_recommendations", "Caveats and recommendations"),
    ("checklist", "Pre-deployment checklist"),
    ("how_to_load", "How to load the model"),
)


def collect_facts(
    *,
    model_name: str,
    model_type: str,
    card: Any,
    results: Mapping[str, StageResult | None],
    candidate_alias: str,
    champion_alias: str,
    run_id: str,
    date: str,
    plots: Sequence[str] = (),
    stopped: StoppedRun | None = None,
) -> CardFacts:
    """The card's facts from the stage results (`None` for a stage that did not run).

    `stopped` is why the run did not finish, when an error stopped it: the card says so.

    `card` is the config's `card:` section (free text written by the team); `date`
    is the card's date as ISO text, given by the caller so the function stays pure.
    """
    validate = _typed(results.get("validate"), ValidateResult)
    train = _typed(results.get("train"), TrainResult)
    evaluate = _typed(results.get("evaluate"), EvaluateResult)
    fairness = _typed(results.get("fairness"), FairnessResult)
    register = _typed(results.get("register"), RegisterResult)
    task = validate.task if validate else None
    registered = register.version if register and register.version else None
    alias = (register.alias if registered and register else None) or candidate_alias
    return CardFacts(
        schema=SCHEMA_VERSION,
        stages={
            name: result.verdict.value if result else NOT_RUN
            for name, result in (
                ("validate", validate),
                ("train", train),
                ("evaluate", evaluate),
                ("fairness", fairness),
            )
        },
        model=ModelFacts(
            name=model_name,
            version=str(registered) if registered else None,
            alias=register.alias if registered and register else None,
            type=model_type,
            estimator=train.estimator if train else None,
            estimator_class=train.estimator_class if train else None,
            task=task.kind if task else None,
            classes=tuple(str(label) for label in task.classes) if task else (),
            positive_label=_optional_text(task.positive_label) if task else None,
            params=dict(train.params) if train else {},
            features=tuple(train.feature_columns) if train else (),
            owners=tuple(card.owners),
            license=card.license,
            date=date,
            description=card.description,
            run_id=run_id,
            config_sha256=train.config_sha256 if train else None,
            feature_spec_sha256=train.feature_spec_sha256 if train else None,
            training_image=train.image.pinned if train and train.image else None,
            image_stages=image_stages(results) or None,
        ),
        uses=UsesFacts(
            intended_use=card.intended_use,
            out_of_scope_uses=card.out_of_scope_uses,
        ),
        data=_data(validate),
        evaluation=_evaluation(evaluate),
        fairness=_fairness(fairness),
        validation=_validation(validate),
        considerations=ConsiderationsFacts(
            limitations=card.limitations,
            ethical_considerations=card.ethical_considerations,
            caveats_and_recommendations=card.caveats_and_recommendations,
        ),
        how_to_load=_how_to_load(model_name, alias, champion_alias, registered),
        plots=tuple(sorted(plots)),
        stopped=stopped,
    )


def registered(facts: CardFacts, *, version: str, alias: str, champion_alias: str) -> CardFacts:
    """The same facts, naming the registered version (known only after the card stage)."""
    model = facts.model
    return facts.replace(
        model=replace(facts.model, version=str(version), alias=alias),
        how_to_load=_how_to_load(model.name, alias, champion_alias, str(version)),
    )


def with_registration(
    facts: Mapping[str, Any], *, version: str, alias: str, champion_alias: str
) -> dict[str, Any]:
    """`registered` for the facts as JSON (a card.json's `facts`, as templates see them)."""
    stamped = registered(
        CardFacts.from_json(facts), version=version, alias=alias, champion_alias=champion_alias
    )
    return to_json(stamped)


def image_stages(results: Mapping[str, Any]) -> tuple[str, ...]:
    """The stages whose result says they ran in compute.docker_image, in order."""
    return tuple(
        name
        for name in ("validate", "train", "evaluate")
        if getattr(results.get(name), "image", None) is not None
    )


def _typed(result: StageResult | None, kind: type[R]) -> R | None:
    """The result as its stage's type (a result of another stage is a caller's bug)."""
    if result is None:
        return None
    if not isinstance(result, kind):
        raise TypeError(f"expected a {kind.__name__}, got {type(result).__name__}")
    return result


# --- data -------------------------------------------------------------------------------

_DATA_FIELDS = ("uri", "sha256", "rows", "columns", "size_bytes", "version_id", "etag")


def _data(validate: ValidateResult | None) -> dict[str, Any]:
    data: dict[str, Any] = {"status": validate.verdict.value if validate else NOT_RUN}
    for role, key in (("training", "training"), ("validation", "evaluation")):
        info = validate.files.get(role) if validate else None
        # A local file records no S3 version or ETag: those facts are None.
        data[key] = {field: getattr(info, field, None) for field in _DATA_FIELDS} if info else None
        if info is not None and info.dvc is not None:  # DVC-tracked: only then the key
            data[key]["dvc"] = to_json(info.dvc)
    return data


# --- evaluation -------------------------------------------------------------------------


def _evaluation(evaluate: EvaluateResult | None) -> dict[str, Any]:
    """Each metric with its interval, the champion's figure and the difference with its
    interval (the paired bootstrap of the evaluate stage), and the gates' verdicts."""
    if evaluate is None:
        return {
            "status": NOT_RUN,
            "summary": "",
            "rows": None,
            "confidence": None,
            "metrics": [],
            "gates": [],
            "champion": None,
            "champion_note": "",
            "mcnemar": None,
        }
    champion = evaluate.champion
    metrics = []
    for name, value in evaluate.metrics.items():
        compared = evaluate.comparison.get(name)
        metrics.append(
            {
                "name": name,
                "value": value,
                "interval": _interval(evaluate.intervals.get(name)),
                "champion": (
                    compared.champion
                    if compared
                    else (champion.metrics.get(name) if champion else None)
                ),
                "difference": compared.difference if compared else None,
                "difference_interval": _interval(compared.interval if compared else None),
                "higher_is_better": name not in LOWER_IS_BETTER,
            }
        )
    mcnemar = evaluate.mcnemar
    return {
        "status": evaluate.verdict.value,
        "summary": evaluate.summary,
        "rows": evaluate.rows,
        "confidence": evaluate.confidence,
        "metrics": metrics,
        "gates": [_gate(gate) for gate in evaluate.gates],
        "champion": (
            {"alias": champion.alias, "version": _optional_text(champion.version)}
            if champion
            else None
        ),
        "champion_note": evaluate.champion_note,
        "mcnemar": (
            {
                "candidate_only_correct": mcnemar.candidate_only_correct,
                "champion_only_correct": mcnemar.champion_only_correct,
                "statistic": mcnemar.statistic,
                "p_value": mcnemar.p_value,
            }
            if mcnemar
            else None
        ),
    }


def _gate(gate: GateResult) -> dict[str, Any]:
    return {
        "metric": gate.metric,
        "bound": gate.bound,
        "limit": gate.limit,
        "value": gate.value,
        "verdict": gate.verdict.value,
        "message": gate.message,
    }


# --- fairness ---------------------------------------------------------------------------


def _fairness(fairness: FairnessResult | None) -> FairnessFacts:
    """Per sensitive feature: each group's figures, and each disparity with its interval,
    threshold, verdict and the champion's figure (as the fairness stage measured them)."""
    if fairness is None:
        return FairnessFacts(
            status=NOT_RUN,
            summary="",
            policy=None,
            mode=None,
            confidence=None,
            min_group_size=None,
            chart=None,
            features=(),
        )
    return FairnessFacts(
        status=fairness.verdict.value,
        summary=fairness.summary,
        policy=fairness.policy,
        mode=fairness.mode,
        confidence=fairness.confidence,
        min_group_size=fairness.min_group_size,
        chart=fairness.chart,
        features=tuple(_fairness_feature(feature) for feature in fairness.features),
    )


def _fairness_feature(feature: FeatureFairness) -> FeatureFacts:
    groups = []
    names: list[str] = []
    for group in feature.groups:
        metrics = {
            name: value
            for name, value in group.metrics.items()
            if name != "count"  # shown as the group's own column
        }
        names += [name for name in metrics if name not in names]
        groups.append(
            GroupFacts(
                group=group.group, count=group.count, too_small=group.too_small, metrics=metrics
            )
        )
    disparities = tuple(
        DisparityFacts(
            metric=check.metric,
            value=check.value,
            interval=check.interval,
            threshold=check.threshold,
            verdict=check.verdict.value,
            champion=check.champion,
            message=check.message,
        )
        for check in feature.checks
    )
    return FeatureFacts(
        feature=feature.name,
        group_metrics=tuple(names),
        groups=tuple(groups),
        disparities=disparities,
    )


# --- data validation --------------------------------------------------------------------


def _validation(validate: ValidateResult | None) -> dict[str, Any]:
    """Expectations checked and failed per data file, and drift against the reference."""
    if validate is None:
        return {
            "status": NOT_RUN,
            "summary": "",
            "suite": None,
            "checks": [],
            "failures": [],
            "drift": None,
        }
    expectations = validate.expectations
    failures = [
        {
            "role": item.role,
            "expectation": item.expectation,
            "column": item.column,
            "failed_rows": item.failed_rows,
            "total_rows": item.total_rows,
            "message": item.message,
        }
        for item in expectations.failed
    ]
    checks = [
        {
            "role": role,
            "checked": count,
            "failed": sum(1 for item in failures if item["role"] == role),
        }
        for role, count in expectations.checked.items()
    ]
    return {
        "status": validate.verdict.value,
        "summary": validate.summary,
        "suite": expectations.suite,
        "checks": checks,
        "failures": failures,
        "drift": _drift(validate.drift),
    }


def _drift(drift: Drift) -> dict[str, Any] | None:
    if not isinstance(drift, DriftChecked):
        return None
    return {
        "reference": drift.reference,
        "psi_threshold": drift.psi_threshold,
        "checked": sum(1 for item in drift.features if item.skipped is None),
        "note": drift.note,
        "drifted": [
            {"role": item.role, "feature": item.feature, "psi": item.psi} for item in drift.drifted
        ],
    }


# --- how to load ------------------------------------------------------------------------


def _how_to_load(name: str, alias: str, champion_alias: str, version: str | None) -> HowToLoad:
    uri = f"models:/{name}@{alias}"
    return HowToLoad(
        registered=version is not None,
        model_uri=uri,
        version_uri=f"models:/{name}/{version}" if version is not None else None,
        production_uri=f"models:/{name}@{champion_alias}",
        python=f'import mlflow\nmodel = mlflow.pyfunc.load_model("{uri}")',
    )


# --- helpers ----------------------------------------------------------------------------


def _interval(value: Interval | None) -> list[Number] | None:
    """An interval as [low, high]; None when there is none."""
    return [value.low, value.high] if value is not None else None


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
