"""The monitor's verdict from figures: per-feature drift, the predictions' drift, the metrics.

Pure: frames and predictions in, a `MonitorResult` out. Drift is the validate stage's
own computation (`validation.drift.feature_drift`, with `validation.drift`'s thresholds,
minimum rows, bins and feature list), so a feature's PSI and KS here are the figures
`mlgate validate` gives for the same two tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.results.monitor import (
    DEGRADED,
    DRIFT,
    OK,
    PRODUCTION,
    ConceptDrift,
    DriftThresholds,
    MonitorReference,
    MonitorResult,
    MonitorWindow,
    PredictionDrift,
)
from mlgate.validation.drift import DriftSettings, FeatureDrift, feature_drift

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.project import Project

PREDICTION = "prediction"


@dataclass(frozen=True)
class Predicted:
    """Both sides' predictions for the prediction-drift check."""

    reference: Any  # the model's predictions on the reference rows
    production: Any  # logged by the server, or scored here
    source: str  # "logged" or "scored"
    classification: bool


def drift_settings(project: Project) -> DriftSettings:
    drift = project.config.validation.drift
    return DriftSettings(
        psi_threshold=drift.psi_threshold,
        pvalue_threshold=drift.pvalue_threshold,
        min_rows=drift.min_rows,
        bins=drift.bins,
    )


def feature_drifts(
    project: Project, reference: pd.DataFrame, production: pd.DataFrame, settings: DriftSettings
) -> list[FeatureDrift]:
    """Each checked feature's drift, in the order the validate stage checks them."""
    from concurrent.futures import ThreadPoolExecutor

    spec = project.spec
    columns = {**spec.features, **spec.sensitive_features}
    names = project.config.validation.drift.features or list(columns)
    checked = [
        name
        for name in names
        if name in columns and name in reference.columns and name in production.columns
    ]

    def one(name: str) -> FeatureDrift:
        return feature_drift(name, columns[name], reference[name], production[name], settings)

    # numpy's sorts and searches release the GIL: two features at a time on two cores,
    # each computed exactly as the validate stage computes it.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, checked))


def prediction_drift(predicted: Predicted, settings: DriftSettings) -> FeatureDrift:
    """The prediction's distribution: classes as categories, a regressor's values as numbers."""
    import pandas as pd

    from mlgate.featurespec import Column
    from mlgate.validation.baseline import category_text

    reference = pd.Series(list(predicted.reference))
    production = pd.Series(list(predicted.production))
    if predicted.classification:
        column = Column(type="categorical")
        # Each distinct label made text once (a window holds millions of rows, few labels).
        labels = {
            value: category_text(value)
            for value in pd.unique(pd.concat([reference, production]).dropna())
        }
        reference = reference.map(labels)
        production = production.map(labels)
    else:
        column = Column(type="numeric")
        reference = pd.to_numeric(reference, errors="coerce")
        production = pd.to_numeric(production, errors="coerce")
    return feature_drift(PREDICTION, column, reference, production, settings)


def judge(
    *,
    model: str,
    version: str,
    alias: str,
    window: MonitorWindow,
    reference: MonitorReference,
    settings: DriftSettings,
    features: Sequence[FeatureDrift],
    prediction: FeatureDrift | None,
    prediction_source: str,
    prediction_note: str | None,
    concept: ConceptDrift,
    created_at: str,
) -> MonitorResult:
    """The verdict (degraded over drift over ok), one reason line per cause, the summary."""
    drifted = [item for item in features if item.drifted]
    degraded = [check for check in concept.metrics if check.degraded]
    reasons = [f"feature {item.describe()} drifted" for item in drifted]
    if prediction is not None and prediction.drifted:
        reasons.append(f"predictions drifted: {prediction.describe().split(': ', 1)[1]}")
    for check in degraded:
        assert check.interval is not None
        assert check.limit is not None
        words = "above" if check.lower_is_better else "below"
        reasons.append(
            f"{check.metric} {check.value:.4g} (interval {check.interval.low:.4g}–"
            f"{check.interval.high:.4g}) is wholly {words} {check.limit:.4g}: "
            f"{check.recorded:.4g} at registration, max_drop {check.max_drop:g}"
        )
    if degraded:
        verdict = DEGRADED
    elif reasons:
        verdict = DRIFT
    else:
        verdict = OK
    return MonitorResult(
        verdict=verdict,  # type: ignore[arg-type]
        summary=_summary(verdict, features, prediction, degraded, concept, window, version),
        reasons=tuple(reasons),
        model=model,
        version=version,
        alias=alias,
        window=window,
        reference=reference,
        thresholds=DriftThresholds(
            psi_threshold=settings.psi_threshold,
            pvalue_threshold=settings.pvalue_threshold,
            min_rows=settings.min_rows,
            bins=settings.bins,
        ),
        features=tuple(item.record(PRODUCTION) for item in features),
        drifted=tuple(item.drifted_record(PRODUCTION) for item in drifted),
        prediction=(
            PredictionDrift(source=prediction_source, drift=prediction.record(PRODUCTION))  # type: ignore[arg-type]
            if prediction is not None
            else None
        ),
        prediction_note=prediction_note,
        concept=concept,
        created_at=created_at,
    )


def _summary(
    verdict: str,
    features: Sequence[FeatureDrift],
    prediction: FeatureDrift | None,
    degraded: list[Any],
    concept: ConceptDrift,
    window: MonitorWindow,
    version: str,
) -> str:
    checked = [item for item in features if item.skipped is None]
    drifted = sorted((item for item in features if item.drifted), key=lambda item: -(item.psi or 0))
    parts = [f"{window.rows:,} production rows vs version {version}"]
    if drifted:
        worst = ", ".join(f"{item.feature} PSI {item.psi:.2f}" for item in drifted[:3])
        more = f" (+{len(drifted) - 3} more)" if len(drifted) > 3 else ""
        parts.append(f"{len(drifted)} of {len(checked)} features drifted: {worst}{more}")
    elif checked:
        parts.append(f"no drift in {len(checked)} feature(s)")
    else:
        parts.append(f"drift not checked ({len(features)} feature(s) below the minimum rows)")
    if prediction is not None and prediction.skipped is None:
        moved = "drifted" if prediction.drifted else "steady"
        parts.append(f"predictions {moved} (PSI {prediction.psi:.2f})")
    if degraded:
        parts.append("degraded: " + ", ".join(check.metric for check in degraded))
    elif concept.metrics:
        parts.append(f"metrics within bounds on {concept.labelled_rows:,} labelled rows")
    else:
        parts.append(concept.note or "no labels")
    return f"{verdict}: " + " · ".join(parts)
