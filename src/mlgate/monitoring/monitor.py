"""One monitoring check, end to end: the edges around the pure core in `check.py`.

Registry (the version behind `monitoring.reference_alias` and its model) → reference
data → production window → drift, predictions, labelled metrics → `monitor.json` and
`monitor.md` in a new run directory (`.mlgate/monitor/<id>/`) → one MLflow run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import InputError
from mlgate.results.monitor import MonitorResult, MonitorWindow
from mlgate.rundir import MONITOR_FILE, MONITOR_MARKDOWN, MONITOR_RUNS, RunDir, atomic_write_text

if TYPE_CHECKING:
    from mlgate.project import Project


@dataclass(frozen=True)
class Checked:
    """A finished check: its result and where its files are."""

    result: MonitorResult
    run_dir: RunDir


def monitor(project: Project, *, run_dir: Path | None = None) -> Checked:
    """Run one check; typed errors (exit 2 input, exit 3 a service) pass through."""
    import json

    from mlgate._training import infer_task
    from mlgate.monitoring.check import (
        Predicted,
        drift_settings,
        feature_drifts,
        judge,
        prediction_drift,
    )
    from mlgate.monitoring.concept import check_metrics, find_labels, recorded_metrics
    from mlgate.monitoring.markdown import render
    from mlgate.monitoring.reference import deployed_version, read_reference
    from mlgate.monitoring.window import find_sources, read_window
    from mlgate.tracking import monitoring as tracked
    from mlgate.tracking.registry import Registry

    started = time.perf_counter()
    settings = project.config.monitoring
    if settings.data is None:
        raise project.config_error(
            ("monitoring",),
            "monitoring.data is not set: name the production data (a file, a glob or "
            "s3://bucket/prefix/)",
        )
    sources = find_sources(project, settings.data)  # a bad location: exit 2 at once
    registry = Registry.connect(project)
    deployed = deployed_version(registry, settings.reference_alias)
    reference, reference_record = read_reference(project, deployed)
    task = infer_task(project, reference, Path(reference_record.uri))
    rows = read_window(
        project,
        sources,
        rows=settings.window_rows,
        seconds=settings.window_seconds,
        timestamp_column=settings.timestamp_column,
    )
    production = rows.frame
    if production.empty:
        raise InputError(
            f"no production rows in the window ({', '.join(rows.files_read[:3])}"
            f"{', ...' if len(rows.files_read) > 3 else ''}); check that data is arriving",
            key="monitoring.data",
        )
    drift = drift_settings(project)
    features = feature_drifts(project, reference, production, drift)

    columns = list(getattr(deployed.model, "feature_names_in_", project.spec.model_inputs))
    for frame, what in ((reference, reference_record.uri), (production, settings.data)):
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise InputError(
                f"version {deployed.version} needs column(s) {', '.join(missing[:5])}, "
                "which this data lacks",
                file=what,
            )
    reference_predictions = _predict(deployed.model, reference[columns])
    predicted, prediction_note = _production_predictions(rows, deployed, columns)
    prediction = None
    if predicted is not None:
        prediction = prediction_drift(
            Predicted(
                reference=reference_predictions,
                production=predicted[0],
                source=predicted[1],
                classification=task.kind == "classification",
            ),
            drift,
        )
    labelled = find_labels(project, production, task)
    metrics = check_metrics(
        project, task, deployed.model, labelled, recorded_metrics(deployed.tags)
    )
    now = datetime.now(timezone.utc)
    result = judge(
        model=registry.name,
        version=deployed.version,
        alias=deployed.alias,
        window=_window_record(settings, rows),
        reference=reference_record,
        settings=drift,
        features=features,
        prediction=prediction,
        prediction_source=predicted[1] if predicted else "scored",
        prediction_note=prediction_note,
        concept=metrics,
        created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    directory = RunDir.create(project.state_dir, run_dir, folder=MONITOR_RUNS)
    run_id = tracked.start_check(registry, version=deployed.version, alias=deployed.alias)
    try:
        result = result.replace(mlflow_run_id=run_id, seconds=time.perf_counter() - started)
        json_file = directory.file(MONITOR_FILE)
        markdown_file = directory.file(MONITOR_MARKDOWN)
        atomic_write_text(json_file, json.dumps(result.to_json(), indent=2))
        atomic_write_text(markdown_file, render(result))
    except BaseException:  # the run holds nothing: it ends FAILED, not left RUNNING
        tracked.abandon_check(registry, run_id)
        raise
    tracked.finish_check(
        registry, run_id, result, [json_file, markdown_file], at_ms=int(now.timestamp() * 1000)
    )
    return Checked(result=result, run_dir=directory)


def _predict(model: Any, features: Any) -> Any:
    return model.predict(features)


def _production_predictions(
    rows: Any, deployed: Any, columns: list[str]
) -> tuple[tuple[Any, str] | None, str | None]:
    """The logged predictions of the rows the checked version served, else scored here."""
    if rows.predictions is not None:
        served = rows.versions == deployed.version if rows.versions is not None else None
        if served is None or bool(served.all()):
            return (rows.predictions.to_numpy(), "logged"), None
        if bool(served.any()):
            note = (
                f"{int(served.sum()):,} of {len(served):,} logged rows were served by version "
                f"{deployed.version}; the predictions' drift uses those rows"
            )
            return (rows.predictions[served].to_numpy(), "logged"), note
        note = f"no logged row was served by version {deployed.version}: predictions scored here"
        return (_predict(deployed.model, rows.frame[columns]), "scored"), note
    if rows.frame.empty:
        return None, "no production rows"
    return (_predict(deployed.model, rows.frame[columns]), "scored"), None


def _window_record(settings: Any, rows: Any) -> MonitorWindow:
    first = last = None
    if rows.timestamps is not None and rows.timestamps.notna().any():
        first = rows.timestamps.min().strftime("%Y-%m-%dT%H:%M:%SZ")
        last = rows.timestamps.max().strftime("%Y-%m-%dT%H:%M:%SZ")
    window = settings.window
    return MonitorWindow(
        source=settings.data,
        window=f"{window:,} rows" if isinstance(window, int) else str(window),
        rows=len(rows.frame.index),
        files_read=tuple(rows.files_read),
        files_found=rows.files_found,
        prediction_log=rows.prediction_log,
        first_timestamp=first,
        last_timestamp=last,
    )
