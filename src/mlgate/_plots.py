"""The evaluation's pictures, as PNG files under the run directory (`plots/`).

Classification: ROC and precision-recall curves and a calibration curve (candidate
solid, champion dashed, on the same axes), and confusion matrices. Regression:
predicted against actual values. Both: feature importance. The register stage logs
the directory to the MLflow run.

matplotlib is used without pyplot (a `Figure` drawn by the Agg canvas), so no
display, global state or backend choice is involved, and it is imported only here.
Labels come from the data, so mathtext is off: a class named `$x$` shows as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate._metrics import Predictions
from mlgate._training import Task
from mlgate.rundir import PLOTS_DIR

MAX_IMPORTANCE_BARS = 20
CALIBRATION_BINS = 10
# Every plot this module may draw, by file stem.
KINDS = (
    "roc",
    "precision_recall",
    "calibration",
    "confusion_matrix",
    "predicted_vs_actual",
    "feature_importance",
)
_CANDIDATE, _CHAMPION = "-", "--"
_STYLE = {"text.parse_math": False, "font.size": 9, "axes.titlesize": 10}


def draw_plots(
    run_dir: Path,
    task: Task,
    candidate: Predictions,
    *,
    champion: Predictions | None = None,
    champion_name: str = "champion",
    importance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Draw every plot that applies; {"files": {kind: path under run_dir}, "skipped": {...}}.

    `skipped` says, per kind, why a plot was not drawn (e.g. no probabilities).
    """
    import matplotlib

    directory = run_dir / PLOTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:  # only this module's files: another stage may draw here too
        (directory / f"{kind}.png").unlink(missing_ok=True)
    files: dict[str, str] = {}
    skipped: dict[str, str] = {}
    models = [("candidate", candidate, _CANDIDATE)]
    if champion is not None:
        models.append((champion_name, champion, _CHAMPION))

    def save(kind: str, figure: Any) -> None:
        assert kind in KINDS, kind
        path = directory / f"{kind}.png"
        figure.savefig(path, dpi=100)
        files[kind] = f"{PLOTS_DIR}/{path.name}"

    with matplotlib.rc_context(_STYLE):
        if task.kind == "classification":
            scored = [(name, p, style) for name, p, style in models if p.scores is not None]
            if scored:
                save("roc", _curves(task, scored, "roc"))
                save("precision_recall", _curves(task, scored, "pr"))
                save("calibration", _calibration(task, scored))
            else:
                reason = "the model gives no probabilities (no predict_proba)"
                skipped.update(roc=reason, precision_recall=reason, calibration=reason)
            save("confusion_matrix", _confusion(task, models))
        else:
            save("predicted_vs_actual", _predicted_vs_actual(models))
        if importance and importance.get("features"):
            save("feature_importance", _importance(importance))
        else:
            skipped["feature_importance"] = "no importance could be computed for this model"
    return {"files": files, "skipped": skipped}


# --- figures ----------------------------------------------------------------------------


def _figure(width: float = 6.4, height: float = 4.8) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _columns(task: Task) -> list[Any]:
    """The classes that get a curve: the positive one (binary), or each class (one vs rest)."""
    return [task.positive_label] if task.is_binary else list(task.classes)


def _column(p: Predictions, label: Any) -> Any:
    import numpy as np

    classes = list(p.classes)
    if label not in classes:
        return np.zeros(len(np.asarray(p.y_true)))
    return np.asarray(p.scores, dtype=float)[:, classes.index(label)]


def _is(p: Predictions, label: Any) -> Any:
    import numpy as np

    return (np.asarray(p.y_true, dtype=object) == label).astype(int)


def _curves(task: Task, models: list[tuple[str, Predictions, str]], kind: str) -> Any:
    from sklearn import metrics

    figure = _figure()
    axes = figure.add_subplot()
    colours = _colours(max(len(_columns(task)), len(models)))
    for index, label in enumerate(_columns(task)):
        for number, (name, p, style) in enumerate(models):
            truth, score = _is(p, label), _column(p, label)
            if truth.min() == truth.max():
                continue  # a class absent from the validation rows has no curve
            # One curve per model (binary): a colour per model; else a colour per class.
            colour = colours[number if task.is_binary else index]
            which = "" if task.is_binary else f" · {label}"
            if kind == "roc":
                x, y, _ = metrics.roc_curve(truth, score)
                area = metrics.roc_auc_score(truth, score)
                legend = f"{name}{which} (AUC {area:.3f})"
            else:
                precision, recall, _ = metrics.precision_recall_curve(truth, score)
                x, y = recall, precision
                area = metrics.average_precision_score(truth, score)
                legend = f"{name}{which} (AP {area:.3f})"
            axes.plot(x, y, style, color=colour, label=legend)
    if kind == "roc":
        axes.plot([0, 1], [0, 1], ":", color="grey", linewidth=1)
        axes.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    else:
        axes.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve")
    axes.set(xlim=(0, 1), ylim=(0, 1.02))
    axes.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=8)
    axes.grid(alpha=0.3)
    return figure


def _calibration(task: Task, models: list[tuple[str, Predictions, str]]) -> Any:
    from sklearn.calibration import calibration_curve

    figure = _figure()
    axes = figure.add_subplot()
    colours = _colours(max(len(_columns(task)), len(models)))
    axes.plot([0, 1], [0, 1], ":", color="grey", linewidth=1, label="perfectly calibrated")
    for index, label in enumerate(_columns(task)):
        for number, (name, p, style) in enumerate(models):
            truth, score = _is(p, label), _column(p, label)
            if truth.min() == truth.max():
                continue
            colour = colours[number if task.is_binary else index]
            observed, predicted = calibration_curve(
                truth, score.clip(0, 1), n_bins=CALIBRATION_BINS, strategy="uniform"
            )
            which = "" if task.is_binary else f" · {label}"
            axes.plot(
                predicted,
                observed,
                style,
                marker="o",
                markersize=3,
                color=colour,
                label=f"{name}{which}",
            )
    positive = f" (class {task.positive_label})" if task.is_binary else " (one vs rest)"
    axes.set(
        xlabel="Mean predicted probability",
        ylabel="Observed frequency",
        title=f"Calibration{positive}",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(alpha=0.3)
    return figure


def _confusion(task: Task, models: list[tuple[str, Predictions, str]]) -> Any:
    import numpy as np
    from sklearn.metrics import confusion_matrix

    labels = list(task.classes)
    size = max(3.2, 0.5 * len(labels) + 2.2)
    figure = _figure(size * len(models), size)
    for index, (name, p, _) in enumerate(models):
        axes = figure.add_subplot(1, len(models), index + 1)
        # By position in the task's classes: an object array of numbers (a 0/1 target)
        # is a target type scikit-learn refuses, and labels may be text, numbers or bools.
        position = {label: index for index, label in enumerate(labels)}
        matrix = confusion_matrix(
            [position.get(value, -1) for value in p.y_true],
            [position.get(value, -1) for value in p.y_pred],
            labels=list(range(len(labels))),
        )
        axes.imshow(matrix, cmap="Blues")
        threshold = matrix.max() / 2 if matrix.size else 0
        for (row, column), value in np.ndenumerate(matrix):
            axes.text(
                column,
                row,
                f"{value:,}",
                ha="center",
                va="center",
                color="white" if value > threshold else "black",
            )
        ticks = range(len(labels))
        names = [str(label) for label in labels]
        axes.set_xticks(ticks, names, rotation=45 if len(labels) > 4 else 0)
        axes.set_yticks(ticks, names)
        axes.set(xlabel="Predicted", ylabel="Actual", title=f"Confusion matrix · {name}")
    return figure


def _predicted_vs_actual(models: list[tuple[str, Predictions, str]]) -> Any:
    import numpy as np

    figure = _figure()
    axes = figure.add_subplot()
    everything = []
    for index, (name, p, _) in enumerate(models):
        truth = np.asarray(p.y_true, dtype=float)
        said = np.asarray(p.y_pred, dtype=float)
        everything += [truth, said]
        axes.scatter(truth, said, s=8, alpha=0.5, color=_colours(2)[index], label=name)
    low, high = float(np.min(np.concatenate(everything))), float(np.max(np.concatenate(everything)))
    axes.plot([low, high], [low, high], ":", color="grey", linewidth=1, label="perfect")
    axes.set(xlabel="Actual", ylabel="Predicted", title="Predicted against actual")
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(alpha=0.3)
    return figure


def _importance(importance: dict[str, Any]) -> Any:
    shown = importance["features"][:MAX_IMPORTANCE_BARS]
    figure = _figure(6.4, max(2.4, 0.3 * len(shown) + 1.2))
    axes = figure.add_subplot()
    names = [str(item["name"]) for item in reversed(shown)]
    values = [item["importance"] for item in reversed(shown)]
    errors = [item["std"] or 0.0 for item in reversed(shown)]
    has_errors = any(errors)
    axes.barh(names, values, xerr=errors if has_errors else None, color=_colours(1)[0])
    if importance["method"] == "permutation":
        label = f"Mean fall in score when shuffled ({importance['source']})"
    else:
        label = f"Model's own importance ({importance['source']})"
    axes.set(xlabel=label, title="Feature importance")
    axes.grid(axis="x", alpha=0.3)
    return figure


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(index % 10) for index in range(max(count, 1))]
