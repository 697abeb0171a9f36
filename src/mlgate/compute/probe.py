"""What the training image holds: its Python, the libraries the stage imports, mlgate.

One short container (no network) prints them as JSON; `check` compares them with the
host's, which loads the model afterwards: a model pickled under one scikit-learn and
loaded under another is the classic silent failure, so they must agree exactly.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError

KEY = "compute.docker_image"
# What the train stage imports in the container (mlgate's own share kept small): the
# config (pydantic, PyYAML), the data (pandas, numpy), the model (scikit-learn, joblib).
NEEDED = ("scikit-learn", "scipy", "joblib", "numpy", "pandas", "pydantic", "PyYAML")
PARQUET = ("pyarrow",)
ONNX = ("skl2onnx", "onnxruntime", "onnx")
# compute.stages: the validate stage's expectations engine, the evaluate stage's plots.
VALIDATE = {"pandas": "great-expectations", "pandera": "pandera"}
EVALUATE = ("matplotlib",)

# Runs in the image: stdlib only, Python 3.8 syntax, so an old Python still answers.
SCRIPT = """
import json, platform, sys
from importlib import metadata
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        found[name] = None
print(json.dumps({"python": platform.python_version(), "packages": found}))
"""


@dataclass(frozen=True)
class ImageEnvironment:
    python: str
    packages: dict[str, str | None]  # distribution -> version, None when absent

    @property
    def has_mlgate(self) -> bool:
        import mlgate

        return self.packages.get("mlgate") == mlgate.__version__


def needed(
    parquet: bool, onnx: bool, stages: tuple[str, ...] = ("train",), engine: str = "pandas"
) -> tuple[str, ...]:
    """What the image must hold for `stages` (compute.stages), asked in one probe."""
    extra = [*(PARQUET if parquet else ()), *(ONNX if onnx and "train" in stages else ())]
    if "validate" in stages:
        extra.append(VALIDATE[engine])
    if "evaluate" in stages:
        extra += EVALUATE
    return (*NEEDED, *extra)


def read_once(client: Any, image_id: str, names: tuple[str, ...], cache: Path) -> ImageEnvironment:
    """The probe's answer, kept in `cache` by image id: an id names the image's content, so
    the same image is asked once (a container on the engine's vfs storage costs seconds)."""
    from mlgate.rundir import atomic_write_text

    path = cache / f"probe-{image_id.removeprefix('sha256:')}.json"
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        if {*names, "mlgate"} <= set(known["packages"]):
            return ImageEnvironment(python=known["python"], packages=known["packages"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not asked yet, or unreadable: ask again
    found = read(client, image_id, names)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"python": found.python, "packages": found.packages}))
    return found


def read(client: Any, image_id: str, names: tuple[str, ...]) -> ImageEnvironment:
    """Run the probe in the image; its answer, or a config error saying why there is none."""
    from mlgate.serving.engine import _engine_calls

    with _engine_calls("probe the training image"):
        box = client.containers.create(
            image_id,
            entrypoint=["python3"],  # the image's own entrypoint is for its own use
            command=["-c", SCRIPT, *names, "mlgate"],
            network_mode="none",
        )
        try:
            box.start()
            status = box.wait(timeout=300)
            output = box.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        finally:
            box.remove(force=True)
    lines = output.strip().splitlines()
    try:
        answer = json.loads(lines[-1])
        return ImageEnvironment(python=answer["python"], packages=answer["packages"])
    except (IndexError, ValueError, KeyError, TypeError):
        last = lines[-1][:200] if lines else f"exit code {status.get('StatusCode')}"
        raise ConfigError(
            f"the image's python3 did not answer mlgate's probe ({last}): the image needs "
            "python3 on PATH",
            key=KEY,
        ) from None


def host_environment(names: tuple[str, ...]) -> ImageEnvironment:
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return ImageEnvironment(python=platform.python_version(), packages=found)


def check(reference: str, image: ImageEnvironment, host: ImageEnvironment) -> None:
    """Refuse an image that cannot train what the host loads (exit 2), naming both sides."""
    if _minor(image.python) != _minor(host.python):
        raise ConfigError(
            f"{reference} has Python {image.python}, mlgate here runs Python {host.python}: "
            f"the model is loaded here, so the image needs Python {_minor(host.python)}",
            key=KEY,
        )
    missing = [
        f"{name}=={host.packages[name]}"
        for name in host.packages
        if name != "mlgate" and image.packages.get(name) is None
    ]
    if missing:
        raise ConfigError(
            f"{reference} lacks {', '.join(missing)}: the stages in the image (compute.stages) "
            "import them there (mlgate itself is brought in); install them in the image",
            key=KEY,
        )
    ours, theirs = host.packages.get("scikit-learn"), image.packages.get("scikit-learn")
    if theirs != ours:
        raise ConfigError(
            f"{reference} has scikit-learn {theirs}, mlgate here loads models with "
            f"scikit-learn {ours}: install scikit-learn=={ours} in the image (a model "
            "pickled under one version and loaded under another can fail silently)",
            key=KEY,
        )


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])
