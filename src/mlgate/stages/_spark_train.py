"""The train stage for a Spark MLlib `model.type`: fit on compute.cluster, keep Spark's format.

The training file is read by Spark alone: the task (kind, classes, positive label) is
this command's, or the one the validate stage recorded, so pandas never reads it here.
The model goes to `spark-model/` in the run directory (a temporary name, then a rename),
and train.json's `model_sha256` is a digest over that folder's files.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from mlgate.results import TrainResult, Verdict
from mlgate.rundir import MODEL_FILE, SPARK_MODEL_DIR
from mlgate.stages._session import Session


def run(session: Session) -> TrainResult:
    from mlgate import _spark_ml, _spark_model
    from mlgate._estimators import EstimatorChoice
    from mlgate._training import TrainedModel

    project = session.project
    task = session.task or _spark_model.recorded_task(
        session, _spark_model.training_sha256(session)
    )
    trained = _spark_ml.train(project, task)
    folder = session.run_dir.file(SPARK_MODEL_DIR)
    partial = folder.with_name(f".{SPARK_MODEL_DIR}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        digest = _spark_model.save(trained.model, partial)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    # A scikit-learn model an earlier train of this run directory left is not this run's.
    session.run_dir.file(MODEL_FILE).unlink(missing_ok=True)
    choice = trained.choice
    session.task = task
    session.trained = TrainedModel(
        pipeline=_spark_model.wrap(trained.model, project, task),
        task=task,
        estimator=EstimatorChoice(
            estimator=choice.estimator, name=choice.name, needs_scaling=False, params=choice.params
        ),
        feature_columns=trained.feature_columns,
        seconds=trained.seconds,
    )
    count = len(trained.feature_columns)
    where = project.config.compute.cluster
    return TrainResult(
        verdict=Verdict.PASSED,
        summary=(
            f"{choice.name} (Spark MLlib pipeline) on {count} feature{'' if count == 1 else 's'} "
            f"in {trained.seconds:.1f}s on {where}"
        ),
        estimator=choice.name,
        estimator_class=choice.class_path,
        params={key: _jsonable(value) for key, value in choice.params.items()},
        feature_columns=tuple(trained.feature_columns),
        code_paths=(),
        config_sha256=project.config_sha256,
        feature_spec_sha256=project.spec_sha256,
        training_seconds=round(trained.seconds, 3),
        warnings=(),
        model_sha256=digest,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)
