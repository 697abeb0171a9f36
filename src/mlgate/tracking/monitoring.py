"""A monitoring check as an MLflow run: one run per check in the model's experiment.

The run is tagged with the model, the version checked, the alias and the verdict
(`tracking.tags.MONITOR_*`), and holds each feature's PSI and KS, the predictions' PSI
and each metric on labelled rows, logged at the check's time with the check's time (in
seconds) as the step: the runs of one model read as a history per feature over time
(search the experiment by `tags."mlgate.monitor.model"`); the predictions' figures are
`prediction.psi` etc.. `monitor.json` and
`monitor.md` are its artifacts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.tracking import tags as keys
from mlgate.tracking.client import calls

if TYPE_CHECKING:
    from mlgate.results.monitor import MonitorResult
    from mlgate.tracking.registry import Registry

# MLflow metric names: letters, digits, `_ - . / ` and spaces.
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def start_check(registry: Registry, *, version: str, alias: str) -> str:
    """Open the check's run (tagged with the version) and return its id."""
    experiment_id = registry.experiment_id()
    with calls(registry.uri, f"start a monitoring run in {registry.project.experiment_name}"):
        run = registry.client.create_run(
            experiment_id,
            run_name=f"monitor {registry.name} v{version}",
            tags={
                keys.MONITOR_MODEL: registry.name,
                keys.MONITOR_VERSION: version,
                keys.MONITOR_ALIAS: alias,
            },
        )
    return str(run.info.run_id)


def finish_check(
    registry: Registry, run_id: str, result: MonitorResult, files: list[Path], *, at_ms: int
) -> None:
    """Log the figures and files, tag the verdict and end the run (FAILED if logging fails)."""
    from mlflow.entities import Metric

    step = at_ms // 1000
    metrics = [
        Metric(key=name, value=float(value), timestamp=at_ms, step=step)
        for name, value in figures(result).items()
    ]
    client = registry.client
    with calls(registry.uri, f"log the monitoring run {run_id}"):
        try:
            for start in range(0, len(metrics), 1000):  # MLflow's batch limit
                client.log_batch(run_id, metrics=metrics[start : start + 1000])
            client.set_tag(run_id, keys.MONITOR_VERDICT, result.verdict)
            for path in files:
                client.log_artifact(run_id, str(path), "mlgate")
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")


def abandon_check(registry: Registry, run_id: str) -> None:
    """End the run FAILED: the check stopped before it had figures."""
    with calls(registry.uri, f"end the monitoring run {run_id}"):
        registry.client.set_terminated(run_id, "FAILED")


def figures(result: MonitorResult) -> dict[str, float]:
    """The check's numbers as MLflow metrics: per feature, the predictions, the metrics."""
    found: dict[str, float] = {
        "rows": result.window.rows,
        "drifted_features": len(result.drifted),
    }
    drifts = [(f"{{}}.{_safe(item.feature)}", item) for item in result.features]
    if result.prediction is not None:  # apart from the features: one may be called so
        drifts.append(("prediction.{}", result.prediction.drift))
    for pattern, item in drifts:
        for field in ("psi", "ks_statistic", "ks_pvalue"):
            value: Any = getattr(item, field)
            if value is not None:
                found[pattern.format(field)] = value
    for check in result.concept.metrics:
        found[f"metric.{check.metric}"] = check.value
        if check.interval is not None:
            found[f"metric.{check.metric}.low"] = check.interval.low
            found[f"metric.{check.metric}.high"] = check.interval.high
    return found


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name)[:200]
