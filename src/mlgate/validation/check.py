"""The data-validation stage's work: baseline and suite expectations, then drift."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.results.validate import Drift, DriftChecked, DriftOff, Expectations
from mlgate.validation.baseline import (
    baseline_expectations,
    check_types,
    class_count,
    evaluate,
    spec_columns,
    uncovered,
)
from mlgate.validation.drift import DriftSettings, FeatureDrift, feature_drift
from mlgate.validation.engine import build_suite
from mlgate.validation.engine import run as run_suite
from mlgate.validation.results import Failure, judge
from mlgate.validation.suite import Expectation, load_suite


@dataclass(frozen=True)
class DriftSetup:
    """What the drift check compared with, and its thresholds."""

    reference: str  # how the report names the reference
    reference_uri: str
    note: str | None  # why the configured reference could not be used
    psi_threshold: float
    pvalue_threshold: float
    min_rows: int


@dataclass(frozen=True)
class DataCheck:
    """What the validate stage adds to its result: expectations and drift, judged."""

    failures: list[Failure]
    checked: dict[str, int]
    drift: list[tuple[str, FeatureDrift]]  # (role compared, drift of one feature)
    drift_setup: DriftSetup | None  # None: the drift check is switched off
    engine: str
    suite: str | None
    seconds: dict[str, float]

    @property
    def drifted(self) -> list[tuple[str, FeatureDrift]]:
        return [(role, item) for role, item in self.drift if item.drifted]

    @property
    def passed(self) -> bool:
        return not self.failures and not self.drifted

    def expectations(self) -> Expectations:
        """The expectations part of `validate.json`."""
        return Expectations(
            engine=self.engine,
            suite=self.suite,
            checked=self.checked,
            failed=tuple(failure.record() for failure in self.failures),
            seconds=round(self.seconds.get("expectations", 0.0), 3),
        )

    def drift_record(self) -> Drift:
        """The drift part of `validate.json`."""
        features = tuple(item.record(role) for role, item in self.drift)
        drifted = tuple(item.drifted_record(role) for role, item in self.drifted)
        seconds = round(self.seconds.get("drift", 0.0), 3)
        setup = self.drift_setup
        if setup is None:
            return DriftOff(features=features, drifted=drifted, seconds=seconds)
        return DriftChecked(
            reference=setup.reference,
            reference_uri=setup.reference_uri,
            note=setup.note,
            psi_threshold=setup.psi_threshold,
            pvalue_threshold=setup.pvalue_threshold,
            min_rows=setup.min_rows,
            features=features,
            drifted=drifted,
            seconds=seconds,
        )

    def summary(self) -> str:
        total = sum(self.checked.values())
        parts = []
        if self.failures:
            first = self.failures[0]
            others = len(self.failures) - 1
            more = f" (+{_count(others, 'more failed expectation')})" if others else ""
            parts.append(
                f"{len(self.failures)} of {_count(total, 'expectation')} failed: "
                f"{first.role}: {first.message}{more}"
            )
        else:
            parts.append(f"{_count(total, 'expectation')} passed")
        if self.drifted:
            shown = ", ".join(f"{item.feature} PSI {item.psi:.2f}" for _, item in self.drifted[:4])
            others = len(self.drifted) - 4
            more = f" (+{_count(others, 'more drifted feature')})" if others > 0 else ""
            reference = self.drift_setup.reference if self.drift_setup else ""
            parts.append(f"drift vs {reference}: {shown}{more}")
        elif self.drift_setup is not None:
            checked = sum(1 for _, item in self.drift if item.skipped is None)
            parts.append(f"no drift in {checked} feature(s)" if checked else "drift not checked")
        return " · ".join(parts)


def _count(number: int, noun: str) -> str:
    """`1 expectation`, `68 expectations`."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def check_data(
    project: Any,
    frames: dict[str, Any],
    files: dict[str, Any],
    task: Any,
    *,
    registry: Callable[[], Any],
    champion_data: Any = None,  # in compute.docker_image: the host's read of the registry
) -> DataCheck:
    settings = project.config.validation
    spec = project.spec
    started = time.perf_counter()
    suite: list[Expectation] = []
    suite_shown = settings.suite
    schema, translated = None, []
    if settings.engine == "pandera":
        from mlgate.validation.pandera_engine import load_schema, pandera_module, translate

        pandera_module()  # missing: exit 2 naming validation.engine, even without a suite
        if settings.suite:
            schema = load_schema(project, settings.suite)
            translated = translate(schema)
            suite = [item.expectation for item in translated]
    elif settings.suite:
        if settings.suite_file != settings.suite:
            raise project.config_error(
                ("validation", "suite"),
                f"{settings.suite} names a Pandera schema; set validation.engine: pandera",
            )
        location = project.location(settings.suite)
        if not isinstance(location, Path):
            raise project.config_error(
                ("validation", "suite"), "the suite must be a file in the model repo, not a URI"
            )
        suite = load_suite(location, shown_as=settings.suite)
    classes = list(task.classes) if task.kind == "classification" else None
    baseline = baseline_expectations(spec, classes=classes, strict_columns=settings.strict_columns)
    # The baseline runs in pandas (one vectorised pass per check, on the frame either
    # engine starts from); the suite runs in Great Expectations, on the chosen engine,
    # or, with `engine: pandera`, the schema runs in Pandera (translated to expectations
    # so that the baseline checks it makes are left to it, as with a GE suite).
    baseline = uncovered(baseline, suite)
    sensitive = set(spec.sensitive_features)

    failures: list[Failure] = []
    checked: dict[str, int] = {}
    on_spark = settings.engine == "spark"
    if on_spark:  # the frames are Spark's: the baseline joins the suite, one GE run a table
        suite, baseline = baseline + suite, []
    built = build_suite(suite, "mlgate") if suite and schema is None else None
    if built is not None and on_spark:
        from mlgate._spark import session_for

        session_for(project)  # compute.cluster, or local[2]: the suite's Spark jobs run there
    for role, frame in frames.items():
        if on_spark:
            import mlgate.validation.spark_checks as spark_checks  # not via the package: a cycle

            rows = files[role].rows
            type_failures = spark_checks.check_types(frame, spec, role=role, rows=rows)
            outcomes = []
        else:
            type_failures = check_types(frame, spec, role=role)
            outcomes = evaluate(frame, baseline, sample_size=settings.max_sample_values)
        if schema is not None:  # Pandera's failures, read as the GE engine reports them
            from mlgate.validation.pandera_engine import run as run_schema

            outcomes += run_schema(
                frame, schema, translated, sample_size=settings.max_sample_values
            )
        else:
            outcomes += run_suite(
                frame,
                suite,
                engine=settings.engine,
                sample_size=settings.max_sample_values,
                suite=built,
            )
        numeric = sum(1 for column in spec_columns(spec).values() if column.is_numeric)
        checked[role] = len(outcomes) + numeric
        failures += type_failures
        if role == "validation" and task.kind == "classification":
            too_few = (
                spark_checks.class_count(frame, spec, role=role, rows=files[role].rows)
                if on_spark
                else class_count(frame, spec, role=role)
            )
            checked[role] += len(too_few)  # counted when it fails, as a failed expectation
            failures += too_few
        failures += judge(
            outcomes,
            role=role,
            sensitive=sensitive,
            max_samples=settings.max_sample_values,
            show_sensitive=settings.show_sensitive_values,
        )
    after_expectations = time.perf_counter()
    drift, drift_setup = _drift(project, frames, files, registry, champion_data)
    return DataCheck(
        failures=failures,
        checked=checked,
        drift=drift,
        drift_setup=drift_setup,
        engine=settings.engine,
        suite=suite_shown,
        seconds={
            "expectations": after_expectations - started,
            "drift": time.perf_counter() - after_expectations,
        },
    )


def _drift(
    project: Any,
    frames: dict[str, Any],
    files: dict[str, Any],
    registry: Callable[[], Any],
    champion_data: Any,
) -> tuple[list[tuple[str, FeatureDrift]], DriftSetup | None]:
    config = project.config.validation.drift
    if not config.enabled:
        return [], None
    from mlgate.validation.reference import choose_reference

    on_spark = project.config.validation.engine == "spark"
    read = None
    if on_spark:
        from mlgate.validation.spark_read import read_reference

        read = read_reference
    reference = choose_reference(
        project, files["training"].sha256, registry, champion_data, read=read
    )
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
    if on_spark:
        from mlgate.validation.spark_drift import drift

        found = drift(pairs, names, columns, settings)
    else:
        found = []
        for role, before, after in pairs:
            for name in names:
                if name not in before.columns:
                    continue  # the reference predates this feature: nothing to compare
                found.append(
                    (role, feature_drift(name, columns[name], before[name], after[name], settings))
                )
    setup = DriftSetup(
        reference=reference.name,
        reference_uri=reference.uri,
        note=reference.note,
        psi_threshold=config.psi_threshold,
        pvalue_threshold=config.pvalue_threshold,
        min_rows=config.min_rows,
    )
    return found, setup
