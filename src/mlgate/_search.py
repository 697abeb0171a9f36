"""`model.search`: scikit-learn's GridSearchCV or RandomizedSearchCV over the whole pipeline.

The candidates are fitted in parallel: on `compute.cluster` through joblibspark's joblib
backend (each batch of fits is a Spark task on an executor), else on this machine's
cores with joblib's own. Only scikit-learn objects travel to the executors (the
pipeline, the folds, a scorer built from scikit-learn's metric functions), so a
cluster needs scikit-learn and the model's libraries, not mlgate. The winner is refitted
on all the training rows where mlgate runs, and every candidate is kept for the record.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate._catalogue import DEFAULT_METRICS, LOWER_IS_BETTER, METRICS_BY_TASK
from mlgate.config import SearchRange, SearchSection, did_you_mean
from mlgate.errors import ConfigError, ServiceError

if TYPE_CHECKING:
    from mlgate._estimators import EstimatorChoice
    from mlgate.project import Project

# The pipeline's step that holds the estimator (mlgate._training.build_pipeline).
MODEL_STEP = "model"
SEARCH_KEY = ("model", "search")


@dataclass(frozen=True)
class Candidate:
    params: dict[str, Any]
    score: float  # the metric as mlgate reports it (rmse positive, not sklearn's negated)
    score_std: float
    rank: int


@dataclass(frozen=True)
class SearchOutcome:
    pipeline: Any  # the winner, refitted on every training row
    best_params: dict[str, Any]
    best_score: float
    metric: str
    kind: str
    cv: int
    where: str  # the Spark master the candidates ran on, or "local"
    candidates: list[Candidate]


def search_metric(project: Project, task: str) -> str:
    """`model.search.metric`, else the first of evaluation.metrics, else the task's default."""
    search = project.config.model.search
    assert search is not None
    if search.metric is not None:
        return search.metric
    listed = [name for name in project.config.evaluation.metrics if name in METRICS_BY_TASK[task]]
    return listed[0] if listed else DEFAULT_METRICS[task][0]


def check_search(project: Project, choice: EstimatorChoice, task: str) -> None:
    """Every searched parameter is the estimator's and each value one it accepts (exit 2)."""
    search = project.config.model.search
    if search is None:
        return
    metric = search_metric(project, task)
    if metric not in METRICS_BY_TASK[task]:
        raise project.config_error(
            (*SEARCH_KEY, "metric"),
            f"'{metric}' does not apply to {task}; {task} metrics: "
            f"{', '.join(METRICS_BY_TASK[task])}",
        )
    valid = sorted(choice.estimator.get_params(deep=True))
    for name, values in search.params.items():
        if name not in valid:
            raise project.config_error(
                (*SEARCH_KEY, "params", name),
                f"{choice.name} has no parameter '{name}'{did_you_mean(name, valid)}; "
                f"valid: {', '.join(valid)}",
            )
        if isinstance(values, list):
            for index, value in enumerate(values):
                _check_value(project, choice, name, value, (*SEARCH_KEY, "params", name, index))
        else:
            for end in ("low", "high"):
                value = getattr(values, end)
                _check_value(project, choice, name, value, (*SEARCH_KEY, "params", name, end))
    if search.kind == "random":
        combinations = _combinations(search)
        if combinations is not None and search.n_iter and search.n_iter > combinations:
            raise project.config_error(
                (*SEARCH_KEY, "n_iter"),
                f"{search.n_iter} candidates asked from {combinations} combinations of values; "
                "lower n_iter, give a range ({low, high}) to sample from, or use kind: grid",
            )


def run_search(
    project: Project,
    pipeline: Any,
    features: Any,
    labels: Any,
    task: Any,  # mlgate._training.Task (which imports this module)
    *,
    cluster_url: str | None,
) -> SearchOutcome:
    """Fit every candidate (on the cluster when `cluster_url` is set), refit the winner."""
    import joblib
    from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, StratifiedKFold

    search = project.config.model.search
    assert search is not None
    seed = project.config.model.seed if search.seed is None else search.seed
    metric = search_metric(project, task.kind)
    space = {f"{MODEL_STEP}__{name}": _values(values) for name, values in search.params.items()}
    folds_class = StratifiedKFold if task.kind == "classification" else KFold
    folds = folds_class(n_splits=search.cv, shuffle=True, random_state=seed)
    settings: dict[str, Any] = {
        "scoring": scorer(metric, task),
        "cv": folds,
        "refit": True,
        "error_score": "raise",
    }
    if search.kind == "grid":
        searcher = GridSearchCV(pipeline, space, **settings)
    else:
        searcher = RandomizedSearchCV(
            pipeline, space, n_iter=search.n_iter or 10, random_state=seed, **settings
        )
    if cluster_url is not None:
        try:
            from joblibspark import register_spark
        except ImportError:
            raise ConfigError(
                f"compute.cluster: model.search runs on {cluster_url} through joblibspark, "
                "which is not installed; install it with `pip install 'mlgate[spark]'`"
            ) from None
        register_spark()
        backend = "spark"
    else:
        backend = "loky"
    with warnings.catch_warnings():
        # joblibspark warns about stage-level scheduling on every start, whatever the cluster,
        # and joblib about the API joblibspark's backend uses: neither is about the model.
        warnings.filterwarnings("ignore", module="joblibspark")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="joblib")
        warnings.filterwarnings("ignore", message="Spark session is not provided")  # pyspark's
        with joblib.parallel_config(backend=backend, n_jobs=-1):
            try:
                searcher.fit(features, labels)
            except Exception as exc:
                if cluster_url is None or isinstance(exc, (ValueError, TypeError)):
                    raise  # the estimator refused the data: mlgate._training reports it
                # A worker or executor lost, the driver unreachable: what Spark said last.
                raise ServiceError(
                    f"compute.cluster: the search failed on {cluster_url}: {_last_line(exc)}"
                ) from None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    results = searcher.cv_results_
    candidates = [
        Candidate(
            params={_bare(key): value for key, value in params.items()},
            score=sign * float(results["mean_test_score"][index]),
            score_std=float(results["std_test_score"][index]),
            rank=int(results["rank_test_score"][index]),
        )
        for index, params in enumerate(results["params"])
    ]
    return SearchOutcome(
        pipeline=searcher.best_estimator_,
        best_params={_bare(key): value for key, value in searcher.best_params_.items()},
        best_score=sign * float(searcher.best_score_),
        metric=metric,
        kind=search.kind,
        cv=search.cv,
        where=cluster_url or "local",
        candidates=candidates,
    )


def scorer(metric: str, task: Any) -> Any:
    """The scikit-learn scorer that computes `metric` as mlgate._metrics does.

    Built from scikit-learn's own functions only, so it unpickles on an executor that
    has no mlgate. Lower-is-better metrics are negated, as scikit-learn's scorers are.
    """
    from sklearn import metrics as m

    if task.kind == "regression":
        return {
            "mae": "neg_mean_absolute_error",
            "rmse": "neg_root_mean_squared_error",
            "r2": "r2",
            "mape": "neg_mean_absolute_percentage_error",
        }[metric]
    binary = task.is_binary
    positive = task.positive_label
    proba = "predict_proba"
    if metric in ("accuracy", "balanced_accuracy"):
        return metric
    if metric in ("precision", "recall", "f1"):
        function = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}
        if binary:
            return m.make_scorer(function[metric], pos_label=positive, zero_division=0)
        return m.make_scorer(function[metric], average="macro", zero_division=0)
    if metric == "roc_auc":
        # AUC is the same whichever class is called positive.
        return "roc_auc" if binary else "roc_auc_ovr"
    if metric == "pr_auc":
        if binary:
            return m.make_scorer(
                m.average_precision_score, response_method=proba, pos_label=positive
            )
        return m.make_scorer(m.average_precision_score, response_method=proba, average="macro")
    if metric == "log_loss":
        return "neg_log_loss"
    if metric == "brier":
        extra = {"pos_label": positive} if binary else {}
        return m.make_scorer(
            m.brier_score_loss, response_method=proba, greater_is_better=False, **extra
        )
    raise AssertionError(metric)


def _values(values: list[Any] | SearchRange) -> Any:
    if isinstance(values, list):
        return values
    from scipy import stats

    if isinstance(values.low, int) and isinstance(values.high, int) and not values.log:
        return stats.randint(values.low, values.high + 1)
    if values.log:
        return stats.loguniform(values.low, values.high)
    return stats.uniform(values.low, values.high - values.low)


def _combinations(search: SearchSection) -> int | None:
    """How many distinct candidates the lists allow; None when a range is sampled."""
    if any(isinstance(values, SearchRange) for values in search.params.values()):
        return None
    return math.prod(len(values) for values in search.params.values())


def candidate_count(search: SearchSection) -> int:
    """How many candidates the search fits (each `cv` times)."""
    combinations = _combinations(search)
    if search.kind == "grid":
        assert combinations is not None
        return combinations
    wanted = search.n_iter or 10
    return wanted if combinations is None else min(wanted, combinations)


def _check_value(
    project: Project, choice: EstimatorChoice, name: str, value: Any, key: tuple[Any, ...]
) -> None:
    """scikit-learn's own check of one value, as `fit` would make it, without fitting."""
    from sklearn.base import clone
    from sklearn.utils._param_validation import InvalidParameterError

    from mlgate._estimators import _constraint_message, _first_line

    estimator = clone(choice.estimator)
    try:
        estimator.set_params(**{name: value})
    except ValueError as exc:
        raise project.config_error(key, _first_line(exc)) from None
    validate = getattr(estimator, "_validate_params", None)
    if not callable(validate) or "__" in name:
        return
    try:
        validate()
    except InvalidParameterError as exc:
        raise project.config_error(key, _constraint_message(exc, value)) from None
    except Exception:  # a team's own estimator with a check of its own: left to fit
        return


def _last_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _bare(key: str) -> str:
    return key.removeprefix(f"{MODEL_STEP}__")
