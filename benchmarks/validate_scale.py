"""`mlgate validate` against Great Expectations alone, on 1,000,000 rows × 20 columns.

    .venv/bin/python benchmarks/validate_scale.py               # about 5 minutes
    .venv/bin/python benchmarks/validate_scale.py --rows 200000 --repeats 3

Generates a Parquet training file (--rows rows, 20 columns) and a small validation file,
a feature spec, and a 40-expectation suite; then, in the same process and alternating,
times

* mlgate: `mlgate validate --no-cache` (reading and hashing both files with the data
  loader and its checks, the type checks, the feature spec's baseline checks that the
  suite does not already make as strictly, computed in pandas, then the whole suite in
  Great Expectations), drift off; and
* GE alone: pandas reads both files and Great Expectations validates the same suite
  on each, with the same result format,

and prints the median of --repeats runs of each and their ratio (target: at most 1.05).
This suite restates most of the feature spec (ranges, non-null, sets, the target's
labels), so mlgate's own baseline adds only the column-set check here; a suite that
covers less leaves more baseline checks, each one vectorised pass over a column.
Drift, which GE alone does not do, is timed separately. Both sides run in this one
process: Great Expectations is imported and each side's data context is made once,
before timing, as in a long-lived job; a garbage collection runs before each timed
call (not timed), so neither side pays for collecting the other's leftovers.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

NUMERIC = [f"amount_{i}" for i in range(10)]
INTEGER = [f"count_{i}" for i in range(4)]
CATEGORICAL = {f"kind_{i}": [f"k{i}_{j}" for j in range(3 + i)] for i in range(5)}
TARGET = "label"
TARGET_LABELS = ["no", "yes"]


def generate(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for name in NUMERIC:
        columns[name] = rng.normal(100.0, 15.0, rows).clip(0, 200)
    for name in INTEGER:
        columns[name] = rng.poisson(3, rows).clip(0, 30)
    for name, values in CATEGORICAL.items():
        columns[name] = np.asarray(values, dtype=object)[rng.integers(0, len(values), rows)]
    columns[TARGET] = np.where(rng.random(rows) < 0.3, "yes", "no")
    return pd.DataFrame(columns)


def feature_spec() -> dict:
    features: dict[str, dict] = {}
    for name in NUMERIC:
        features[name] = {"type": "numeric", "min": 0, "max": 200}
    for name in INTEGER:
        features[name] = {"type": "integer", "min": 0, "max": 30}
    for name, values in CATEGORICAL.items():
        features[name] = {"type": "categorical", "values": values}
    return {
        "target": TARGET,
        "positive_label": "yes",
        "task": "classification",
        "features": features,
    }


def suite() -> list[dict]:
    """40 expectations: ranges, non-null and sets for every column, the target's labels."""
    entries: list[dict] = [{"expect_table_row_count_to_be_between": {"min_value": 1}}]
    for name in NUMERIC:
        entries.append(
            {
                "expect_column_values_to_be_between": {
                    "column": name,
                    "min_value": 0.0,
                    "max_value": 200.0,
                }
            }
        )
        entries.append({"expect_column_values_to_not_be_null": {"column": name}})
    for name in INTEGER:
        entries.append(
            {
                "expect_column_values_to_be_between": {
                    "column": name,
                    "min_value": 0.0,
                    "max_value": 30.0,
                }
            }
        )
        entries.append({"expect_column_values_to_not_be_null": {"column": name}})
    for name, values in CATEGORICAL.items():
        entries.append({"expect_column_values_to_be_in_set": {"column": name, "value_set": values}})
        entries.append({"expect_column_values_to_not_be_null": {"column": name}})
    entries.append(
        {"expect_column_values_to_be_in_set": {"column": TARGET, "value_set": TARGET_LABELS}}
    )
    assert len(entries) == 40, len(entries)
    return entries


def write_repo(root: Path, rows: int, validation_rows: int) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "configs").mkdir(exist_ok=True)
    (root / "expectations").mkdir(exist_ok=True)
    generate(rows, 1).to_parquet(root / "data" / "train.parquet", index=False)
    generate(validation_rows, 2).to_parquet(root / "data" / "validation.parquet", index=False)
    (root / "configs" / "features.yaml").write_text(yaml.safe_dump(feature_spec(), sort_keys=False))
    lines = [
        f"- {yaml.safe_dump(entry, default_flow_style=True, width=1000).strip()[1:-1]}"
        for entry in suite()
    ]
    (root / "expectations" / "scale.yml").write_text("\n".join(lines) + "\n")
    config = {
        "version": 1.0,
        "data": {
            "training_data_path": "data/train.parquet",
            "validation_data_path": "data/validation.parquet",
            "feature_spec": "configs/features.yaml",
        },
        "model": {"type": "GradientBoosting"},
        "validation": {"suite": "expectations/scale.yml", "drift": {"enabled": False}},
        "evaluation": {"metrics": ["accuracy"]},
        "tracking": {"registry_name": "scale"},
    }
    (root / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root / "mlgate.yaml"


def time_mlgate(config: Path, run_dir: Path) -> float:
    from mlgate.cli import main

    gc.collect()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", str(config), "--run-dir", str(run_dir), "--no-cache"])
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"mlgate validate exited {code}; see {run_dir / 'validate.json'}")
    return elapsed


_GE_SETUP: list = []


def time_ge_alone(root: Path, sample_size: int) -> float:
    """What a team would write with Great Expectations alone: read, build the suite, validate."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.expectations.registry import get_expectation_impl

    if not _GE_SETUP:  # once per process, as mlgate does: a context is not per table
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        _GE_SETUP.append(
            context.data_sources.add_pandas("direct")
            .add_dataframe_asset("table")
            .add_batch_definition_whole_dataframe("whole")
        )
    [batch_definition] = _GE_SETUP
    gc.collect()
    started = time.perf_counter()
    expectations = yaml.safe_load((root / "expectations" / "scale.yml").read_text())
    gx_suite = gx.ExpectationSuite(
        name="scale",
        expectations=[
            get_expectation_impl(name)(**kwargs)
            for entry in expectations
            for name, kwargs in entry.items()
        ],
    )
    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": sample_size,
        "include_unexpected_rows": False,
    }
    for name in ("train.parquet", "validation.parquet"):
        frame = pd.read_parquet(root / "data" / name)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = batch.validate(gx_suite, result_format=result_format)
        if not outcome.success:
            raise SystemExit(f"Great Expectations found failures in {name}; the data is wrong")
    return time.perf_counter() - started


def time_drift(config: Path, run_dir: Path) -> float:
    """The drift check alone (PSI and KS for every feature), which GE does not do."""
    from mlgate.cli import main

    document = yaml.safe_load(config.read_text())
    document["validation"]["drift"] = {"enabled": True, "reference": "training"}
    drifted = config.with_name("mlgate-drift.yaml")
    drifted.write_text(yaml.safe_dump(document, sort_keys=False))
    with contextlib.redirect_stdout(io.StringIO()):
        main(["validate", str(drifted), "--run-dir", str(run_dir), "--no-cache"])
    recorded = json.loads((run_dir / "validate.json").read_text())
    return float(recorded["drift"]["seconds"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--validation-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="where to write the data (a temp dir)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as temporary:
        root = args.workdir or Path(temporary)
        started = time.perf_counter()
        config = write_repo(root, args.rows, args.validation_rows)
        size = (root / "data" / "train.parquet").stat().st_size
        print(
            f"data: {args.rows:,} + {args.validation_rows:,} rows × 20 columns "
            f"({size / 2**20:.0f} MiB Parquet) in {time.perf_counter() - started:.1f}s"
        )
        from mlgate.validation._gx import gx_module

        gx_module()  # import once, outside the timings
        time_ge_alone(root, 5)  # warm both paths: pandas, pyarrow and GE's registries
        time_mlgate(config, root / "run-warm")
        mlgate_times, ge_times = [], []
        for repeat in range(args.repeats):
            ge_times.append(time_ge_alone(root, 5))
            mlgate_times.append(time_mlgate(config, root / f"run-{repeat}"))
            print(
                f"  run {repeat + 1}: mlgate {mlgate_times[-1]:.2f}s · GE alone {ge_times[-1]:.2f}s"
            )
        recorded = json.loads((root / "run-0" / "validate.json").read_text())
        checked = recorded["expectations"]["checked"]
        mlgate_median = statistics.median(mlgate_times)
        ge_median = statistics.median(ge_times)
        ratio = mlgate_median / ge_median
        # Each pair ran back to back, so its ratio is less exposed to a busy machine.
        paired = statistics.median(m / g for m, g in zip(mlgate_times, ge_times, strict=True))
        types = len(NUMERIC) + len(INTEGER)
        print(
            "checks per file: the suite's 40 expectations in Great Expectations on both sides; "
            f"mlgate adds {checked['training'] - 40 - types} baseline check(s) in pandas "
            f"and {types} type checks"
        )
        print(f"median of {args.repeats}: mlgate {mlgate_median:.2f}s · GE alone {ge_median:.2f}s")
        verdict = "ok" if ratio <= 1.05 else "OVER"
        print(f"overhead ratio: {ratio:.3f} (target ≤ 1.05) {verdict}")
        print(f"median of the paired ratios: {paired:.3f}")
        drift_seconds = time_drift(config, root / "run-drift")
        print(f"drift check (PSI + KS on 19 features, separate): {drift_seconds:.2f}s")
    return 0 if ratio <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
