"""What goes into a serving image, decided from the version's registry record alone (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mlgate.errors import InputError
from mlgate.tracking import tags as keys

# The scoring server's own needs beside the model's requirements. uvicorn and FastAPI,
# which run MLflow's scoring app, come with mlflow-skinny; numpy and pandas do not, and
# mlflow.pyfunc needs them (unpinned: only when the model's own pins leave them out).
SERVER_REQUIREMENTS = ("prometheus-client==0.26.0", "numpy", "pandas")
# serving.flavor onnx: model.onnx on onnxruntime, served by serve.py's own small ASGI app
# (image/onnx_model.py) under uvicorn; no MLflow, scikit-learn, scipy or pandas.
ONNX_SERVER_REQUIREMENTS = ("uvicorn==0.54.0", "prometheus-client==0.26.0", "numpy")
# The prediction log's S3 client, only in images that log to an s3:// prefix.
S3_LOG_REQUIREMENTS = ("boto3==1.44.8",)

# The image runs MLflow's pyfunc scoring app, which mlflow-skinny carries at the same
# version without MLflow's UI, tracking server and their dependencies (half the size).
_MLFLOW = re.compile(r"^mlflow(?=\s*(?:\[|==|>=|<=|~=|!=|<|>|;|$))", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
# A pip option line that names another file: `-r base.txt`, `--constraint c.txt`.
_FILE_OPTION = re.compile(r"^(-r|-c|--requirement|--constraint)[\s=]+(\S+)$")

# Version tags copied onto the image as labels: its lineage and its gates.
LABELLED_TAGS = (
    keys.FINGERPRINT,
    keys.GIT_PREFIX,
    keys.CI_RUN_URL,
    keys.ACTOR,
    keys.DATA_PREFIX,
    keys.CONFIG_SHA256,
    keys.FEATURE_SPEC_SHA256,
    keys.TASK,
    keys.MODEL_PREFIX,
    keys.GATE_PREFIX,
    keys.METRIC_PREFIX,
    keys.ENV_PREFIX,
)


@dataclass(frozen=True)
class ImageNames:
    """The image's repository and tag, and the reference both make."""

    repository: str
    tag: str

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


def image_requirements(
    model_requirements: str, mlflow_version: str | None, log_to: str | None = None
) -> list[str]:
    """The image's pip requirements: the model's own pins, MLflow as mlflow-skinny, the
    server's needs, and boto3 when the prediction log goes to S3 (`log_to`)."""
    lines: list[str] = []
    has_mlflow = False
    for raw in model_requirements.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if match := _MLFLOW.match(line):
            line = "mlflow-skinny" + line[match.end() :]
            has_mlflow = True
        lines.append(line)
    if not has_mlflow:
        if not mlflow_version:
            raise InputError(
                "the model's requirements.txt does not name mlflow and its MLmodel has no "
                "mlflow_version: log the model with MLflow's log_model, which records both"
            )
        lines.insert(0, f"mlflow-skinny=={mlflow_version}")
    named = {_requirement_name(line) for line in lines}
    server = [*SERVER_REQUIREMENTS]
    if log_to is not None and log_to.startswith("s3://"):
        server.extend(S3_LOG_REQUIREMENTS)
    lines.extend(req for req in server if _requirement_name(req) not in named)
    return lines


def merge_requirements(primary: str, shadow: str, primary_ref: str, shadow_ref: str) -> str:
    """One requirements.txt for an image holding two models (build-image --shadow): the
    primary's lines, then the shadow's that the primary does not name. Both must load in
    the one environment, so a project the two pin differently is an InputError naming both."""

    def lines(text: str) -> list[str]:
        return [
            " ".join(line.split())
            for raw in text.splitlines()
            if (line := raw.split(" #", 1)[0].strip()) and not line.startswith("#")
        ]

    mine = lines(primary)
    pinned = {_requirement_name(line): line for line in mine if not line.startswith("-")}
    merged = list(mine)
    conflicts = []
    for line in lines(shadow):
        if line.startswith("-"):
            if line not in mine:
                raise InputError(
                    f"{shadow_ref}'s requirements.txt has the option line '{line}', which "
                    f"{primary_ref}'s lacks: a shadow model must install from the primary's "
                    "requirements and its own plain pins"
                )
            continue
        name = _requirement_name(line)
        if name not in pinned:
            pinned[name] = line
            merged.append(line)
        elif pinned[name] != line:
            conflicts.append(f"{primary_ref} needs '{pinned[name]}', {shadow_ref} '{line}'")
    if conflicts:
        raise InputError(
            f"{primary_ref} and {shadow_ref} cannot share one image: their pinned requirements "
            f"conflict ({'; '.join(conflicts)}); retrain the shadow with the primary's "
            "versions, or serve it from an image of its own"
        )
    return "\n".join(merged) + "\n"


def onnx_requirements(
    model_requirements: str,
    onnxruntime_version: str | None,
    log_to: str | None = None,
    *,
    prediction_log: bool = False,
) -> list[str]:
    """The ONNX image's pip requirements: onnxruntime as the version that checked parity
    (recorded in the onnx flavour), numpy as the model's pin, the server's needs; pandas
    only for the prediction log, which reads rows as a table."""
    pins = {
        _requirement_name(line): line
        for raw in model_requirements.splitlines()
        if (line := raw.split(" #", 1)[0].strip()) and not line.startswith(("#", "-"))
    }
    lines = [f"onnxruntime=={onnxruntime_version}" if onnxruntime_version else "onnxruntime"]
    wanted = [*ONNX_SERVER_REQUIREMENTS]
    if prediction_log:
        wanted.append("pandas")
        if log_to is not None and log_to.startswith("s3://"):
            wanted.extend(S3_LOG_REQUIREMENTS)
    for requirement in wanted:
        lines.append(pins.get(_requirement_name(requirement), requirement))
    return lines


def prediction_log(
    sample: float, log_to: str | None, batch_rows: int, flush_seconds: float
) -> dict[str, Any] | None:
    """The prediction log's settings as the image's server reads them (serving.json), or
    None when it is off."""
    if not sample or log_to is None:
        return None
    return {
        "sample": sample,
        "to": log_to,
        "batch_rows": batch_rows,
        "flush_seconds": flush_seconds,
    }


def log_folder(log_to: str | None) -> str | None:
    """The folder in the container the prediction log writes to (made the server user's
    in the image), or None when it goes to S3 or nowhere."""
    if log_to is None or log_to.startswith("s3://"):
        return None
    return log_to.rstrip("/") or "/"


def referenced_files(requirements: list[str]) -> list[str]:
    """Files that requirement lines point at (`-r other.txt`, `-c constraints.txt`)."""
    found = []
    for line in requirements:
        if match := _FILE_OPTION.match(line):
            name = match.group(2)
            if "/" in name or "\\" in name or name.startswith(".."):
                raise InputError(
                    f"the model's requirements.txt refers to '{name}' outside the model "
                    "directory; only files beside it can go into the image"
                )
            found.append(name)
    return found


def python_minor(version: str | None) -> str:
    """`3.11` from the model's recorded `3.11.7`."""
    match = re.match(r"^(\d+)\.(\d+)", version or "")
    if not match:
        raise InputError(
            f"the model's MLmodel records no usable python_version ({version!r}); "
            "log it with MLflow 2 or later"
        )
    return f"{match.group(1)}.{match.group(2)}"


def local_repository(model: str) -> str:
    """`mlgate/<model>` as Docker allows a repository name: lower case, no spaces."""
    name = re.sub(r"[^a-z0-9._-]+", "-", model.lower()).strip("._-")
    name = re.sub(r"[._-]{2,}", "-", name)
    return f"mlgate/{name or 'model'}"


# [REGISTRY/]PATH as Docker reads it: a first part is a registry only with a dot, a port or
# as localhost; the path is lower case.
_REPOSITORY = re.compile(
    r"^(?:(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?|[A-Za-z0-9-]+:\d+|localhost)/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


def check_repository(repository: str) -> str:
    """`repository` if Docker can name an image so (no tag, no digest), else a ValueError."""
    if not _REPOSITORY.fullmatch(repository):
        raise ValueError(
            f"'{repository}' is not an image repository: write [REGISTRY/]NAME in lower "
            "case, without a tag or digest (e.g. ghcr.io/acme/churn-model)"
        )
    return repository


_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def pinned_image(reference: str) -> str:
    """`reference` if it names an image by digest (REPOSITORY[:TAG]@sha256:...), else a
    ValueError saying how to pin it."""
    name, _, digest = reference.partition("@")
    path, slash, last = name.rpartition("/")
    last, colon, tag = last.partition(":")
    if not (
        _DIGEST.fullmatch(digest)
        and _REPOSITORY.fullmatch(path + slash + last)
        and (not colon or _TAG.fullmatch(tag))
    ):
        raise ValueError(
            f"'{reference}' is not pinned by digest: write NAME@sha256:<digest> "
            "(`docker inspect --format '{{index .RepoDigests 0}}' IMAGE` prints it)"
        )
    return reference


def image_names(
    model: str,
    version: str,
    repository: str | None,
    flavor: str = "sklearn",
    shadow_version: str | None = None,
) -> ImageNames:
    """`v3`, or `v3-onnx` for the ONNX image of the same version beside it, or
    `v3-shadow-v4` for v3 with v4 as its shadow."""
    suffix = "" if flavor == "sklearn" else f"-{flavor}"
    if shadow_version is not None:
        suffix += f"-shadow-v{shadow_version}"
    return ImageNames(repository or local_repository(model), f"v{version}{suffix}")


def labels(
    model: str,
    version: str,
    run_id: str | None,
    tags: Mapping[str, str],
    *,
    base_image: str,
    created: str,
    mlgate_version: str,
    flavor: str = "sklearn",
    shadow: str | None = None,
) -> dict[str, str]:
    """OCI annotations and mlgate's lineage, as image labels.

    `created` is an RFC 3339 time; `base_image` is pinned by digest (NAME@sha256:...);
    `shadow` is the models:/ URI of the shadow model a --shadow image holds.
    """
    base_name, _, base_digest = base_image.rpartition("@")
    run_url = tags.get(keys.CI_RUN_URL)
    found: dict[str, Any] = {
        "org.opencontainers.image.title": model,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.description": (
            f"Serving image of {model} version {version} ("
            + ("ONNX Runtime" if flavor == "onnx" else "MLflow pyfunc")
            + " scoring server)"
        ),
        "org.opencontainers.image.source": source_url(tags.get(keys.GIT_REPOSITORY), run_url),
        "org.opencontainers.image.revision": tags.get(keys.GIT_COMMIT),
        "org.opencontainers.image.base.name": base_name,
        "org.opencontainers.image.base.digest": base_digest,
        keys.LABEL_MODEL_NAME: model,
        keys.LABEL_MODEL_VERSION: version,
        keys.LABEL_MODEL_URI: f"models:/{model}/{version}",
        keys.MLFLOW_RUN_ID: run_id,
        keys.LABEL_BUILT_BY: f"mlgate {mlgate_version}",
        keys.LABEL_SHADOW_URI: shadow,
    }
    for key in sorted(tags):
        if key.startswith(LABELLED_TAGS) and key not in found:
            found[key] = tags[key]
    # One line each: a Dockerfile instruction ends at a line break.
    return {
        key: " ".join(str(value).splitlines())
        for key, value in found.items()
        if value not in (None, "")
    }


def source_url(repository: str | None, run_url: str | None) -> str | None:
    """The repository as a URL: `owner/name` is on the server of the CI run (or github.com)."""
    if not repository:
        return None
    if "://" in repository:
        return repository.removesuffix(".git")
    if match := re.match(r"^git@([^:]+):(.+?)(?:\.git)?$", repository):
        return f"https://{match.group(1)}/{match.group(2)}"
    if re.match(r"^[\w.-]+/[\w.-]+$", repository):
        server = "https://github.com"
        if run_url and (parts := urlsplit(run_url)).scheme and parts.netloc:
            server = f"{parts.scheme}://{parts.netloc}"
        return f"{server}/{repository}"
    return None


def _requirement_name(line: str) -> str:
    match = _NAME.match(line)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else line


def missing_wheels(requirements: list[str], wheel_names: list[str]) -> list[str]:
    """Requirement lines whose project has no wheel among `wheel_names` (file names).

    Only the named projects are checked; their own dependencies are pip's to resolve.
    """
    have = {_requirement_name(name.split("-", 1)[0]) for name in wheel_names}
    return [
        line
        for line in requirements
        if not line.startswith("-") and _requirement_name(line) not in have
    ]
