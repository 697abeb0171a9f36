"""The data-validation stage's work: baseline and suite expectations, then drift."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.validation.baseline import (
    baseline_expectations,
    check_types,
    evaluate,
    spec_columns,
    uncovered,
)
from mlgate.validation.drift import DriftSettings, FeatureDrift, feature_drift
from mlgate.validation.results import Failure, judge
from mlgate.validation.suite import Expectation, load_suite


@dataclass(frozen=True)
class DataCheck:
    """What the validate stage adds to its result: expectations and drift, judged."""

    failures: list[Failure]
    checked: dict[str, int]
    drift: list[tuple[str, FeatureDrift]]  # (role compared, drift of one feature)
    drift_info: dict[str, Any]
    engine: str
    suite: str | None
    seconds: dict[str, float]

    @property
    def drifted(self) -> list[tuple[str, FeatureDrift]]:
        return [(role, item) for role, item in self.drift if item.drifted]

    @property
    def passed(self) -> bool:
        return not self.failures and not self.drifted

    def to_dict(self) -> dict[str, Any]:
        return {
            "expectations": {
                "engine": self.engine,
                "suite": self.suite,
                "checked": self.checked,
                "failed": [failure.to_dict() for failure in self.failures],
                "seconds": round(self.seconds.get("expectations", 0.0), 3),
            },
            "drift": {
                **self.drift_info,
                "features": [{"role": role, **item.to_dict()} for role, item in self.drift],
                "drifted": [
                    {"role": role, "feature": item.feature, "psi": round(item.psi or 0, 4)}
                    for role, item in self.drifted
                ],
                "seconds": round(self.seconds.get("drift", 0.0), 3),
            },
        }

    def summary(self) -> str:
        total = sum(self.checked.values())
        parts = []
        if self.failures:
            first = self.failures[0]
            more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            parts.append(
                f"{len(self.failures)} of {total} expectations failed: "
                f"{first.role}: {first.message}{more}"
            )
        else:
            parts.append(f"{total} expectations passed")
        if self.drifted:
            shown = ", ".join(f"{item.feature} PSI {item.psi:.2f}" for _, item in self.drifted[:4])
            more = f" (+{len(self.drifted) - 4} more)" if len(self.drifted) > 4 else ""
            parts.append(f"drift vs {self.drift_info['reference']}: {shown}{more}")
        elif self.drift_info.get("enabled"):
            checked = sum(1 for _, item in self.drift if item.skipped is None)
            parts.append(f"no drift in {checked} feature(s)" if checked else "drift not checked")
        return " · ".join(parts)


def check_data(
    project: Any,
    frames: dict[str, Any],
    files: dict[str, Any],
    task: Any,
    *,
    registry: Callable[[], Any],
) -> DataCheck:
    settings = project.config.validation
    spec = project.spec
    started = time.perf_counter()
    suite: list[Expectation] = []
    suite_shown = settings.suite
    if settings.suite:
        location = project.location(settings.suite)
        if not isinstance(location, Path):
            raise project.config_error(
                ("validation", "suite"), "the suite must be a file in the model repo, not a URI"
            )
        suite = load_suite(location, shown_as=settings.suite)
    classes = list(task.classes) if task.kind == "classification" else None
    baseline = baseline_expectations(spec, classes=classes, strict_columns=settings.strict_columns)
    # The baseline runs in pandas (one vectorised pass per check, on the frame either
    # engine starts from); the suite runs in Great Expectations, on the chosen engine.
    baseline = uncovered(baseline, suite)
    sensitive = set(spec.sensitive_features)

    from mlgate.validation import engine

    failures: list[Failure] = []
    checked: dict[str, int] = {}
    built = engine.build_suite(suite, "mlgate") if suite else None
    for role, frame in frames.items():
        type_failures = check_types(frame, spec, role=role)
        outcomes = evaluate(frame, baseline, sample_size=settings.max_sample_values)
        outcomes += engine.run(
            frame,
            suite,
            engine=settings.engine,
            sample_size=settings.max_sample_values,
            suite=built,
        )
        numeric = sum(1 for column in spec_columns(spec).values() if column.is_numeric)
        checked[role] = len(outcomes) + numeric
        failures += type_failures
        failures += judge(
            outcomes,
            role=role,
            sensitive=sensitive,
            max_samples=settings.max_sample_values,
            show_sensitive=settings.show_sensitive_values,
        )
    after_expectations = time.perf_counter()
    drift, drift_info = _drift(project, frames, files, registry)
    return DataCheck(
        failures=failures,
        checked=checked,
        drift=drift,
        drift_info=drift_info,
        engine=settings.engine,
        suite=suite_shown,
        seconds={
            "expectations": after_expectations - started,
            "drift": time.perf_counter() - after_expectations,
        },
    )


def _drift(
    project: Any, frames: dict[str, Any], files: dict[str, Any], registry: Callable[[], Any]
) -> tuple[list[tuple[str, FeatureDrift]], dict[str, Any]]:
    config = project.config.validation.drift
    if not config.enabled:
        return [], {"enabled": False}
    from mlgate.validation.reference import choose_reference

    reference = choose_reference(project, files["training"].sha256, registry)
    if reference.frame is None:
        pairs = [("validation", frames["training"], frames["validation"])]
    else:
        pairs = [(role, reference.frame, frame) for role, frame in frames.items()]
    settings = DriftSettings(
        psi_threshold=config.psi_threshold,
        pvalue_threshold=config.pvalue_threshold,
        min_rows=config.min_rows,
        bins=config.bins,
    )
    spec = project.spec
    columns = {**spec.features, **spec.sensitive_features}
    names = config.features or list(columns)
    found = []
    for role, before, after in pairs:
        for name in names:
            if name not in before.columns:
                continue  # the reference predates this feature: nothing to compare
            found.append(
                (role, feature_drift(name, columns[name], before[name], after[name], settings))
            )
    info = {
        "enabled": True,
        "reference": reference.name,
        "reference_uri": reference.uri,
        "note": reference.note,
        "psi_threshold": config.psi_threshold,
        "pvalue_threshold": config.pvalue_threshold,
        "min_rows": config.min_rows,
    }
    return found, info
