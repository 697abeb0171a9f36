"""Run a stage of `compute.stages` inside `compute.docker_image`, as the user, and take
its result back.

The repository is mounted read-only at its own path and the run directory writable at
its own, so every path in the config, the result and an error message means the same
inside and out. No network unless `compute.network`; `compute.cpus` and
`compute.memory` are the container's limits (swap included, so a model that outgrows
the limit is killed, not slowed). The stage inside (`mlgate.compute.inside`) writes
its result, or its error, to a file in the run directory; the host reads it and goes on
as after a stage run here. Ctrl-C and SIGTERM (raised as KeyboardInterrupt by the CLI)
remove the container before the interrupt goes on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate import errors
from mlgate.compute import probe
from mlgate.compute.image import KEY, ResolvedImage
from mlgate.errors import ConfigError, ServiceError

if TYPE_CHECKING:
    from mlgate.results import StageResult
    from mlgate.stages import Session

WHEEL_IN_CONTAINER = "/opt/mlgate/mlgate.whl"
LABEL_RUN = "org.mlgate.run"  # the run directory's id, to find a run's containers
LOG_TAIL = 15
_DOING = {"validate": "validating", "train": "training", "evaluate": "evaluating"}


def outcome_file(stage: str) -> str:
    """The run directory's file the stage inside leaves its result (or error) in."""
    return f".{stage}.container.json"


def training_image(session: Session) -> ResolvedImage:
    """compute.docker_image on the engine, resolved to a digest once per command."""
    if session.training_image is None:
        from mlgate.compute import image
        from mlgate.serving import engine

        client = engine.connect()
        with _located(session.project):
            written = session.project.config.compute.docker_image
            session.training_image = image.resolve(client, written)
        image.warn_if_unpinned(session.training_image)
    return session.training_image


def run_stage(session: Session, stage: str, handed: dict[str, Any] | None = None) -> StageResult:
    """The stage's result from its container; `handed`: what the host read for it
    (`mlgate.compute.handoff`), passed in the job."""
    from mlgate.results import read
    from mlgate.results.train import TrainingImage
    from mlgate.serving import engine

    project = session.project
    compute = project.config.compute
    if stage == "validate" and project.config.validation.engine == "spark":
        raise project.config_error(
            ("compute", "stages"),
            "the validate stage cannot run in the image with validation.engine spark (Spark "
            "needs Java and its cluster, which the container lacks): remove validate from "
            "compute.stages, or use the pandas or pandera engine",
        )
    resolved = training_image(session)
    client = engine.connect()
    # One probe for every stage in the image: each command asks the image once.
    names = probe.needed(
        parquet=_reads_parquet(project),
        onnx=project.config.export.onnx,
        stages=compute.image_stages,
        engine=project.config.validation.engine,
    )
    with _located(project):
        found = probe.read_once(client, resolved.image_id, names, _cache(project))
        probe.check(resolved.written, found, probe.host_environment(names))
    wheel = None
    if not found.has_mlgate:
        from mlgate.compute.wheel import host_wheel

        wheel = host_wheel(_cache(project))
    outcome = session.run_dir.file(outcome_file(stage))
    outcome.unlink(missing_ok=True)
    try:
        _run(client, session, stage, resolved, wheel, handed or {})
        answer = json.loads(outcome.read_text(encoding="utf-8"))
    finally:
        outcome.unlink(missing_ok=True)
    if "error" in answer:
        with _located(project):  # what the image lacks is named at compute.docker_image
            raise _error(answer["error"])
    result = read(stage, answer["result"])
    record = TrainingImage(
        reference=resolved.written,
        pinned=resolved.pinned,
        by_digest=resolved.by_digest,
        python=found.python,
        packages={name: version for name, version in found.packages.items() if version},
        mlgate="image" if wheel is None else "host wheel",
    )
    return result.replace(image=record, summary=f"{result.summary} · in {_short_name(resolved)}")


def _run(
    client: Any,
    session: Session,
    stage: str,
    resolved: ResolvedImage,
    wheel: Path | None,
    handed: dict[str, Any],
) -> None:
    """Start the stage's container and wait for it; raise if it ended without an answer."""
    from docker.types import Mount

    from mlgate.serving.engine import _engine_calls

    compute = session.project.config.compute
    run_dir = session.run_dir.path.resolve()
    places = _read_only(session)
    places += _drift_reference(handed, places[0])
    mounts = [Mount(str(place), str(place), type="bind", read_only=True) for place in places]
    mounts.append(Mount(str(run_dir), str(run_dir), type="bind", read_only=False))
    environment = {"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    environment["USER"] = environment["LOGNAME"] = os.environ.get("USER") or "mlgate"
    if wheel is not None:
        mounts.append(Mount(WHEEL_IN_CONTAINER, str(wheel), type="bind", read_only=True))
        environment["PYTHONPATH"] = WHEEL_IN_CONTAINER
    job = {
        "stage": stage,
        "config": str(session.project.config_path.resolve()),
        "run_dir": str(run_dir),
        "data_hashes": session.data_hashes,
        "fetched_s3": {
            role: {**dataclasses.asdict(fetched), "path": str(fetched.path)}
            for role, fetched in session.fetched_s3.items()
        },
        "from_host": handed,
    }
    limits: dict[str, Any] = {}
    if compute.cpus is not None:
        limits["nano_cpus"] = int(compute.cpus * 1e9)
    if compute.memory is not None:
        limits["mem_limit"] = limits["memswap_limit"] = compute.memory
    print(f"  {_DOING[stage]} in {resolved.pinned}", file=sys.stderr, flush=True)
    with _engine_calls(f"run the {stage} stage in {resolved.written}"):
        box = client.containers.create(
            resolved.image_id,
            entrypoint=["python3"],
            command=["-m", "mlgate.compute.inside", json.dumps(job)],
            user=f"{os.getuid()}:{os.getgid()}",
            environment=environment,
            mounts=mounts,
            working_dir=str(run_dir),
            network_mode=None if compute.network else "none",  # None: the engine's default
            labels={LABEL_RUN: session.run_dir.run_id},
            **limits,
        )
        try:
            box.start()
            code = _wait(box)
            box.reload()
            oom = bool(box.attrs["State"].get("OOMKilled"))
            tail = box.logs(tail=LOG_TAIL).decode("utf-8", "replace").strip().splitlines()
        finally:
            box.remove(force=True)  # also on Ctrl-C / SIGTERM: nothing keeps running
    if session.run_dir.file(outcome_file(stage)).is_file():
        return
    if oom or (code == 137 and compute.memory is not None):
        raise session.project.config_error(
            ("compute", "memory"),
            f"the {stage} stage ran out of memory in {resolved.written} (killed at the "
            f"{compute.memory} limit): raise the limit, or train on less data",
        )
    for line in tail:
        print(f"  | {line}", file=sys.stderr, flush=True)
    last = f": {tail[-1][:240]}" if tail else ""
    raise ServiceError(
        f"the {stage} stage's container in {resolved.written} exited with code {code} "
        f"without a result{last} (its last lines are above)"
    )


@contextmanager
def _located(project: Any) -> Iterator[None]:
    """A compute.* error located at its key in the config file (file and line)."""
    try:
        yield
    except ConfigError as error:
        if error.file is not None or not (error.key or "").startswith("compute."):
            raise
        raise project.config_error(tuple(error.key.split(".")), error.message) from None


def _wait(box: Any) -> int:
    """The container's exit code; waits as long as training takes."""
    from requests.exceptions import ConnectionError, ReadTimeout

    while True:
        try:
            return int(box.wait(timeout=60)["StatusCode"])
        except (ReadTimeout, ConnectionError):
            box.reload()
            if box.status not in ("created", "running"):
                continue  # it ended between the two calls: wait() answers at once now


def _read_only(session: Session) -> list[Path]:
    """What the stage reads: the repository (data, spec, model code) and S3 copies."""
    from mlgate._repopaths import repository_root

    project = session.project
    root = (repository_root(project.root) or project.root).resolve()
    places = [root]
    for fetched in session.fetched_s3.values():
        place = Path(fetched.path).resolve()
        if not place.is_relative_to(root):
            places.append(place)
    return places


def _drift_reference(handed: dict[str, Any], root: Path) -> list[Path]:
    """The champion's training data (validate's drift reference) when outside the repo."""
    recorded = (handed.get("champion_training_data") or [None])[0]
    if not recorded or "://" in recorded[0]:
        return []
    path = Path(recorded[0]).resolve()
    return [path] if path.is_file() and not path.is_relative_to(root) else []


def _cache(project: Any) -> Path:
    return project.state_dir / "cache" / "compute"


def _reads_parquet(project: Any) -> bool:
    written = project.config.data.training_data_path + project.config.data.validation_data_path
    return ".parquet" in written or ".pq" in written


def _error(recorded: dict[str, Any]) -> errors.MlgateError:
    """The stage's error inside, as the same typed error here (so the same exit code)."""
    kind = getattr(errors, str(recorded.get("kind")), None)
    if not (isinstance(kind, type) and issubclass(kind, errors.MlgateError)):
        kind = errors.MlgateError
    return kind(
        str(recorded.get("message")),
        file=recorded.get("file"),
        line=recorded.get("line"),
        key=recorded.get("key"),
    )


def _short_name(resolved: ResolvedImage) -> str:
    pinned = resolved.pinned
    if resolved.by_digest:
        name, _, digest = pinned.partition("@")
        return f"{name}@{digest[:19]}"
    return f"{resolved.written} (local {pinned[:19]})"


__all__ = ["KEY", "run_stage", "training_image"]
