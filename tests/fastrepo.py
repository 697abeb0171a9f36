"""A copy of examples/churn tuned to run in seconds, for the reliability tests.

The fault, interrupt and escaping tests need real runs, not a good model: a small
ensemble, a short bootstrap and no fairness resampling keep each run quick.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from mlgate.results import StoppedRun
from mlgate.rundir import STOPPED_FILE

CONFIG = "mlgate.yaml"
SPEC = "configs/features.yaml"
TRAIN = "data/train.csv"
VALIDATION = "data/validation.csv"
EXAMPLE_PARAMS = "{n_estimators: 250, learning_rate: 0.05, max_depth: 5}"


def make_fast(repo: Path, *, n_estimators: int = 20, registry_name: str | None = None) -> Path:
    """Shrink the example's model and resampling (and rename its model) in place."""
    config = repo / CONFIG
    text = config.read_text(encoding="utf-8")
    assert EXAMPLE_PARAMS in text, "examples/churn/mlgate.yaml changed: update fastrepo.py"
    text = text.replace(
        EXAMPLE_PARAMS, f"{{n_estimators: {n_estimators}, learning_rate: 0.1, max_depth: 3}}"
    )
    text = text.replace("\nevaluation:\n", "\nevaluation:\n  bootstrap: {n: 50}\n", 1)
    text = text.replace("\nfairness:", "\nfairness:\n  n_boot: 0", 1)
    if registry_name is not None:
        text = text.replace("production-churn-model", registry_name)
    config.write_text(text, encoding="utf-8")
    return repo


def run_dirs(repo: Path) -> list[Path]:
    runs = repo / ".mlgate" / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []


def latest_run(repo: Path) -> Path:
    runs = repo / ".mlgate" / "runs"
    return runs / (runs / "LATEST").read_text().strip()


def check_consistent(run_dir: Path) -> list[str]:
    """Every JSON result parses and no temporary file of an atomic write is left behind."""
    problems = []
    for path in run_dir.iterdir():
        if path.name.startswith("."):
            problems.append(f"temporary file left: {path.name}")
        elif path.suffix == ".json":
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as error:
                problems.append(f"{path.name}: {error}")
                continue
            if path.name == STOPPED_FILE:  # why the run stopped: a record, not a result
                try:
                    StoppedRun.from_json(document)
                except ValueError as error:
                    problems.append(f"{path.name}: {error}")
                continue
            if document.get("stage") != path.stem:
                problems.append(f"{path.name} names stage {document.get('stage')!r}")
    return problems


def embedded_versions(repo: Path) -> int:
    """Model versions in the embedded registry (0 when it was never created)."""
    database = repo / ".mlgate" / "mlflow.db"
    if not database.exists():
        return 0
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        tables = connection.execute(
            "select count(*) from sqlite_master where type = 'table' and name = 'model_versions'"
        ).fetchone()[0]
        if not tables:
            return 0
        return connection.execute("select count(*) from model_versions").fetchone()[0]
