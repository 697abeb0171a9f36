"""`mlgate run` validates, trains and registers in processes of its own, forked as it starts.

What a user must not notice: the data is validated and the version registered as before,
a failure in such a process is the stage's one line and exit code, a run that stops
before register leaves no store behind (not even a half-made one), and training begun
beside validation never outlives a failed validation nor trains on other bytes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from fastrepo import latest_run, make_fast

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the stage processes are forked on Linux only"
)

# `mlgate run` in-process, then whether this process ever imported MLflow.
_RUN_AND_LOOK = """
import json, sys
from mlgate.cli import main
code = main(["run", "--json"])
imported = {name: name in sys.modules for name in ("mlflow", "great_expectations")}
print(json.dumps({"code": code, **imported}), file=sys.stderr)
"""


def _run(repo: Path, **env: str) -> tuple[dict, dict, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LOOK],
        cwd=repo,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    looked = json.loads(done.stderr.strip().splitlines()[-1])
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return looked, report, done.stderr


def _versions(repo: Path) -> list[tuple[str, int]]:
    with closing(sqlite3.connect(repo / ".mlgate" / "mlflow.db")) as db:
        return db.execute("select name, version from model_versions").fetchall()


def _store_files(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / ".mlgate").iterdir() if p.name.startswith("mlflow.db"))


def _fail_validation(repo: Path) -> None:
    """One validation row below the feature spec's minimum: validate fails (exit 1)."""
    validation = repo / "data" / "validation.csv"
    lines = validation.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("tenure_months")] = "-40"
    validation.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")


def test_the_run_validates_and_registers_without_importing_their_libraries(
    churn_repo: Path,
) -> None:
    make_fast(churn_repo)

    looked, report, err = _run(churn_repo)

    assert looked["code"] == 0, err
    assert report["stages"][-1]["version"] == "1"
    assert _versions(churn_repo) == [("production-churn-model", 1)]
    # Those stages ran elsewhere: this process never imported their libraries.
    assert looked["mlflow"] is False
    assert looked["great_expectations"] is False
    assert report["stages"][0]["verdict"] == "passed"
    assert "68 expectations passed" in report["stages"][0]["summary"]
    # The store was made under another name and handed over whole.
    assert _store_files(churn_repo) == ["mlflow.db", "mlflow.db.lock"]
    register = json.loads((latest_run(churn_repo) / "register.json").read_text())
    assert register["verdict"] == "passed"


def test_a_run_that_stops_before_register_leaves_no_store(churn_repo: Path) -> None:
    make_fast(churn_repo)
    _fail_validation(churn_repo)

    looked, report, err = _run(churn_repo)

    assert looked["code"] == 1, err
    assert [stage["stage"] for stage in report["stages"]] == ["validate"]
    assert not [name for name in _store_files(churn_repo) if name != "mlflow.db.lock"]


def test_a_failure_in_the_register_process_is_the_stages_one_line(churn_repo: Path) -> None:
    make_fast(churn_repo)

    looked, _, err = _run(churn_repo, MLGATE_MLFLOW_UI_URL="ftp://not-a-page")

    assert looked["code"] == 2, err
    message = (
        "MLGATE_MLFLOW_UI_URL 'ftp://not-a-page' is not the address of a web page: use "
        "http(s)://HOST[:PORT][/PATH] (the mlflow-ui-url input)"
    )
    assert message in err
    assert "Traceback" not in err
    stopped = json.loads((latest_run(churn_repo) / "stopped.json").read_text())
    assert stopped["stage"] == "register"
    assert stopped["exit_code"] == 2
    assert message in stopped["message"]
    assert not (latest_run(churn_repo) / "register.json").exists()
    assert not [name for name in _store_files(churn_repo) if name != "mlflow.db.lock"]


def test_bad_data_met_in_the_validate_process_is_the_stages_one_line(churn_repo: Path) -> None:
    make_fast(churn_repo)
    training = churn_repo / "data" / "train.csv"
    lines = training.read_text().splitlines()
    row = lines[1].split(",")
    row[lines[0].split(",").index("tenure_months")] = "twelve"
    training.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")

    looked, _, err = _run(churn_repo)

    assert looked["code"] == 2, err
    assert "tenure_months" in err
    assert "Traceback" not in err
    stopped = json.loads((latest_run(churn_repo) / "stopped.json").read_text())
    assert stopped["stage"] == "validate"
    assert stopped["exit_code"] == 2
    assert "tenure_months" in stopped["message"]


def test_a_failed_validation_ends_the_training_begun_beside_it(churn_repo: Path) -> None:
    # Minutes of training: the run must report the failed validation without waiting.
    make_fast(churn_repo, n_estimators=20000)
    _fail_validation(churn_repo)

    started = time.monotonic()
    looked, report, err = _run(churn_repo)

    assert looked["code"] == 1, err
    assert time.monotonic() - started < 60  # 20,000 trees take minutes here
    assert [stage["stage"] for stage in report["stages"]] == ["validate"]
    run = latest_run(churn_repo)
    assert not (run / "train.json").exists()
    left = [p.name for p in run.iterdir() if p.name.startswith(("model.", ".model."))]
    assert left == []  # no model, whole or partial, from the training that was ended


def test_a_model_trained_on_other_bytes_than_validated_is_refused(churn_repo: Path, cli) -> None:
    from mlgate.errors import InputError
    from mlgate.project import find_config, load_project
    from mlgate.results import read
    from mlgate.run import _check_same_data
    from mlgate.rundir import RunDir
    from mlgate.stages._session import Session

    make_fast(churn_repo)
    assert cli("validate", cwd=churn_repo).code == 0
    project = load_project(find_config(str(churn_repo / "mlgate.yaml")))
    session = Session(project=project, run_dir=RunDir.existing(project.state_dir))
    validated = json.loads((latest_run(churn_repo) / "validate.json").read_text())
    session.results["validate"] = read("validate", validated)
    session.data_hashes = {role: f["sha256"] for role, f in validated["files"].items()}
    _check_same_data(session)  # the bytes validate read: nothing to say

    # What a train process beside validate hands back when the file changed between reads.
    session.data_hashes["training"] = "0" * 64
    with pytest.raises(InputError) as refused:
        _check_same_data(session)
    assert str(refused.value) == (
        f"the training data changed while this run read it "
        f"({validated['files']['training']['uri']}); run again once writes to it stop"
    )


def test_an_optional_backend_is_kept_out_only_while_the_stage_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgate.stage_process import _kept_out

    # As Great Expectations' compatibility modules do: use the backend when installed.
    (tmp_path / "mlgate_test_backend.py").write_text("")
    (tmp_path / "mlgate_test_library.py").write_text(
        "try:\n    import mlgate_test_backend as backend\nexcept ImportError:\n    backend = None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    with _kept_out(("mlgate_test_backend", "json")):
        import json as still_there  # one already imported stays

        import mlgate_test_library

    assert mlgate_test_library.backend is None
    assert still_there is json
    import mlgate_test_backend  # afterwards it imports as usual

    assert mlgate_test_backend.__name__ == "mlgate_test_backend"
    for name in ("mlgate_test_library", "mlgate_test_backend"):
        sys.modules.pop(name, None)


def test_what_a_process_imported_is_left_out_of_later_collections() -> None:
    import gc

    from mlgate.stage_process import importing

    frozen = gc.get_freeze_count()
    try:
        with importing():
            assert not gc.isenabled()  # no collection while the libraries load
            kept = [[index] for index in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        gc.unfreeze()  # this test process goes on as before
