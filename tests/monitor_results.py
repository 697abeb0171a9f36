"""`MonitorResult`s built from a few figures, for the tests of the monitor's issue."""

from __future__ import annotations

from mlgate.results.monitor import (
    ConceptDrift,
    DriftThresholds,
    MetricCheck,
    MonitorReference,
    MonitorResult,
    MonitorWindow,
)
from mlgate.results.validate import DriftedFeature, DriftFeature


def monitor_result(
    verdict: str = "drift",
    *,
    model: str = "churn",
    version: str = "3",
    at: str = "2026-01-01T06:00:00Z",
    drifted: dict[str, float] | None = None,
    steady: dict[str, float] | None = None,
    degraded: tuple[str, ...] = (),
) -> MonitorResult:
    """A result whose `drifted` features moved by the given PSI and `steady` ones did not."""
    drifted = (
        ({"tenure_months": 0.42} if verdict == "drift" else {}) if drifted is None else drifted
    )
    steady = {"monthly_charges": 0.01} if steady is None else steady
    features = tuple(
        DriftFeature(
            role="production",
            feature=name,
            kind="numeric",
            reference_rows=1000,
            current_rows=500,
            psi=psi,
            ks_statistic=0.1,
            ks_pvalue=0.0001 if name in drifted else 0.5,
            drifted=name in drifted,
        )
        for name, psi in {**drifted, **steady}.items()
    )
    checks = tuple(
        MetricCheck(
            metric=name,
            value=0.7,
            interval=None,
            recorded=0.85,
            max_drop=0.02,
            limit=0.83,
            lower_is_better=False,
            degraded=True,
        )
        for name in degraded
    )
    reasons = tuple(f"{name} drifted (PSI {psi:.2f})" for name, psi in drifted.items())
    reasons += tuple(f"{name} fell below its limit" for name in degraded)
    return MonitorResult(
        verdict=verdict,  # type: ignore[arg-type]
        summary=f"{verdict}: " + ("; ".join(reasons) or "no drift"),
        reasons=reasons,
        model=model,
        version=version,
        alias="production",
        window=MonitorWindow(
            source="data/production.csv",
            window="10000 rows",
            rows=500,
            files_read=("data/production.csv",),
            files_found=1,
            prediction_log=False,
            first_timestamp=None,
            last_timestamp=None,
        ),
        reference=MonitorReference(
            uri="data/train.csv", version_id=None, sha256=None, rows=1000, recorded=True, note=None
        ),
        thresholds=DriftThresholds(psi_threshold=0.2, pvalue_threshold=0.01, min_rows=200, bins=10),
        features=features,
        drifted=tuple(
            DriftedFeature(role="production", feature=name, psi=psi)
            for name, psi in drifted.items()
        ),
        prediction=None,
        prediction_note="not scored",
        concept=ConceptDrift(
            labelled_rows=500 if checks else 0,
            label_source="column" if checks else None,
            confidence=0.95,
            n_boot=100,
            metrics=checks,
            note=None if checks else "no labels",
        ),
        created_at=at,
    )
