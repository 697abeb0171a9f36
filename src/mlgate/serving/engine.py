"""The Docker edge: connect to the engine, get the base image, build, check, push.

Every failure ends as one line naming its cause: no engine (exit 3), a base image
the engine cannot find or pull (exit 2, `serving.base_image`), a Dockerfile the engine
refuses (exit 2), a build step that failed (exit 2, its last log lines printed above),
a network or disk failure during the build (exit 3), an image that does not answer
/ping (exit 2), a push the registry denied (exit 2) or could not take (exit 3).
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError, InputError, ServiceError

# Registry credentials for --push; without them, the engine's own login (docker login,
# ~/.docker/config.json) is used.
USERNAME_VARIABLE = "MLGATE_REGISTRY_USERNAME"
PASSWORD_VARIABLE = "MLGATE_REGISTRY_PASSWORD"
LOG_TAIL = 15
# The image's own health check (templates/Dockerfile.j2).
CHECK_COMMAND = ["/opt/mlgate/venv/bin/python", "/opt/mlgate/app/serve.py", "--check"]
_DENIED = re.compile(
    r"denied|unauthori[sz]ed|authentication required|no basic auth credentials"
    r"|insufficient_scope|forbidden",
    re.I,
)
_NOT_FOUND = re.compile(r"not found|manifest unknown|does not exist|no such image", re.I)
# Streamed build errors that are the machine's or the network's, not the build's inputs.
_SERVICE_TROUBLE = re.compile(
    r"no space left|dial tcp|connection refused|i/o timeout|TLS handshake|"
    r"network is unreachable|temporary failure in name resolution",
    re.I,
)
# Engine chatter that is no part of a step's own output.
_NOISE = re.compile(r"^( ---> |Removing intermediate container |\s*$)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Built:
    image_id: str
    reference: str
    labels: dict[str, str]


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"


def connect() -> Any:
    """A DockerClient that has answered a ping."""
    import docker

    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as error:  # the SDK raises DockerException, requests' and OS errors
        raise ServiceError(
            f"no Docker engine reachable at {engine_address()} ({_reason(error)}): start the "
            "engine, or set DOCKER_HOST to where it listens"
        ) from None
    return client


def ensure_base_image(client: Any, reference: str, key: str, progress: Progress) -> None:
    """The base image on the engine: already there, or pulled by its digest."""
    from docker.errors import APIError, ImageNotFound

    with _engine_calls("look up the base image"):
        try:
            client.images.get(reference)
            return
        except ImageNotFound:
            pass
    progress(f"pulling {reference}")
    try:
        client.images.pull(reference, auth_config=registry_auth())
    except (ImageNotFound, APIError) as error:
        message = _reason(error)
        if (
            isinstance(error, ImageNotFound)
            or _NOT_FOUND.search(message)
            or _DENIED.search(message)
        ):
            raise ConfigError(
                f"base image {reference} is not on the Docker engine and cannot be pulled "
                f"({message}): pull it by that digest once (with `docker login` or "
                f"{USERNAME_VARIABLE}/{PASSWORD_VARIABLE} for a private registry), or pin "
                "another",
                key=key,
            ) from None
        raise ServiceError(f"pulling base image {reference} failed: {message}") from None
    except Exception as error:
        raise ServiceError(f"pulling base image {reference} failed: {_reason(error)}") from None


def build(
    client: Any,
    context: Path,
    reference: str,
    *,
    offline: bool,
    progress: Progress,
    template: Path | None = None,
) -> Built:
    """Build `context` as `reference`, streaming the engine's progress to `progress`."""
    from docker.errors import APIError

    step = "the build"
    step_log: deque[str] = deque(maxlen=LOG_TAIL)
    image_id = None
    with _engine_calls("build the image"):
        try:
            stream = client.api.build(
                path=str(context),
                tag=reference,
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                # An offline build has everything in its context: prove it with no network.
                network_mode="none" if offline else None,
            )
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    _build_failed(chunk, step, step_log, progress)
                for line in _plain(chunk.get("stream") or "").splitlines():
                    if match := re.match(r"^Step \d+/\d+ : .*", line):
                        step = _short(match.group(0), 160)
                        step_log.clear()
                        progress(step)
                    elif line.strip() and not _NOISE.match(line):
                        step_log.append(line.rstrip())
                        progress(f"  {line.rstrip()}")
                    if found := re.match(r"^Successfully built ([0-9a-f]+)", line):
                        image_id = image_id or found.group(1)
                if aux := chunk.get("aux"):
                    image_id = aux.get("ID") or image_id
        except APIError as error:
            if error.status_code == 400:  # the engine refused the Dockerfile itself
                raise ConfigError(
                    f"the Docker engine refused the Dockerfile: {_reason(error)}",
                    file=template,
                ) from None
            raise
    if image_id is None:
        raise ServiceError("the Docker engine finished the build without naming the image")
    with _engine_calls("read the built image"):
        image = client.images.get(image_id)
    return Built(image_id=image.id, reference=reference, labels=dict(image.labels or {}))


def check_serves(client: Any, image_id: str, progress: Progress, timeout: float = 180) -> None:
    """Start the image with no network and wait for its health check to pass."""
    import time

    from docker.errors import APIError

    progress("starting the image to check that it loads the model and answers /ping")
    with _engine_calls("run the built image"):
        box = client.containers.run(image_id, detach=True, network_mode="none")
        try:
            deadline = time.monotonic() + timeout
            while True:
                box.reload()
                if box.status not in ("created", "running"):
                    why = f"the server exited with code {box.attrs['State'].get('ExitCode')}"
                    break
                if time.monotonic() > deadline:
                    why = f"no answer on /ping within {timeout:.0f} s"
                    break
                try:
                    check = box.exec_run(CHECK_COMMAND)
                except APIError:  # it stopped between the two calls: the next reload says so
                    continue
                if check.exit_code == 0:
                    return
                time.sleep(1)
            tail = _plain(box.logs(tail=LOG_TAIL).decode("utf-8", "replace")).splitlines()
        finally:
            box.remove(force=True)
    for line in tail:
        progress(f"  | {line}")
    last = f" ({_short(tail[-1], 240)})" if tail and why.startswith("the server") else ""
    raise InputError(
        f"the image was built but does not serve: {why}{last}; nothing was pushed "
        "(the server's log is above)"
    )


def _build_failed(
    chunk: dict[str, Any], step: str, step_log: deque[str], progress: Progress
) -> None:
    detail = chunk.get("errorDetail") or {}
    message = _plain(detail.get("message") or chunk.get("error") or "").strip()
    if _SERVICE_TROUBLE.search(message):
        raise ServiceError(f"the image build failed at {step}: {_short(message)}")
    # "The command '/bin/sh -c <the whole RUN line>' returned a non-zero code: 1"
    message = re.sub(
        r"^The command .* (returned a non-zero code: \d+)$", r"\1", message, flags=re.S
    )
    for line in step_log:
        progress(f"  | {line}")
    cause = f" ({_short(step_log[-1], 240)})" if step_log else ""
    raise InputError(f"the image build failed at {step}: {_short(message)}{cause}")


def push(client: Any, repository: str, tag: str, progress: Progress) -> str:
    """Push `repository:tag`; the digest the registry gave it (sha256:...)."""
    digest = None
    with _engine_calls(f"push {repository}:{tag}"):
        stream = client.api.push(
            repository, tag=tag, stream=True, decode=True, auth_config=registry_auth()
        )
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail") or {}
                message = (detail.get("message") or chunk.get("error") or "").strip()
                if _DENIED.search(message):
                    raise InputError(
                        f"the registry denied the push of {repository}:{tag} ({message}): set "
                        f"{USERNAME_VARIABLE} and {PASSWORD_VARIABLE} (or `docker login`) to "
                        "an account that may push there"
                    )
                raise ServiceError(f"pushing {repository}:{tag} failed: {message}")
            status = chunk.get("status") or ""
            if status in ("Pushed", "Layer already exists", "Mounted from"):
                progress(f"  {chunk.get('id', '')}: {status}")
            if aux := chunk.get("aux"):
                digest = aux.get("Digest") or digest
    if not digest:
        raise ServiceError(f"the registry did not report a digest for {repository}:{tag}")
    return digest


def registry_auth() -> dict[str, str] | None:
    """Credentials from the environment, or None to use the engine's own login."""
    username = os.environ.get(USERNAME_VARIABLE)
    password = os.environ.get(PASSWORD_VARIABLE)
    if bool(username) != bool(password):
        missing = PASSWORD_VARIABLE if username else USERNAME_VARIABLE
        raise ConfigError(f"{missing} is not set: registry credentials need both variables")
    return {"username": username, "password": password} if username and password else None


@contextmanager
def _engine_calls(action: str) -> Iterator[None]:
    """SDK and connection failures as one ServiceError line; mlgate's own errors pass."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    try:
        yield
    except (DockerException, RequestException, OSError) as error:
        raise ServiceError(
            f"the Docker engine at {engine_address()} failed to {action}: {_reason(error)}"
        ) from None


def _reason(error: BaseException) -> str:
    explanation = getattr(error, "explanation", None)
    text = str(explanation or error).strip() or type(error).__name__
    return _short(" ".join(text.split()))


def _plain(text: str) -> str:
    """Text without the terminal colour codes a build step's output may carry."""
    return _ANSI.sub("", text)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
