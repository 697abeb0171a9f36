"""A new embedded store starts from the schema file made for the installed MLflow.

The file must be exactly what MLflow's own migrations make (tables, indexes, seed rows),
or a store restored from it would differ from one MLflow made itself in ways nobody sees
until a query fails. When the lock moves MLflow, the first test fails until
`python tools/mlflow_schema.py` writes the file for the new version.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _tool():
    spec = importlib.util.spec_from_file_location(
        "mlflow_schema", ROOT / "tools" / "mlflow_schema.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_schema_file_is_what_mlflows_migrations_make(tmp_path: Path) -> None:
    import mlflow

    tool = _tool()
    shipped = tool.FOLDER / f"mlflow-{mlflow.__version__}.sql"
    assert shipped.is_file(), (
        f"no schema for MLflow {mlflow.__version__}: run tools/mlflow_schema.py"
    )
    assert [p.name for p in tool.FOLDER.glob("*.sql")] == [shipped.name]  # no stale versions
    with closing(sqlite3.connect(tmp_path / "restored.db")) as db:
        db.executescript(shipped.read_text(encoding="utf-8"))
        restored = tool.contents(db)
    assert restored == tool.migrated_contents()


def test_a_store_made_from_the_file_works_as_a_migrated_one(tmp_path: Path) -> None:
    from mlgate.tracking.client import open_client

    tool = _tool()
    path = tmp_path / "state" / "mlflow.db"
    client = open_client(f"sqlite:///{path}", path.parent)

    with closing(sqlite3.connect(path)) as db:
        assert tool.contents(db) == tool.migrated_contents()  # nothing migrated on top
        (default,) = db.execute("select name from experiments").fetchall()
    assert default == ("Default",)  # made by MLflow on first open, as on a migrated store
    experiment = client.create_experiment("restored")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "roc_auc", 0.86)
    client.create_registered_model("restored-model")
    version = client.create_model_version("restored-model", "file:///nowhere", run.info.run_id)
    client.set_registered_model_alias("restored-model", "candidate", version.version)
    found = client.get_model_version_by_alias("restored-model", "candidate")
    assert found.run_id == run.info.run_id
    assert client.get_run(run.info.run_id).data.metrics == {"roc_auc": 0.86}


def test_a_new_store_is_not_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is written before MLflow's client opens the store: Alembic never runs."""
    import alembic.command

    from mlgate.tracking.client import open_client

    def migrate(*args: object, **kwargs: object) -> None:
        raise AssertionError("MLflow migrated the new store instead of using the schema file")

    monkeypatch.setattr(alembic.command, "upgrade", migrate)
    path = tmp_path / "state" / "mlflow.db"
    client = open_client(f"sqlite:///{path}", path.parent)
    assert client.search_experiments()[0].name == "Default"
