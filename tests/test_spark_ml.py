"""A Spark MLlib `model.type`: trained on Spark, evaluated, gated, carded and registered.

The churn example with `pyspark.ml.classification.LogisticRegression` on `local[2]` (the
Spark suite's session, shared by the module), through `mlgate run` to a registered
version that `mlflow.spark.load_model` loads and scores. Config errors stop before Spark.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from tests.test_bad_inputs import CONFIG, set_key

pytest.importorskip("pyspark", reason="pyspark is the optional `spark` extra")

from tests import test_spark

spark_session = test_spark.spark_session  # the Spark suite's local[2] session fixture

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

LOGISTIC = "pyspark.ml.classification.LogisticRegression"


def spark_model(repo: Path, model_type: str = LOGISTIC, params: dict | None = None) -> None:
    set_key(repo, CONFIG, "model", {"type": model_type, "params": params or {"maxIter": 30}})
    set_key(repo, CONFIG, "compute", {"cluster": "local[2]"})


def test_mllib_model_trains_on_spark_and_registers_a_version_spark_loads(
    spark_session, cli, churn_repo: Path
) -> None:
    spark_model(churn_repo)

    result = cli("run", "--run-dir", ".mlgate/runs/a", cwd=churn_repo)

    assert result.code == 0, result.out + result.err
    run_dir = churn_repo / ".mlgate/runs/a"
    train = json.loads((run_dir / "train.json").read_text())
    assert train["estimator_class"] == LOGISTIC
    assert train["params"] == {"maxIter": 30}  # LogisticRegression takes no seed
    assert "Spark MLlib pipeline" in train["summary"]
    assert (run_dir / "spark-model" / "metadata").is_dir()
    assert not (run_dir / "model.joblib").exists()

    # mlgate's roc_auc (scikit-learn on the collected scores) against Spark's own evaluator
    # on the run directory's model over the validation file as Spark reads it, unbinned
    # (numBins=0): both are the exact trapezoid area over every distinct score, so they
    # differ only in floating-point summation order.
    from pyspark.ml import PipelineModel
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.sql import functions as F

    evaluated = json.loads((run_dir / "evaluate.json").read_text())
    frame = spark_session.read.csv(
        str(churn_repo / "data/validation.csv"), header=True, inferSchema=True
    )
    frame = frame.withColumn("label", (F.col("churned") == "yes").cast("double"))
    scored = PipelineModel.load(str(run_dir / "spark-model")).transform(frame)
    spark_auc = BinaryClassificationEvaluator(
        rawPredictionCol="probability", labelCol="label", numBins=0
    ).evaluate(scored)
    assert evaluated["metrics"]["roc_auc"] == pytest.approx(spark_auc, abs=1e-9)
    assert 0.80 < spark_auc < 0.95
    # The importances are the estimator's own coefficients, summed per input column.
    assert evaluated["importance"]["method"] == "model"

    card = (run_dir / "model_card.md").read_text()
    assert "a Spark MLlib pipeline trained on Spark" in card

    registered = json.loads((run_dir / "register.json").read_text())
    version = registered["version"]
    assert version == "1"
    import mlflow
    import mlflow.spark
    import pandas as pd
    from mlflow.models import get_model_info

    mlflow.set_tracking_uri(f"sqlite:///{churn_repo / '.mlgate/mlflow.db'}")
    uri = f"models:/production-churn-model/{version}"
    assert set(get_model_info(uri).flavors) == {"spark", "python_function"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's download progress and DFS notices
        loaded = mlflow.spark.load_model(uri)
    predicted = loaded.transform(frame).select("predicted_label").collect()
    saved = pd.read_csv(run_dir / "predictions.csv")
    assert [row[0] for row in predicted] == saved["y_pred"].tolist()

    # build-image serves scikit-learn and ONNX only: the version's MLmodel says spark.
    from mlgate.errors import InputError
    from mlgate.serving.context import read_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(churn_repo / "dl")))
    with pytest.raises(InputError, match=r"Spark MLlib pipeline .*build-image serves"):
        read_model(local, f"production-churn-model v{version}")

    # A gate it misses: the model from the stage cache (spark-model/ restored), exit 1.
    set_key(churn_repo, CONFIG, "evaluation.gates.roc_auc", {"min": 0.99})
    failed = cli("run", "--run-dir", ".mlgate/runs/b", cwd=churn_repo)
    assert failed.code == 1, failed.out + failed.err
    again = json.loads((churn_repo / ".mlgate/runs/b/train.json").read_text())
    assert again["cache"]["reused"]
    assert again["model_sha256"] == train["model_sha256"]
    assert (churn_repo / ".mlgate/runs/b/spark-model/metadata").is_dir()
    gated = json.loads((churn_repo / ".mlgate/runs/b/evaluate.json").read_text())
    assert gated["metrics"]["roc_auc"] == evaluated["metrics"]["roc_auc"]
    skipped = json.loads((churn_repo / ".mlgate/runs/b/register.json").read_text())
    assert (skipped["verdict"], skipped["version"]) == ("skipped", None)


@pytest.mark.parametrize(
    ("change", "key", "says"),
    [
        pytest.param(
            lambda repo: set_key(repo, CONFIG, "compute", {}),
            "model.type",
            "trains on Spark: set compute.cluster",
            id="no-cluster",
        ),
        pytest.param(
            lambda repo: spark_model(repo, "pyspark.ml.classification.NoSuchClassifier"),
            "model.type",
            "cannot import pyspark.ml.classification.NoSuchClassifier",
            id="unknown-class",
        ),
        pytest.param(
            lambda repo: spark_model(repo, "pyspark.ml.feature.StringIndexer"),
            "model.type",
            "not a Spark MLlib estimator that predicts a label",
            id="not-an-estimator",
        ),
        pytest.param(
            lambda repo: spark_model(repo, "pyspark.ml.regression.LinearRegression"),
            "model.type",
            "LinearRegression is a regressor but the target makes this a classification task",
            id="wrong-task",
        ),
        pytest.param(
            lambda repo: spark_model(repo, params={"maxIters": 3}),
            "model.params.maxIters",
            "no parameter 'maxIters' (did you mean 'maxIter'?)",
            id="unknown-param",
        ),
        pytest.param(
            lambda repo: spark_model(repo, params={"maxIter": "many"}),
            "model.params.maxIter",
            "max number of iterations",
            id="param-type",
        ),
        pytest.param(
            lambda repo: spark_model(repo, params={"labelCol": "churned"}),
            "model.params.labelCol",
            "mlgate sets labelCol itself",
            id="wired-column",
        ),
        pytest.param(
            lambda repo: set_key(repo, CONFIG, "export", {"onnx": True}),
            "export.onnx",
            "not supported with a Spark MLlib model.type",
            id="onnx-export",
        ),
    ],
)
def test_mllib_config_errors_stop_before_spark(cli, churn_repo: Path, change, key, says) -> None:
    spark_model(churn_repo)
    change(churn_repo)

    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 2, result.out + result.err
    assert key in result.err, result.err
    assert says in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_mllib_param_out_of_range_is_exit_2_before_fitting(
    spark_session, cli, churn_repo: Path
) -> None:
    """A value of the right type that Spark refuses (regParam < 0) is found as it is set."""
    spark_model(churn_repo, params={"regParam": -1.0})
    assert cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo).code == 0

    result = cli("train", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)

    assert result.code == 2, result.out + result.err
    assert "model.params" in result.err, result.err
    assert "regParam" in result.err, result.err
    assert not (churn_repo / ".mlgate/runs/t/spark-model").exists()


def test_mllib_stages_as_separate_commands(spark_session, cli, churn_repo: Path) -> None:
    """Each stage a command of its own (a fresh session, as in separate CI steps): the
    model comes back from spark-model/, the validation file is read again, and the training
    file is only hashed (a change to it after validate is refused). The tree model's own
    importances reach the report."""
    spark_model(
        churn_repo, "pyspark.ml.classification.GBTClassifier", {"maxIter": 5, "maxDepth": 3}
    )
    for command in ("validate", "train", "evaluate", "fairness"):
        result = cli(command, "--run-dir", ".mlgate/runs/s", cwd=churn_repo)
        assert result.code == 0, command + result.out + result.err

    run_dir = churn_repo / ".mlgate/runs/s"
    train = json.loads((run_dir / "train.json").read_text())
    assert train["params"] == {"maxIter": 5, "maxDepth": 3, "seed": 42}  # model.seed
    evaluated = json.loads((run_dir / "evaluate.json").read_text())
    assert evaluated["importance"]["method"] == "model"
    assert evaluated["importance"]["source"] == "feature_importances_"
    ranked = {item["name"]: item["importance"] for item in evaluated["importance"]["features"]}
    assert set(ranked) == set(train["feature_columns"])
    assert sum(ranked.values()) == pytest.approx(1.0)  # Spark's importances sum to 1

    # A changed training file after train: the next evaluate refuses the run directory.
    with (churn_repo / "data/train.csv").open("a") as appended:
        appended.write("\n")
    stale = cli("evaluate", "--run-dir", ".mlgate/runs/s", cwd=churn_repo)
    assert stale.code != 0
    assert "training data changed since this run's validate stage" in stale.err, stale.err
