"""Bootstrap intervals of disparities: Fairlearn's resamples, counted with numpy.

`MetricFrame(n_boot=..., ci_quantiles=..., random_state=seed)` draws its resamples
like this: a `numpy.random.default_rng(seed)` gives one uint32 seed per sample, and
sample i is `DataFrame.sample(frac=1, replace=True, random_state=seed_i)`, that is
`RandomState(seed_i).choice(n, n)`. It then recomputes every metric on every
resample through pandas, about 10 ms a sample, which made the gate take minutes
at a useful `n_boot`. This module draws the very same resamples and counts each
group's confusion cells (or error sums) for many of them at once, so an interval
here equals Fairlearn's `difference_ci()` / `ratio_ci()` for the same seed
(tests/test_fairness_figures.py checks that against Fairlearn itself) and takes
milliseconds. It also gives composite disparities (equalized odds: the worse of
the true- and false-positive rate) an exact interval, taken per resample.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

# Resamples are drawn and counted this many cells (resamples x rows) at a time, so the
# gate's memory stays bounded (tens of MB) at any n_boot and row count: the whole
# (n_boot, rows) matrix at once, with its temporaries, took 1 GB at 50,000 rows.
_CELLS_PER_CHUNK = 2_000_000


def resample_chunks(rows: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of each resample, exactly as Fairlearn draws them, (k, rows) at a time."""
    generator = np.random.default_rng(seed=int(seed))
    seeds = generator.integers(low=0, high=np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32)
    per_chunk = max(1, _CELLS_PER_CHUNK // max(rows, 1))
    for start in range(0, n_boot, per_chunk):
        yield np.stack(
            [
                np.random.RandomState(int(s)).choice(rows, size=rows, replace=True)
                for s in seeds[start : start + per_chunk]
            ]
        )


def group_metric_samples(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    codes: np.ndarray,
    groups: int,
    indices: np.ndarray,
    metrics: list[str],
    kind: str,
) -> dict[str, np.ndarray]:
    """Each metric per resample and group, (resamples, groups); NaN where a group is absent."""
    n_boot = len(indices)
    # One bincount over all resamples: resample b, group g, cell c -> (b * groups + g) * K + c.
    sample_group = np.repeat(np.arange(n_boot), indices.shape[1]) * groups + codes[indices].ravel()
    slots = n_boot * groups
    if kind == "classification":
        cells = (y_true[indices] * 2 + y_pred[indices]).ravel()  # 0 tn, 1 fp, 2 fn, 3 tp
        counts = np.bincount(sample_group * 4 + cells, minlength=slots * 4).reshape(
            n_boot, groups, 4
        )
        tn, fp, fn, tp = (counts[..., cell].astype(float) for cell in range(4))
        total = tn + fp + fn + tp
        with np.errstate(divide="ignore", invalid="ignore"):
            values = {
                "count": total,
                "selection_rate": (fp + tp) / total,
                "accuracy": (tp + tn) / total,
                # Fairlearn's rates come from sklearn's normalised confusion matrix, which
                # turns 0/0 into 0; so do sklearn's precision and recall with zero_division=0.
                "true_positive_rate": _or_zero(tp, tp + fn),
                "false_positive_rate": _or_zero(fp, fp + tn),
                "precision": _or_zero(tp, tp + fp),
                "recall": _or_zero(tp, tp + fn),
            }
    else:
        truth, prediction = y_true[indices].ravel(), y_pred[indices].ravel()
        error = prediction - truth

        def sums(weights: Any) -> np.ndarray:
            return np.bincount(sample_group, weights=weights, minlength=slots).reshape(
                n_boot, groups
            )

        total = sums(None).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = {
                "count": total,
                "mean_prediction": sums(prediction) / total,
                "mean_absolute_error": sums(np.abs(error)) / total,
                "mean_squared_error": sums(error * error) / total,
            }
    absent = total == 0
    result = {}
    for name in metrics:
        figures = values[name].copy()
        figures[absent] = np.nan  # Fairlearn's groupby has no row for an absent group
        result[name] = figures
    return result


def spread(samples: np.ndarray, kind: str) -> np.ndarray:
    """Per resample: max - min over the groups present (difference), or min / max (ratio)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        high = np.nanmax(samples, axis=1)
        low = np.nanmin(samples, axis=1)
        return high - low if kind == "difference" else low / high


def quantiles(samples: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """The central interval, as Fairlearn takes it (numpy's default, linear quantiles)."""
    tail = (1.0 - confidence) / 2.0
    if np.isnan(samples).any():
        return None
    low, high = np.quantile(samples, q=[tail, 1.0 - tail])
    return float(low), float(high)


def _or_zero(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)
