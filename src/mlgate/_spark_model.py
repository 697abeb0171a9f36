"""A fitted Spark MLlib pipeline as the later stages see it, and where it is kept.

`SparkPipeline` gives the model the scikit-learn face evaluate, fairness, the importance
chart and register use (`predict`, `predict_proba`, `classes_`, `feature_names_in_`,
`feature_importances_` or `coef_` per input column): each call sends the rows it is given
to Spark and collects only the prediction and probability columns. Evaluate and fairness
call it on the validation rows, so those rows and their predictions must fit the driver.
The model is saved in Spark's own format in the run directory; a later command loads it
after checking the digest train.json recorded, and reads only the validation file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate._spark_ml import FEATURES

if TYPE_CHECKING:
    import pandas as pd

    from mlgate._training import Task
    from mlgate.project import Project


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


def training_sha256(session: Any) -> str | None:
    """The training file's SHA-256, streamed, never read into memory: a local file from
    disk, an s3:// object through the local cache (where validate left it); None for a
    local file that is missing."""
    from mlgate.data import sha256_of

    if "training" in session.data_hashes:
        return str(session.data_hashes["training"])
    project = session.project
    written = project.config.data.training_data_path
    location = project.location(written)
    if isinstance(location, Path):
        if not location.is_file():
            return None
        digest = sha256_of(location)
    else:
        from mlgate import _s3

        fetched = session.fetched_s3.get("training")
        if fetched is None or fetched.uri != written:
            fetched = _s3.fetch(written, project.state_dir / "cache" / "s3")
            session.fetched_s3["training"] = fetched
        digest = fetched.sha256
    session.data_hashes["training"] = digest
    return digest


def load_validation(session: Any, recorded: Any) -> None:
    """A later command's data for a Spark model: the validation file in pandas (evaluate and
    fairness score it), the training file only hashed, since it may not fit this machine."""
    from mlgate.data import load_table
    from mlgate.errors import RunDirError

    project = session.project
    task = session.task or recorded_task(session, training_sha256(session), "evaluate")
    frame, info = load_table(
        project, "validation", known_sha256=session.data_hashes.get("validation")
    )
    before = recorded.files.get("validation")
    if before is None or before.sha256 != info.sha256:
        raise RunDirError(
            f"the validation data changed since this run's validate stage ({info.uri}); "
            "start a new run with `mlgate run`"
        )
    session.data_hashes["validation"] = info.sha256
    session.frames, session.task = {"validation": frame}, task


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
