"""`validation.engine: spark`: the same suite through Great Expectations' Spark data source.

One local SparkSession (`local[2]`) serves the whole test session; the frames are
small so that the test stays well under a minute on two cores.
"""

from __future__ import annotations

import json
import shutil
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
