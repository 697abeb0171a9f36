"""The fairness stage: judge the evaluated model's predictions group by group.

It reads the predictions the evaluate stage saved (`predictions.csv`: the validation
rows' sensitive columns, true labels and predicted labels), so every figure it
reports can be recomputed from that file. When a version is behind the champion
alias, its predictions on the same rows give the champion's disparities, shown
beside the candidate's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError, InputError, RunDirError
from mlgate.fairness import groups as grouping
from mlgate.fairness import measure, verdicts
from mlgate.fairness.chart import write_chart
from mlgate.fairness.thresholds import check_for_task, not_judged
from mlgate.project import Project
from mlgate.results import FairnessResult, Verdict
from mlgate.results.fairness import (
    ChampionRef,
    CheckVerdict,
    FairnessCheck,
    FeatureFairness,
    GroupFigures,
)
from mlgate.rundir import FAIRNESS_CHART, PREDICTIONS_FILE
from mlgate.stages._session import Session


@dataclass(frozen=True)
class _Champion:
    """The champion's predictions on the validation rows, as 0/1 outcomes or numbers."""

    alias: str
    version: str
    y_pred: Any


def run(session: Session) -> FairnessResult:
    session.ensure_data("fairness")  # the champion is judged on the same validation rows
    return run_fairness(session)


def run_fairness(session: Session) -> FairnessResult:
    """The stage's work, once the data is loaded (or not needed: nothing to judge)."""
    project, task = session.project, session.task
    assert task is not None
    fairness = project.config.fairness
    declared = project.spec.sensitive_features
    features = grouping.judged_features(fairness.sensitive_features, declared)
    kind = task.kind
    session.run_dir.file(FAIRNESS_CHART).unlink(missing_ok=True)  # an earlier attempt's chart
    classes = len(task.classes) if kind == "classification" else None
    check_for_task(project, kind, classes, bool(features))
    if not features:
        return FairnessResult(
            verdict=Verdict.SKIPPED,
            summary="no sensitive features: declare them under sensitive_features in the "
            "feature spec",
            features=(),
        )
    if classes is not None and classes != 2:
        return FairnessResult(verdict=Verdict.SKIPPED, summary=not_judged(classes), features=())
    session.result("evaluate", "fairness")  # its predictions are what this stage judges
    table = read_predictions(session.run_dir.file(PREDICTIONS_FILE), project, features)
    y_true = _outcome(table["y_true"], task)
    y_pred = _outcome(table["y_pred"], task)
    champion = _champion_predictions(session, len(table.index))

    names = list(measure.DEFAULT_DISPARITIES[kind])
    names += [name for name in fairness.thresholds if name not in names]
    warnings: list[str] = []
    judged = tuple(
        _judge_feature(project, feature, table, y_true, y_pred, champion, names, kind, warnings)
        for feature in features
    )
    checks = [check for feature in judged for check in feature.checks]
    failed = any(check.verdict is CheckVerdict.FAILED for check in checks)
    result = FairnessResult(
        verdict=Verdict.FAILED if failed else Verdict.PASSED,
        summary=_summary(judged, checks, warnings),
        task=kind,
        positive_label=task.positive_label if kind == "classification" else None,
        rows=len(table.index),
        policy=fairness.policy,
        mode=fairness.mode,
        min_group_size=fairness.min_group_size,
        n_boot=fairness.n_boot,
        confidence=fairness.confidence,
        seed=fairness.seed,
        thresholds=dict(fairness.thresholds),
        predictions=PREDICTIONS_FILE,
        champion=ChampionRef(champion.alias, champion.version) if champion else None,
        features=judged,
        warnings=tuple(warnings),
        chart=None,
    )
    if write_chart(result, session.run_dir.file(FAIRNESS_CHART)):
        result = result.replace(chart=FAIRNESS_CHART)
    return result


def read_predictions(path: Path, project: Project, features: list[grouping.JudgedFeature]) -> Any:
    import pandas as pd

    columns = sorted({name for feature in features for name in feature.columns})
    declared = project.spec.sensitive_features
    # Categories stay text as written (`01` is not the number 1); labels too.
    text = {name: object for name in columns if not declared[name].is_numeric}
    try:
        table = pd.read_csv(path, dtype={**text, "y_true": object, "y_pred": object})
    except FileNotFoundError:
        raise RunDirError(
            f"{path} is missing: the fairness stage judges the predictions the evaluate "
            "stage saves; run `mlgate evaluate` first (or `mlgate run`)"
        ) from None
    missing = [name for name in [*columns, "y_true", "y_pred"] if name not in table.columns]
    if missing:
        raise RunDirError(
            f"{path} has no column {', '.join(repr(m) for m in missing)}; rerun `mlgate evaluate`"
        )
    return table


def _outcome(labels: Any, task: Any) -> Any:
    """Classification: 1 where the label is the positive one, else 0. Regression: numbers."""
    import numpy as np
    import pandas as pd

    if task.kind == "regression":
        return pd.to_numeric(pd.Series(labels), errors="raise").to_numpy(dtype=float)
    positive = str(task.positive_label)
    return np.asarray([1 if str(label) == positive else 0 for label in labels], dtype=int)


def _champion_predictions(session: Session, rows: int) -> _Champion | None:
    from mlgate._metrics import predict
    from mlgate.tracking.uri import nothing_registered_yet

    project = session.project
    if nothing_registered_yet(project) or session.champion_absent():
        return None  # no champion, known without MLflow: do not pay for starting it
    alias = project.config.evaluation.champion_alias
    champion = session.registry().champion(alias)
    if champion is None:
        return None
    validation = session.frames["validation"]
    if len(validation.index) != rows:
        raise RunDirError(
            f"{PREDICTIONS_FILE} has {rows} rows but the validation data has "
            f"{len(validation.index)}; rerun `mlgate evaluate`"
        )
    # The champion's own inputs, which a later config may have changed (evaluate has
    # already refused data that lacks any of them).
    columns = list(getattr(champion.model, "feature_names_in_", project.spec.model_inputs))
    y_pred, _ = predict(champion.model, validation[columns], session.task)
    return _Champion(alias, champion.version, _outcome(y_pred, session.task))


def _judge_feature(
    project: Project,
    feature: grouping.JudgedFeature,
    table: Any,
    y_true: Any,
    y_pred: Any,
    champion: _Champion | None,
    names: list[str],
    kind: str,
    warnings: list[str],
) -> FeatureFairness:
    fairness = project.config.fairness
    declared = project.spec.sensitive_features
    labels = grouping.feature_groups(table, feature, declared)
    order = grouping.group_order(labels, grouping.declared_order(feature, declared))
    if len(order) < 2:
        raise _single_group(project, feature, order)
    per_group = measure.group_table(y_true, y_pred, labels, kind)
    counts = labels.value_counts()
    small = [group for group in order if int(counts[group]) < fairness.min_group_size]
    for group in small:
        warnings.append(
            f"{feature.name}: group '{group}' has {int(counts[group])} rows, fewer than "
            f"fairness.min_group_size {fairness.min_group_size}: too small to judge, left out "
            "of the disparities"
        )
    judged_groups = [group for group in order if group not in small]
    keep = labels.isin(judged_groups).to_numpy()
    figures: dict[str, measure.Disparity] = {}
    champion_figures: dict[str, measure.Disparity] = {}
    why = "undefined (a group has no rows of a needed class)"
    if len(judged_groups) >= 2:
        figures = measure.disparities(
            y_true[keep],
            y_pred[keep],
            labels[keep],
            names,
            n_boot=fairness.n_boot,
            confidence=fairness.confidence,
            seed=fairness.seed,
            kind=kind,
        )
        if champion is not None:
            champion_figures = measure.disparities(
                y_true[keep],
                champion.y_pred[keep],
                labels[keep],
                names,
                n_boot=0,
                confidence=fairness.confidence,
                seed=fairness.seed,
                kind=kind,
            )
    else:
        why = (
            f"fewer than two groups have at least fairness.min_group_size "
            f"{fairness.min_group_size} rows"
        )
        warnings.append(f"{feature.name}: {why}; its disparities are not judged")
    checks = []
    for name in names:
        figure = figures.get(name)
        check = verdicts.judge(
            feature.name,
            name,
            figure.value if figure else None,
            figure.interval if figure else None,
            fairness.thresholds.get(name),
            policy=fairness.policy,
            mode=fairness.mode,
            champion=champion_figures[name].value if name in champion_figures else None,
            why_undefined=why,
        )
        if check.verdict is CheckVerdict.NOT_JUDGED and len(judged_groups) >= 2:
            warnings.append(check.message)
        checks.append(check)
    return FeatureFairness(
        name=feature.name,
        columns=feature.columns,
        groups=tuple(
            GroupFigures(
                group=group,
                count=int(counts[group]),
                too_small=group in small,
                metrics=per_group[group],
            )
            for group in order
        ),
        excluded_groups=tuple(small),
        checks=tuple(checks),
    )


def _single_group(
    project: Project, feature: grouping.JudgedFeature, order: list[str]
) -> ConfigError | InputError:
    where = project.location(project.config.data.validation_data_path)
    seen = f"only '{order[0]}'" if order else "no rows"
    message = (
        f"sensitive feature '{feature.name}' has a single group in the validation data "
        f"({seen}); the fairness gate needs at least two groups to compare"
    )
    if feature.config_index is not None:
        return project.config_error(
            ("fairness", "sensitive_features", feature.config_index),
            message + "; drop it from fairness.sensitive_features or fix the data",
        )
    return InputError(message, file=where)


def _summary(
    features: tuple[FeatureFairness, ...], checks: list[FairnessCheck], warnings: list[str]
) -> str:
    failed = [c.message for c in checks if c.verdict is CheckVerdict.FAILED]
    warned = [c.message for c in checks if c.verdict is CheckVerdict.WARNED]
    if failed:
        text = " · ".join(failed)
    else:
        judged = [c for c in checks if c.threshold is not None]
        names = ", ".join(feature.name for feature in features)
        if not judged:
            text = f"{names}: disparities reported; no thresholds set (fairness.thresholds)"
        else:
            worst = verdicts.worst_passing(judged)
            passed = sum(c.verdict is CheckVerdict.PASSED for c in judged)
            text = f"{passed}/{len(judged)} checks within thresholds"
            if worst is not None and worst.verdict is CheckVerdict.PASSED:
                text += f" · closest: {worst.message}"
    if warned:
        text += " · warning: " + " · ".join(warned)
    others = len(warnings)
    if others:
        text += f" · {others} warning{'s' if others > 1 else ''} in fairness.json"
    return text
