"""The fairness stage's bar chart: each judged feature's per-group rates, as a PNG."""

from __future__ import annotations

from pathlib import Path

from mlgate.results.fairness import FairnessResult, GroupFigures

# How the per-group figures are named in the chart's legend and the report's tables.
COLUMN_TITLES = {
    "count": "rows",
    "selection_rate": "selection rate",
    "accuracy": "accuracy",
    "true_positive_rate": "TPR",
    "false_positive_rate": "FPR",
    "precision": "precision",
    "recall": "recall",
    "mean_prediction": "mean prediction",
    "mean_absolute_error": "MAE",
    "mean_squared_error": "MSE",
}
# Which per-group rates the chart shows, by task.
CHART_METRICS = {
    "classification": ("selection_rate", "true_positive_rate", "false_positive_rate"),
    "regression": ("mean_prediction", "mean_absolute_error"),
}


def write_chart(result: FairnessResult, path: Path) -> bool:
    """Per-group bars for each judged feature; groups too small to judge are hatched."""
    # A Figure on the Agg canvas, as mlgate._plots draws: no pyplot, its global state and
    # backend choice (and 0.2 s less to import).
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    features = result.features
    if not features or result.task is None:
        return False
    metrics = CHART_METRICS[result.task]
    widest = max(len(feature.groups) for feature in features)
    # Wide enough for the groups, but bounded: an intersection can have dozens.
    figure = Figure(
        figsize=(min(24.0, max(6.0, 0.55 * widest * len(metrics) + 2)), 3.4 * len(features))
    )
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(features), 1, squeeze=False)
    for axis, feature in zip(axes[:, 0], features, strict=True):
        groups = feature.groups
        positions = np.arange(len(groups))
        width = 0.8 / len(metrics)
        for index, name in enumerate(metrics):
            values = [_plotted(group.metrics.get(name)) for group in groups]
            bars = axis.bar(
                positions + (index - (len(metrics) - 1) / 2) * width,
                values,
                width,
                label=COLUMN_TITLES[name],
            )
            for bar, group in zip(bars, groups, strict=True):
                if group.too_small:
                    bar.set_hatch("//")
                    bar.set_alpha(0.4)
        axis.set_xticks(positions)
        crowded = len(groups) > 8
        axis.set_xticklabels(
            [_tick(group) for group in groups],
            fontsize=7 if crowded else 8,
            rotation=45 if crowded else 0,
            ha="right" if crowded else "center",
        )
        axis.set_title(f"{_literal(feature.name)}: per-group rates", fontsize=10)
        axis.legend(fontsize=8)
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    return True


def _tick(group: GroupFigures) -> str:
    note = ", too small" if group.too_small else ""
    return f"{_literal(group.group)}\n(n={group.count}{note})"


def _literal(text: str) -> str:
    """Group names come from data: a `$` must not start matplotlib's math mode."""
    return str(text).replace("$", r"\$")


def _plotted(value: float | None) -> float:
    return float("nan") if value is None else float(value)
