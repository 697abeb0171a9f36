"""Which input columns the model leans on, per raw column of the data.

The model's own importances when it has them (`feature_importances_` of tree
ensembles, `coef_` of linear models), else scikit-learn's permutation importance on
the validation rows (how much the score falls when a column is shuffled). Encoded
columns (one-hot categories) are added back up to the column a user wrote in the
feature spec, so the chart speaks of `plan`, not `plan_premium`.
"""

from __future__ import annotations

from typing import Any

from mlgate._training import Task

# Permutation importance repeats each shuffle this many times; the spread is reported.
PERMUTATION_REPEATS = 5
# ... on at most this many validation rows (drawn with the seed), to bound its cost.
PERMUTATION_MAX_ROWS = 5_000


def feature_importance(
    pipeline: Any, features: Any, y_true: Any, task: Task, *, seed: int
) -> dict[str, Any]:
    """{"method", "source", "features": [{"name", "importance", "std"}]}, largest first.

    `method` is "model" (the estimator's own figures; `std` is None) or "permutation"
    (mean fall in `source`'s score over the shuffles, with its standard deviation).
    """
    own = _model_importance(pipeline, list(features.columns))
    if own is not None:
        source, values = own
        ranked = [{"name": name, "importance": value, "std": None} for name, value in values]
        return {"method": "model", "source": source, "features": _largest_first(ranked)}
    return _permutation_importance(pipeline, features, y_true, task, seed=seed)


def _model_importance(pipeline: Any, columns: list[str]) -> tuple[str, list] | None:
    import numpy as np

    steps = getattr(pipeline, "steps", None)
    estimator = steps[-1][1] if steps else pipeline
    if hasattr(estimator, "feature_importances_"):
        source = "feature_importances_"
        weights = np.asarray(estimator.feature_importances_, dtype=float)
    elif hasattr(estimator, "coef_"):
        source = "|coef_|"
        coef = np.abs(np.asarray(estimator.coef_, dtype=float))
        weights = coef.mean(axis=0) if coef.ndim == 2 else coef
    else:
        return None
    names = _encoded_names(pipeline, columns)
    if names is None or len(names) != weights.shape[0] or not np.all(np.isfinite(weights)):
        return None
    totals = dict.fromkeys(columns, 0.0)
    for name, weight in zip(names, weights, strict=True):
        column = _raw_column(name, columns)
        totals[column] = totals.get(column, 0.0) + float(weight)
    return source, [(name, float(value)) for name, value in totals.items()]


def _encoded_names(pipeline: Any, columns: list[str]) -> list[str] | None:
    steps = getattr(pipeline, "steps", None)
    if not steps:
        return columns
    if len(steps) == 1:
        return columns
    try:
        return [str(name) for name in pipeline[:-1].get_feature_names_out()]
    except (AttributeError, ValueError, TypeError):
        return None


def _raw_column(encoded: str, columns: list[str]) -> str:
    """The input column an encoded name came from: itself, or the longest `column_` prefix."""
    if encoded in columns:
        return encoded
    matches = [column for column in columns if encoded.startswith(f"{column}_")]
    return max(matches, key=len) if matches else encoded


def _permutation_importance(
    pipeline: Any, features: Any, y_true: Any, task: Task, *, seed: int
) -> dict[str, Any]:
    import numpy as np
    from sklearn.inspection import permutation_importance

    rows = len(features.index)
    if rows > PERMUTATION_MAX_ROWS:
        keep = np.random.default_rng(seed).choice(rows, PERMUTATION_MAX_ROWS, replace=False)
        features, y_true = features.iloc[np.sort(keep)], np.asarray(y_true)[np.sort(keep)]
    scoring = "accuracy" if task.kind == "classification" else "r2"
    found = permutation_importance(
        pipeline,
        features,
        y_true,
        scoring=scoring,
        n_repeats=PERMUTATION_REPEATS,
        random_state=seed,
        n_jobs=1,
    )
    ranked = [
        {"name": str(name), "importance": float(mean), "std": float(std)}
        for name, mean, std in zip(
            features.columns, found.importances_mean, found.importances_std, strict=True
        )
    ]
    return {
        "method": "permutation",
        "source": f"{scoring}, {PERMUTATION_REPEATS} shuffles",
        "features": _largest_first(ranked),
    }


def _largest_first(ranked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(ranked, key=lambda item: (-item["importance"], item["name"]))
