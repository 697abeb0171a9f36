"""`model.search` and `compute.cluster`: config checks (quick) and a local search end to end.

The search on a real standalone Spark cluster is tests/test_spark_cluster.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import _free_port
from tests.test_bad_inputs import CONFIG, edit_yaml, set_key

from mlgate._spark import parse_cluster

SMALL_GRID = {"n_estimators": [10, 20], "max_depth": [2, 3]}


def with_search(repo: Path, **search: Any) -> None:
    set_key(repo, CONFIG, "model.search", {"params": SMALL_GRID, "cv": 2, **search})


def drop_compute(repo: Path) -> None:
    edit_yaml(repo, CONFIG, lambda document: document.pop("compute", None))


@pytest.mark.parametrize(
    ("written", "kind", "host", "port"),
    [
        pytest.param("spark://10.0.0.5:7077", "standalone", "10.0.0.5", 7077, id="standalone"),
        pytest.param("spark://spark-master.internal:7077", "standalone", None, 7077, id="dns"),
        pytest.param("sc://localhost:15002", "connect", "localhost", 15002, id="connect"),
        pytest.param("sc://h:15002/;token=abc;use_ssl=true", "connect", "h", 15002, id="options"),
        pytest.param("local", "local", None, None, id="local"),
        pytest.param("local[4]", "local", None, None, id="local-n"),
        pytest.param("local[*]", "local", None, None, id="local-star"),
    ],
)
def test_accepted_cluster_forms(written: str, kind: str, host: str | None, port: int | None):
    cluster = parse_cluster(written)
    assert cluster is not None
    assert (cluster.kind, cluster.port) == (kind, port)
    if host is not None:
        assert cluster.host == host


@pytest.mark.parametrize(
    "written",
    [
        pytest.param("gpu-cluster-medium", id="seed-name"),
        pytest.param("spark://host", id="no-port"),
        pytest.param("spark://host:99999", id="port-out-of-range"),
        pytest.param("spark://host:7077/;token=x", id="options-on-a-master"),
        pytest.param("yarn", id="yarn"),
        pytest.param("local[0]", id="local-zero"),
        pytest.param("http://host:7077", id="http"),
    ],
)
def test_other_cluster_forms_are_refused(written: str) -> None:
    assert parse_cluster(written) is None


@pytest.mark.parametrize("search", [True, False], ids=["with-search", "nothing-on-it"])
def test_seed_cluster_name_is_exit_2(churn_repo: Path, cli, search: bool) -> None:
    # The seed's `cluster: gpu-cluster-medium` loads (tests/test_config.py), but no stage
    # runs with it: with a search it would run there, without one the team would believe
    # training ran there when it ran here.
    set_key(churn_repo, CONFIG, "compute", {"cluster": "gpu-cluster-medium"})
    if search:
        with_search(churn_repo)

    result = cli("run", cwd=churn_repo)

    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert "mlgate.yaml:" in line
    assert "compute.cluster" in line
    assert "'gpu-cluster-medium' is not a Spark master" in line
    for form in ("spark://HOST:PORT", "sc://HOST:PORT", "local[N]"):
        assert form in line
    assert "Traceback" not in result.err


def test_a_master_that_does_not_answer_is_exit_3(churn_repo: Path, cli) -> None:
    pytest.importorskip("pyspark", reason="pyspark is the optional `spark` extra")
    url = f"spark://127.0.0.1:{_free_port()}"  # nothing listens there
    with_search(churn_repo)
    set_key(churn_repo, CONFIG, "compute", {"cluster": url})

    result = cli("train", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 3, result.out + result.err
    [line] = result.error_lines
    assert f"compute.cluster: no Spark master answers at {url}" in line
    assert not (churn_repo / ".mlgate/runs/t/model.joblib").exists()


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        pytest.param(
            {"params": {"max_dpth": [2, 3]}},
            ("model.search.params.max_dpth", "did you mean 'max_depth'?"),
            id="unknown-parameter",
        ),
        pytest.param(
            {"params": {"max_depth": [2, "five"]}},
            ("model.search.params.max_depth[1]", 'got "five"'),
            id="value-of-the-wrong-type",
        ),
        pytest.param(
            {"params": {"learning_rate": {"low": -1.0, "high": 0.5}}, "kind": "random"},
            ("model.search.params.learning_rate.low", "-1.0"),
            id="range-end-out-of-range",
        ),
        pytest.param(
            {"params": SMALL_GRID, "metric": "rmse"},
            ("model.search.metric", "'rmse' does not apply to classification"),
            id="metric-of-another-task",
        ),
        pytest.param(
            {"params": SMALL_GRID, "metric": "auc"},
            ("model.search.metric", "unknown metric 'auc'"),
            id="metric-unknown",
        ),
        pytest.param(
            {"params": SMALL_GRID, "n_iter": 3},
            ("model.search", "n_iter is for kind: random"),
            id="n-iter-on-a-grid",
        ),
        pytest.param(
            {"params": {"learning_rate": {"low": 0.01, "high": 0.2}}},
            ("model.search", "learning_rate gives a range"),
            id="range-on-a-grid",
        ),
        pytest.param(
            {"params": SMALL_GRID, "kind": "random", "n_iter": 5},
            ("model.search.n_iter", "5 candidates asked from 4 combinations"),
            id="more-draws-than-combinations",
        ),
        pytest.param(
            {"params": {}},
            ("model.search.params",),
            id="nothing-to-search",
        ),
    ],
)
def test_search_config_errors_are_exit_2_naming_the_key(
    churn_repo: Path, cli, search: dict[str, Any], expected: tuple[str, ...]
) -> None:
    drop_compute(churn_repo)
    set_key(churn_repo, CONFIG, "model.search", search)

    result = cli("run", cwd=churn_repo)

    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert line.startswith("mlgate: error: mlgate.yaml:")
    for words in expected:
        assert words in line
    assert "Traceback" not in result.err


def test_the_train_fingerprint_covers_the_search(churn_repo: Path) -> None:
    from mlgate._reuse import stage_inputs
    from mlgate.project import load_project
    from mlgate.rundir import RunDir
    from mlgate.stages._session import Session

    def train_fingerprint() -> str:
        project = load_project(churn_repo / CONFIG)
        session = Session(project=project, run_dir=RunDir(churn_repo / ".mlgate/runs/f"))
        return stage_inputs(session, "train").fingerprint()

    without = train_fingerprint()
    with_search(churn_repo)
    grid = train_fingerprint()
    with_search(churn_repo, params={"n_estimators": [10, 30], "max_depth": [2, 3]})
    other_values = train_fingerprint()
    with_search(churn_repo, kind="random", n_iter=3)
    random = train_fingerprint()

    assert len({without, grid, other_values, random}) == 4


@pytest.mark.slow
def test_local_search_picks_refits_and_logs_every_candidate(churn_repo: Path, cli) -> None:
    import mlflow

    drop_compute(churn_repo)
    with_search(churn_repo, metric="roc_auc")

    result = cli("run", "--run-dir", ".mlgate/runs/s", cwd=churn_repo)

    assert result.code == 0, result.out + result.err
    run_dir = churn_repo / ".mlgate/runs/s"
    train = json.loads((run_dir / "train.json").read_text())
    search = train["search"]
    assert (search["kind"], search["metric"], search["cv"], search["where"]) == (
        "grid",
        "roc_auc",
        2,
        "local",
    )
    candidates = search["candidates"]
    assert sorted((c["params"]["n_estimators"], c["params"]["max_depth"]) for c in candidates) == [
        (10, 2),
        (10, 3),
        (20, 2),
        (20, 3),
    ]
    [winner] = [c for c in candidates if c["rank"] == 1]
    assert winner["score"] == max(c["score"] for c in candidates)
    assert 0.5 < winner["score"] <= 1
    assert search["best_params"] == winner["params"]
    # The winner's parameters are the model's: in train.json, the card and the model file.
    for name, value in winner["params"].items():
        assert train["params"][name] == value
    card = (run_dir / "model_card.md").read_text()
    assert f"| `n_estimators` | `{winner['params']['n_estimators']}` |" in card
    assert "best of 4 candidates by roc_auc" in result.out

    register = json.loads((run_dir / "register.json").read_text())
    mlflow.set_tracking_uri(register["tracking_uri"])
    client = mlflow.MlflowClient()
    parent = client.get_run(register["mlflow_run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 4
    logged = {
        (int(child.data.params["n_estimators"]), int(child.data.params["max_depth"])): (
            child.data.metrics["cv_roc_auc"]
        )
        for child in children
    }
    for candidate in candidates:
        key = (candidate["params"]["n_estimators"], candidate["params"]["max_depth"])
        assert logged[key] == pytest.approx(candidate["score"])
    assert {child.info.status for child in children} == {"FINISHED"}


def test_init_with_a_cluster_drafts_compute_and_a_search_that_checks(cli, tmp_path: Path) -> None:
    import shutil

    import yaml
    from tests.conftest import EXAMPLE

    from mlgate.preflight import check_project
    from mlgate.project import load_project

    repo = tmp_path / "churn-model"
    (repo / "data").mkdir(parents=True)
    for name in ("train.csv", "validation.csv"):
        shutil.copy(EXAMPLE / "data" / name, repo / "data" / name)

    refused = cli("init", str(repo), "--cluster", "gpu-cluster-medium", cwd=tmp_path)
    assert refused.code == 2
    assert "--cluster 'gpu-cluster-medium' is not a Spark master" in refused.err
    assert not (repo / CONFIG).exists()

    result = cli("init", str(repo), "--cluster", "spark://10.0.0.5:7077", cwd=tmp_path)

    assert result.code == 0, result.err
    config = yaml.safe_load((repo / CONFIG).read_text(encoding="utf-8"))
    assert config["compute"] == {"cluster": "spark://10.0.0.5:7077"}
    assert list(config)[-2:] == ["compute", "tracking"]
    assert config["model"]["search"]["params"]["max_depth"] == [2, 3, 5]
    assert "12 candidates run on spark://10.0.0.5:7077" in result.out
    check_project(load_project(repo / CONFIG))  # the drafted search fits the estimator


@pytest.mark.parametrize(
    ("compute", "key"),
    [
        pytest.param({"cluster": "spark://10.0.0.5:7077"}, "compute.cluster", id="cluster"),
        pytest.param(
            {"spark_conf": {"spark.executor.memory": "2g"}}, "compute.spark_conf", id="conf"
        ),
    ],
)
def test_a_spark_setting_that_nothing_uses_is_exit_2(
    churn_repo: Path, cli, compute: dict[str, Any], key: str
) -> None:
    # No model.search, the suite on pandas: training would run here, not where it says.
    set_key(churn_repo, CONFIG, "compute", compute)

    result = cli("run", cwd=churn_repo)

    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert f"{key}: nothing in this config runs on Spark" in line


def test_a_search_on_a_cluster_from_inside_the_image_is_exit_2(churn_repo: Path, cli) -> None:
    """The search would start its Spark driver in the container: no Spark there, and the
    executors could not reach it. Refused before anything runs, naming both ways out."""
    set_key(churn_repo, CONFIG, "model.search", {"params": {"max_depth": [2, 3]}, "cv": 2})
    set_key(
        churn_repo,
        CONFIG,
        "compute",
        {"cluster": "spark://10.0.0.5:7077", "docker_image": "python:3.11-slim"},
    )

    result = cli("run", "--run-dir", ".mlgate/runs/both", cwd=churn_repo)

    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert "compute.cluster: model.search runs either on compute.cluster or in " in line
    assert "remove docker_image to search on the cluster" in line
    assert not (churn_repo / ".mlgate/runs/both/validate.json").exists()


def _fitted(labels: list[Any] | None):
    import numpy as np
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(3)
    features = rng.normal(size=(300, 3))
    if labels is None:
        target = features @ [1.0, -2.0, 0.5] + rng.normal(size=300) + 10
        return LinearRegression().fit(features, target), features, target
    # Overlapping classes, so no metric is a trivial 0 or 1.
    codes = (features[:, 0] + rng.normal(scale=1.5, size=300) > 0).astype(int)
    if len(labels) == 3:
        codes = codes + (features[:, 1] > 0.8)
    target = np.asarray(labels, dtype=object)[codes]
    return LogisticRegression().fit(features, target), features, target


@pytest.mark.parametrize(
    ("labels", "positive"),
    [
        pytest.param(["no", "yes"], "yes", id="binary-greater-label-positive"),
        pytest.param(["churned", "stayed"], "churned", id="binary-lesser-label-positive"),
        pytest.param(["a", "b", "c"], None, id="multiclass"),
        pytest.param(None, None, id="regression"),
    ],
)
def test_the_search_scores_each_metric_as_the_evaluate_stage_does(labels, positive) -> None:
    """The search picks by the figure the gates later judge: same metric, same sign."""
    from sklearn.metrics import check_scoring

    from mlgate._catalogue import LOWER_IS_BETTER, METRICS_BY_TASK
    from mlgate._metrics import Predictions, compute_metrics, predict
    from mlgate._search import scorer
    from mlgate._training import Task

    model, features, target = _fitted(labels)
    if labels is None:
        task = Task(kind="regression", inferred=False)
    else:
        task = Task(
            kind="classification", inferred=False, classes=tuple(labels), positive_label=positive
        )
    predicted, scores = predict(model, features, task)
    names = list(METRICS_BY_TASK[task.kind])
    expected = compute_metrics(
        names, Predictions(target, predicted, scores, tuple(model.classes_) if labels else ()), task
    )
    for name in names:
        sign = -1 if name in LOWER_IS_BETTER else 1
        found = sign * check_scoring(model, scoring=scorer(name, task))(model, features, target)
        assert found == pytest.approx(expected[name], rel=1e-9), name
