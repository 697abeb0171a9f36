"""Spark MLlib training: `model.type: pyspark.ml.<module>.<Predictor>` on compute.cluster.

The training file is read by Spark (never by pandas), typed from the feature spec, and
fitted as one pyspark.ml PipelineModel: StringIndexer and OneHotEncoder for categories
(a missing or unseen category becomes all zeros), Imputer (median) for numbers,
VectorAssembler, the estimator, and for a classifier IndexToString back to the labels
as written. Class labels are indexed in the task's order (sorted, as scikit-learn's
`classes_`), so the probability columns line up with what evaluate expects.

`SparkPipeline` gives that model the scikit-learn face the later stages use
(`predict`, `predict_proba`, `classes_`, importances): each call sends the rows it is
given to Spark and collects only the label and score columns. Evaluate and fairness
call it on the validation rows, so those rows and their predictions must fit the driver.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config import did_you_mean
from mlgate.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from mlgate._training import Task
    from mlgate.project import Project

PREFIX = "pyspark.ml."
# Columns mlgate wires itself; a model.params entry for one would break the pipeline.
WIRED = ("featuresCol", "labelCol", "predictionCol", "probabilityCol", "rawPredictionCol")
# Names of the pipeline's own columns (a feature of the same name is refused by the spec).
FEATURES, LABEL, PREDICTED_LABEL = "__mlgate_features", "__mlgate_label", "predicted_label"
_IMPUTED, _INDEXED, _ONEHOT = "__imputed", "__indexed", "__onehot"


def is_spark_model(model_type: str) -> bool:
    """Whether `model.type` names a Spark MLlib estimator (it trains on Spark)."""
    return model_type.startswith(PREFIX)


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
    from mlgate._spark import session_for

    check_config(project)
    spark = session_for(project)
    choice = choose(project, task)
    columns = list(project.spec.model_inputs)
    frame = read_training(project, spark, task)
    pipeline = _pipeline(project, choice, columns)
    started = time.perf_counter()
    try:
        model = pipeline.fit(frame)
    except Exception as exc:  # the JVM's refusals arrive as Py4J/captured errors
        raise InputError(
            f"training {choice.name} on Spark failed: {_reason(exc)}",
            file=project.location(project.config.data.training_data_path),
        ) from None
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

    written = project.config.data.training_data_path
    location = project.location(written)
    if not isinstance(location, Path):
        raise project.config_error(
            ("data", "training_data_path"),
            f"{written}: a Spark MLlib model reads local files (or a path every executor "
            "sees); copy the file there, or pick a scikit-learn model",
        )
    suffix = location.suffix.lower()
    reader = spark.read
    if suffix in (".csv", ".tsv"):
        # All text, no inference pass over the data: the spec says what each column is.
        raw = reader.csv(str(location), header=True, sep="\t" if suffix == ".tsv" else ",")
    elif suffix == ".parquet":
        raw = reader.parquet(str(location))
    elif suffix in (".jsonl", ".json"):
        raw = reader.json(str(location))
    else:
        raise project.config_error(
            ("data", "training_data_path"),
            f"{written}: Spark reads CSV, TSV, Parquet or JSON Lines",
        )
    spec = project.spec
    missing = [c for c in (*spec.model_inputs, spec.target) if c not in raw.columns]
    if missing:
        raise InputError(
            f"column(s) {', '.join(missing[:5])} of the feature spec are not in the file",
            file=location,
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
    text = F.trim(column.cast("string"))
    if numeric:
        return text.try_cast("double")  # a missing or unreadable number: imputed
    return F.when(text == "", F.lit(None)).otherwise(text)


def _label_text(label: Any) -> str:
    """A label as a CSV holds it: pandas reads "1" as 1 and "1.5" as 1.5."""
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


# --- the fitted model as the later stages see it ---------------------------------------


class SparkPipeline:
    """A fitted Spark PipelineModel behind scikit-learn's predict/predict_proba/classes_."""

    def __init__(
        self,
        model: Any,
        feature_columns: list[str],
        spec_numeric: dict[str, bool],
        classes: tuple[Any, ...] | None,
    ) -> None:
        self.spark_model = model
        self.feature_names_in_ = list(feature_columns)
        self._numeric = dict(spec_numeric)
        if classes is not None:
            import numpy as np

            self.classes_ = np.asarray(classes, dtype=object)
        self._classes = classes
        self._last: tuple[int, Any] | None = None
        weights = self._importances()
        if weights is not None:
            name, values = weights
            setattr(self, name, values)

    @property
    def estimator(self) -> Any:
        stages = self.spark_model.stages
        return stages[-2] if self._classes is not None else stages[-1]

    def predict(self, features: pd.DataFrame) -> Any:
        import numpy as np

        predicted, _ = self._score(features)
        if self._classes is None:
            return predicted
        return np.asarray(self._classes, dtype=object)[predicted.astype(int)]

    def predict_proba(self, features: pd.DataFrame) -> Any:
        if not self._probabilistic:
            raise AttributeError(f"{type(self.estimator).__name__} gives no probabilities")
        return self._score(features)[1]

    @property
    def _probabilistic(self) -> bool:
        return self._classes is not None and hasattr(self.estimator, "probabilityCol")

    def _score(self, features: pd.DataFrame) -> tuple[Any, Any]:
        """The rows through Spark; predict then predict_proba on the same rows score once.

        Collected as plain rows, not with toPandas: its Arrow path does not take pandas 3.
        """
        import numpy as np
        from pyspark.ml.functions import vector_to_array

        key = (id(features), len(features.index))
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        transformed = self.spark_model.transform(self.to_spark(features))
        wanted = [transformed["prediction"]]
        if self._probabilistic:
            wanted.append(vector_to_array(transformed["probability"]).alias("probability"))
        rows = transformed.select(*wanted).collect()
        predicted = np.asarray([row[0] for row in rows], dtype=float)
        scores = np.asarray([row[1] for row in rows], dtype=float) if len(wanted) > 1 else None
        self._last = (key, (predicted, scores))
        return predicted, scores

    def to_spark(self, features: pd.DataFrame) -> Any:
        """Pandas rows as a Spark frame typed as the training frame was."""
        import pandas as pd
        from pyspark.sql import types as T

        from mlgate._spark import spark_session

        spark = spark_session()
        fields, columns = [], {}
        for name in self.feature_names_in_:
            values = features[name]
            if self._numeric[name]:
                fields.append(T.StructField(name, T.DoubleType()))
                columns[name] = pd.to_numeric(values, errors="coerce").astype("float64")
            else:
                fields.append(T.StructField(name, T.StringType()))
                columns[name] = [None if pd.isna(v) else str(v).strip() or None for v in values]
        table = pd.DataFrame(columns, index=range(len(features.index)))
        rows = table.astype(object).where(table.notna(), None).itertuples(index=False, name=None)
        # Row order is kept: one partition per slice, collected in order.
        return spark.createDataFrame(list(rows), T.StructType(fields))

    def _importances(self) -> tuple[str, Any] | None:
        """Per input column, the estimator's own weights summed over its encoded slots."""
        import numpy as np

        estimator = self.estimator
        if hasattr(estimator, "featureImportances"):
            name, slots = "feature_importances_", estimator.featureImportances.toArray()
        elif hasattr(estimator, "coefficientMatrix"):
            name = "coef_"
            slots = np.abs(estimator.coefficientMatrix.toArray()).mean(axis=0)
        elif hasattr(estimator, "coefficients"):
            name, slots = "coef_", np.abs(estimator.coefficients.toArray())
        else:
            return None
        owners = self._slot_owners()
        if owners is None or len(owners) != len(slots):
            return None
        totals = dict.fromkeys(self.feature_names_in_, 0.0)
        for owner, weight in zip(owners, slots, strict=True):
            totals[owner] += float(weight)
        return name, np.asarray([totals[c] for c in self.feature_names_in_])

    def _slot_owners(self) -> list[str] | None:
        """Which input column each slot of the assembled vector came from (its metadata)."""
        from pyspark.ml import PipelineModel
        from pyspark.sql import types as T

        from mlgate._spark import spark_session

        spark = spark_session()
        fields = [
            T.StructField(c, T.DoubleType() if self._numeric[c] else T.StringType())
            for c in self.feature_names_in_
        ]
        empty = spark.createDataFrame([], T.StructType(fields))
        stages = self.spark_model.stages
        prepare = PipelineModel(stages[: stages.index(self.estimator)])
        try:  # analysed, not run: the metadata comes with the schema
            metadata = prepare.transform(empty).schema[FEATURES].metadata["ml_attr"]["attrs"]
        except Exception:
            return None
        slots = sorted((a["idx"], a["name"]) for group in metadata.values() for a in group)
        owners = []
        for _, slot_name in slots:
            owner = next(
                (c for c in self.feature_names_in_ if slot_name.startswith(c + "__")), None
            )
            if owner is None:
                return None
            owners.append(owner)
        return owners


def wrap(model: Any, project: Project, task: Task) -> SparkPipeline:
    inputs = project.spec.model_inputs
    return SparkPipeline(
        model,
        list(inputs),
        {name: column.is_numeric for name, column in inputs.items()},
        task.classes if task.kind == "classification" else None,
    )


def wrap_registered(model: Any) -> SparkPipeline:
    """A registered Spark model (the champion) without the project: read from its stages."""
    from pyspark.ml.feature import ImputerModel, IndexToString, StringIndexerModel

    stages = model.stages
    classes = None
    if isinstance(stages[-1], IndexToString):
        classes = tuple(_label_value(text) for text in stages[-1].getLabels())
    numeric: dict[str, bool] = {}
    for stage in stages:
        if isinstance(stage, ImputerModel):
            numeric.update(dict.fromkeys(stage.getInputCols(), True))
        elif isinstance(stage, StringIndexerModel):
            numeric.update(dict.fromkeys(stage.getInputCols(), False))
    return SparkPipeline(model, list(numeric), numeric, classes)


def _label_value(text: str) -> Any:
    """A label as pandas reads it from a CSV: an integer, a decimal, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def save(model: Any, folder: Path) -> str:
    """Spark's own format, in the run directory; the SHA-256 over every file in it."""
    model.write().overwrite().save(str(folder))
    return tree_sha256(folder)


def recorded_task(session: Any, training_sha256: str | None, needed_by: str = "train") -> Task:
    """The task validate.json holds (validate ran in an earlier command), if the training
    file is still the one it read (`training_sha256` None: not checked here)."""
    from mlgate._training import Task
    from mlgate.errors import RunDirError

    recorded = session.result("validate", needed_by)
    before = recorded.files.get("training")
    if before is None or (training_sha256 is not None and before.sha256 != training_sha256):
        raise RunDirError(
            "the training data changed since this run's validate stage; start a new run with "
            "`mlgate run`"
        )
    task = recorded.task
    return Task(
        kind=task.kind,
        inferred=task.inferred,
        classes=tuple(task.classes),
        positive_label=task.positive_label,
    )


def load_checked(session: Any, trained: Any) -> SparkPipeline:
    """The run directory's Spark model (a `stages._session.Session`'s), if it is the one
    train.json (`trained`) recorded."""
    from mlgate.errors import RunDirError
    from mlgate.rundir import SPARK_MODEL_DIR

    folder = session.run_dir.file(SPARK_MODEL_DIR)
    if not folder.is_dir():
        raise RunDirError(f"{folder} is missing; rerun `mlgate train`")
    if tree_sha256(folder) != trained.model_sha256:
        raise RunDirError(
            f"{folder} is not the model this run's train stage wrote (its digest differs "
            "from train.json's model_sha256); rerun `mlgate train`"
        )
    task = session.task or recorded_task(session, None, "evaluate")
    return wrap(load(session.project, folder), session.project, task)


def load(project: Project, folder: Path) -> Any:
    from pyspark.ml import PipelineModel

    from mlgate._spark import session_for

    session_for(project)
    return PipelineModel.load(str(folder))


def tree_sha256(folder: Path) -> str:
    """One digest of a folder: each file's path and bytes, in sorted order (no CRC files)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith(".") and path.name.endswith(".crc"):
            continue  # Hadoop's checksums: rewritten on every save
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    """The JVM's own sentence, without Py4J's stack trace."""
    text = " ".join(str(exc).split())
    for marker in ("IllegalArgumentException:", "requirement failed:"):
        if marker in text:
            text = text.split(marker, 1)[1].strip()
    return text[:300] or type(exc).__name__
