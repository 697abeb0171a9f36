"""Which groups the fairness gate compares: sensitive features, their bins, intersections.

A judged feature is one sensitive column of the feature spec, or an intersection of
several (`[gender, age]` in the config is judged as one feature whose groups are
`female · [18, 30)`, ...). Numeric columns are cut at the spec's `bins`; a missing
value, or a number outside the bins, is a group of its own so that no row is
silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from mlgate.featurespec import SensitiveColumn

MISSING = "(missing)"
OUTSIDE_BINS = "(outside bins)"
# Joins the parts of an intersection, in its name and in its group labels.
NAME_JOIN = " & "
GROUP_JOIN = " · "


@dataclass(frozen=True)
class JudgedFeature:
    """A feature the gate judges: its display name and the spec columns it combines."""

    name: str
    columns: tuple[str, ...]
    config_index: int | None  # position in fairness.sensitive_features, None when defaulted

    @property
    def is_intersection(self) -> bool:
        return len(self.columns) > 1


def judged_features(
    configured: list[str | list[str]] | None, declared: dict[str, SensitiveColumn]
) -> list[JudgedFeature]:
    """The config's list, or every sensitive feature of the spec when the config names none.

    The project loader has already checked that each name is declared in the spec.
    """
    if configured is None:
        return [JudgedFeature(name, (name,), None) for name in declared]
    features = []
    for index, entry in enumerate(configured):
        columns = (entry,) if isinstance(entry, str) else tuple(entry)
        features.append(JudgedFeature(NAME_JOIN.join(columns), columns, index))
    return features


def bin_labels(edges: list[float]) -> list[str]:
    """`[18, 30)`, `[30, 45)`, ..., and the last bin closed: `[65, 120]`."""
    labels = [f"[{left:g}, {right:g})" for left, right in pairwise(edges)]
    labels[-1] = labels[-1][:-1] + "]"
    return labels


def column_groups(values: Any, column: SensitiveColumn) -> Any:
    """One group label (a string) per row of one sensitive column."""
    import numpy as np
    import pandas as pd

    series = pd.Series(values).reset_index(drop=True)
    missing = series.isna().to_numpy()
    if column.bins is None:
        labels = series.astype(object).map(_plain_label).to_numpy(dtype=object)
        labels[missing] = MISSING
        return pd.Series(labels, dtype=object)
    edges = np.asarray(column.bins, dtype=float)
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    # side="right": a value on an inner edge opens the next bin, [30, 45) holds 30.
    index = np.searchsorted(edges, numbers, side="right") - 1
    index[numbers == edges[-1]] = len(edges) - 2  # the top edge belongs to the last bin
    names = np.asarray(bin_labels(list(column.bins)), dtype=object)
    inside = (index >= 0) & (index < len(edges) - 1)
    labels = np.full(len(series), OUTSIDE_BINS, dtype=object)
    labels[inside] = names[index[inside]]
    labels[missing] = MISSING
    return pd.Series(labels, dtype=object)


def feature_groups(frame: Any, feature: JudgedFeature, declared: dict[str, SensitiveColumn]) -> Any:
    """One group label per row for a judged feature (an intersection joins its parts)."""
    parts = [column_groups(frame[name], declared[name]) for name in feature.columns]
    labels = parts[0]
    for part in parts[1:]:
        labels = labels + GROUP_JOIN + part
    return labels.rename(feature.name)


def group_order(labels: Any, declared_order: list[str] | None = None) -> list[str]:
    """Groups in a stable order: declared values or bins first, the rest sorted."""
    present = list(dict.fromkeys(labels))
    if declared_order:
        known = [group for group in declared_order if group in present]
        return known + sorted(group for group in present if group not in known)
    return sorted(present)


def declared_order(feature: JudgedFeature, declared: dict[str, SensitiveColumn]) -> list[str]:
    """Group labels in the order the spec implies (bins, then listed values)."""
    orders = []
    for name in feature.columns:
        column = declared[name]
        if column.bins is not None:
            order = bin_labels(list(column.bins))
        elif column.values is not None:
            order = [_plain_label(value) for value in column.values]
        else:
            order = []
        orders.append([*order, OUTSIDE_BINS, MISSING] if order else [])
    if not all(orders):
        return []
    combined = orders[0]
    for order in orders[1:]:
        combined = [left + GROUP_JOIN + right for left in combined for right in order]
    return combined


def _plain_label(value: Any) -> str:
    """A group label as the data shows it: 1.0 read from a CSV is the group `1`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
