"""The checks of the whole config that need no stage: made before the first stage prints.

`mlgate.project` has already checked each key's type and the config against the feature
spec. What it cannot know without looking at files is checked here, so that a config
error is one line and exit 2 before any stage runs, never after training:

- every local file the config names exists (the data files, the suite, the drift
  reference, the card template), and the validation data is not the training data
  (the same path or the same bytes) unless `evaluation.allow_training_data` says so;
- `compute.cluster`, when a stage would run on it (`model.search`, a Spark MLlib
  `model.type`, or `validation.engine: spark`), is a Spark master mlgate can connect to;
- the task, from the feature spec or else from the training file's target column alone
  (its header and that column: `mlgate.data.read_target`), and with it the metrics and
  gates, the model (built with its parameters and checked by scikit-learn, not fitted),
  the parameters and metric of `model.search`, and the fairness thresholds (which a
  multi-class target cannot have).

When the target column cannot be read on its own (an s3:// object, JSON Lines, a file
the data loader will refuse with a fuller message) and the spec declares no task, the
checks that need the task are left to the stages, which make them again on the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.config import is_spark_model

if TYPE_CHECKING:
    from mlgate._training import Task
    from mlgate.project import Project


def check_project(project: Project) -> None:
    """Raise the first config error a stage would meet (ConfigError or InputError, exit 2)."""
    from mlgate.data import ROLES, check_location

    for role in ROLES:
        check_location(project, role)
    _check_not_training_data(project)
    _check_files(project)
    _check_cluster(project)
    task = _task(project)
    if task is None:
        return
    _check_task(project, task)


def _check_not_training_data(project: Project) -> None:
    from mlgate.data import sha256_of

    data = project.config.data
    if project.config.evaluation.allow_training_data:
        return
    training = project.location(data.training_data_path)
    validation = project.location(data.validation_data_path)
    if training == validation:
        why = "is the training data file"
    elif (
        isinstance(training, Path)
        and isinstance(validation, Path)
        and training.stat().st_size == validation.stat().st_size
        and sha256_of(training) == sha256_of(validation)
    ):
        why = f"has the same content as the training data ({data.training_data_path})"
    else:
        return
    raise project.config_error(
        ("data", "validation_data_path"),
        f"{data.validation_data_path} {why}: a model scored on the rows it learnt from looks "
        "better than it is; give held-out rows, or set evaluation.allow_training_data: true",
    )


def _check_files(project: Project) -> None:
    """The suite, the drift reference and the card template: files of the model repo."""
    from mlgate._repopaths import KEYWORDS
    from mlgate.card.render import team_template

    settings = project.config.validation
    if settings.suite_file:
        location = project.location(settings.suite_file)
        if not isinstance(location, Path):
            raise project.config_error(
                ("validation", "suite"), "the suite must be a file in the model repo, not a URI"
            )
        if not location.is_file():
            raise project.config_error(
                ("validation", "suite"),
                f"suite {settings.suite} not found (looked in {location.parent})",
            )
    reference = settings.drift.reference
    if settings.drift.enabled and reference not in KEYWORDS:
        location = project.location(reference)
        if isinstance(location, Path):  # DVC-tracked: fetched when missing, md5 checked
            from mlgate.data import dvc_file

            dvc_file(project, location, ("validation", "drift", "reference"), reference)
        if not isinstance(location, Path) or not location.is_file():
            raise project.config_error(
                ("validation", "drift", "reference"),
                f"reference data {reference} not found; give a data file, 'training' or 'champion'",
            )
    team_template(project)


def _check_cluster(project: Project) -> None:
    """compute.cluster loads as any text (the seed's `gpu-cluster-medium`), but a stage runs
    only with a cluster mlgate can use, and that something runs on: otherwise the team
    would believe the work ran there when it ran on this machine."""
    from mlgate._spark import NOTHING_ON_SPARK, cluster_of, uses_cluster

    compute = project.config.compute
    if compute.cluster is not None:
        cluster_of(project)  # a name that is no Spark master: exit 2 naming the forms
        if not uses_cluster(project.config):
            raise project.config_error(("compute", "cluster"), NOTHING_ON_SPARK)
        if project.config.model.search is not None and compute.docker_image is not None:
            # The search would start its Spark driver inside the container, which has no
            # Spark, and which the cluster's executors could not connect back to.
            raise project.config_error(
                ("compute", "cluster"),
                "model.search runs either on compute.cluster or in compute.docker_image's "
                "container, not both: remove docker_image to search on the cluster, or "
                "cluster to search in the image",
            )
    validation = project.config.validation
    spark_used = (
        (project.config.model.search is not None and compute.cluster is not None)
        or is_spark_model(project.config.model.type)
        or validation.engine == "spark"
    )
    if compute.spark_conf and not spark_used:
        raise project.config_error(("compute", "spark_conf"), NOTHING_ON_SPARK)


def _task(project: Project) -> Task | None:
    """The task as the validate stage will find it, from the target column alone."""
    from mlgate._training import Task, infer_task
    from mlgate.data import read_target

    # With validation.engine: spark, pandas reads none of the data (it may not fit here).
    spark = project.config.validation.engine == "spark"
    target = None if spark else read_target(project)
    if target is None:
        kind = project.spec.task
        return Task(kind=kind, inferred=False) if kind is not None else None
    path = project.location(project.config.data.training_data_path)
    assert isinstance(path, Path)  # read_target reads local files only
    return infer_task(project, target.to_frame(), path)


def _check_task(project: Project, task: Task) -> None:
    from mlgate._estimators import choose_estimator
    from mlgate._search import check_search
    from mlgate._spark_ml import check_estimator
    from mlgate.fairness.groups import judged_features
    from mlgate.fairness.thresholds import check_for_task

    project.check_task_metrics(task.kind)
    if is_spark_model(project.config.model.type):
        check_estimator(project, task.kind)  # class, task and parameter types; no Spark yet
    else:
        choice = choose_estimator(project, task.kind)  # built with its parameters, not fitted
        check_search(project, choice, task.kind)
    fairness = project.config.fairness
    features = judged_features(fairness.sensitive_features, project.spec.sensitive_features)
    # Classes are known when the target was read (a spec's task alone does not say).
    classes = len(task.classes) if task.kind == "classification" and task.classes else None
    check_for_task(project, task.kind, classes, bool(features))
