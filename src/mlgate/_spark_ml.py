"""Spark MLlib training: `model.type: pyspark.ml.<module>.<Predictor>` on compute.cluster.

The training file is read by Spark (never by pandas), typed from the feature spec, and
fitted as one pyspark.ml PipelineModel: StringIndexer and OneHotEncoder for categories
(a missing or unseen category becomes all zeros), Imputer (median) for numbers,
VectorAssembler, the estimator, and for a classifier IndexToString back to the labels
as written. Class labels are indexed in the task's order (sorted, as scikit-learn's
`classes_`), so the probability columns line up with what evaluate expects. The fitted
model as the later stages see it: `mlgate._spark_model`.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config import did_you_mean
from mlgate.errors import InputError

if TYPE_CHECKING:
    from mlgate._training import Task
    from mlgate.project import Project

# Columns mlgate wires itself; a model.params entry for one would break the pipeline.
WIRED = ("featuresCol", "labelCol", "predictionCol", "probabilityCol", "rawPredictionCol")
# The pipeline's own columns, prefixed so that they do not meet a column of the data.
FEATURES, LABEL, PREDICTED_LABEL = "__mlgate_features", "__mlgate_label", "predicted_label"
_IMPUTED, _INDEXED, _ONEHOT = "__imputed", "__indexed", "__onehot"


@dataclass(frozen=True)
class SparkChoice:
    """The Spark estimator the config names, checked, not yet fitted."""

    estimator: Any
    name: str
    class_path: str
    params: dict[str, Any]


@dataclass
class SparkTrained:
    model: Any  # pyspark.ml.PipelineModel
    choice: SparkChoice
    feature_columns: list[str]
    seconds: float


def check_config(project: Project) -> None:
    """What can be refused before Spark starts: where it runs, and keys it cannot honour."""
    from mlgate._spark import cluster_of

    config = project.config
    written = config.model.type
    cluster = cluster_of(project)
    if cluster is None:
        raise project.config_error(
            ("model", "type"),
            f"{written} trains on Spark: set compute.cluster to spark://HOST:PORT or local[N] "
            "(this machine), or pick a scikit-learn model",
        )
    if cluster.kind == "connect":
        raise project.config_error(
            ("compute", "cluster"),
            f"{cluster.url}: a Spark MLlib model.type trains through a standalone master or "
            "local[N]; mlgate does not train over Spark Connect",
        )
    refused = {
        ("model", "search"): config.model.search is not None,
        ("model", "code_paths"): bool(config.model.code_paths),
        ("export", "onnx"): config.export.onnx,
        ("compute", "docker_image"): bool(config.compute.docker_image),
    }
    for key, is_set in refused.items():
        if is_set:
            raise project.config_error(
                key,
                f"{'.'.join(key)} is not supported with a Spark MLlib model.type ({written}); "
                "remove it, or pick a scikit-learn model",
            )


def check_estimator(project: Project, task_kind: str) -> tuple[type, dict[str, Any]]:
    """The estimator class and its parameters (typed), checked without starting Spark."""
    from mlgate._spark import _pyspark_sql

    check_config(project)
    _pyspark_sql()  # no pyspark: exit 2 saying how to install it
    from pyspark.ml.base import Predictor
    from pyspark.ml.classification import Classifier
    from pyspark.ml.param import Param

    written = project.config.model.type
    module_name, _, class_name = written.rpartition(".")
    try:
        estimator_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise project.config_error(("model", "type"), f"cannot import {written}: {exc}") from None
    if not (isinstance(estimator_class, type) and issubclass(estimator_class, Predictor)):
        raise project.config_error(
            ("model", "type"),
            f"{written} is not a Spark MLlib estimator that predicts a label (a "
            "pyspark.ml Predictor such as pyspark.ml.classification.GBTClassifier or "
            "pyspark.ml.regression.LinearRegression)",
        )
    is_classifier = issubclass(estimator_class, Classifier)
    if (task_kind == "classification") != is_classifier:
        kind = "classifier" if is_classifier else "regressor"
        wanted = "classifier" if task_kind == "classification" else "regressor"
        raise project.config_error(
            ("model", "type"),
            f"{class_name} is a {kind} but the target makes this a {task_kind} task; pick a "
            f"{wanted}, or set task in the feature spec",
        )
    # pyspark declares each parameter on the class, with the converter it applies.
    declared = {
        name: value
        for name in dir(estimator_class)
        if isinstance(value := getattr(estimator_class, name, None), Param)
    }
    valid = sorted(name for name in declared if name not in WIRED)
    params: dict[str, Any] = {}
    for name, value in project.config.model.params.items():
        if name in WIRED:
            raise project.config_error(
                ("model", "params", name), f"mlgate sets {name} itself; remove it"
            )
        if name not in declared:
            raise project.config_error(
                ("model", "params", name),
                f"{class_name} has no parameter '{name}'{did_you_mean(name, valid)}; "
                f"valid: {', '.join(valid)}",
            )
        try:
            params[name] = declared[name].typeConverter(value)
        except TypeError as exc:
            raise project.config_error(
                ("model", "params", name), f"{declared[name].doc}: {_reason(exc)}"
            ) from None
    if "seed" in declared and "seed" not in params:
        params["seed"] = project.config.model.seed
    return estimator_class, params


def choose(project: Project, task: Task) -> SparkChoice:
    """The estimator with model.params set on it; needs the Spark session (JVM objects)."""
    estimator_class, params = check_estimator(project, task.kind)
    try:
        estimator = estimator_class(**params)
        # The JVM checks each value's range (maxDepth >= 0, ...) as it is set: now, not
        # minutes into a fit.
        estimator._transfer_params_to_java()
    except Exception as exc:
        raise project.config_error(("model", "params"), _reason(exc)) from None
    estimator.setFeaturesCol(FEATURES).setLabelCol(LABEL)
    written = project.config.model.type
    return SparkChoice(
        estimator=estimator, name=estimator_class.__name__, class_path=written, params=params
    )


def train(project: Project, task: Task) -> SparkTrained:
    """Read the training file with Spark and fit the pipeline on compute.cluster."""
    from pyspark import StorageLevel

    from mlgate._spark import session_for

    check_config(project)
    spark = session_for(project)
    choice = choose(project, task)
    columns = list(project.spec.model_inputs)
    frame = read_training(project, spark, task)
    pipeline = _pipeline(project, choice, columns)
    started = time.perf_counter()
    # Each stage's fit is a pass over the rows: parse the file once and keep the typed rows
    # on the executors' disks. Not in memory: reading a disk block back into the heap
    # (MEMORY_AND_DISK) ran a 768 MiB driver out of heap on a 1 GiB CSV.
    frame = frame.persist(StorageLevel.DISK_ONLY)
    try:
        model = pipeline.fit(frame)
    except Exception as exc:  # the JVM's refusals arrive as Py4J/captured errors
        if "java.lang.OutOfMemoryError" in str(exc):
            raise project.config_error(
                ("compute", "spark_conf"),
                f"Spark ran out of memory training {choice.name} (java.lang.OutOfMemoryError); "
                "give it more: spark.driver.memory with local[N], spark.executor.memory on a "
                "cluster, or smaller blocks with spark.sql.files.maxPartitionBytes",
            ) from None
        raise InputError(
            f"training {choice.name} on Spark failed: {_reason(exc)}",
            file=project.location(project.config.data.training_data_path),
        ) from None
    finally:
        frame.unpersist()
    seconds = time.perf_counter() - started
    if task.kind == "classification":
        from pyspark.ml import PipelineModel
        from pyspark.ml.feature import IndexToString

        back = IndexToString(
            inputCol="prediction",
            outputCol=PREDICTED_LABEL,
            labels=[str(label) for label in task.classes],
        )
        model = PipelineModel([*model.stages, back])
    return SparkTrained(model, choice, columns, seconds)


def read_training(project: Project, spark: Any, task: Task) -> Any:
    """The training file as a Spark frame: the inputs typed from the spec, the label indexed."""
    from pyspark.sql import functions as F

    from mlgate.data import COMPRESSIONS, _format_of

    written = project.config.data.training_data_path
    location = project.location(written)
    shown: Path | str = location
    if isinstance(location, Path):
        path, name = str(location), location
    else:  # an s3:// object (check_location refused any other URI): read as s3a://
        from mlgate._s3 import parse_uri
        from mlgate._spark_s3 import configure, hadoop_uri

        configure(spark, project.config.compute.spark_conf)
        path, name = hadoop_uri(written), Path(parse_uri(written)[1].rsplit("/", 1)[-1])
    file_format = _format_of(name)
    compression = name.suffix.lower() if name.suffix.lower() in COMPRESSIONS else None
    if file_format is None or compression in (".xz", ".zst"):  # Hadoop has no codec for them
        raise project.config_error(
            ("data", "training_data_path"),
            f"{written}: Spark reads CSV, TSV, Parquet and JSON Lines, plain or .gz/.bz2",
        )
    reader = spark.read
    try:
        if file_format in ("csv", "tsv"):
            # All text, no inference pass over the data: the spec says what each column is.
            raw = reader.csv(path, header=True, sep="\t" if file_format == "tsv" else ",")
        elif file_format == "parquet":
            raw = reader.parquet(path)
        else:
            raw = reader.json(path)
    except Exception as exc:  # Spark lists the files here: AnalysisException, Py4JJavaError
        from mlgate._spark_s3 import no_filesystem

        refused = no_filesystem(spark, exc, str(shown), "pick a scikit-learn model")
        if refused is not None:
            raise refused from None
        raise InputError(
            f"Spark cannot read the training data: {_reason(exc)}", file=shown
        ) from None
    spec = project.spec
    missing = [c for c in (*spec.model_inputs, spec.target) if c not in raw.columns]
    if missing:
        raise InputError(
            f"column(s) {', '.join(missing[:5])} of the feature spec are not in the file",
            file=shown,
        )
    selected = [
        _typed(F, raw[name], column.is_numeric).alias(name)
        for name, column in spec.model_inputs.items()
    ]
    target = raw[spec.target]
    if task.kind == "classification":
        text = F.trim(target.cast("string"))
        index = F.lit(None).cast("double")
        for position, label in enumerate(task.classes):
            index = F.when(text == _label_text(label), F.lit(float(position))).otherwise(index)
        label_column = index
    else:
        label_column = target.cast("string").try_cast("double")
    return raw.select(*selected, label_column.alias(LABEL)).where(F.col(LABEL).isNotNull())


def _typed(F: Any, column: Any, numeric: bool) -> Any:
    from mlgate.validation.spark_read import NA_TEXT

    text = F.trim(column.cast("string"))
    if numeric:
        return text.try_cast("double")  # a missing or unreadable number: imputed
    # What pandas reads as missing is missing here too ("NA", "null", ...), not a category.
    return F.when(text.isin(*NA_TEXT), F.lit(None)).otherwise(text)


def _label_text(label: Any) -> str:
    """A label of the task (as pandas typed it: "1" read as 1) as the file's text."""
    return str(label)


def _pipeline(project: Project, choice: SparkChoice, columns: list[str]) -> Any:
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import Imputer, OneHotEncoder, StringIndexer, VectorAssembler

    inputs = project.spec.model_inputs
    numeric = [c for c in columns if inputs[c].is_numeric]
    categorical = [c for c in columns if not inputs[c].is_numeric]
    stages: list[Any] = []
    assembled = []
    if numeric:
        stages.append(
            Imputer(
                strategy="median",
                inputCols=numeric,
                outputCols=[c + _IMPUTED for c in numeric],
            )
        )
        assembled += [c + _IMPUTED for c in numeric]
    if categorical:
        stages += [
            # "keep": a missing or unseen category gets an index of its own, which the
            # encoder (dropLast) writes as all zeros, not as a failed prediction.
            StringIndexer(
                inputCols=categorical,
                outputCols=[c + _INDEXED for c in categorical],
                handleInvalid="keep",
                stringOrderType="alphabetAsc",
            ),
            OneHotEncoder(
                inputCols=[c + _INDEXED for c in categorical],
                outputCols=[c + _ONEHOT for c in categorical],
                handleInvalid="keep",
            ),
        ]
        assembled += [c + _ONEHOT for c in categorical]
    stages.append(VectorAssembler(inputCols=assembled, outputCol=FEATURES))
    stages.append(choice.estimator)
    return Pipeline(stages=stages)


def _reason(exc: BaseException) -> str:
    """The JVM's own sentence, without Py4J's stack trace."""
    text = " ".join(str(exc).split())
    for marker in ("IllegalArgumentException:", "requirement failed:"):
        if marker in text:
            text = text.split(marker, 1)[1].strip()
    return text[:300] or type(exc).__name__
