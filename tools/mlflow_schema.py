"""Write the embedded store's schema for the installed MLflow: `python tools/mlflow_schema.py`.

A new SQLite store is made by running MLflow's 50-odd Alembic migrations, seconds of
work on every fresh CI runner. mlgate restores this file instead when it was made for the
MLflow version installed (`mlgate.tracking.client`), and migrates as before otherwise.
Run it after the lock moves MLflow; tests/test_mlflow_schema.py fails until then.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "src" / "mlgate" / "tracking" / "schema"
# Rows MLflow writes itself when it opens a store with none (the default experiment,
# whose artifact location is the folder it was opened from): never part of the file.
MADE_ON_OPEN = ("experiments", "experiment_tags")


def migrated_dump() -> str:
    """The schema and seed rows of a store that MLflow's own migrations made just now."""
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "mlflow.db"
        _migrate(path)
        with closing(sqlite3.connect(path)) as db:
            return dump(db)


def contents(db: sqlite3.Connection) -> tuple[list, dict[str, list]]:
    """The store's schema and rows (less MADE_ON_OPEN's), sorted: equal stores, equal values.

    Not the dump's text, whose indexes come in the order they were made; and a table's
    constraints unordered: see `_unordered`.
    """
    schema = sorted(
        (kind, name, table, _unordered(sql) if kind == "table" else sql)
        for kind, name, table, sql in db.execute(
            "select type, name, tbl_name, sql from sqlite_master"
        )
    )
    tables = [name for kind, name, _, _ in schema if kind == "table"]
    rows = {
        table: sorted(db.execute(f'select * from "{table}"'), key=repr)
        for table in tables
        if table not in MADE_ON_OPEN
    }
    return schema, rows


_CONSTRAINT = ("CONSTRAINT ", "CHECK ", "CHECK(", "FOREIGN KEY", "PRIMARY KEY", "UNIQUE ")


def _unordered(sql: str | None) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """A CREATE TABLE's lines less their commas: the columns in order, the constraints sorted.

    MLflow's migrations rebuild some tables with their constraints in the order of a Python
    set, which a fixed hash seed does not fix (seen: the same MLflow wrote the runs table's
    two CHECK constraints in either order): one schema, more than one text.
    """
    if sql is None:
        return None
    lines = [line.strip().rstrip(",").strip() for line in sql.splitlines()]
    constraints = [line for line in lines if line.startswith(_CONSTRAINT)]
    return tuple(line for line in lines if line not in constraints), tuple(sorted(constraints))


def migrated_contents() -> tuple[list, dict[str, list]]:
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "mlflow.db"
        _migrate(path)
        with closing(sqlite3.connect(path)) as db:
            return contents(db)


# MLflow's migrations rebuild some tables with their constraints in the order of a Python
# set: a fixed hash seed keeps the file's text steady between runs of this tool, mostly
# (`contents` compares the constraints unordered).
_MIGRATE = """
import sys
from mlflow import MlflowClient
client = MlflowClient(tracking_uri="sqlite:///" + sys.argv[1])
client.search_experiments(max_results=1)
client.search_registered_models(max_results=1)
"""


def _migrate(path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0", "MLFLOW_LOGGING_LEVEL": "ERROR"}
    subprocess.run([sys.executable, "-c", _MIGRATE, str(path)], env=env, check=True)


def dump(db: sqlite3.Connection) -> str:
    lines = [
        line
        for line in db.iterdump()
        if not any(line.startswith(f'INSERT INTO "{table}"') for table in MADE_ON_OPEN)
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    import mlflow

    FOLDER.mkdir(parents=True, exist_ok=True)
    for old in FOLDER.glob("mlflow-*.sql"):
        old.unlink()
    target = FOLDER / f"mlflow-{mlflow.__version__}.sql"
    target.write_text(migrated_dump(), encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
