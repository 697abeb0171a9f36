"""`mlgate init`: profile a data file and draft a feature spec, a suite and mlgate.yaml.

The drafts are a starting point a person reviews: types, nullability and category sets
go into the feature spec; observed ranges, null shares and id uniqueness go into the
starting suite; mlgate.yaml ties them together with defaults for the task.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson")
TARGET_NAMES = ("target", "label", "labels", "y", "class", "outcome", "churned", "churn")
SENSITIVE_NAMES = ("gender", "sex", "age", "race", "ethnicity", "religion", "nationality")
MAX_CATEGORIES = 50
MAX_CLASSES = 20
POSITIVE_LABELS = ("yes", "true", "1", "positive", "pos", "churn", "churned", "fraud", "y")


@dataclass
class Draft:
    """What `mlgate init` writes: three YAML texts, and what it decided on the way."""

    spec: dict[str, Any]
    suite: list[dict[str, Any]]
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def find_data_file(folder: Path) -> Path:
    """The one data file in `folder` or `folder/data`, preferring a training file."""
    candidates = [
        path
        for where in (folder / "data", folder)
        if where.is_dir()
        for path in sorted(where.iterdir())
        if path.is_file() and _data_suffix(path)
    ]
    training = [path for path in candidates if "train" in path.name.lower()]
    if len(training) == 1:
        return training[0]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError(
            f"no data file (CSV, Parquet, JSON Lines) in {folder} or {folder / 'data'}; "
            "give one with --data FILE"
        )
    names = ", ".join(str(path.relative_to(folder)) for path in candidates[:6])
    raise InputError(f"several data files ({names}); choose one with --data FILE")


def find_validation_file(training: Path) -> Path | None:
    """`validation.csv` beside `train.csv` (or valid/val/test), when there is one."""
    name = training.name
    for word in ("training", "train"):
        if word in name.lower():
            start = name.lower().index(word)
            for other in ("validation", "valid", "val", "test"):
                sibling = training.with_name(name[:start] + other + name[start + len(word) :])
                if sibling.is_file():
                    return sibling
            break
    return None


def read_data(path: Path) -> pd.DataFrame:
    import pandas as pd

    kind = _data_suffix(path)
    try:
        if kind in (".csv", ".tsv"):
            return pd.read_csv(path, sep="," if kind == ".csv" else "\t", low_memory=False)
        if kind in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if kind in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True)
    except UnicodeDecodeError:
        raise InputError("data is not UTF-8 text; re-save it as UTF-8", file=path) from None
    except (ValueError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot read the data: {first}", file=path) from None
    raise InputError(f"unknown file type; use one of {', '.join(DATA_SUFFIXES)}", file=path)


def _data_suffix(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".xz", ".zst")]
    return suffixes[-1] if suffixes and suffixes[-1] in DATA_SUFFIXES else None


def draft(
    frame: pd.DataFrame,
    *,
    training_rows: int,
    target: str | None,
    name: str,
    training_path: str,
    validation_path: str,
    data_file: Path,
) -> Draft:
    notes: list[str] = []
    if len(frame.index) == 0:
        raise InputError("the data has no rows to profile", file=data_file)
    columns = [str(column) for column in frame.columns]
    if len(set(columns)) != len(columns):
        raise InputError("the data has a repeated column name", file=data_file)
    if target is None:
        target = next((c for c in columns if c.lower() in TARGET_NAMES), columns[-1])
        notes.append(f"target: '{target}' (pass --target to choose another)")
    elif target not in columns:
        from mlgate.config import did_you_mean

        raise InputError(
            f"--target '{target}' is not a column{did_you_mean(target, columns)}; "
            f"columns: {', '.join(columns[:12])}",
            file=data_file,
        )
    task, positive = _task(frame[target])
    spec: dict[str, Any] = {"target": target}
    if positive is not None:
        spec["positive_label"] = positive
    spec["task"] = task
    ids, features, sensitive = [], {}, {}
    suite: list[dict[str, Any]] = [
        {"expect_table_row_count_to_be_between": {"min_value": max(1, training_rows // 10)}}
    ]
    for column in columns:
        if column == target:
            continue
        values = frame[column]
        if _looks_like_id(column, values):
            ids.append(column)
            suite.append({"expect_column_values_to_be_unique": {"column": column}})
            suite.append({"expect_column_values_to_not_be_null": {"column": column}})
            continue
        entry, checks = _profile(column, values)
        suite += checks
        if column.lower() in SENSITIVE_NAMES:
            if entry["type"] in ("numeric", "integer"):
                entry = {k: v for k, v in entry.items() if k not in ("min", "max")}
                entry["bins"] = _bins(values)
            sensitive[column] = entry
        else:
            features[column] = entry
    if not features:
        raise InputError("no feature columns left after the target and id columns", file=data_file)
    if ids:
        spec["id_columns"] = ids
    spec["features"] = features
    if sensitive:
        spec["sensitive_features"] = sensitive
        notes.append(
            f"sensitive features: {', '.join(sensitive)} (kept out of the model; review the list)"
        )
    from mlgate.catalogue import DEFAULT_METRICS

    metrics = list(DEFAULT_METRICS[task])
    if task == "classification" and frame[target].nunique() != 2:
        metrics = [m for m in metrics if m != "roc_auc"] or ["accuracy"]
    config = {
        "version": 1.0,
        "data": {
            "training_data_path": training_path,
            "validation_data_path": validation_path,
            "feature_spec": "configs/features.yaml",
        },
        "model": {"type": "GradientBoosting", "params": {}},
        "validation": {"suite": f"expectations/{_slug(name)}.yml"},
        "evaluation": {"metrics": metrics},
        "tracking": {"experiment_name": name, "registry_name": name},
    }
    return Draft(spec=spec, suite=suite, config=config, notes=notes)


def _task(target: pd.Series) -> tuple[str, Any]:
    import pandas as pd

    labels = target.dropna().unique()
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    whole = numeric and bool((target.dropna().astype("float64") % 1 == 0).all())
    if numeric and not (whole and len(labels) <= MAX_CLASSES):
        return "regression", None
    if len(labels) != 2:
        return "classification", None
    texts = {_label_text(label).lower(): _plain(label) for label in labels}
    for word in POSITIVE_LABELS:
        if word in texts:
            return "classification", texts[word]
    return "classification", None


def _profile(column: str, values: pd.Series) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import pandas as pd

    checks: list[dict[str, Any]] = []
    nulls = int(values.isna().sum())
    entry: dict[str, Any]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        present = values.dropna()
        whole = bool((present.astype("float64") % 1 == 0).all()) if len(present) else False
        entry = {
            "type": "integer" if whole and pd.api.types.is_integer_dtype(values) else "numeric"
        }
        if len(present):
            low, high = float(present.min()), float(present.max())
            if low >= 0:
                entry["min"] = 0
            checks.append(
                {
                    "expect_column_values_to_be_between": {
                        "column": column,
                        "min_value": _round_down(low),
                        "max_value": _round_up(high),
                    }
                }
            )
    else:
        distinct = sorted({_label_text(v) for v in values.dropna().unique()})
        entry = {"type": "categorical"}
        if 0 < len(distinct) <= MAX_CATEGORIES:
            entry["values"] = distinct
    if nulls:
        entry["nullable"] = True
        share = 1 - nulls / len(values.index)
        checks.append(
            {
                "expect_column_values_to_not_be_null": {
                    "column": column,
                    "mostly": math.floor(share * 0.9 * 100) / 100,
                }
            }
        )
    return entry, checks


def _looks_like_id(column: str, values: pd.Series) -> bool:
    named = column.lower() == "id" or column.lower().endswith(("_id", "id_", "uuid"))
    return named and values.notna().all() and values.is_unique


def _bins(values: pd.Series) -> list[float]:
    import numpy as np

    present = values.dropna().astype("float64")
    edges = [*np.quantile(present, [0.0, 0.25, 0.5, 0.75]).tolist(), float(present.max()) + 1]
    rounded = sorted(
        {_round_down(edges[0]), *(round(e) for e in edges[1:-1]), _round_up(edges[-1])}
    )
    return [float(edge) for edge in rounded] if len(rounded) >= 2 else [0.0, float(edges[-1])]


def _round_down(value: float) -> float | int:
    return math.floor(value) if abs(value) >= 1 or value == 0 else round(value, 4)


def _round_up(value: float) -> float | int:
    return math.ceil(value) if abs(value) >= 1 or value == 0 else round(value, 4)


def _label_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "suite"


# --- writing ---------------------------------------------------------------------------


def render_spec(spec: dict[str, Any], source: str) -> str:
    import yaml

    head = (
        f"# Feature spec drafted by `mlgate init` from {source}: review it.\n"
        "# Each column: type (numeric, integer, categorical, boolean), nullable, values, "
        "min/max.\n"
    )
    return head + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def render_suite(suite: list[dict[str, Any]], source: str) -> str:
    import yaml

    lines = [
        f"# Starting expectations drafted by `mlgate init` from {source}: observed ranges and",
        "# null shares. The feature spec's own checks (columns, types, categories) run first.",
    ]
    for entry in suite:
        [(name, kwargs)] = entry.items()
        flow = yaml.safe_dump(kwargs, default_flow_style=True, sort_keys=False, width=1000)
        lines.append(f"- {name}: {flow.strip()}")
    return "\n".join(lines) + "\n"


def render_config(config: dict[str, Any]) -> str:
    import yaml

    head = "# mlgate.yaml drafted by `mlgate init`; see the mlgate README for every section.\n"
    return head + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
