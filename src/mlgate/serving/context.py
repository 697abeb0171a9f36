"""The build context of a serving image: the directory Docker reads.

Dockerfile
requirements/requirements.txt   the model's pins (and any file they refer to)
wheels/                         offline builds only: the wheel directory
app/model/                      the MLflow model, as the registry holds it
app/serve.py, app/serving.json  the scoring server and what it needs to know
app/predlog.py                  the server's prediction log
app/shadow.py, app/shadow/      build-image --shadow: the shadow's worker and its MLflow model
app/onnx_model.py               serving.flavor onnx: the model.onnx loader and its scoring app
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError, InputError

SERVER = Path(__file__).parent / "image" / "serve.py"
PREDICTION_LOG = Path(__file__).parent / "image" / "predlog.py"
ONNX_LOADER = Path(__file__).parent / "image" / "onnx_model.py"
SHADOW = Path(__file__).parent / "image" / "shadow.py"
ONNX_MODEL = "model.onnx"


@dataclass(frozen=True)
class ModelFiles:
    """What the image needs from an MLflow model directory."""

    directory: Path
    requirements: str
    python_version: str | None
    mlflow_version: str | None


def read_model(directory: Path, model_ref: str) -> ModelFiles:
    import yaml

    mlmodel = directory / "MLmodel"
    requirements = directory / "requirements.txt"
    if not mlmodel.is_file():
        raise InputError(f"{model_ref} has no MLmodel file: it is not an MLflow model")
    if not requirements.is_file():
        raise InputError(
            f"{model_ref} has no requirements.txt beside its MLmodel: log it with MLflow 2 or "
            "later, which records the model's pinned requirements"
        )
    try:
        meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise InputError(f"{model_ref}'s MLmodel is not YAML: {error}") from None
    if "spark" in (meta.get("flavors") or {}):
        # Its pyfunc needs a JVM and a Spark session in the image, which mlgate does not build.
        raise InputError(
            f"{model_ref} is a Spark MLlib pipeline (MLflow's spark flavor): build-image serves "
            "scikit-learn and ONNX models only; score it with Spark (mlflow.spark.load_model) "
            "or register a scikit-learn model to serve"
        )
    pyfunc = (meta.get("flavors") or {}).get("python_function")
    if not isinstance(pyfunc, dict):
        raise InputError(
            f"{model_ref} has no python_function flavor, so MLflow's scoring server cannot load it"
        )
    return ModelFiles(
        directory=directory,
        requirements=requirements.read_text(encoding="utf-8"),
        python_version=pyfunc.get("python_version"),
        mlflow_version=meta.get("mlflow_version"),
    )


def read_onnx(directory: Path, model_ref: str, key: str) -> str | None:
    """The onnxruntime version that checked the version's model.onnx (None when not
    recorded); an InputError naming `key` when the version has no model.onnx."""
    import yaml

    meta = yaml.safe_load((directory / "MLmodel").read_text(encoding="utf-8")) or {}
    flavor = (meta.get("flavors") or {}).get("onnx")
    data = flavor.get("data") if isinstance(flavor, dict) else None
    if data != ONNX_MODEL or not (directory / ONNX_MODEL).is_file():
        raise InputError(
            f"{model_ref} has no {ONNX_MODEL} (no onnx flavour in its MLmodel), so {key} onnx "
            "cannot serve it: register a version trained with export.onnx: true, or build "
            "this one with serving.flavor sklearn"
        )
    version = flavor.get("onnxruntime_version")
    return str(version) if version else None


def check_wheels(wheels: Path, key: str) -> Path:
    """The wheel directory, if it exists and holds wheels."""
    if not wheels.is_dir():
        raise ConfigError(
            f"the wheel directory {wheels} does not exist: create it with `pip download` "
            "(a build that lacks a wheel names the command to run)",
            key=key,
        )
    if not any(wheels.glob("*.whl")):
        raise ConfigError(f"the wheel directory {wheels} holds no .whl files", key=key)
    return wheels


def check_wheels_cover(wheels: Path, requirements: list[str], key: str) -> None:
    """Every project the image names has a wheel in the directory, or a ConfigError."""
    from mlgate.serving.plan import missing_wheels

    missing = missing_wheels(requirements, [path.name for path in wheels.glob("*.whl")])
    if missing:
        wanted = " ".join(f"'{line}'" for line in requirements if not line.startswith("-"))
        raise ConfigError(
            f"the wheel directory {wheels} has no wheel for {', '.join(missing)}: the image "
            f"needs `pip download -d {wheels} --only-binary=:all: {wanted}` (for the base "
            "image's Python and platform)",
            key=key,
        )


def write_context(
    directory: Path,
    *,
    model: ModelFiles,
    requirements: list[str],
    referenced: list[str],
    dockerfile: str,
    server_config: dict[str, Any],
    wheels: Path | None,
    only: tuple[str, ...] | None = None,
    shadow: ModelFiles | None = None,
) -> None:
    """The build context; `only` names the model files the image needs (all by default);
    `shadow` is the model of a --shadow image."""
    (directory / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    pins = directory / "requirements"
    pins.mkdir()
    (pins / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    for name in referenced:
        source = model.directory / name
        if not source.is_file():
            raise InputError(f"the model's requirements.txt refers to {name}, which it lacks")
        shutil.copyfile(source, pins / name)
    app = directory / "app"
    if only is None:
        shutil.copytree(model.directory, app / "model")
    else:  # the ONNX image: model.onnx and MLmodel, no pickle it could not load anyway
        (app / "model").mkdir(parents=True)
        for name in only:
            shutil.copyfile(model.directory / name, app / "model" / name)
    shutil.copyfile(SERVER, app / "serve.py")
    shutil.copyfile(PREDICTION_LOG, app / "predlog.py")
    shutil.copyfile(ONNX_LOADER, app / "onnx_model.py")
    shutil.copyfile(SHADOW, app / "shadow.py")
    if shadow is not None:
        shutil.copytree(shadow.directory, app / "shadow")
    (app / "serving.json").write_text(json.dumps(server_config, indent=2) + "\n", encoding="utf-8")
    _readable(directory)
    if wheels is not None:  # read by root in the build stage only; links keep the user's modes
        shutil.copytree(wheels, directory / "wheels", copy_function=_link_or_copy)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)  # wheels are read only; a hard link saves copying them
    except OSError:
        shutil.copy2(source, target)


def _readable(directory: Path) -> None:
    """World-readable, owner-writable modes: the image's user reads what COPY puts in."""
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
    os.chmod(directory, 0o755)
