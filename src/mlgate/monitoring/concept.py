"""Concept drift: the gated metrics on labelled production rows against those at registration.

Labels come from the production rows' `monitoring.label_column` (default: the feature
spec's target), or from `monitoring.feedback`, a file of labels joined to the rows on
`monitoring.id_columns`. Each gated metric (`evaluation.gates`, else the evaluated
metrics) gets a bootstrap interval from the evaluate stage's own code
(`_comparison.bootstrap`, seeded from `evaluation.bootstrap`), and is compared with the
figure the version recorded at registration (`mlgate.metric.<name>`). A metric is
degraded only when its whole interval is worse than that figure by more than its
`max_drop`: noise-aware, as the evaluate gates are.
"""

from __future__ import annotations

import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate._catalogue import LOWER_IS_BETTER
from mlgate.errors import ConfigError, InputError
from mlgate.results.monitor import ConceptDrift, MetricCheck

if TYPE_CHECKING:
    import pandas as pd

    from mlgate._training import Task
    from mlgate.project import Project

NO_LABELS = "no labels"


@dataclass(frozen=True)
class Labelled:
    """The production rows that carry a label, and where the labels came from."""

    frame: pd.DataFrame  # model inputs of the labelled rows
    labels: Any  # numpy array, in the task's label type
    source: str  # "column" or "feedback"


def find_labels(project: Project, production: pd.DataFrame, task: Task) -> Labelled | None:
    """The labelled rows of the window, or None when no row carries a label."""
    monitoring = project.config.monitoring
    column = monitoring.label_column or project.spec.target
    if monitoring.feedback is not None:
        feedback = _read_feedback(project, monitoring.feedback)
        ids = list(monitoring.id_columns)
        for name in ids:
            if name not in production.columns:
                raise InputError(
                    f"id column '{name}' (monitoring.id_columns) is missing from the "
                    "production data",
                    file=monitoring.data,
                )
        for name in [*ids, column]:
            if name not in feedback.columns:
                raise InputError(
                    f"column '{name}' is missing from the feedback file", file=monitoring.feedback
                )
        feedback = feedback[[*ids, column]].drop_duplicates(subset=ids, keep="last")
        rows = production.drop(columns=[column], errors="ignore")
        joined = rows.merge(feedback, on=ids, how="inner", validate="many_to_one")
        source = "feedback"
    elif column in production.columns:
        joined, source = production, "column"
    else:
        return None
    joined = joined[joined[column].notna()]
    if joined.empty:
        return None
    labels = _as_task_labels(joined[column], task, column)
    return Labelled(frame=joined, labels=labels, source=source)


def check_metrics(
    project: Project,
    task: Task,
    model: Any,
    labelled: Labelled | None,
    recorded: dict[str, float],
) -> ConceptDrift:
    """The gated metrics with intervals, each judged against its recorded figure."""
    from mlgate._comparison import bootstrap
    from mlgate._metrics import Predictions, compute_metrics, metric_names, predict

    evaluation = project.config.evaluation
    settings = evaluation.bootstrap
    if labelled is None:
        return ConceptDrift(
            labelled_rows=0,
            label_source=None,
            confidence=settings.confidence,
            n_boot=settings.n,
            metrics=(),
            note=NO_LABELS,
        )
    names = list(evaluation.gates) or metric_names(evaluation.metrics, [], task)
    columns = list(getattr(model, "feature_names_in_", project.spec.model_inputs))
    y_pred, scores = predict(model, labelled.frame[columns], task)
    predictions = Predictions(
        labelled.labels, y_pred, scores, tuple(getattr(model, "classes_", ()))
    )
    figures: dict[str, float] = {}
    skipped: list[str] = []
    for name in names:
        try:
            figures[name] = compute_metrics([name], predictions, task)[name]
        except (ConfigError, InputError, ValueError) as exc:
            reason = " ".join(str(getattr(exc, "message", exc)).split())[:160]
            skipped.append(f"{name} not computed: {reason}")
    drawn = bootstrap(
        list(figures),
        task,
        predictions,
        figures,
        n=settings.n,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    checks = tuple(
        judge(name, value, drawn.candidate.get(name), recorded.get(name), _max_drop(project, name))
        for name, value in figures.items()
    )
    return ConceptDrift(
        labelled_rows=len(labelled.labels),
        label_source=labelled.source,  # type: ignore[arg-type]
        confidence=settings.confidence,
        n_boot=settings.n,
        metrics=checks,
        note="; ".join(skipped) or None,
    )


def judge(
    metric: str, value: float, interval: Any, recorded: float | None, max_drop: float
) -> MetricCheck:
    """Degraded only when the whole interval is past recorded − max_drop (+ when lower is
    better); no interval or no recorded figure is never degraded, and says why."""
    lower = metric in LOWER_IS_BETTER
    note = None
    limit = None
    degraded = False
    if recorded is None:
        note = "no figure recorded at registration"
    else:
        limit = recorded + max_drop if lower else recorded - max_drop
        if interval is None:
            note = "no interval (too few defined bootstrap draws)"
        else:
            degraded = interval.low > limit if lower else interval.high < limit
    return MetricCheck(
        metric=metric,
        value=_round(value),
        interval=interval,
        recorded=recorded,
        max_drop=max_drop,
        limit=_round(limit) if limit is not None else None,
        lower_is_better=lower,
        degraded=degraded,
        note=note,
    )


def recorded_metrics(tags: dict[str, str]) -> dict[str, float]:
    """The figures a version recorded at registration (`mlgate.metric.<name>` tags)."""
    from mlgate.tracking import tags as keys

    found: dict[str, float] = {}
    for key, value in tags.items():
        name = keys.with_prefix(key, keys.METRIC_PREFIX)
        if name is None:
            continue
        figure = keys.typed(key, value)
        if isinstance(figure, float):
            found[name] = figure
    return found


def _max_drop(project: Project, metric: str) -> float:
    """`monitoring.max_drop` (one number, or per metric), else the gate's max_drop, else 0."""
    setting = project.config.monitoring.max_drop
    if isinstance(setting, dict) and metric in setting:
        return float(setting[metric])
    if isinstance(setting, (int, float)):
        return float(setting)
    gate = project.config.evaluation.gates.get(metric)
    if gate is not None and gate.max_drop is not None and not gate.relative:
        return float(gate.max_drop)
    return 0.0


def _as_task_labels(values: pd.Series, task: Task, column: str) -> Any:
    """Labels in the training target's own type (a file may hold 1 where training held 1)."""
    import numpy as np
    import pandas as pd

    if task.kind == "regression":
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            raise InputError(f"label column '{column}' holds values that are not numbers")
        return numbers.to_numpy(float)
    from mlgate.validation.baseline import category_text

    known = {category_text(label): label for label in task.classes}
    text = values.map(category_text)
    unknown = sorted(set(text) - set(known))
    if unknown:
        raise InputError(
            f"label column '{column}' holds {', '.join(map(repr, unknown[:3]))}, not one of "
            f"the classes the model was trained on ({', '.join(map(repr, known))})"
        )
    return np.asarray(text.map(known).tolist(), dtype=object)


def _read_feedback(project: Project, written: str) -> pd.DataFrame:
    import pandas as pd

    from mlgate import _s3 as s3

    location = project.location(written)
    if isinstance(location, Path):
        if not location.is_file():
            raise project.config_error(
                ("monitoring", "feedback"), f"{written} does not exist (looked in {location})"
            )
        path = location
    else:
        path = s3.fetch(written, project.state_dir / "cache" / "s3").path
    kind = next(
        (s.lower() for s in reversed(Path(written).suffixes) if s.lower() not in (".gz", ".xz")),
        "",
    )
    try:
        if kind in (".csv", ".tsv"):
            return pd.read_csv(path, sep="," if kind == ".csv" else "\t", low_memory=False)
        if kind in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if kind in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
    except (ValueError, OSError, UnicodeDecodeError, EOFError, zlib.error, lzma.LZMAError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"feedback cannot be read: {first}", file=written) from None
    raise project.config_error(
        ("monitoring", "feedback"), f"{written}: unknown file type; use .csv, .parquet or .jsonl"
    )


def _round(value: float) -> float:
    return float(f"{value:.6g}")
