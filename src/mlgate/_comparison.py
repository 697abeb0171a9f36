"""The candidate against the champion on the same rows: paired bootstrap and McNemar's test.

A paired bootstrap draws the validation rows with replacement, `n` times, and scores
both models on each draw; the spread of (candidate − champion) over the draws is the
noise of the difference. Both models see the same draws, so rows that are hard for
both cancel out and the interval is much narrower than two separate intervals.

Each draw is a vector of row counts (how often each row was drawn), and every metric
is written as a function of those counts: sums become matrix products, so a thousand
draws of a thousand rows cost milliseconds, not a thousand calls to scikit-learn. The
point figures themselves come from `mlgate._metrics` (scikit-learn); the tests check
that these count-weighted versions give the same numbers when every row counts once.

numpy and scipy are imported inside the functions: this module is imported by the
evaluate stage only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mlgate._catalogue import LOWER_IS_BETTER
from mlgate._metrics import Predictions
from mlgate._training import Task
from mlgate.results.evaluate import Comparison, Interval, McNemar

# Draws are made in chunks of about this many cells (draws × rows), so memory stays
# bounded (tens of MB) whatever `evaluation.bootstrap.n` and the row count are.
_CELLS_PER_CHUNK = 2_000_000

# Below this many discordant rows McNemar's chi-square is a poor approximation,
# and the exact binomial test is used instead.
EXACT_MCNEMAR_BELOW = 25


@dataclass(frozen=True)
class Difference:
    """candidate − champion for one metric, with its paired-bootstrap interval.

    `relative` is the difference as a fraction of the champion's figure; its interval is
    taken over the draws too. Intervals are None when too few draws were defined (e.g. a
    tiny validation set where most draws miss a class).
    """

    metric: str
    candidate: float
    champion: float
    difference: float
    interval: Interval | None
    relative: float | None
    relative_interval: Interval | None

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    def to_result(self) -> Comparison:
        """The entry of `evaluate.json`'s `comparison` for this metric."""
        return Comparison(
            candidate=self.candidate,
            champion=self.champion,
            difference=self.difference,
            interval=self.interval,
            relative=self.relative,
            relative_interval=self.relative_interval,
            lower_is_better=self.lower_is_better,
        )


@dataclass(frozen=True)
class Bootstrap:
    """What the draws say: an interval per candidate metric, and per difference."""

    n: int
    confidence: float
    seed: int
    candidate: dict[str, Interval | None]
    differences: dict[str, Difference]


def mcnemar(y_true: Any, candidate_pred: Any, champion_pred: Any) -> McNemar:
    import numpy as np
    from scipy import stats

    truth = np.asarray(y_true, dtype=object)
    candidate_right = np.asarray(candidate_pred, dtype=object) == truth
    champion_right = np.asarray(champion_pred, dtype=object) == truth
    b = int(np.sum(candidate_right & ~champion_right))
    c = int(np.sum(~candidate_right & champion_right))
    if b + c == 0:
        return McNemar(b, c, None, 1.0, "exact binomial")
    if b + c < EXACT_MCNEMAR_BELOW:
        p_value = stats.binomtest(min(b, c), b + c, 0.5).pvalue
        return McNemar(b, c, None, float(min(1.0, p_value)), "exact binomial")
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    p_value = stats.chi2.sf(statistic, df=1)
    return McNemar(b, c, float(statistic), float(p_value), "chi-square with continuity correction")


def bootstrap(
    names: Sequence[str],
    task: Task,
    candidate: Predictions,
    candidate_metrics: dict[str, float],
    *,
    champion: Predictions | None = None,
    champion_metrics: dict[str, float | None] | None = None,
    n: int,
    confidence: float,
    seed: int,
) -> Bootstrap:
    """Intervals for each candidate metric and, with a champion, for each difference.

    Only metrics with a champion figure get a difference. The same draws serve every
    metric and both models (paired), and the same seed gives the same draws.
    """
    import numpy as np

    champion_metrics = champion_metrics or {}
    compared = [
        name for name in names if champion is not None and champion_metrics.get(name) is not None
    ]
    rows = len(np.asarray(candidate.y_true))
    own = _Prepared.of(candidate, task)
    other = _Prepared.of(champion, task) if champion is not None else None

    samples_candidate: dict[str, list[Any]] = {name: [] for name in names}
    samples_champion: dict[str, list[Any]] = {name: [] for name in compared}
    with np.errstate(divide="ignore", invalid="ignore"):
        for weights in draws(rows, n, seed):
            for name in names:
                samples_candidate[name].append(own.metric(name, weights))
            for name in compared:
                samples_champion[name].append(other.metric(name, weights))

    alpha = (1 - confidence) / 2
    candidate_intervals: dict[str, Interval | None] = {}
    for name in names:
        values = np.concatenate(samples_candidate[name])
        candidate_intervals[name] = _percentile_interval(values, alpha)
    differences: dict[str, Difference] = {}
    for name in compared:
        ours = np.concatenate(samples_candidate[name])
        theirs = np.concatenate(samples_champion[name])
        with np.errstate(divide="ignore", invalid="ignore"):
            relative_draws = np.where(theirs != 0, (ours - theirs) / np.abs(theirs), np.nan)
        point_candidate = candidate_metrics[name]
        point_champion = float(champion_metrics[name])  # type: ignore[arg-type]
        difference = point_candidate - point_champion
        differences[name] = Difference(
            metric=name,
            candidate=point_candidate,
            champion=point_champion,
            difference=difference,
            interval=_percentile_interval(ours - theirs, alpha),
            relative=difference / abs(point_champion) if point_champion else None,
            relative_interval=_percentile_interval(relative_draws, alpha),
        )
    return Bootstrap(n, confidence, seed, candidate_intervals, differences)


def draws(rows: int, n: int, seed: int) -> Iterator[Any]:
    """`n` bootstrap draws of `rows` rows as row counts, in chunks of shape (k, rows)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CELLS_PER_CHUNK // max(rows, 1))
    done = 0
    while done < n:
        k = min(per_chunk, n - done)
        picked = rng.integers(0, rows, size=(k, rows))
        picked += (np.arange(k) * rows)[:, None]
        counts = np.bincount(picked.ravel(), minlength=k * rows).reshape(k, rows)
        yield counts.astype(np.float64)
        done += k


def weighted_metric(name: str, predictions: Predictions, task: Task, weights: Any) -> Any:
    """A metric under row weights (shape (k, rows)): one figure per row of `weights`."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return _Prepared.of(predictions, task).metric(name, np.asarray(weights, dtype=float))


def _percentile_interval(values: Any, alpha: float) -> Interval | None:
    import numpy as np

    finite = values[np.isfinite(values)]
    # Fewer than nine draws in ten defined: the interval would describe other data.
    if finite.size == 0 or finite.size < 0.9 * values.size:
        return None
    low, high = np.percentile(finite, [100 * alpha, 100 * (1 - alpha)])
    return Interval(float(low), float(high))


@dataclass(frozen=True)
class _Prepared:
    """One model's predictions as numeric arrays, ready for weighted sums."""

    task: Task
    labels: tuple[Any, ...]
    truth: Any  # classification: (rows, C) one-hot of the true label; regression: values
    said: Any  # classification: (rows, C) one-hot of the predicted label; regression: values
    scores: Any | None  # (rows, C) probabilities in `labels` order
    positive: int | None  # column of the positive label (binary)

    @classmethod
    def of(cls, predictions: Predictions, task: Task) -> _Prepared:
        import numpy as np

        if task.kind == "regression":
            return cls(
                task,
                (),
                np.asarray(predictions.y_true, dtype=float),
                np.asarray(predictions.y_pred, dtype=float),
                None,
                None,
            )
        labels = tuple(task.classes) or tuple(predictions.classes)
        truth = _onehot(predictions.y_true, labels)
        said = _onehot(predictions.y_pred, labels)
        scores = None
        if predictions.scores is not None:
            given = np.asarray(predictions.scores, dtype=float)
            scores = np.zeros((given.shape[0], len(labels)))
            for column, label in enumerate(predictions.classes):
                if label in labels:
                    scores[:, labels.index(label)] = given[:, column]
        positive = labels.index(task.positive_label) if task.is_binary else None
        return cls(task, labels, truth, said, scores, positive)

    def metric(self, name: str, weights: Any) -> Any:
        if self.task.kind == "regression":
            return self._regression(name, weights)
        return self._classification(name, weights)

    def _regression(self, name: str, w: Any) -> Any:
        import numpy as np

        total = w.sum(axis=1)
        error = self.truth - self.said
        if name == "mae":
            return w @ np.abs(error) / total
        if name == "rmse":
            return np.sqrt(w @ error**2 / total)
        if name == "r2":
            spread = w @ self.truth**2 - (w @ self.truth) ** 2 / total
            return 1 - (w @ error**2) / spread
        if name == "mape":
            # scikit-learn's floor for a zero target, so both agree on every row.
            floor = np.finfo(np.float64).eps
            return w @ (np.abs(error) / np.maximum(np.abs(self.truth), floor)) / total
        raise AssertionError(name)

    def _classification(self, name: str, w: Any) -> Any:
        import numpy as np

        total = w.sum(axis=1)
        hit = self.truth * self.said  # (rows, C): 1 where the row's label was predicted
        if name == "accuracy":
            return w @ hit.sum(axis=1) / total
        true_positive = w @ hit
        actual = w @ self.truth
        said = w @ self.said
        recall = _ratio(true_positive, actual)
        if name == "balanced_accuracy":
            present = actual > 0
            return np.where(present, recall, 0).sum(axis=1) / present.sum(axis=1)
        if name in ("precision", "recall", "f1"):
            per_class = {
                "precision": _ratio(true_positive, said),
                "recall": recall,
                "f1": _ratio(2 * true_positive, said + actual),
            }[name]
            return self._average(per_class)
        scores = self.scores
        if scores is None:
            raise AssertionError(f"{name} without scores")
        if name in ("roc_auc", "pr_auc"):
            columns = [self.positive] if self.positive is not None else range(len(self.labels))
            ranked = _roc_auc if name == "roc_auc" else _average_precision
            per_class = [ranked(scores[:, c], self.truth[:, c], w) for c in columns]
            return np.mean(np.column_stack(per_class), axis=1)
        if name == "log_loss":
            floor = np.finfo(np.float64).eps
            given = np.clip((scores * self.truth).sum(axis=1), floor, 1 - floor)
            return w @ -np.log(given) / total
        if name == "brier":
            if self.positive is not None:
                column = self.positive
                squared = (scores[:, column] - self.truth[:, column]) ** 2
            else:
                squared = ((scores - self.truth) ** 2).sum(axis=1)
            return w @ squared / total
        raise AssertionError(name)

    def _average(self, per_class: Any) -> Any:
        if self.positive is not None:
            return per_class[:, self.positive]
        return per_class.mean(axis=1)


def _onehot(values: Any, labels: tuple[Any, ...]) -> Any:
    import numpy as np

    array = np.asarray(values, dtype=object)
    return np.column_stack([array == label for label in labels]).astype(float)


def _ratio(top: Any, bottom: Any) -> Any:
    """top / bottom, and 0 where bottom is 0 (scikit-learn's zero_division=0)."""
    import numpy as np

    return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), 0.0)


def _ranked_groups(score: Any, positive: Any, w: Any) -> tuple[Any, Any]:
    """Weighted positives and negatives per distinct score, from the lowest score up.

    Rows are sorted by score, then label, so each run of equal (score, label) is summed
    in one pass; a score has at most two runs (its negatives, then its positives).
    """
    import numpy as np

    order = np.lexsort((positive, score))
    ordered, labels = score[order], positive[order]
    new_run = np.r_[True, (ordered[1:] != ordered[:-1]) | (labels[1:] != labels[:-1])]
    starts = np.flatnonzero(new_run)
    sums = np.add.reduceat(w[:, order], starts, axis=1)
    run_scores = ordered[starts]
    group = np.cumsum(np.r_[True, run_scores[1:] != run_scores[:-1]]) - 1
    is_positive = labels[starts] == 1
    positives = np.zeros((w.shape[0], group[-1] + 1))
    negatives = np.zeros_like(positives)
    positives[:, group[is_positive]] = sums[:, is_positive]
    negatives[:, group[~is_positive]] = sums[:, ~is_positive]
    return positives, negatives


def _roc_auc(score: Any, positive: Any, w: Any) -> Any:
    """P(a positive outscores a negative), ties counting half: the area under the ROC."""
    import numpy as np

    positives, negatives = _ranked_groups(score, positive, w)
    below = np.cumsum(negatives, axis=1) - negatives
    wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
    return wins / (positives.sum(axis=1) * negatives.sum(axis=1))


def _average_precision(score: Any, positive: Any, w: Any) -> Any:
    """Σ (recall step) × precision over the distinct scores, highest first (scikit-learn's AP)."""
    import numpy as np

    positives, negatives = _ranked_groups(score, positive, w)
    positives, negatives = positives[:, ::-1], negatives[:, ::-1]
    true_positives = np.cumsum(positives, axis=1)
    flagged = true_positives + np.cumsum(negatives, axis=1)
    precision = _ratio(true_positives, flagged)
    return (positives * precision).sum(axis=1) / positives.sum(axis=1)
