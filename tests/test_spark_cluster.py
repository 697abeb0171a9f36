"""`compute.cluster: spark://...` on a real standalone cluster: a master and two workers.

The master and the workers are separate JVMs started from pyspark's own jars on loopback,
as a team's cluster would run them (not Spark's local mode). The churn example then runs
with a hyperparameter search of 8 candidates and the validate stage (reading the files,
the checks, drift) on `validation.engine: spark`, and the application's REST API must
show tasks completed on both workers' executors.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.test_bad_inputs import CONFIG, set_key

pytest.importorskip("pyspark", reason="pyspark is the optional `spark` extra")
pytest.importorskip("joblibspark", reason="joblibspark is in the optional `spark` extra")

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

WORKERS = 2
# Small JVMs: the daemons need little, and the machine has two cores for everything.
DAEMON_HEAP = "256m"
GRID = {"n_estimators": [20, 40], "max_depth": [2, 3], "learning_rate": [0.05, 0.1]}


def _load_tool(name: str):
    """A script of tools/ (not a package) as a module."""
    path = Path(__file__).resolve().parent.parent / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


standalone = _load_tool("spark_standalone")
_json = standalone.read_json
_free_port = standalone.free_port


def _wait(what: str, ready, within: float, logs: Path) -> Any:
    try:
        return standalone.wait_for(what, ready, within, logs)
    except standalone.ClusterError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory):
    """spark://127.0.0.1:PORT with two workers of one core each; yields (url, UIs)."""
    if standalone.java() is None:
        pytest.skip("no Java runtime to run a Spark master and workers")
    logs = tmp_path_factory.mktemp("spark-cluster")
    try:
        cluster = standalone.standalone_cluster(logs, workers=WORKERS, daemon_heap=DAEMON_HEAP)
        with cluster as started:
            yield started.url, started.master_ui, started.worker_uis
    except standalone.ClusterError as error:
        pytest.fail(str(error))


@pytest.fixture
def stop_spark_afterwards():
    """The command leaves its SparkSession active (one per process): read it, then stop it."""
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def _on_the_cluster(url: str) -> dict[str, Any]:
    """The compute section of a run on the cluster at `url`: small memory, and both
    executors registered before the first job, so both get work."""
    return {
        "cluster": url,
        "spark_conf": {
            "spark.driver.memory": "512m",
            "spark.executor.memory": "512m",
            "spark.ui.port": _free_port(),
            "spark.cores.max": WORKERS,
            "spark.scheduler.minRegisteredResourcesRatio": 1.0,
            "spark.scheduler.maxRegisteredResourcesWaitingTime": "60s",
            "spark.sql.shuffle.partitions": 2,
        },
    }


def test_churn_search_runs_on_both_workers_of_a_standalone_cluster(
    spark_cluster, churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch, stop_spark_afterwards
) -> None:
    url, master_ui, worker_uis = spark_cluster
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    # The validate stage reads the files, checks them and computes drift on the cluster.
    set_key(churn_repo, CONFIG, "validation.engine", "spark")
    set_key(churn_repo, CONFIG, "compute", _on_the_cluster(url))
    set_key(
        churn_repo,
        CONFIG,
        "model.search",
        {"params": GRID, "cv": 3, "metric": "roc_auc"},
    )

    result = cli("run", "--run-dir", ".mlgate/runs/c", cwd=churn_repo)

    assert result.code == 0, result.out + result.err
    train = json.loads((churn_repo / ".mlgate/runs/c/train.json").read_text())
    assert train["search"]["where"] == url
    assert len(train["search"]["candidates"]) == 8
    # The backend's own notices are not findings about the model.
    assert train["warnings"] == []
    assert "best of 8 candidates by roc_auc" in result.out
    assert f"on {url}" in result.out
    validate = json.loads((churn_repo / ".mlgate/runs/c/validate.json").read_text())
    assert validate["expectations"]["engine"] == "spark"
    assert validate["expectations"]["failed"] == []
    drift = validate["drift"]["features"]
    assert len(drift) == 11
    assert all(feature["psi"] is not None for feature in drift), drift

    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    assert session is not None
    context = session.sparkContext
    assert context.master == url
    # The master ran this application on both workers...
    [application] = [
        app
        for app in _json(f"{master_ui}/json/")["activeapps"]
        if app["id"] == context.applicationId
    ]
    executors_by_worker = {}
    for worker_ui in worker_uis:
        found = [
            str(executor["id"])
            for executor in _json(f"{worker_ui}/json/")["executors"]
            if executor["appid"] == application["id"]
        ]
        assert len(found) == 1, (worker_ui, found)
        executors_by_worker[worker_ui] = found[0]
    # ...and the search's fits ran there: joblibspark runs each batch of fits as a Spark
    # job of one task in its own job group; their tasks ran on both workers' executors.
    api = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}"
    search_jobs = [
        job
        for job in _json(f"{api}/jobs")
        if (job.get("jobGroup") or "").startswith("joblib-spark-job-group")
    ]
    assert len(search_jobs) >= WORKERS
    assert {job["status"] for job in search_jobs} == {"SUCCEEDED"}
    ran_on = [
        task["executorId"]
        for job in search_jobs
        for stage in job["stageIds"]
        for attempt in _json(f"{api}/stages/{stage}?details=true")
        for task in attempt["tasks"].values()
        if task["status"] == "SUCCESS"
    ]
    assert set(ran_on) == set(executors_by_worker.values()), ran_on
    executors = {executor["id"]: executor for executor in _json(f"{api}/executors")}
    for executor_id in executors_by_worker.values():
        assert executors[executor_id]["completedTasks"] >= ran_on.count(executor_id)
    assert executors["driver"]["completedTasks"] == 0


@pytest.fixture(scope="session")
def hadoop_aws() -> tuple[list[Path], dict[str, str]]:
    """hadoop-aws and its AWS SDK (from PyPI: tools/hadoop_aws.py), and the settings they
    need on this Hadoop. Where CI sets MLGATE_REQUIRE_HADOOP_AWS=1, a failed download fails."""
    tool = _load_tool("hadoop_aws")
    try:
        return tool.jars(), tool.COMPAT
    except OSError as error:
        if os.environ.get("MLGATE_REQUIRE_HADOOP_AWS") == "1":
            pytest.fail(f"could not fetch hadoop-aws: {error}")
        pytest.skip(f"could not fetch hadoop-aws: {error}")


@pytest.fixture
def connect_server(spark_cluster, hadoop_aws, tmp_path: Path):
    """A Spark Connect server whose application runs on the standalone cluster, with
    hadoop-aws on its classpath."""
    pytest.importorskip("grpc", reason="Spark Connect's client is pyspark[connect]")
    import pyspark

    url, _, _ = spark_cluster
    jars, compat = hadoop_aws
    home = Path(pyspark.__file__).parent
    port, ui = _free_port(), _free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    # spark-submit, as sbin/start-connect-server.sh runs it: the launcher adds the JVM
    # options Arrow needs on Java 17 (--add-opens), which a bare `java` lacks.
    command = [
        str(home / "bin" / "spark-submit"),
        *("--driver-memory", "512m"),
        *("--class", "org.apache.spark.sql.connect.service.SparkConnectServer"),
        *("--master", url),
        *("--conf", f"spark.connect.grpc.binding.port={port}"),
        *("--conf", f"spark.ui.port={ui}"),
        *("--conf", "spark.executor.memory=512m"),
        *("--conf", f"spark.cores.max={WORKERS}"),
        *("--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0"),
        *("--jars", ",".join(map(str, jars))),
        *(option for key, value in compat.items() for option in ("--conf", f"{key}={value}")),
        "spark-internal",
    ]
    log_path = tmp_path / "connect-server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:

        def serving() -> Any:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return _json(f"http://127.0.0.1:{ui}/api/v1/applications")

        [application] = _wait("the Spark Connect server", serving, 90, log_path)
        yield (
            f"sc://127.0.0.1:{port}",
            f"http://127.0.0.1:{ui}/api/v1/applications/{application['id']}",
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_search_runs_through_spark_connect_on_the_cluster(
    connect_server, churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch, stop_spark_afterwards
) -> None:
    url, api = connect_server
    # A classic session already in this process (a notebook's, an earlier test's): pyspark
    # refuses a Connect session beside it, so mlgate stops it, as any session elsewhere.
    from mlgate._spark import spark_session

    spark_session()
    # pyspark marks the process as a Spark Connect client for good (this variable); set here,
    # monkeypatch removes it after the test, so later tests get classic sessions again.
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "1")
    set_key(churn_repo, CONFIG, "compute", {"cluster": url})
    set_key(
        churn_repo,
        CONFIG,
        "model.search",
        {"params": {"max_depth": [2, 3], "n_estimators": [20, 40]}, "cv": 2},
    )

    set_key(churn_repo, CONFIG, "validation.engine", "spark")
    set_key(churn_repo, CONFIG, "validation.drift", {"enabled": False})

    result = cli("run", "--run-dir", ".mlgate/runs/sc", cwd=churn_repo)

    assert result.code == 0, result.out + result.err
    validate = json.loads((churn_repo / ".mlgate/runs/sc/validate.json").read_text())
    assert validate["expectations"]["engine"] == "spark"
    train = json.loads((churn_repo / ".mlgate/runs/sc/train.json").read_text())
    assert train["search"]["where"] == url
    assert len(train["search"]["candidates"]) == 4
    executors = [e for e in _json(f"{api}/executors") if e["id"] != "driver"]
    assert len(executors) == WORKERS
    assert all(e["completedTasks"] > 0 for e in executors), executors


def test_s3_data_is_read_through_spark_connect(
    connect_server,
    churn_repo: Path,
    cli,
    s3_env: str,
    s3_bucket,
    monkeypatch,
    stop_spark_afterwards,
) -> None:
    """Over Spark Connect the S3A settings go to the server's session: the server's
    executors read the objects, with the client's endpoint and credentials."""
    url, api = connect_server
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "1")  # see the test above
    for role, name in (("training", "train.csv"), ("validation", "validation.csv")):
        s3_bucket.put(f"churn/{name}", churn_repo / "data" / name)
        set_key(churn_repo, CONFIG, f"data.{role}_data_path", s3_bucket.uri(f"churn/{name}"))
    set_key(churn_repo, CONFIG, "compute", {"cluster": url})
    set_key(churn_repo, CONFIG, "validation.engine", "spark")

    result = cli("validate", "--run-dir", ".mlgate/runs/sc3", cwd=churn_repo)

    assert result.code == 0, result.out + result.err
    validate = json.loads((churn_repo / ".mlgate/runs/sc3/validate.json").read_text())
    assert validate["files"]["training"]["uri"] == s3_bucket.uri("churn/train.csv")
    lines = (churn_repo / "data" / "train.csv").read_text().splitlines()
    assert validate["files"]["training"]["rows"] == len(lines) - 1
    executors = [e for e in _json(f"{api}/executors") if e["id"] != "driver"]
    assert all(e["completedTasks"] > 0 for e in executors), executors


def test_mllib_model_trains_on_the_clusters_executors(
    spark_cluster, churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch, stop_spark_afterwards
) -> None:
    """A Spark MLlib model.type: the training file read and the pipeline fitted by the
    workers' executors (the workers share this machine's disk, so the run directory's
    spark-model/ is where they write it), then registered like any version."""
    url, _, _ = spark_cluster
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    set_key(
        churn_repo,
        CONFIG,
        "model",
        {"type": "pyspark.ml.classification.LogisticRegression", "params": {"maxIter": 20}},
    )
    set_key(churn_repo, CONFIG, "compute", _on_the_cluster(url))

    result = cli("run", "--run-dir", ".mlgate/runs/m", cwd=churn_repo)

    assert result.code == 0, result.out + result.err
    assert "LogisticRegression (Spark MLlib pipeline) on 9 features in" in result.out
    assert f"on {url}" in result.out
    registered = json.loads((churn_repo / ".mlgate/runs/m/register.json").read_text())
    assert registered["version"] == "1"
    from pyspark.sql import SparkSession

    context = SparkSession.getActiveSession().sparkContext
    assert context.master == url
    api = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}"
    executors = {executor["id"]: executor for executor in _json(f"{api}/executors")}
    workers = [executor for name, executor in executors.items() if name != "driver"]
    assert len(workers) == WORKERS
    assert all(executor["completedTasks"] > 0 for executor in workers), workers
    assert executors["driver"]["completedTasks"] == 0


# Distinctive, so that a copy of it in any output is found.
SECRET = "mlgate-test-secret-5b0c7e"


def test_s3_data_is_read_by_the_clusters_executors_through_s3a(
    spark_cluster, hadoop_aws, churn_repo: Path, cli, s3_env: str, s3_bucket, monkeypatch
) -> None:
    """validation.engine: spark and a Spark MLlib model on s3:// objects: Spark reads them
    as s3a:// on the workers with the endpoint and credentials of the AWS environment; the
    validate stage records what the pandas engine records of the same files read locally,
    and the model trains from the object and is registered."""
    from tests.test_spark import _assert_same_checks

    url, _, _ = spark_cluster
    jars, compat = hadoop_aws
    set_key(churn_repo, CONFIG, "validation.engine", "pandas")
    by_pandas = cli("validate", "--run-dir", ".mlgate/runs/p", cwd=churn_repo)
    assert by_pandas.code == 0, by_pandas.out + by_pandas.err
    local = json.loads((churn_repo / ".mlgate/runs/p/validate.json").read_text())

    versions = {}
    for role, name in (("training", "train.csv"), ("validation", "validation.csv")):
        versions[role] = s3_bucket.put(f"churn/{name}", churn_repo / "data" / name)
        set_key(churn_repo, CONFIG, f"data.{role}_data_path", s3_bucket.uri(f"churn/{name}"))
    compute = _on_the_cluster(url)
    compute["spark_conf"] |= {"spark.jars": ",".join(map(str, jars)), **compat}
    set_key(churn_repo, CONFIG, "compute", compute)
    set_key(churn_repo, CONFIG, "validation.engine", "spark")
    set_key(
        churn_repo,
        CONFIG,
        "model",
        {"type": "pyspark.ml.classification.LogisticRegression", "params": {"maxIter": 20}},
    )
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)

    # A process of its own: spark.jars reach the driver's classpath only in a new JVM.
    done = subprocess.run(
        [sys.executable, "-m", "mlgate", "run", "--run-dir", ".mlgate/runs/s"],
        cwd=churn_repo,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable},
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "LogisticRegression (Spark MLlib pipeline) on 9 features in" in done.stdout
    registered = json.loads((churn_repo / ".mlgate/runs/s/register.json").read_text())
    assert registered["version"] == "1"
    on_s3 = json.loads((churn_repo / ".mlgate/runs/s/validate.json").read_text())
    _assert_same_checks(on_s3, local)
    for role, recorded in on_s3["files"].items():
        read_locally = local["files"][role]
        assert recorded["uri"].startswith(f"s3://{s3_bucket.name}/churn/")
        assert recorded["version_id"] == versions[role]
        assert recorded["etag"]
        for figure in ("sha256", "size_bytes", "rows", "columns"):
            assert recorded[figure] == read_locally[figure], (role, figure)
    # The secret went to Spark only: not to the terminal, the run directory or its logs.
    written = [done.stdout, done.stderr]
    written += [
        path.read_text(errors="replace")
        for folder in (churn_repo / ".mlgate/runs/s", churn_repo / ".mlgate/logs")
        for path in folder.rglob("*")
        if path.is_file()
    ]
    assert not [text for text in written if SECRET in text]
