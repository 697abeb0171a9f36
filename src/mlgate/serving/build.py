"""One serving image, from a registered version to a checked image on the engine.

The steps in order: download the model, decide the requirements and labels (`plan`),
render the Dockerfile and write the build context (`dockerfile`, `context`), build
(`engine`), check the labels survived a team's template, start the image and wait for
/ping. Nothing is pushed here: the command pushes only an image this returned.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mlgate
from mlgate.errors import ConfigError, InputError
from mlgate.serving import context, dockerfile, engine, plan
from mlgate.tracking.tags import TASK


@dataclass(frozen=True)
class Settings:
    """`serving:` from the config with the command line's options on top, checked.

    The `*_key` fields say where a value came from (`serving.wheels` or `--wheels`), for
    the error that names it.
    """

    base_image: str
    base_key: str
    repository: str | None
    wheels: Path | None
    wheels_key: str | None
    template: Path | None
    port: int
    prediction_buckets: list[float] | None
    # The prediction log (serving.log_*): off while log_sample is 0.
    log_sample: float = 0.0
    log_to: str | None = None
    log_batch_rows: int = 1000
    log_flush_seconds: float = 60.0
    # sklearn: MLflow's pyfunc server; onnx: model.onnx on onnxruntime (image/onnx_model.py).
    flavor: str = "sklearn"
    flavor_key: str = "serving.flavor"
    # --shadow: the share of requests its shadow scores (serving.shadow_sample).
    shadow_sample: float = 1.0


@dataclass(frozen=True)
class ShadowSource:
    """The version a --shadow image scores copies of the requests with, and its store."""

    store: Any
    info: Any
    model: str


def build_image(
    client: Any,
    store: Any,
    info: Any,
    model: str,
    settings: Settings,
    reference: str,
    progress: Any,
    shadow: ShadowSource | None = None,
) -> tuple[Any, dict[str, str]]:
    """Download the version (and its shadow's), assemble the build context, build it and
    check it serves.

    Returns the image and the labels it carries.
    """
    with tempfile.TemporaryDirectory(prefix="mlgate-image-") as scratch:
        build_dir = Path(scratch) / "context"
        build_dir.mkdir()
        model_ref = f"{model} v{info.version}"
        progress(f"downloading {model_ref} from {store.where}")
        downloaded = store.download_model(info.version, Path(scratch) / "model")
        files = context.read_model(downloaded, model_ref)
        python = plan.python_minor(files.python_version)
        shadow_files, shadow_config, pins = None, None, files.requirements
        if shadow is not None:
            shadow_ref = f"{shadow.model} v{shadow.info.version}"
            progress(f"downloading the shadow {shadow_ref} from {shadow.store.where}")
            shadow_dir = shadow.store.download_model(shadow.info.version, Path(scratch) / "shadow")
            shadow_files = context.read_model(shadow_dir, shadow_ref)
            shadow_python = plan.python_minor(shadow_files.python_version)
            if shadow_python != python:
                raise InputError(
                    f"{model_ref} was trained on Python {python} and {shadow_ref} on Python "
                    f"{shadow_python}: one image cannot load both; retrain the shadow on {python}"
                )
            pins = plan.merge_requirements(
                files.requirements, shadow_files.requirements, model_ref, shadow_ref
            )
            shadow_config = {
                "model": shadow.model,
                "version": shadow.info.version,
                "task": shadow.info.tags.get(TASK),
                "sample": settings.shadow_sample,
            }
        prediction_log = plan.prediction_log(
            settings.log_sample,
            settings.log_to,
            settings.log_batch_rows,
            settings.log_flush_seconds,
        )
        log_to = prediction_log["to"] if prediction_log else None
        only = None
        if settings.flavor == "onnx":
            runtime = context.read_onnx(downloaded, model_ref, settings.flavor_key)
            only = ("MLmodel", context.ONNX_MODEL)
            requirements = plan.onnx_requirements(
                files.requirements, runtime, log_to, prediction_log=prediction_log is not None
            )
        else:
            requirements = plan.image_requirements(pins, files.mlflow_version, log_to)
        if settings.wheels is not None:
            context.check_wheels_cover(settings.wheels, requirements, settings.wheels_key)
        labels = plan.labels(
            model,
            info.version,
            info.run_id,
            info.tags,
            base_image=settings.base_image,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            mlgate_version=mlgate.__version__,
            flavor=settings.flavor,
            shadow=f"models:/{shadow.model}/{shadow.info.version}" if shadow else None,
        )
        context.write_context(
            build_dir,
            model=files,
            requirements=requirements,
            referenced=plan.referenced_files(requirements),
            dockerfile=dockerfile.render_dockerfile(
                base_image=settings.base_image,
                python_version=python,
                port=settings.port,
                wheels=settings.wheels is not None,
                model_ref=model_ref,
                labels=labels,
                team_template=settings.template,
                log_folder=plan.log_folder(log_to),
            ),
            server_config={
                "model": model,
                "version": info.version,
                "task": info.tags.get(TASK),
                "port": settings.port,
                "prediction_buckets": settings.prediction_buckets,
                "prediction_log": prediction_log,
                "flavor": settings.flavor,
                # What /version answers: the MLflow that logged the model, as the pyfunc
                # image (which installs that MLflow) answers it.
                "mlflow_version": files.mlflow_version,
                "shadow": shadow_config,
            },
            wheels=settings.wheels,
            only=only,
            shadow=shadow_files,
        )
        progress(f"building {reference} from {settings.base_image}")
        built = engine.build(
            client,
            build_dir,
            reference,
            offline=settings.wheels is not None,
            progress=progress,
            template=settings.template,
        )
    if missing := sorted(key for key, value in labels.items() if built.labels.get(key) != value):
        raise ConfigError(
            f"the image built from the Dockerfile template lacks {len(missing)} lineage "
            f"label(s), e.g. {missing[0]}: keep the template's labels block",
            file=settings.template,
        )
    engine.check_serves(client, built.image_id, progress)
    return built, labels
