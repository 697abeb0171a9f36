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
# A text column with (nearly) one value per row names rows, it does not describe them.
ID_UNIQUE_SHARE = 0.95
ID_MIN_ROWS = 20
POSITIVE_LABELS = ("yes", "true", "1", "positive", "pos", "churn", "churned", "fraud", "y")


@dataclass
class Draft:
    """What `mlgate init` writes: three YAML texts, and what it decided on the way."""

    spec: dict[str, Any]
    suite: list[dict[str, Any]]
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    # Why each drafted gate has its bound: {(section, metric): comment}, written above it.
    gate_comments: dict[tuple[str, str], str] = field(default_factory=dict)


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
    held_out: pd.DataFrame | None = None,
) -> Draft:
    """The drafts for `frame` (training and held-out rows together).

    With `held_out` (the held-out rows alone), the draft also sets a floor for the task's
    main metric at what a model that learned nothing scores on those rows.
    """
    notes: list[str] = []
    if len(frame.index) == 0:
        raise InputError("the data has no rows to profile", file=data_file)
    columns = [str(column) for column in frame.columns]
    if len(set(columns)) != len(columns):
        raise InputError("the data has a repeated column name", file=data_file)
    if target is None:
        target = _guess_target(frame, columns, data_file)
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
            if values.is_unique:
                suite.append({"expect_column_values_to_be_unique": {"column": column}})
            if values.notna().all():
                suite.append({"expect_column_values_to_not_be_null": {"column": column}})
            if not _named_like_id(column):
                notes.append(
                    f"id column: '{column}' (a value per row, so it names rows rather than "
                    "describing them; kept out of the model)"
                )
            continue
        if values.nunique(dropna=False) <= 1:
            shown = _label_text(values.iloc[0]) if len(values.index) else ""
            notes.append(f"left out: '{column}' holds one value ({shown!r}) in every row")
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
        raise InputError(
            "no feature columns left after the target, id and constant columns", file=data_file
        )
    if ids:
        spec["id_columns"] = ids
    spec["features"] = features
    if sensitive:
        spec["sensitive_features"] = sensitive
        notes.append(
            f"sensitive features: {', '.join(sensitive)} (kept out of the model; review the list)"
        )
    from mlgate._catalogue import DEFAULT_METRICS

    metrics = list(DEFAULT_METRICS[task])
    if task == "classification" and frame[target].nunique() != 2:
        metrics = [m for m in metrics if m != "roc_auc"] or ["accuracy"]
    config: dict[str, Any] = {
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
    result = Draft(spec=spec, suite=suite, config=config, notes=notes)
    if held_out is not None:
        _draft_gates(result, frame, held_out, target, task, positive, sensitive)
    return result


# What `mlgate init --cluster` drafts for the GradientBoosting it picks: 12 candidates.
DRAFT_SEARCH = {
    "params": {"max_depth": [2, 3, 5], "learning_rate": [0.05, 0.1], "n_estimators": [100, 250]},
    "cv": 5,
}


def draft_cluster(result: Draft, cluster: str) -> None:
    """`--cluster URL`: the compute section, and a search whose candidates run there."""
    config = result.config
    config["model"] = {**config["model"], "search": DRAFT_SEARCH}
    tracking = config.pop("tracking")
    config["compute"] = {"cluster": cluster}
    config["tracking"] = tracking  # compute before tracking, as in the README's config
    result.notes.append(
        f"model.search's {_candidates(DRAFT_SEARCH['params'])} candidates run on {cluster}; "
        "with validation.engine: spark the validate stage runs there too"
    )


def _candidates(params: dict[str, list[Any]]) -> int:
    import math

    return math.prod(len(values) for values in params.values())


def _guess_target(frame: pd.DataFrame, columns: list[str], data_file: Path) -> str:
    """A column named like a target, else the last one if it could be one; never a guess
    at a column that names rows, holds one value or is free text."""
    named = next((column for column in columns if column.lower() in TARGET_NAMES), None)
    if named is not None:
        return named
    import pandas as pd

    last = columns[-1]
    values = frame[last]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    distinct = values.nunique(dropna=True)
    why = None
    if _looks_like_id(last, values):
        why = "it has a different value in every row"
    elif distinct <= 1:
        why = "it holds one value"
    elif not numeric and distinct > MAX_CLASSES:
        why = f"it has {distinct} different text values"
    if why is None:
        return last
    raise InputError(
        f"no column is named like a target ({', '.join(TARGET_NAMES[:4])}, ...) and the last "
        f"one, '{last}', does not look like one ({why}); name the column to predict with "
        "--target COLUMN",
        file=data_file,
    )


def _draft_gates(
    result: Draft,
    frame: pd.DataFrame,
    held_out: pd.DataFrame,
    target: str,
    task: str,
    positive: Any,
    sensitive: dict[str, Any],
) -> None:
    """A floor for the task's main metric at what a model that learned nothing scores on
    the held-out rows, and, for a binary target with sensitive features, a fairness bound."""
    labels = held_out[target].dropna()
    if len(labels.index) == 0:
        return
    evaluation = result.config["evaluation"]
    gates: dict[str, Any] = {}
    if task == "regression":
        import numpy as np

        guess = float(frame[target].mean())
        baseline = float(np.sqrt(np.mean((labels.astype("float64") - guess) ** 2)))
        bound = _round_up_figure(baseline)
        gates["rmse"] = {"max": bound}
        result.gate_comments[("evaluation", "rmse")] = (
            f"predicting the mean ({guess:.4g}) for every held-out row gives rmse {baseline:.4g}"
        )
    else:
        counts = labels.map(_label_text).value_counts()
        majority, share = str(counts.index[0]), float(counts.iloc[0]) / len(labels.index)
        if "roc_auc" in evaluation["metrics"]:
            gates["roc_auc"] = {"min": 0.5}
            result.gate_comments[("evaluation", "roc_auc")] = (
                "a score that ranks rows at random has roc_auc 0.5"
            )
        gates["accuracy"] = {"min": math.floor(share * 100) / 100}
        result.gate_comments[("evaluation", "accuracy")] = (
            f"always predicting '{majority}' is right on {share:.1%} of the held-out rows"
        )
        if "accuracy" not in evaluation["metrics"]:
            evaluation["metrics"].append("accuracy")
    evaluation["gates"] = gates
    if task == "classification" and positive is not None and sensitive:
        _draft_fairness(result, held_out, target, positive, sensitive)
    elif sensitive:
        result.notes.append(
            "no fairness threshold drafted: set fairness.thresholds for this task by hand"
        )


def _draft_fairness(
    result: Draft, held_out: pd.DataFrame, target: str, positive: Any, sensitive: dict[str, Any]
) -> None:
    """Demographic parity at 0.2, or wider when the labels themselves differ more."""
    import pandas as pd

    widest, where = 0.0, None
    is_positive = held_out[target].map(_label_text) == _label_text(positive)
    for column, entry in sensitive.items():
        values = held_out[column]
        if "bins" in entry:
            values = pd.cut(values, entry["bins"], right=False)
        rates = is_positive.groupby(values, observed=True).mean()
        if len(rates.index) >= 2 and float(rates.max() - rates.min()) > widest:
            widest, where = float(rates.max() - rates.min()), column
    bound = max(0.2, math.ceil((widest + 0.05) * 100) / 100)
    tracking = result.config.pop("tracking")  # fairness reads better before tracking
    result.config["fairness"] = {"thresholds": {"demographic_parity_difference": bound}}
    result.config["tracking"] = tracking
    comment = "selection rates may differ by at most this much between groups"
    if where is not None:
        comment += f"; the held-out labels differ by {widest:.2f} across '{where}'"
    result.gate_comments[("fairness", "demographic_parity_difference")] = comment


def _round_up_figure(value: float) -> float:
    """Up to three significant digits, so a drafted upper bound is never below the figure."""
    if value <= 0:
        return 0.0
    digits = 2 - math.floor(math.log10(value))
    factor = 10.0**digits
    return math.ceil(value * factor) / factor


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


def _named_like_id(column: str) -> bool:
    return column.lower() == "id" or column.lower().endswith(("_id", "id_", "uuid"))


def _looks_like_id(column: str, values: pd.Series) -> bool:
    """Named like an id and unique, or text with (nearly) a different value in every row.

    Numbers are left alone: a measured quantity is often unique per row too.
    """
    import pandas as pd

    if _named_like_id(column) and values.notna().all() and values.is_unique:
        return True
    rows = len(values.index)
    if rows < ID_MIN_ROWS or pd.api.types.is_numeric_dtype(values):
        return False
    if pd.api.types.is_bool_dtype(values):
        return False
    return values.nunique(dropna=True) >= ID_UNIQUE_SHARE * rows


def _bins(values: pd.Series) -> list[float]:
    import numpy as np

    present = values.dropna().astype("float64")
    edges = [*np.quantile(present, [0.0, 0.25, 0.5, 0.75]).tolist(), float(present.max()) + 1]
    rounded = sorted(
        {_round_down(edges[0]), *(round(e) for e in edges[1:-1]), _round_up(edges[-1])}
    )
    return [float(edge) for edge in rounded] if len(rounded) >= 2 else [0.0, float(edges[-1])]


def _round_down(value: float) -> float | int:
    # Floored, never rounded: a bound rounded past the data would fail on the data itself.
    return math.floor(value) if abs(value) >= 1 or value == 0 else math.floor(value * 1e4) / 1e4


def _round_up(value: float) -> float | int:
    return math.ceil(value) if abs(value) >= 1 or value == 0 else math.ceil(value * 1e4) / 1e4


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

    from mlgate._actions_io import one_line

    head = (  # the file name as one line: a line break in it would end the comment
        f"# Feature spec drafted by `mlgate init` from {one_line(source)}: review it.\n"
        "# Each column: type (numeric, integer, categorical, boolean), nullable, values, "
        "min/max.\n"
    )
    return head + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def render_suite(suite: list[dict[str, Any]], source: str) -> str:
    import yaml

    from mlgate._actions_io import one_line

    lines = [
        f"# Starting expectations drafted by `mlgate init` from {one_line(source)}: observed "
        "ranges and",
        "# null shares. The feature spec's own checks (columns, types, categories) run first.",
    ]
    for entry in suite:
        [(name, kwargs)] = entry.items()
        flow = yaml.safe_dump(kwargs, default_flow_style=True, sort_keys=False, width=1000)
        lines.append(f"- {name}: {flow.strip()}")
    return "\n".join(lines) + "\n"


def render_config(
    config: dict[str, Any], gate_comments: dict[tuple[str, str], str] | None = None
) -> str:
    """The config, with each drafted gate under a comment that says where its bound came from."""
    import yaml

    comments = gate_comments or {}
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    lines = []
    section = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            section = line.split(":", 1)[0]
        key = line.strip().split(":", 1)[0]
        comment = comments.get((section or "", key)) if line.startswith("    ") else None
        if comment is not None:
            lines.append(" " * (len(line) - len(line.lstrip())) + f"# {comment}")
        lines.append(line)
    head = "# mlgate.yaml drafted by `mlgate init`; see the mlgate README for every section.\n"
    return head + "\n".join(lines) + "\n"


def render_schema(suite: list[dict[str, Any]], source: str) -> str:
    """The drafted suite as a Pandera YAML schema (`validation.engine: pandera`) that checks
    the same: each expectation of the draft has its Pandera counterpart, and nothing more."""
    from mlgate._actions_io import one_line
    from mlgate.validation.pandera_engine import pandera_module

    pa = pandera_module("mlgate init --engine pandera")
    columns: dict[str, dict[str, Any]] = {}
    table_checks = []
    for entry in suite:
        [(name, kwargs)] = entry.items()
        if name == "expect_table_row_count_to_be_between":
            table_checks.append(pa.Check.row_count_between(min_value=kwargs["min_value"]))
            continue
        # Nulls, categories and types are the feature spec's: a column allows nulls here
        # unless the draft's suite says otherwise.
        column = columns.setdefault(kwargs["column"], {"nullable": True, "checks": []})
        if name == "expect_column_values_to_be_unique":
            column["unique"] = True
        elif name == "expect_column_values_to_not_be_null" and "mostly" not in kwargs:
            column["nullable"] = False
        elif name == "expect_column_values_to_not_be_null":
            column["checks"].append(
                pa.Check.not_null_share(min_share=kwargs["mostly"], ignore_na=False)
            )
        elif name == "expect_column_values_to_be_between":
            column["checks"].append(pa.Check.in_range(kwargs["min_value"], kwargs["max_value"]))
        else:  # every expectation the draft writes has a counterpart above
            raise ValueError(f"no Pandera counterpart for {name}")
    schema = pa.DataFrameSchema(
        {name: pa.Column(**options) for name, options in columns.items()}, checks=table_checks
    )
    head = (
        f"# Pandera schema drafted by `mlgate init` from {one_line(source)}: observed ranges,\n"
        "# null shares and id uniqueness. The feature spec's own checks (columns, types, nulls,\n"
        "# categories) run first; row_count_between and not_null_share are mlgate's checks.\n"
    )
    return head + schema.to_yaml()
