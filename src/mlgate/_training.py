"""Training: the task, the labels, and one scikit-learn Pipeline that takes raw rows.

The preprocessing is built from the feature spec with scikit-learn's own
transformers only, so the registered model loads wherever scikit-learn does.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlgate._estimators import EstimatorChoice, choose_estimator
from mlgate.errors import InputError
from mlgate.project import Project
from mlgate.results.validate import TaskRecord

if TYPE_CHECKING:
    import pandas as pd

    from mlgate._search import SearchOutcome

# An integer target with at most this many distinct values is read as classes.
MAX_INFERRED_CLASSES = 20


@dataclass(frozen=True)
class Task:
    kind: Literal["classification", "regression"]
    inferred: bool
    classes: tuple[Any, ...] = ()
    positive_label: Any = None

    @property
    def is_binary(self) -> bool:
        return self.kind == "classification" and len(self.classes) == 2

    def record(self) -> TaskRecord:
        """The task as `validate.json` records it (numpy labels as plain values)."""
        return TaskRecord(
            kind=self.kind,
            inferred=self.inferred,
            classes=tuple(_plain(c) for c in self.classes),
            positive_label=_plain(self.positive_label),
        )


@dataclass
class TrainedModel:
    pipeline: Any
    task: Task
    estimator: EstimatorChoice
    feature_columns: list[str]
    seconds: float
    warnings: list[str] = field(default_factory=list)
    search: SearchOutcome | None = None  # model.search: every candidate, and the winner


def infer_task(project: Project, train: pd.DataFrame, path: Path | str) -> Task:
    import pandas as pd

    spec = project.spec
    target = train[spec.target]
    missing = int(target.isna().sum())
    if missing:
        raise InputError(
            f"target column '{spec.target}' has {missing} missing value(s); "
            "drop or label those rows",
            file=path,
        )
    kind = spec.task
    inferred = kind is None
    if kind is None:
        numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
        few_integers = (
            numeric
            and bool((target.astype("float64") % 1 == 0).all())
            and target.nunique() <= MAX_INFERRED_CLASSES
        )
        is_classes = spec.positive_label is not None or not numeric or few_integers
        kind = "classification" if is_classes else "regression"
    if kind == "regression":
        if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
            raise InputError(
                f"target column '{spec.target}' is not numeric, so it cannot be regressed; "
                "set task: classification in the feature spec",
                file=path,
            )
        return Task(kind="regression", inferred=inferred)
    classes = _sorted_labels(target.unique().tolist())
    if len(classes) < 2:
        raise InputError(
            f"target column '{spec.target}' has one class only ({_plain(classes[0])!r}); "
            "a classifier needs at least two",
            file=path,
        )
    positive = _positive_label(project, classes)
    return Task(kind="classification", inferred=inferred, classes=classes, positive_label=positive)


def _positive_label(project: Project, classes: tuple[Any, ...]) -> Any:
    written = project.spec.positive_label
    if written is None:
        # scikit-learn's convention for binary metrics: the greater label is positive.
        return classes[-1] if len(classes) == 2 else None
    for label in classes:
        if label == written or str(label) == str(written):
            return label
    hint = ""
    if isinstance(written, bool):
        hint = '; YAML reads unquoted yes/no/true/false as booleans, so quote it: "yes"'
    raise project.spec_error(
        ("positive_label",),
        f"{written!r} is not one of the target's labels "
        f"({', '.join(repr(_plain(c)) for c in classes)}){hint}",
    )


def train_model(project: Project, train: pd.DataFrame, task: Task) -> TrainedModel:
    """Fit the configured estimator behind the spec's preprocessing; seeded, so repeatable."""
    choice = choose_estimator(project, task.kind)
    columns = list(project.spec.model_inputs)
    pipeline = build_pipeline(project, choice, columns)
    features = train[columns]
    labels = train[project.spec.target]
    searched = None
    started = time.perf_counter()
    try:
        # Warnings while fitting (a solver that did not converge, ...) are findings about
        # this model: keep them in the result instead of letting them scroll past.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if project.config.model.search is None:
                pipeline.fit(features, labels)
            else:
                searched = _search(project, choice, pipeline, features, labels, task)
                pipeline = searched.pipeline
                choice = replace(
                    choice,
                    estimator=pipeline.named_steps["model"],
                    params={**choice.params, **searched.best_params},
                )
    except Exception as exc:
        # scikit-learn refuses unusable data with ValueError/TypeError; a team's own
        # estimator (code_paths) may raise anything. Other failures are ours: re-raise.
        if not (isinstance(exc, (ValueError, TypeError)) or choice.code_paths):
            raise
        raise InputError(
            f"training {choice.name} failed on this data: {type(exc).__name__}: {_first_line(exc)}",
            file=project.location(project.config.data.training_data_path),
        ) from None
    seconds = time.perf_counter() - started
    notes = sorted({f"{w.category.__name__}: {_first_line(w.message)}" for w in caught})
    return TrainedModel(
        pipeline=pipeline,
        task=task,
        estimator=choice,
        feature_columns=columns,
        seconds=seconds,
        warnings=notes,
        search=searched,
    )


def _search(
    project: Project, choice: EstimatorChoice, pipeline: Any, features: Any, labels: Any, task: Task
) -> SearchOutcome:
    """model.search, on compute.cluster when it names one (connected to before any fit)."""
    from mlgate._search import check_search, run_search
    from mlgate._spark import cluster_of, session_for

    check_search(project, choice, task.kind)
    cluster = cluster_of(project)
    if cluster is not None:
        session_for(project)
    return run_search(
        project,
        pipeline,
        features,
        labels,
        task,
        cluster_url=cluster.url if cluster is not None else None,
    )


def build_pipeline(project: Project, choice: EstimatorChoice, columns: list[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    inputs = project.spec.model_inputs
    numeric = [name for name in columns if inputs[name].is_numeric]
    categorical = [name for name in columns if not inputs[name].is_numeric]
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if choice.needs_scaling:
        numeric_steps.append(("scale", StandardScaler()))
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    if categorical:
        # Missing categories become a category of their own; unseen ones are ignored
        # at prediction time rather than failing a request in production.
        transformers.append(
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                categorical,
            )
        )
    preprocess = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", preprocess), ("model", choice.estimator)])


def _sorted_labels(labels: list[Any]) -> tuple[Any, ...]:
    """Labels in scikit-learn's order (natural sort), or as text when types are mixed."""
    try:
        return tuple(sorted(labels))
    except TypeError:
        return tuple(sorted(labels, key=str))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _plain(value: Any) -> Any:
    """numpy scalars as plain Python values, for JSON."""
    return value.item() if hasattr(value, "item") else value
