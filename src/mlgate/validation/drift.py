"""Data drift: how far each feature's distribution moved from a reference.

Per feature: the population stability index (PSI) over categories, or over quantile
bins of the reference for numbers, with missing values as a bucket of their own; and
for numbers a two-sample Kolmogorov–Smirnov test. A feature drifted when its PSI
reaches `validation.drift.psi_threshold` or, for a number, the KS p-value falls below
`validation.drift.pvalue_threshold`. Fewer than `min_rows` values on either side is
"not enough data", never drift.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mlgate.featurespec import Column
from mlgate.results.validate import DriftedFeature, DriftFeature

if TYPE_CHECKING:
    import pandas as pd

# Proportions of zero would make PSI infinite; a bucket seen on one side only counts
# as this small share on the other.
EPSILON = 1e-4
MISSING = "(missing)"


@dataclass(frozen=True)
class DriftSettings:
    psi_threshold: float
    pvalue_threshold: float
    min_rows: int
    bins: int


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: Literal["numeric", "categorical"]
    reference_rows: int
    current_rows: int
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    drifted: bool = False
    skipped: str | None = None
    biggest_change: str | None = None  # the bucket whose share moved most

    def record(self, role: str) -> DriftFeature:
        """The drift of this feature in the `role` data, as `validate.json` records it."""
        return DriftFeature(
            role=role,
            feature=self.feature,
            kind=self.kind,
            reference_rows=self.reference_rows,
            current_rows=self.current_rows,
            psi=_round(self.psi),
            ks_statistic=_round(self.ks_statistic),
            ks_pvalue=_round(self.ks_pvalue),
            drifted=self.drifted,
            skipped=self.skipped,
            biggest_change=self.biggest_change,
        )

    def drifted_record(self, role: str) -> DriftedFeature:
        """This drifted feature as the list of drifted ones records it (PSI to 4 places)."""
        return DriftedFeature(role=role, feature=self.feature, psi=round(self.psi or 0, 4))

    def describe(self) -> str:
        if self.skipped:
            return f"{self.feature}: not checked ({self.skipped})"
        parts = [f"PSI {self.psi:.3f}"]
        if self.ks_pvalue is not None:
            parts.append(f"KS {self.ks_statistic:.3f} (p={self.ks_pvalue:.2g})")
        return f"{self.feature}: " + ", ".join(parts)


def feature_drift(
    name: str, column: Column, reference: pd.Series, current: pd.Series, settings: DriftSettings
) -> FeatureDrift:
    numeric = column.is_numeric
    kind = "numeric" if numeric else "categorical"
    ref_present, cur_present = int(reference.notna().sum()), int(current.notna().sum())
    fewest = min(len(reference), len(current))
    if fewest < settings.min_rows:
        return FeatureDrift(
            name,
            kind,
            len(reference),
            len(current),
            skipped=f"{fewest} rows, fewer than validation.drift.min_rows {settings.min_rows}",
        )
    if numeric and min(ref_present, cur_present) == 0:
        return FeatureDrift(name, kind, len(reference), len(current), skipped="no values")
    ref_buckets, cur_buckets = (
        _numeric_buckets(reference, current, settings.bins)
        if numeric
        else (_category_buckets(reference), _category_buckets(current))
    )
    psi, biggest = population_stability_index(ref_buckets, cur_buckets)
    statistic = pvalue = None
    if numeric and min(ref_present, cur_present) >= settings.min_rows:
        from scipy.stats import ks_2samp

        test = ks_2samp(reference.dropna().to_numpy(float), current.dropna().to_numpy(float))
        statistic, pvalue = float(test.statistic), float(test.pvalue)
    drifted = psi >= settings.psi_threshold or (
        pvalue is not None and pvalue < settings.pvalue_threshold
    )
    return FeatureDrift(
        name,
        kind,
        len(reference),
        len(current),
        psi=psi,
        ks_statistic=statistic,
        ks_pvalue=pvalue,
        drifted=drifted,
        biggest_change=biggest,
    )


def population_stability_index(
    reference: dict[str, int], current: dict[str, int]
) -> tuple[float, str | None]:
    """PSI = Σ (cur% − ref%) · ln(cur% / ref%) over the union of buckets."""
    ref_total = sum(reference.values()) or 1
    cur_total = sum(current.values()) or 1
    psi, biggest, biggest_move = 0.0, None, -1.0
    for bucket in sorted(set(reference) | set(current), key=str):
        expected = max(reference.get(bucket, 0) / ref_total, EPSILON)
        actual = max(current.get(bucket, 0) / cur_total, EPSILON)
        psi += (actual - expected) * math.log(actual / expected)
        move = abs(actual - expected)
        if move > biggest_move:
            biggest, biggest_move = f"{bucket}: {expected:.1%} → {actual:.1%}", move
    return psi, biggest


def _category_buckets(values: pd.Series) -> dict[str, int]:
    counts = values.astype(object).where(values.notna(), MISSING).map(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def _numeric_buckets(
    reference: pd.Series, current: pd.Series, bins: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Quantile bins of the reference; a number with few distinct values keeps each value."""
    import numpy as np

    ref = reference.dropna().to_numpy(float)
    distinct = np.unique(ref)
    if len(distinct) <= bins:
        edges = (distinct[:-1] + distinct[1:]) / 2
    else:
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1))[1:-1])
    labels = _edge_labels(edges)

    def buckets(series: pd.Series) -> dict[str, int]:
        values = series.dropna().to_numpy(float)
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(labels))
        found = {labels[i]: int(c) for i, c in enumerate(counts) if c}
        missing = int(series.isna().sum())
        if missing:
            found[MISSING] = missing
        return found

    return buckets(reference), buckets(current)


def _edge_labels(edges: Any) -> list[str]:
    if len(edges) == 0:
        return ["all"]
    shown = [f"{edge:.4g}" for edge in edges]
    labels = [f"< {shown[0]}"]
    labels += [f"{low}–{high}" for low, high in itertools.pairwise(shown)]
    labels.append(f"≥ {shown[-1]}")
    return labels


def _round(value: float | None) -> float | None:
    """Six significant digits: enough for a report, and stable across platforms."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value
