"""Great Expectations (`validation.engine: pandas`) against Pandera, on 1,000,000 rows × 20 cols.

    .venv/bin/python benchmarks/validate_engines.py               # about 5 minutes
    .venv/bin/python benchmarks/validate_engines.py --rows 200000 --repeats 3

The data, feature spec and 40-expectation suite of `validate_scale.py`, and a Pandera
schema that checks the same (ranges, non-null and sets for every column, the target's
labels, at least one row), written as YAML with Pandera's own `to_yaml`. In one process,
alternating, it times

* `mlgate validate --no-cache` with the GE suite (`engine: pandas`) and with the Pandera
  schema (`engine: pandera`): reading and hashing both files, the type checks and the
  feature spec's baseline checks are the same on both sides, only the suite's engine
  differs; and
* each engine alone: pandas reads both files, then Great Expectations validates the
  suite (as in `validate_scale.py`), or Pandera validates the schema (`lazy=True`),

and prints the medians and the ratio GE / Pandera for each. Then it corrupts the
validation file (out-of-range numbers, nulls, unknown categories) and checks that both
engines report the same failures in `validate.json`, record for record. Drift is off.
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
import warnings
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from validate_scale import (  # the benchmark next to this one
    CATEGORICAL,
    INTEGER,
    NUMERIC,
    TARGET,
    TARGET_LABELS,
    time_ge_alone,
    write_repo,
)


def write_schema(root: Path) -> str:
    """The suite of `validate_scale.py` as a Pandera YAML schema."""
    from mlgate.validation.pandera_engine import pandera_module

    pa = pandera_module()
    columns = {}
    for name in NUMERIC:
        columns[name] = pa.Column(checks=pa.Check.in_range(0.0, 200.0))
    for name in INTEGER:
        columns[name] = pa.Column(checks=pa.Check.in_range(0.0, 30.0))
    for name, values in CATEGORICAL.items():
        columns[name] = pa.Column(checks=pa.Check.isin(values))
    columns[TARGET] = pa.Column(nullable=True, checks=pa.Check.isin(TARGET_LABELS))
    schema = pa.DataFrameSchema(columns, checks=[pa.Check.row_count_between(min_value=1)])
    (root / "schemas").mkdir(exist_ok=True)
    (root / "schemas" / "scale.yaml").write_text(schema.to_yaml())
    return "schemas/scale.yaml"


def with_engine(config: Path, engine: str, suite: str) -> Path:
    document = yaml.safe_load(config.read_text())
    document["validation"] = {"engine": engine, "suite": suite, "drift": {"enabled": False}}
    path = config.with_name(f"mlgate-{engine}.yaml")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def time_mlgate(config: Path, run_dir: Path, *, expect: int = 0) -> float:
    from mlgate.cli import main

    gc.collect()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["validate", str(config), "--run-dir", str(run_dir), "--no-cache"])
    elapsed = time.perf_counter() - started
    if code != expect:
        raise SystemExit(f"mlgate validate exited {code}; see {run_dir}")
    return elapsed


def time_pandera_alone(root: Path) -> float:
    """What a team would write with Pandera alone: read the schema and files, validate lazily."""
    from mlgate.validation.pandera_engine import pandera_module

    pa = pandera_module()
    gc.collect()
    started = time.perf_counter()
    schema = pa.DataFrameSchema.from_yaml((root / "schemas" / "scale.yaml").read_text())
    for name in ("train.parquet", "validation.parquet"):
        frame = pd.read_parquet(root / "data" / name)
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors:
            raise SystemExit(f"Pandera found failures in {name}; the data is wrong") from None
    return time.perf_counter() - started


def corrupt(root: Path) -> None:
    path = root / "data" / "validation.parquet"
    frame = pd.read_parquet(path)
    frame.loc[:49, NUMERIC[0]] = 500.0
    frame.loc[100:119, NUMERIC[1]] = None
    frame.loc[200:204, "kind_0"] = "unknown"
    frame.loc[300:302, INTEGER[0]] = 99
    frame.to_parquet(path, index=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--validation-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="where to write the data (a temp dir)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", FutureWarning)

    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as temporary:
        root = args.workdir or Path(temporary)
        config = write_repo(root, args.rows, args.validation_rows)
        configs = {
            "ge": with_engine(config, "pandas", "expectations/scale.yml"),
            "pandera": with_engine(config, "pandera", write_schema(root)),
        }
        print(f"data: {args.rows:,} + {args.validation_rows:,} rows × 20 columns")
        # Warm both paths (imports, registries, GE's context) outside the timings.
        time_ge_alone(root, 5)
        time_pandera_alone(root)
        for engine, path in configs.items():
            time_mlgate(path, root / f"warm-{engine}")
        times: dict[str, list[float]] = {
            "mlgate ge": [],
            "mlgate pandera": [],
            "ge alone": [],
            "pandera alone": [],
        }
        for repeat in range(args.repeats):
            times["mlgate ge"].append(time_mlgate(configs["ge"], root / f"ge-{repeat}"))
            times["mlgate pandera"].append(
                time_mlgate(configs["pandera"], root / f"pandera-{repeat}")
            )
            times["ge alone"].append(time_ge_alone(root, 5))
            times["pandera alone"].append(time_pandera_alone(root))
            print(
                f"  run {repeat + 1}: "
                + " · ".join(f"{name} {values[-1]:.2f}s" for name, values in times.items())
            )
        medians = {name: statistics.median(values) for name, values in times.items()}
        checked = {
            engine: json.loads((root / f"{engine}-0" / "validate.json").read_text())[
                "expectations"
            ]["checked"]
            for engine in configs
        }
        print(f"checked per file: GE {checked['ge']} · Pandera {checked['pandera']}")
        print(
            f"median of {args.repeats}: "
            + " · ".join(f"{name} {value:.2f}s" for name, value in medians.items())
        )
        print(
            "time ratio GE / Pandera: "
            f"mlgate validate {medians['mlgate ge'] / medians['mlgate pandera']:.2f} · "
            f"engines alone {medians['ge alone'] / medians['pandera alone']:.2f}"
        )
        corrupt(root)
        failed = {}
        for engine, path in configs.items():
            seconds = time_mlgate(path, root / f"bad-{engine}", expect=1)
            recorded = json.loads((root / f"bad-{engine}" / "validate.json").read_text())
            failed[engine] = recorded["expectations"]["failed"]
            count = len(failed[engine])
            print(f"corrupted validation file, {engine}: {count} failures, {seconds:.2f}s")
        same = failed["ge"] == failed["pandera"]
        for failure in failed["ge"]:
            print(f"  {failure['message']}")
        print(f"same failures from both engines: {'yes' if same else 'NO'}")
    return 0 if same and checked["ge"] == checked["pandera"] else 1


if __name__ == "__main__":
    sys.exit(main())
