"""Docker for the integration tests: an engine, loopback registries, a base image, wheels.

Nothing can be pulled from a public registry here, so the tests bring their own:
- `docker_client`: the Docker SDK client of the engine at DOCKER_HOST (or the default
  socket); `.ci/run` starts an engine when none answers.
- `docker_registry` / `docker_registry_with_auth`: Debian's `docker-registry` (the CNCF
  distribution registry) on a free loopback port, storage in a temporary directory; the
  second one asks for a user and password (htpasswd file, bcrypt from apache2-utils).
- `serving_base_image`: Debian bookworm (minbase) with Python 3.11 and python3-venv, made
  by debootstrap, imported into the engine and pushed to `docker_registry`; it is the
  registry's digest reference, so a Dockerfile's FROM can pin it.
- `serving_wheels(requirements)`: a directory of linux x86_64 CPython 3.11 wheels for
  those requirement lines, for `pip install --no-index --find-links` inside a build.

The debootstrap root filesystem and the wheels are cached under ~/.cache/mlgate-tests
(each built under a temporary name and renamed when complete). Every fixture skips with
a reason when this machine cannot provide what it needs (no engine, not root, a Debian
package missing, the package mirror or index unreachable) and fails on anything else.
With MLGATE_REQUIRE_DOCKER=1 (`.ci/run` sets it where it can install and start Docker)
those reasons fail the tests instead: in CI a broken engine or mirror must not stay green.

The images a session makes are removed when it ends (on vfs storage, `.ci/run`'s
fallback where overlay2 is not available, every image is a full copy): those named after
one of the session's own registries and those left dangling, never an image that was
there before the session.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

CACHE = Path.home() / ".cache" / "mlgate-tests"

# The base image: what debootstrap installs, and where the image lives in the engine and
# in the registries. The mirror is debootstrap's default unless MLGATE_TEST_DEBIAN_MIRROR
# names another.
SUITE = "bookworm"
ROOTFS_PACKAGES = ("python3", "python3-venv")
ROOTFS_TARBALL = CACHE / f"rootfs-{SUITE}-minbase-{'-'.join(ROOTFS_PACKAGES)}.tar"
BASE_REPOSITORY = "mlgate-tests/debian-py"
BASE_TAG = SUITE
ROOTFS_LABEL = "org.mlgate.tests.rootfs-sha256"

# The wheels must install in the base image: CPython 3.11 on glibc 2.36, x86_64.
WHEEL_TARGET = [
    *("--python-version", "3.11", "--implementation", "cp"),
    *("--abi", "cp311", "--abi", "abi3", "--abi", "none"),
    *(arg for n in range(36, 4, -1) for arg in ("--platform", f"manylinux_2_{n}_x86_64")),
    *("--platform", "manylinux2014_x86_64", "--platform", "manylinux2010_x86_64"),
    *("--platform", "manylinux1_x86_64"),
]

# What a failed download says when the network, not the request, is the problem.
NETWORK_TROUBLE = (
    "Temporary failure in name resolution",
    "Name or service not known",
    "Failed to establish a new connection",
    "Max retries exceeded",
    "Connection refused",
    "Network is unreachable",
    "ProxyError",
    "Failed getting release file",
)


def require_docker() -> bool:
    """True when the Docker tests must run (MLGATE_REQUIRE_DOCKER=1, set by `.ci/run`)."""
    return os.environ.get("MLGATE_REQUIRE_DOCKER") == "1"


def unavailable(reason: str) -> NoReturn:
    """This machine cannot provide what a Docker test needs: skip with the reason, or fail
    with it when the Docker tests are required."""
    if require_docker():
        pytest.fail(f"{reason} (MLGATE_REQUIRE_DOCKER=1: required, not skipped)", pytrace=False)
    pytest.skip(reason)


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def engine_client() -> Any:
    """A client that answered ping(), or a skip (a failure when required) that says which
    engine did not."""
    import socket

    import docker

    address = engine_address()
    advice = ".ci/run starts one (see TESTING.md)"
    if address.startswith("unix://"):  # ask the socket first: the SDK leaks it on failure
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(10)
            try:
                probe.connect(address.removeprefix("unix://"))
            except OSError as error:
                unavailable(f"no Docker engine at {address}: {error}; {advice}")
    client = None
    try:
        # vfs storage (.ci/run's fallback) copies an image's whole tree per container: on a
        # busy engine that outlasts the SDK's default minute (mlgate's client waits 300 s too).
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as error:  # DockerException, or the requests error under it
        if client is not None:
            client.close()
        unavailable(f"no Docker engine at {address}: {error}; {advice}")
    return client


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A `docker.DockerClient` (SDK 7) for the engine at DOCKER_HOST or the default socket,
    checked with ping(); the tests that need it skip when no engine answers (fail with
    MLGATE_REQUIRE_DOCKER=1). When the session ends, the images it made are removed
    (`remove_session_images`)."""
    client = engine_client()
    before = image_ids(client)
    try:
        yield client
    finally:
        if before is not None:
            remove_session_images(client, before, SESSION_REGISTRIES)
        client.close()


# The "127.0.0.1:PORT" of every registry this session started: its images are the
# session's own. Another session on the same engine (a developer's second terminal) has
# other ports, so its images are never removed from under it.
SESSION_REGISTRIES: set[str] = set()


def _engine_errors() -> tuple[type[Exception], ...]:
    import docker.errors
    import requests

    return (docker.errors.DockerException, requests.RequestException)


def image_ids(client: Any) -> set[str] | None:
    """The ids of every image in the engine (intermediate ones too), or None when the
    engine cannot list them (then nothing is removed at the end)."""
    try:
        return {image.id for image in client.images.list(all=True)}
    except _engine_errors():
        return None


def remove_session_images(client: Any, before: set[str], registries: set[str]) -> list[str]:
    """Remove the images made since `before` was taken: those named (tag or digest) after
    one of `registries` ("127.0.0.1:PORT"), and the dangling ones. Never an image in
    `before`, never the cached base image; a name the image has besides these registries
    keeps it. Errors are ignored: cleaning up must not fail a session. Returns the names
    and ids removed."""
    errors = _engine_errors()
    prefixes = tuple(f"{address}/" for address in registries)
    base = f"{BASE_REPOSITORY}:{BASE_TAG}"
    removed: list[str] = []
    try:
        images = client.images.list()
    except errors:
        return removed
    for image in images:
        tags = image.attrs.get("RepoTags") or []
        if image.id in before or base in tags or not prefixes:
            continue
        names = [*tags, *(image.attrs.get("RepoDigests") or [])]
        for name in names:
            if name.startswith(prefixes):
                # Untagging the last name deletes the image and its untagged parents.
                with contextlib.suppress(*errors):
                    client.images.remove(name)
                    removed.append(name)
    try:
        dangling = client.images.list(filters={"dangling": True})
    except errors:
        return removed
    for image in dangling:
        if image.id not in before:
            with contextlib.suppress(*errors):
                client.images.remove(image.id)
                removed.append(image.id)
    return removed


# --- registries -----------------------------------------------------------------------------


@contextlib.contextmanager
def start_registry(directory: Path, *, htpasswd: Path | None = None) -> Iterator[str]:
    """Run `docker-registry serve` on a free loopback port, storage in `directory`, until
    the block ends; yields its address "127.0.0.1:PORT" (an insecure registry to the
    engine, as every loopback address is)."""
    from conftest import _free_port, serve_on_loopback

    binary = shutil.which("docker-registry")
    if binary is None:
        unavailable(
            "no docker-registry binary (Debian's docker-registry package); "
            ".ci/run installs it (see TESTING.md)"
        )
    port = _free_port()
    SESSION_REGISTRIES.add(f"127.0.0.1:{port}")
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": os.urandom(16).hex()},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "mlgate-tests", "path": str(htpasswd)}}
    config_path = directory / "config.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    with serve_on_loopback(
        [binary, "serve", str(config_path)],
        port=port,
        health="/",  # /v2/ asks for credentials when auth is on; / never does
        log_path=directory / "registry.log",
        within=30,
    ):
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="session")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry without authentication on loopback: yields "127.0.0.1:PORT"."""
    with start_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


def bcrypt_htpasswd(username: str, password: str) -> str:
    """One htpasswd line with a bcrypt hash (the only kind the registry accepts)."""
    binary = shutil.which("htpasswd")
    if binary is None:
        unavailable("no htpasswd (Debian's apache2-utils); .ci/run installs it")
    done = subprocess.run(
        [binary, "-B", "-i", "-n", username],
        input=password,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    line = done.stdout.strip()
    assert line.startswith(f"{username}:$2y$"), line
    return line


@pytest.fixture(scope="session")
def docker_registry_with_auth(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, str]]:
    """A registry that asks for basic auth: yields ("127.0.0.1:PORT", username, password).
    Pushing without those credentials is denied."""
    import secrets

    directory = tmp_path_factory.mktemp("registry-auth")
    username, password = "mlgate-ci", secrets.token_urlsafe(18)
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(bcrypt_htpasswd(username, password) + "\n")
    with start_registry(directory, htpasswd=htpasswd) as address:
        yield address, username, password


def push(client: Any, repository: str, tag: str, auth_config: dict | None = None) -> str:
    """Push repository:tag; return the registry's manifest digest. A failed push raises
    PushError with the engine's message (the SDK itself only streams it)."""
    digest = None
    for event in client.api.push(
        repository, tag=tag, stream=True, decode=True, auth_config=auth_config
    ):
        if "error" in event or "errorDetail" in event:
            detail = event.get("errorDetail", {}).get("message") or event.get("error")
            raise PushError(f"pushing {repository}:{tag}: {detail}")
        digest = event.get("aux", {}).get("Digest", digest)
    if digest is None:
        raise PushError(f"pushing {repository}:{tag}: the engine reported no digest")
    return digest


class PushError(Exception):
    pass


# --- the base image -------------------------------------------------------------------------


def _mounts_below(directory: Path) -> list[str]:
    """Mount points inside `directory` (debootstrap mounts /proc, /sys and sometimes binds
    /dev into the target; an interrupted run can leave them behind)."""
    prefix = str(directory.resolve()) + os.sep
    points = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            point = line.split()[1].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
    return points


def _remove_tree(directory: Path) -> None:
    """Remove a debootstrap target, never through a mount that is still there."""
    for point in sorted(_mounts_below(directory), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, timeout=60)
    left = _mounts_below(directory)
    if left:
        raise RuntimeError(f"{directory} still has mounts {left}; not removing it")
    shutil.rmtree(directory)


def _stale_work_dirs() -> None:
    """Remove the leftovers of interrupted builds (never a finished tarball)."""
    for leftover in CACHE.glob("rootfs-build-*"):
        with contextlib.suppress(OSError, RuntimeError):
            _remove_tree(leftover) if leftover.is_dir() else leftover.unlink()


def rootfs_tarball() -> Path:
    """The cached root filesystem tarball; made with debootstrap when missing (a minute or
    two; needs root, debootstrap and the Debian mirror)."""
    if ROOTFS_TARBALL.exists():
        return ROOTFS_TARBALL
    if os.geteuid() != 0:
        unavailable(f"building the base image's root filesystem needs root ({ROOTFS_TARBALL})")
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        unavailable("no debootstrap to build the base image; .ci/run installs it")
    CACHE.mkdir(parents=True, exist_ok=True)
    # One build at a time (two sessions may start together); leftovers of an interrupted
    # build are removed only by the session that holds the lock.
    with (CACHE / "rootfs.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ROOTFS_TARBALL.exists():
            _stale_work_dirs()
            _debootstrap(debootstrap)
    return ROOTFS_TARBALL


def _debootstrap(debootstrap: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="rootfs-build-", dir=CACHE))
    try:
        target = work / "root"
        command = [
            debootstrap,
            "--variant=minbase",
            f"--include={','.join(ROOTFS_PACKAGES)}",
            SUITE,
            str(target),
        ]
        if mirror := os.environ.get("MLGATE_TEST_DEBIAN_MIRROR"):
            command.append(mirror)
        log_path = work / "debootstrap.log"
        with log_path.open("w") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=1200)
        if done.returncode != 0:
            log = log_path.read_text(errors="replace")
            tail = " | ".join(log.strip().splitlines()[-4:])
            if any(sign in log for sign in NETWORK_TROUBLE):
                unavailable(f"debootstrap could not reach the Debian mirror: {tail}")
            pytest.fail(f"debootstrap {SUITE} failed ({done.returncode}): {tail}")
        # The serving image adds a non-root user; python3 must be Debian's 3.11.
        for needed in ("usr/sbin/useradd", "usr/bin/python3.11"):
            if not (target / needed).exists():
                pytest.fail(f"the {SUITE} root filesystem has no /{needed}")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (target / cache).glob("*"):
                if item.is_file() and item.name != "lock":
                    item.unlink()
        partial = work / "rootfs.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(target), "-cf", str(partial), "."],
            check=True,
            timeout=600,
        )
        os.replace(partial, ROOTFS_TARBALL)
    finally:
        _remove_tree(work)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def local_base_image(client: Any) -> Any:
    """`mlgate-tests/debian-py:bookworm` in the engine, imported from the cached tarball
    (again only when the tarball changed: the image carries the tarball's hash)."""
    import docker.errors

    tarball = rootfs_tarball()
    tarball_hash = _file_sha256(tarball)
    name = f"{BASE_REPOSITORY}:{BASE_TAG}"
    with contextlib.suppress(docker.errors.ImageNotFound):
        image = client.images.get(name)
        if image.labels.get(ROOTFS_LABEL) == tarball_hash:
            return image
    output = client.api.import_image_from_file(
        str(tarball),
        repository=BASE_REPOSITORY,
        tag=BASE_TAG,
        changes=[
            f"LABEL {ROOTFS_LABEL}={tarball_hash}",
            "ENV LANG=C.UTF-8",
            'CMD ["python3"]',
        ],
    )
    for line in str(output).splitlines():
        if '"error' in line:
            pytest.fail(f"docker import {tarball}: {line}")
    image = client.images.get(name)
    assert image.labels.get(ROOTFS_LABEL) == tarball_hash, image.labels
    return image


@pytest.fixture(scope="session")
def serving_base_image(docker_client: Any, docker_registry: str) -> Iterator[str]:
    """Debian bookworm with Python 3.11 (python3, python3-venv, useradd), pushed to
    `docker_registry`: yields "127.0.0.1:PORT/mlgate-tests/debian-py@sha256:..."."""
    import docker.errors

    image = local_base_image(docker_client)
    repository = f"{docker_registry}/{BASE_REPOSITORY}"
    image.tag(repository, BASE_TAG)
    names = [f"{repository}:{BASE_TAG}"]
    try:
        reference = f"{repository}@{push(docker_client, repository, BASE_TAG)}"
        names.append(reference)
        assert reference in docker_client.images.get(image.id).attrs["RepoDigests"]
        yield reference
    finally:
        # Only the names this session gave it; the image stays for the next session.
        for name in names:
            with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
                docker_client.images.remove(name, noprune=True)


# --- wheels ---------------------------------------------------------------------------------


def pip_command() -> list[str]:
    """A working pip: the test interpreter's own, the Python it was made from (uv's venvs
    have no pip), python3 on PATH (.ci/run installs uv with it), or pip run by uv."""
    candidates = [
        [python, "-m", "pip"]
        for python in (sys.executable, getattr(sys, "_base_executable", None))
        if python
    ]
    if python3 := shutil.which("python3"):
        candidates.append([python3, "-m", "pip"])
    if uv := shutil.which("uv"):
        candidates.append([uv, "tool", "run", "--from", "pip", "pip"])
    for command in candidates:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            probe = subprocess.run([*command, "--version"], capture_output=True, timeout=300)
            if probe.returncode == 0:
                return command
    unavailable(f"no working pip to download wheels (tried {[c[0] for c in candidates]})")


def download_wheels(requirements: list[str]) -> Path:
    """The cached wheel directory for these requirement lines (downloaded when missing)."""
    lines = sorted({line.strip() for line in requirements if line.strip()})
    if not lines:
        raise ValueError("serving_wheels needs at least one requirement line")
    key = hashlib.sha256("\n".join([*lines, *WHEEL_TARGET]).encode()).hexdigest()[:20]
    directory = CACHE / "wheels" / key
    if directory.is_dir():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=directory.parent))
    requirements_file = partial.with_suffix(".txt")
    try:
        requirements_file.write_text("\n".join(lines) + "\n")
        done = subprocess.run(
            [
                *pip_command(),
                *("download", "--disable-pip-version-check", "--progress-bar", "off"),
                *("--only-binary=:all:", *WHEEL_TARGET, "--dest", str(partial)),
                *("-r", str(requirements_file)),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            output = done.stdout + done.stderr
            tail = " | ".join(output.strip().splitlines()[-3:])
            if any(sign in output for sign in NETWORK_TROUBLE):
                unavailable(f"pip could not reach the package index: {tail}")
            pytest.fail(f"pip download {lines} failed: {tail}")
        try:
            partial.rename(directory)
        except OSError:  # another session finished the same download first
            if not directory.is_dir():
                raise
    finally:
        requirements_file.unlink(missing_ok=True)
        if partial.exists():
            shutil.rmtree(partial)
    return directory


@pytest.fixture(scope="session")
def serving_wheels() -> Callable[[list[str]], Path]:
    """serving_wheels(["numpy==2.4.6", ...]) -> a directory of linux x86_64 CPython 3.11
    wheels for those lines and their dependencies (cached in ~/.cache/mlgate-tests/wheels)."""
    return download_wheels
