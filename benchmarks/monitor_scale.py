"""`mlgate monitor` over 1,000,000 production rows × 20 features, against pandas reading them.

    .venv/bin/python benchmarks/monitor_scale.py                      # about 3 minutes
    .venv/bin/python benchmarks/monitor_scale.py --rows 200000 --repeats 3 --format parquet

Makes a model repo in a temporary folder: a training file (--train-rows rows, 20 numeric
features and a label), trains and registers it with `mlgate run` (embedded MLflow store)
and puts it behind `production`; then writes the production window as --files files of
--format (csv or parquet) holding --rows rows in all (the last ones shifted, so drift is
found). In one process, alternating, it times

* mlgate: `mlgate.monitoring.monitor(project)`, the whole check: listing the files,
  reading them newest first up to `monitoring.window` (= --rows) with mlgate's readers and
  type checks, the registry (the version behind the alias, its model loaded), the
  reference data read back and hashed, PSI and KS for each of the 20 features, the
  model scoring every production row and the reference for the predictions' drift, and
  writing monitor.json, monitor.md and the MLflow run; and
* pandas alone: `pd.read_csv` (or `read_parquet`) of the same files and `pd.concat`,

and prints the median of --repeats runs of each and their ratio (target: under 3).
A warm-up call of each comes first (imports, MLflow's store), as in a long-lived job; a
garbage collection runs before each timed call, untimed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEATURES = [f"f{i:02d}" for i in range(20)]
MODEL = "monitor-scale"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlgate-monitor-scale-") as folder:
        repo = Path(folder) / "repo"
        print(f"making the repo and {options.rows:,} production rows in {repo} ...", flush=True)
        files = make_repo(repo, options)
        from mlgate.monitoring import monitor
        from mlgate.project import find_config, load_project

        project = load_project(find_config(str(repo)))
        os.chdir(repo)

        def mlgate() -> object:
            return monitor(project).result

        def pandas_alone() -> object:
            import pandas as pd

            reader = pd.read_csv if options.format == "csv" else pd.read_parquet
            return pd.concat([reader(path) for path in files], ignore_index=True)

        result = mlgate()  # warm-up: imports, MLflow's store, the model
        frame = pandas_alone()
        assert result.window.rows == len(frame.index) == options.rows, (result.window, frame.shape)
        print(f"check: {result.summary}", flush=True)
        timings: dict[str, list[float]] = {"mlgate": [], "pandas": []}
        for _ in range(options.repeats):
            for name, call in (("mlgate", mlgate), ("pandas", pandas_alone)):
                gc.collect()
                started = time.perf_counter()
                call()
                timings[name].append(time.perf_counter() - started)
        mine = statistics.median(timings["mlgate"])
        theirs = statistics.median(timings["pandas"])
        report = {
            "rows": options.rows,
            "features": len(FEATURES),
            "files": options.files,
            "format": options.format,
            "repeats": options.repeats,
            "mlgate_seconds": round(mine, 2),
            "pandas_seconds": round(theirs, 2),
            "ratio": round(mine / theirs, 2),
            "target": "< 3",
        }
        print(json.dumps(report, indent=2))
        return 0 if mine / theirs < 3 else 1


def make_repo(repo: Path, options: argparse.Namespace) -> list[Path]:
    import numpy as np
    import pandas as pd
    import yaml

    rng = np.random.default_rng(0)
    weights = rng.normal(0, 1, len(FEATURES))

    def table(rows: int, shift: float = 0.0) -> pd.DataFrame:
        values = rng.normal(0, 1, (rows, len(FEATURES)))
        values[:, :3] += shift
        frame = pd.DataFrame(values, columns=FEATURES)
        score = values @ weights + rng.normal(0, 1, rows)
        frame["label"] = np.where(score > 0, "yes", "no")
        return frame

    (repo / "data").mkdir(parents=True)
    table(options.train_rows).to_csv(repo / "data" / "train.csv", index=False)
    table(options.train_rows // 5).to_csv(repo / "data" / "validation.csv", index=False)
    spec = {
        "target": "label",
        "positive_label": "yes",
        "task": "classification",
        "features": {name: {"type": "numeric"} for name in FEATURES},
    }
    (repo / "features.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    config = {
        "version": 1.0,
        "data": {
            "training_data_path": "data/train.csv",
            "validation_data_path": "data/validation.csv",
            "feature_spec": "features.yaml",
        },
        "model": {"type": "LogisticRegression"},
        "validation": {"drift": {"reference": "training"}},
        "evaluation": {"metrics": ["roc_auc", "accuracy"], "bootstrap": {"n": 100}},
        "tracking": {"registry_name": MODEL, "experiment_name": MODEL},
        "monitoring": {"data": f"production/*.{options.format}", "window": options.rows},
    }
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    for command in (
        ["run"],
        ["promote", MODEL, "--version", "1", "--to", "production", "--force", "--reason",
         "benchmark", "--config", str(repo / "mlgate.yaml")],
    ):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "mlgate", *command],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"mlgate {command[0]} failed:\n{done.stdout}\n{done.stderr}")
    (repo / "production").mkdir()
    per_file = options.rows // options.files
    files = []
    for index in range(options.files):
        rows = per_file if index < options.files - 1 else options.rows - per_file * index
        # The newest files (highest index, newest time in the name) are shifted.
        shift = 0.5 if index >= options.files - 2 else 0.0
        frame = table(rows, shift).drop(columns=["label"])
        path = (
            repo
            / "production"
            / f"batch-2026120{1 + index // 8}T{index % 8:02d}0000Z.{options.format}"
        )
        if options.format == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        files.append(path)
    return files


if __name__ == "__main__":
    sys.exit(main())
