"""`validation.engine: spark`: the same suite through Great Expectations' Spark data source.

One local SparkSession (`local[2]`) serves the whole test session; the frames are
small so that the test stays well under a minute on two cores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests.test_bad_inputs import TRAIN, Row, rewrite_rows, set_key

pytest.importorskip("pyspark", reason="pyspark is the optional `spark` extra")

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]


@pytest.fixture(scope="session")
def spark_session():
    """Started here with settings for tiny frames; mlgate reuses the active session."""
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("mlgate-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        # Code generation and adaptive planning pay off on big data, not on 40 rows.
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1")
        .getOrCreate()
    )
    yield session
    session.stop()


def small_spec(spec: dict) -> None:
    keep = ("plan", "num_products", "tenure_months")
    spec["features"] = {name: spec["features"][name] for name in keep}
    spec["sensitive_features"] = {"gender": spec["sensitive_features"]["gender"]}


def test_spark_engine_fails_bad_rows_and_passes_clean_ones(
    spark_session, cli, churn_repo: Path
) -> None:
    def break_rows(columns: list[str], rows: list[Row]) -> None:
        rows[1]["plan"] = "gold"
        rows[2]["num_products"] = "9"
        rows[3]["tenure_months"] = ""

    rewrite_rows(TRAIN, break_rows)(churn_repo)
    # The validation file: its first 40 rows, clean.
    validation = pd.read_csv(churn_repo / "data" / "validation.csv").head(40)
    validation.to_csv(churn_repo / "data" / "validation.csv", index=False)
    set_key(
        churn_repo,
        "mlgate.yaml",
        "validation",
        {
            "suite": "expectations/churn.yml",
            "engine": "spark",
            "drift": {"enabled": False},
        },
    )

    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 1, result.out + result.err
    recorded = json.loads((churn_repo / ".mlgate/runs/t/validate.json").read_text())
    assert recorded["expectations"]["engine"] == "spark"
    failed = {
        (f["role"], f["column"], f["expectation"], f["failed_rows"], f["total_rows"])
        for f in recorded["expectations"]["failed"]
    }
    assert failed == {
        ("training", "plan", "expect_column_values_to_be_in_set", 1, 40),
        ("training", "num_products", "expect_column_values_to_be_between", 1, 40),
        ("training", "tenure_months", "expect_column_values_to_not_be_null", 1, 40),
    }
    assert recorded["expectations"]["checked"]["validation"] > 10
    samples = {f["column"]: f["samples"] for f in recorded["expectations"]["failed"]}
    assert samples["plan"] == [{"value": "'gold'", "count": 1}]


def test_spark_engine_fails_an_empty_table_and_a_missing_column(spark_session) -> None:
    from mlgate.featurespec import FeatureSpec
    from mlgate.validation.baseline import baseline_expectations
    from mlgate.validation.engine import run
    from mlgate.validation.results import judge

    spec = FeatureSpec.model_validate(
        {"target": "label", "features": {"size": {"type": "numeric", "max": 10}}}
    )
    expectations = baseline_expectations(spec, classes=None, strict_columns=False)
    table = pd.DataFrame({"size": [1.0, 2.0], "label": ["a", "b"]})

    def failures(frame: pd.DataFrame) -> set[tuple[str | None, str]]:
        outcomes = run(frame, expectations, engine="spark", sample_size=3)
        found = judge(
            outcomes, role="training", sensitive=set(), max_samples=3, show_sensitive=False
        )
        return {(f.column, f.reason) for f in found}

    assert failures(table) == set()
    assert ("size", "no-rows") in failures(table.iloc[:0])
    assert failures(table.drop(columns=["size"])) == {("size", "missing-column")}


# --- Spark reads the files itself --------------------------------------------------------


def _engine_run(cli, repo: Path, engine: str, name: str, *, drift: bool = True) -> tuple[int, dict]:
    validation = {"suite": "expectations/churn.yml", "engine": engine}
    if not drift:
        validation["drift"] = {"enabled": False}
    set_key(repo, "mlgate.yaml", "validation", validation)
    result = cli("validate", "--run-dir", f".mlgate/runs/{name}", cwd=repo)
    recorded = repo / f".mlgate/runs/{name}/validate.json"
    if not recorded.exists():
        raise AssertionError(result.out + result.err)
    return result.code, json.loads(recorded.read_text())


@pytest.fixture
def no_pandas_reader(monkeypatch):
    """A tripwire: any pandas read of a data file in the block fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"pandas read a data file: {args[:1]}")

    def armed():
        for name in ("read_csv", "read_parquet", "read_json", "read_table"):
            monkeypatch.setattr(pd, name, refuse)

    yield armed
    monkeypatch.undo()


def _cut(repo: Path, training: int, validation: int) -> None:
    for name, rows in (("train.csv", training), ("validation.csv", validation)):
        path = repo / "data" / name
        path.write_text("".join(path.read_text().splitlines(keepends=True)[: rows + 1]))


def _drift_of(recorded: dict) -> dict:
    return {(f["role"], f["feature"]): f for f in recorded["drift"]["features"]}


def test_spark_reads_and_checks_the_data_as_the_pandas_engine_does(
    spark_session, cli, churn_repo: Path, no_pandas_reader
) -> None:
    _cut(churn_repo, 600, 300)
    _, by_pandas = _engine_run(cli, churn_repo, "pandas", "pandas")
    data = churn_repo / "data"
    tables = {name: pd.read_csv(data / f"{name}.csv") for name in ("train", "validation")}
    no_pandas_reader()
    code, by_spark = _engine_run(cli, churn_repo, "spark", "spark")

    assert code == 0
    assert by_spark["files"] == by_pandas["files"]  # rows, columns and sha256 alike
    _assert_same_checks(by_spark, by_pandas)

    # Parquet and JSON Lines: the same rows, so the same checks and figures.
    tables["train"].to_parquet(data / "train.parquet", index=False)
    tables["validation"].to_json(data / "validation.jsonl", orient="records", lines=True)
    set_key(churn_repo, "mlgate.yaml", "data.training_data_path", "data/train.parquet")
    set_key(churn_repo, "mlgate.yaml", "data.validation_data_path", "data/validation.jsonl")
    code, from_files = _engine_run(cli, churn_repo, "spark", "formats")

    assert code == 0
    assert [f["rows"] for f in from_files["files"].values()] == [600, 300]
    _assert_same_checks(from_files, by_pandas)


def _assert_same_checks(by_spark: dict, by_pandas: dict) -> None:
    assert by_spark["expectations"]["engine"] == "spark"
    assert by_spark["task"] == by_pandas["task"]
    for key in ("checked", "failed"):
        assert by_spark["expectations"][key] == by_pandas["expectations"][key]
    pandas_drift, spark_drift = _drift_of(by_pandas), _drift_of(by_spark)
    assert spark_drift.keys() == pandas_drift.keys()
    assert len(spark_drift) == 11
    for key, theirs in pandas_drift.items():
        mine = spark_drift[key]
        # Under 50,000 values a column, percentile_approx gives numpy's order statistics
        # exactly: the same bin edges, so the same bins and the same PSI.
        for figure in ("drifted", "psi", "biggest_change", "reference_rows", "current_rows"):
            assert mine[figure] == theirs[figure], (key, figure)
        # Under 10,000 distinct values, KS compares the CDFs at every value, as scipy does:
        # the same statistic, to the last bit or so (a sum of shares against a search).
        for figure in ("ks_statistic", "ks_pvalue"):  # None for a category
            expected = theirs[figure] and pytest.approx(theirs[figure], rel=1e-5)
            assert mine[figure] == expected, (key, figure)


def test_spark_names_the_same_failures_in_a_corrupted_file(
    spark_session, cli, churn_repo: Path
) -> None:
    def corrupt(columns: list[str], rows: list[Row]) -> None:
        rows[1]["plan"] = "gold"
        rows[2]["num_products"] = "9"
        rows[3]["tenure_months"] = ""
        rows[4]["age"] = "inf"
        rows[5]["contract"] = "two-year\n::error::x"

    _cut(churn_repo, 40, 40)
    rewrite_rows(TRAIN, corrupt)(churn_repo)
    found = {
        engine: _engine_run(cli, churn_repo, engine, engine, drift=False)
        for engine in ("pandas", "spark")
    }

    assert found["spark"][0] == found["pandas"][0] == 1
    failed = found["spark"][1]["expectations"]["failed"]
    assert failed == found["pandas"][1]["expectations"]["failed"]
    assert {f["column"] for f in failed} == {
        "plan", "num_products", "tenure_months", "age", "contract",
    }  # fmt: skip


def test_spark_refuses_a_non_numeric_value_as_the_pandas_engine_does(
    spark_session, cli, churn_repo: Path
) -> None:
    def corrupt(columns: list[str], rows: list[Row]) -> None:
        rows[3]["tenure_months"] = "twenty"

    rewrite_rows(TRAIN, corrupt)(churn_repo)
    lines = {}
    for engine in ("pandas", "spark"):
        set_key(churn_repo, "mlgate.yaml", "validation", {"engine": engine})
        result = cli("validate", "--run-dir", f".mlgate/runs/{engine}", cwd=churn_repo)
        assert result.code == 2, result.out + result.err
        lines[engine] = result.error_lines
    assert lines["spark"] == lines["pandas"]
    assert "column 'tenure_months'" in lines["spark"][0]
    assert "['twenty']" in lines["spark"][0]


@pytest.mark.parametrize("suffix", [".xz", ".zst"])
def test_spark_refuses_a_compression_hadoop_cannot_read(cli, churn_repo: Path, suffix: str) -> None:
    set_key(churn_repo, "mlgate.yaml", "data.training_data_path", f"data/train.csv{suffix}")
    set_key(churn_repo, "mlgate.yaml", "validation", {"engine": "spark"})
    (churn_repo / "data" / f"train.csv{suffix}").write_bytes(b"compressed")

    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert "data.training_data_path" in line
    assert f"no {suffix} decompressor" in line


def test_s3_data_without_hadoop_aws_says_how_to_add_it(
    spark_session, cli, churn_repo: Path, s3_env: str, s3_bucket
) -> None:
    """This session's JVM has no S3A filesystem: exit 2 naming the object and the package
    for this Hadoop, not a Java stack trace."""
    import pyspark

    uri = s3_bucket.uri("churn/train.csv")
    s3_bucket.put("churn/train.csv", churn_repo / "data" / "train.csv")
    set_key(churn_repo, "mlgate.yaml", "data.training_data_path", uri)
    set_key(churn_repo, "mlgate.yaml", "validation", {"engine": "spark"})

    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert line.startswith(f"mlgate: error: {uri}: Spark has no S3A filesystem"), line
    jars = Path(pyspark.__file__).parent / "jars"
    [client] = jars.glob("hadoop-client-api-*.jar")
    hadoop = client.stem.removeprefix("hadoop-client-api-")
    assert f"spark.jars.packages: org.apache.hadoop:hadoop-aws:{hadoop}" in line


@pytest.mark.parametrize("own_log", [False, True], ids=["mlgate-log", "team-java-options"])
def test_a_driver_heap_spark_refuses_is_exit_2_naming_spark_conf(
    churn_repo: Path, own_log: bool
) -> None:
    """Spark will not start a driver under its 450 MiB heap floor: exit 2 with Spark's own
    reason and the key to change, not an unreachable cluster or a missing Java. The JVM's
    log (its ERROR line and Java stack trace) goes to .mlgate/logs, not the terminal; a
    team's own spark.driver.extraJavaOptions come after mlgate's and win."""
    conf = {"spark.driver.memory": "256m"}
    team_log = churn_repo / "team-spark.log"
    if own_log:
        conf["spark.driver.extraJavaOptions"] = f"-Dmlgate.spark.log={team_log}"
    set_key(churn_repo, "mlgate.yaml", "validation", {"engine": "spark"})
    set_key(churn_repo, "mlgate.yaml", "compute", {"cluster": "local[2]", "spark_conf": conf})

    # A process of its own: a JVM this one started earlier keeps the heap it started with.
    done = subprocess.run(
        [sys.executable, "-m", "mlgate", "validate", "--run-dir", ".mlgate/runs/heap"],
        cwd=churn_repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 2, done.stdout + done.stderr
    [line] = [text for text in done.stderr.splitlines() if text.startswith("mlgate:")]
    assert line.startswith("mlgate: error: compute.spark_conf: Spark would not start on local[2]: ")
    assert "Insufficient driver memory" in line
    assert "spark.driver.memory" in line
    # Only the JVM's own start-up notice is left beside mlgate's line.
    assert "\tat org.apache.spark" not in done.stderr
    assert "ERROR" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr
    mlgate_log = churn_repo / ".mlgate" / "logs" / "spark-driver.log"
    written = team_log if own_log else mlgate_log
    assert "INVALID_DRIVER_MEMORY" in written.read_text()
    if own_log:
        assert not mlgate_log.exists() or not mlgate_log.stat().st_size
        assert "Spark's log" not in line
    else:
        assert line.endswith(f"; Spark's log: {mlgate_log}")


def test_a_missing_s3_object_is_named_as_boto3_finds_it(
    spark_session, cli, churn_repo: Path, s3_env: str, s3_bucket
) -> None:
    uri = s3_bucket.uri("churn/missing.csv")
    set_key(churn_repo, "mlgate.yaml", "data.training_data_path", uri)
    set_key(churn_repo, "mlgate.yaml", "validation", {"engine": "spark"})

    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert line == (
        f"mlgate: error: {uri}: no object 'churn/missing.csv' in bucket '{s3_bucket.name}'; "
        "check the key (it is case-sensitive)"
    )
