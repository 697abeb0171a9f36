"""What a model card says, collected from the stage results: a pure function, no I/O.

The facts are plain JSON data. The templates render them, `card.json` stores
them so that a later run can compare its card with this one, and a test reads
them back against the stage results. Every figure is copied from a stage result;
a stage whose result is absent is recorded as not run, never filled in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlgate.catalogue import LOWER_IS_BETTER
from mlgate.results import ValidateResult
from mlgate.results.validate import Drift, DriftChecked

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
    ("how_to_load", "How to load the model"),
)


def collect_facts(
    *,
    model_name: str,
    model_type: str,
    card: Any,
    results: Mapping[str, Mapping[str, Any] | None],
    candidate_alias: str,
    champion_alias: str,
    run_id: str,
    date: str,
    plots: Sequence[str] = (),
) -> dict[str, Any]:
    """The card's facts from the stage results (`None` for a stage that did not run).

    `card` is the config's `card:` section (free text written by the team); `date`
    is the card's date as ISO text, given by the caller so the function stays pure.
    """
    validate = results.get("validate")
    train = results.get("train")
    evaluate = results.get("evaluate")
    fairness = results.get("fairness")
    register = results.get("register")
    task = (validate or {}).get("task") or {}
    registered = register if register and register.get("version") else None
    alias = (registered or {}).get("alias") or candidate_alias
    return {
        "schema": SCHEMA_VERSION,
        "stages": {
            name: (result or {}).get("verdict", NOT_RUN)
            for name, result in (
                ("validate", validate),
                ("train", train),
                ("evaluate", evaluate),
                ("fairness", fairness),
            )
        },
        "model": {
            "name": model_name,
            "version": str(registered["version"]) if registered else None,
            "alias": registered.get("alias") if registered else None,
            "type": model_type,
            "estimator": (train or {}).get("estimator"),
            "estimator_class": (train or {}).get("estimator_class"),
            "task": task.get("kind"),
            "classes": [str(label) for label in task.get("classes") or []],
            "positive_label": _optional_text(task.get("positive_label")),
            "params": dict((train or {}).get("params") or {}),
            "features": list((train or {}).get("feature_columns") or []),
            "owners": list(card.owners),
            "license": card.license,
            "date": date,
            "description": card.description,
            "run_id": run_id,
            "config_sha256": (train or {}).get("config_sha256"),
            "feature_spec_sha256": (train or {}).get("feature_spec_sha256"),
        },
        "uses": {
            "intended_use": card.intended_use,
            "out_of_scope_uses": card.out_of_scope_uses,
        },
        "data": _data(validate),
        "evaluation": _evaluation(evaluate),
        "fairness": _fairness(fairness),
        "validation": _validation(validate),
        "considerations": {
            "limitations": card.limitations,
            "ethical_considerations": card.ethical_considerations,
            "caveats_and_recommendations": card.caveats_and_recommendations,
        },
        "how_to_load": _how_to_load(model_name, alias, champion_alias, registered),
        "plots": sorted(plots),
    }


def with_registration(
    facts: Mapping[str, Any], *, version: str, alias: str, champion_alias: str
) -> dict[str, Any]:
    """The same facts, naming the registered version (known only after the card stage)."""
    stamped = dict(facts)
    model = dict(facts["model"])
    model.update(version=str(version), alias=alias)
    stamped["model"] = model
    stamped["how_to_load"] = _how_to_load(
        model["name"], alias, champion_alias, {"version": str(version)}
    )
    return stamped


# --- data -------------------------------------------------------------------------------

_DATA_FIELDS = ("uri", "sha256", "rows", "columns", "size_bytes", "version_id", "etag")


def _data(validate: ValidateResult | None) -> dict[str, Any]:
    if isinstance(validate, Mapping):  # transitional, until collect_facts passes typed results
        validate = ValidateResult.from_json(validate)
    data: dict[str, Any] = {"status": validate.verdict.value if validate else NOT_RUN}
    for role, key in (("training", "training"), ("validation", "evaluation")):
        info = validate.files.get(role) if validate else None
        # A local file records no S3 version or ETag: those facts are None.
        data[key] = {field: getattr(info, field, None) for field in _DATA_FIELDS} if info else None
    return data


# --- evaluation -------------------------------------------------------------------------


def _evaluation(evaluate: Mapping[str, Any] | None) -> dict[str, Any]:
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
    champion = evaluate.get("champion") or None
    champion_metrics = (champion or {}).get("metrics") or {}
    intervals = evaluate.get("intervals") or {}
    comparison = evaluate.get("comparison") or {}
    metrics = []
    for name, value in (evaluate.get("metrics") or {}).items():
        compared = comparison.get(name) or {}
        champion_value = compared.get("champion", champion_metrics.get(name))
        metrics.append(
            {
                "name": name,
                "value": value,
                "interval": _interval(intervals.get(name)),
                "champion": champion_value,
                "difference": compared.get("difference"),
                "difference_interval": _interval(compared.get("interval")),
                "higher_is_better": name not in LOWER_IS_BETTER,
            }
        )
    mcnemar = evaluate.get("mcnemar")
    return {
        "status": evaluate.get("verdict", NOT_RUN),
        "summary": evaluate.get("summary", ""),
        "rows": evaluate.get("rows"),
        "confidence": evaluate.get("confidence"),
        "metrics": metrics,
        "gates": [_gate(gate) for gate in evaluate.get("gates") or [] if _is_map(gate)],
        "champion": (
            {"alias": champion.get("alias"), "version": _optional_text(champion.get("version"))}
            if champion
            else None
        ),
        "champion_note": evaluate.get("champion_note", ""),
        "mcnemar": (
            {key: mcnemar.get(key) for key in _MCNEMAR_FIELDS} if _is_map(mcnemar) else None
        ),
    }


_MCNEMAR_FIELDS = ("candidate_only_correct", "champion_only_correct", "statistic", "p_value")


def _gate(gate: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "metric": gate.get("metric"),
        "bound": gate.get("bound"),
        "limit": gate.get("limit"),
        "value": gate.get("value"),
        "verdict": gate.get("verdict"),
        "message": gate.get("message", ""),
    }


# --- fairness ---------------------------------------------------------------------------


def _fairness(fairness: Mapping[str, Any] | None) -> dict[str, Any]:
    """Per sensitive feature: each group's figures, and each disparity with its interval,
    threshold, verdict and the champion's figure (as the fairness stage measured them)."""
    if fairness is None:
        return {
            "status": NOT_RUN,
            "summary": "",
            "policy": None,
            "mode": None,
            "confidence": None,
            "min_group_size": None,
            "chart": None,
            "features": [],
        }
    return {
        "status": fairness.get("verdict", NOT_RUN),
        "summary": fairness.get("summary", ""),
        "policy": fairness.get("policy"),
        "mode": fairness.get("mode"),
        "confidence": fairness.get("confidence"),
        "min_group_size": fairness.get("min_group_size"),
        "chart": fairness.get("chart"),
        "features": [
            _fairness_feature(feature)
            for feature in fairness.get("features") or []
            if _is_map(feature)
        ],
    }


def _fairness_feature(feature: Mapping[str, Any]) -> dict[str, Any]:
    groups = []
    names: list[str] = []
    for group in feature.get("groups") or []:
        if not _is_map(group):
            continue
        metrics = {
            str(name): value
            for name, value in (group.get("metrics") or {}).items()
            if name != "count"  # shown as the group's own column
        }
        names += [name for name in metrics if name not in names]
        groups.append(
            {
                "group": str(group.get("group")),
                "count": group.get("count"),
                "too_small": bool(group.get("too_small", False)),
                "metrics": metrics,
            }
        )
    disparities = [
        {
            "metric": item.get("metric"),
            "value": item.get("value"),
            "interval": _interval(item.get("interval")),
            "threshold": item.get("threshold"),
            "verdict": item.get("verdict"),
            "champion": item.get("champion"),
            "message": item.get("message", ""),
        }
        for item in feature.get("checks") or []
        if _is_map(item)
    ]
    return {
        "feature": str(feature.get("name")),
        "group_metrics": names,
        "groups": groups,
        "disparities": disparities,
    }


# --- data validation --------------------------------------------------------------------


def _validation(validate: ValidateResult | None) -> dict[str, Any]:
    """Expectations checked and failed per data file, and drift against the reference."""
    if isinstance(validate, Mapping):  # transitional, until collect_facts passes typed results
        validate = ValidateResult.from_json(validate)
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


def _how_to_load(
    name: str, alias: str, champion_alias: str, registered: Mapping[str, Any] | None
) -> dict[str, Any]:
    uri = f"models:/{name}@{alias}"
    return {
        "registered": registered is not None,
        "model_uri": uri,
        "version_uri": f"models:/{name}/{registered['version']}" if registered else None,
        "production_uri": f"models:/{name}@{champion_alias}",
        "python": f'import mlflow\nmodel = mlflow.pyfunc.load_model("{uri}")',
    }


# --- helpers ----------------------------------------------------------------------------


def _interval(value: Any) -> list[float] | None:
    """An interval as [low, high], from a pair or a mapping; None when there is none."""
    if value is None:
        return None
    if _is_map(value):
        low = next((value[k] for k in ("low", "lower", "lo") if k in value), None)
        high = next((value[k] for k in ("high", "upper", "hi") if k in value), None)
        return [low, high] if low is not None and high is not None else None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return [value[0], value[1]]
    return None


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping)
