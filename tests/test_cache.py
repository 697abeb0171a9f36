"""The stage cache: an unchanged re-run reuses every stage, and each change reruns exactly
the stages that read it (mlgate._reuse.READS), on the example with its embedded store."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlgate._cache import NO_CHAMPION, UNKNOWN, StageInputs, champion_version

ALL = ["validate", "train", "evaluate", "fairness", "card", "register"]


def _edit(config: Path, change) -> None:
    data = yaml.safe_load(config.read_text())
    change(data)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _run(cli, repo: Path, *extra: str) -> dict[str, bool]:
    """Run the pipeline; return, per stage, whether it was reused."""
    outcome = cli("run", str(repo), "--json", *extra, cwd=repo)
    assert outcome.code == 0, outcome.err
    stages = json.loads(outcome.out)["stages"]
    return {stage["stage"]: stage["cache"]["reused"] for stage in stages}


def _rerun(reused: dict[str, bool]) -> list[str]:
    return [stage for stage in ALL if not reused[stage]]


@pytest.fixture(scope="module")
def primed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, small and fast, after one full run (its cache and registry filled)."""
    from mlgate.cli import main

    repo = tmp_path_factory.mktemp("cache") / "churn"
    example = Path(__file__).resolve().parents[1] / "examples" / "churn"
    shutil.copytree(example, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))

    def smaller(config: dict) -> None:
        config["model"]["params"]["n_estimators"] = 30
        config["evaluation"]["bootstrap"] = {"n": 200}
        config["fairness"]["n_boot"] = 50

    _edit(repo / "mlgate.yaml", smaller)
    assert main(["run", str(repo)]) == 0
    return repo


@pytest.fixture
def repo(primed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "churn"
    shutil.copytree(primed, copy, symlinks=True)
    return copy


pytestmark = pytest.mark.slow


def test_unchanged_rerun_reuses_every_stage(repo: Path, cli) -> None:
    reused = _run(cli, repo)
    assert _rerun(reused) == []
    run_dir = Path(json.loads(cli("run", str(repo), "--json", cwd=repo).out)["run_dir"])
    # The reused outputs are in the new run directory, ready for report and register.
    for name in ("model.joblib", "predictions.csv", "model_card.html", "fairness.png"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "plots").glob("*.png"))


def test_no_cache_runs_every_stage(repo: Path, cli) -> None:
    assert _rerun(_run(cli, repo, "--no-cache")) == ALL


def test_changed_validation_data_reruns_all_but_training(repo: Path, cli) -> None:
    validation = repo / "data" / "validation.csv"
    lines = validation.read_text().splitlines(keepends=True)
    validation.write_text("".join(lines[:-1]))  # one row fewer
    assert _rerun(_run(cli, repo)) == ["validate", "evaluate", "fairness", "card", "register"]


def test_changed_model_parameter_reruns_from_training(repo: Path, cli) -> None:
    _edit(repo / "mlgate.yaml", lambda c: c["model"]["params"].update(max_depth=3))
    assert _rerun(_run(cli, repo)) == ["train", "evaluate", "fairness", "card", "register"]


def test_changed_gate_threshold_reruns_evaluation_only(repo: Path, cli) -> None:
    _edit(repo / "mlgate.yaml", lambda c: c["evaluation"]["gates"]["roc_auc"].update(min=0.79))
    assert _rerun(_run(cli, repo)) == ["evaluate", "card", "register"]


def test_changed_fairness_threshold_reruns_fairness_only(repo: Path, cli) -> None:
    def looser(config: dict) -> None:
        config["fairness"]["thresholds"]["demographic_parity_difference"] = 0.2

    _edit(repo / "mlgate.yaml", looser)
    assert _rerun(_run(cli, repo)) == ["fairness", "card", "register"]


def test_a_commit_that_only_changes_a_gate_reuses_training(repo: Path, cli) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )

    (repo / ".gitignore").write_text(".mlgate/\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "model repo")
    # Being in git retrains nothing; only the card's checklist (which names the commit)
    # and a version with the commit are made again.
    assert _rerun(_run(cli, repo)) == ["card", "register"]
    _edit(repo / "mlgate.yaml", lambda c: c["evaluation"]["gates"]["roc_auc"].update(min=0.79))
    git("commit", "-q", "-am", "lower the roc_auc floor")
    assert _rerun(_run(cli, repo)) == ["evaluate", "card", "register"]


def test_a_change_to_the_model_factory_reruns_training(repo: Path, cli) -> None:
    (repo / "churnmodels").mkdir()
    factory = repo / "churnmodels" / "__init__.py"
    factory.write_text(
        "from sklearn.linear_model import LogisticRegression\n\n"
        "def build(C=1.0):\n    return LogisticRegression(C=C, max_iter=500)\n"
    )
    _edit(repo / "mlgate.yaml", lambda c: c["model"].update(type="churnmodels:build", params={}))
    assert "train" in _rerun(_run(cli, repo))
    assert _rerun(_run(cli, repo)) == []
    factory.write_text(factory.read_text().replace("max_iter=500", "max_iter=400"))
    assert _rerun(_run(cli, repo))[:1] == ["train"]


def test_a_new_champion_reruns_the_stages_that_compare_with_it(repo: Path, cli) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / '.mlgate' / 'mlflow.db'}")
    client.set_registered_model_alias("production-churn-model", "production", "1")
    assert _rerun(_run(cli, repo)) == ["validate", "evaluate", "fairness", "card", "register"]


def test_a_deleted_version_is_registered_again(repo: Path, cli) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / '.mlgate' / 'mlflow.db'}")
    client.delete_registered_model_alias("production-churn-model", "candidate")
    assert _rerun(_run(cli, repo)) == ["register"]


def test_later_command_accepts_a_gate_change_but_not_a_new_model(repo: Path, cli) -> None:
    assert cli("train", str(repo), cwd=repo).code == 0
    _edit(repo / "mlgate.yaml", lambda c: c["evaluation"]["gates"]["roc_auc"].update(min=0.7))
    assert cli("evaluate", str(repo), cwd=repo).code == 0
    _edit(repo / "mlgate.yaml", lambda c: c["model"]["params"].update(max_depth=2))
    refused = cli("evaluate", str(repo), cwd=repo)
    assert refused.code == 2
    assert "changed since this run's model was trained" in refused.err


# --- the pure parts ----------------------------------------------------------------------


def test_fingerprint_changes_with_each_input_and_only_then() -> None:
    def inputs(**kwargs) -> StageInputs:
        return StageInputs("train", config={"model": {"type": "x"}}, **kwargs)

    base = inputs(files={"data.training": "a"})
    assert base.fingerprint() == inputs(files={"data.training": "a"}).fingerprint()
    variants = [
        StageInputs("train", config={"model": {"type": "y"}}, files={"data.training": "a"}),
        StageInputs("train", config={"model": {"type": "x"}}, files={"data.training": "b"}),
        StageInputs("evaluate", config={"model": {"type": "x"}}, files={"data.training": "a"}),
        StageInputs(
            "train", config={"model": {"type": "x"}}, files={"data.training": "a"}, code="c"
        ),
    ]
    assert len({base.fingerprint(), *(v.fingerprint() for v in variants)}) == 5


def test_unknown_inputs_are_not_cacheable() -> None:
    assert not StageInputs("evaluate", champion=UNKNOWN).cacheable
    assert not StageInputs("card", upstream={"train": UNKNOWN}).cacheable
    assert StageInputs("evaluate", champion=NO_CHAMPION).cacheable


def test_champion_read_without_mlflow(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert champion_version(missing, "m", "production") == NO_CHAMPION
    assert champion_version("databricks", "m", "production") == UNKNOWN
    assert champion_version("http://127.0.0.1:9", "m", "production", timeout=1) == UNKNOWN


def test_champion_read_through_a_tracking_server(mlflow_server: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    name = "cache-probe-model"
    client.create_registered_model(name)
    assert champion_version(mlflow_server, name, "production") == NO_CHAMPION
    assert champion_version(mlflow_server, "no-such-model", "production") == NO_CHAMPION
    run = client.create_run(client.get_experiment_by_name("Default").experiment_id)
    version = client.create_model_version(name, f"runs:/{run.info.run_id}/m", run.info.run_id)
    client.set_registered_model_alias(name, "production", version.version)
    assert champion_version(mlflow_server, name, "production") == str(version.version)


def test_the_cache_keeps_the_files_each_stage_writes() -> None:
    """reuse.READS names the outputs literally (importing the stages would slow a re-run)."""
    from mlgate._plots import PLOTS_DIR
    from mlgate._reuse import READS
    from mlgate.card import CARD_FILES
    from mlgate.fairness import CHART_FILE
    from mlgate.rundir import MODEL_FILE, ONNX_FILE, PREDICTIONS_FILE, SPARK_MODEL_DIR

    # model.onnx: export.onnx; spark-model/: a Spark MLlib model.type
    assert READS["train"].outputs == (MODEL_FILE, ONNX_FILE, SPARK_MODEL_DIR)
    assert set(READS["evaluate"].outputs) == {PREDICTIONS_FILE, PLOTS_DIR}
    assert READS["fairness"].outputs == (CHART_FILE,)
    assert set(READS["card"].outputs) == set(CARD_FILES)
    assert set(READS["register"].outputs) == set(CARD_FILES)  # stamped with the version


def _umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _read_only(tree: Path) -> None:
    for path in sorted(tree.rglob("*"), key=lambda p: -len(p.parts)):
        path.chmod(0o555 if path.is_dir() else 0o444)


def test_a_read_only_cache_restores_writable_files_that_follow_the_umask(repo: Path, cli) -> None:
    cache = repo / ".mlgate" / "cache" / "stages"
    _read_only(cache)
    try:
        outcome = cli("run", str(repo), "--json", cwd=repo)
    finally:
        for path in [cache, *cache.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)

    assert outcome.code == 0, outcome.err
    run = json.loads(outcome.out)
    assert all(stage["cache"]["reused"] for stage in run["stages"])
    run_dir = Path(run["run_dir"])
    restored = ["model.joblib", "predictions.csv", "model_card.md", "fairness.png", "plots"]
    mask = _umask()
    for name in restored:
        path = run_dir / name
        assert path.stat().st_mode & 0o777 == (0o777 if path.is_dir() else 0o666) & ~mask, name
    for png in (run_dir / "plots").iterdir():
        assert png.stat().st_mode & 0o777 == 0o666 & ~mask, png.name


def test_restoring_replaces_read_only_files_of_the_run_directory(tmp_path: Path) -> None:
    from mlgate._cache import StageCache

    run_dir, store = tmp_path / "run", StageCache(tmp_path / "cache")
    (run_dir / "plots").mkdir(parents=True)
    (run_dir / "card.md").write_text("stored")
    (run_dir / "plots" / "roc.png").write_bytes(b"png")
    store.store("card", "f" * 64, {"stage": "card"}, run_dir, ["card.md", "plots"])
    _read_only(tmp_path / "cache")
    (run_dir / "card.md").write_text("older")
    _read_only(run_dir)
    run_dir.chmod(0o755)

    cached = store.lookup("card", "f" * 64)
    assert cached is not None
    assert sorted(cached.restore(run_dir)) == ["card.md", "plots"]

    assert (run_dir / "card.md").read_text() == "stored"
    assert (run_dir / "card.md").stat().st_mode & 0o777 == 0o666 & ~_umask()
    (run_dir / "card.md").write_text("stamped")  # writable: a later stage may rewrite it
    (run_dir / "plots" / "roc.png").write_bytes(b"redrawn")
    assert (run_dir / "plots").stat().st_mode & 0o200


# --- --stage-cache: a store a CI cache saves (the root action's Actions cache) -----------


def test_a_stage_cache_folder_keeps_only_the_runs_stages(repo: Path, cli, tmp_path: Path) -> None:
    store = tmp_path / "actions-cache"
    assert _rerun(_run(cli, repo, "--stage-cache", str(store))) == ALL  # a new, empty store
    first = {d.name: [e.name for e in d.iterdir()] for d in store.iterdir()}
    assert sorted(first) == sorted(ALL)
    assert all(len(entries) == 1 for entries in first.values())

    # Another machine (nothing under .mlgate but the registry) with the store restored:
    # a gate change reuses validation and training from it, and the store is left with
    # this run's entries only, the evaluation's new one in place of the old.
    shutil.rmtree(repo / ".mlgate" / "cache")
    _edit(repo / "mlgate.yaml", lambda c: c["evaluation"]["gates"]["roc_auc"].update(min=0.7))
    assert _rerun(_run(cli, repo, "--stage-cache", str(store))) == ["evaluate", "card", "register"]
    second = {d.name: [e.name for e in d.iterdir()] for d in store.iterdir()}
    assert second["validate"] == first["validate"]
    assert second["train"] == first["train"]
    assert len(second["evaluate"]) == 1
    assert second["evaluate"] != first["evaluate"]
    assert not (repo / ".mlgate" / "cache" / "stages").exists()


def test_the_stage_cache_key_names_the_set_of_entries(tmp_path: Path) -> None:
    from mlgate._cache import StageCache, store_key

    assert store_key({}) == ""
    assert store_key({"a": "1", "b": "2"}) == store_key({"b": "2", "a": "1"})
    assert store_key({"a": "1", "b": "2"}) != store_key({"a": "1", "b": "3"})
    for stage, fingerprint in [("a", "1"), ("a", "old"), ("b", "2"), ("gone", "9")]:
        (tmp_path / stage / fingerprint).mkdir(parents=True)
    (tmp_path / "a" / ".1234-staging").mkdir()  # an interrupted store's leftover
    StageCache(tmp_path).keep_only({"a": "1", "b": "2"})
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("*/*")) == ["a/1", "b/2"]
    assert not (tmp_path / "gone").exists()
