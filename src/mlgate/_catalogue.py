"""Names users may write in a config, as plain tables (no heavy imports).

The stages that compute these figures look them up here too, so a name that
passes config validation is always one a stage knows how to compute.
"""

from __future__ import annotations

CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
)
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")

# Metrics where a larger value is worse; gates and "change" columns need the direction.
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "rmse", "mape"})

DEFAULT_METRICS = {
    "classification": ("roc_auc", "accuracy", "f1"),
    "regression": ("rmse", "mae", "r2"),
}

ALL_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS

METRICS_BY_TASK = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}

# Fairness disparities (Fairlearn's names), and the per-group metrics whose
# spread may be bounded as `<metric>_difference` or `<metric>_ratio`.
FAIRNESS_DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
)
FAIRNESS_GROUP_METRICS_BY_TASK = {
    "classification": (
        "selection_rate",
        "accuracy",
        "true_positive_rate",
        "false_positive_rate",
        "precision",
        "recall",
    ),
    "regression": ("mean_absolute_error", "mean_squared_error", "mean_prediction"),
}
FAIRNESS_GROUP_METRICS = (
    FAIRNESS_GROUP_METRICS_BY_TASK["classification"] + FAIRNESS_GROUP_METRICS_BY_TASK["regression"]
)


def fairness_threshold_names() -> tuple[str, ...]:
    spreads = tuple(
        f"{metric}_{kind}" for metric in FAIRNESS_GROUP_METRICS for kind in ("difference", "ratio")
    )
    return FAIRNESS_DISPARITIES + spreads
