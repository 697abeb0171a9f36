"""The Docker fixtures themselves (tests/docker_support.py): the engine, the loopback
registries, the base image pinned by digest, and the wheel directories."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import secrets
import tarfile
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest

import docker_support
from docker_support import (
    BASE_REPOSITORY,
    BASE_TAG,
    PushError,
    engine_client,
    image_ids,
    push,
    remove_session_images,
)

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


def http_status(url: str, credentials: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)
    if credentials:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("required", [None, "0", "yes"])
def test_no_engine_is_a_skip_that_names_the_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path, required
):
    address = f"unix://{tmp_path}/no-docker.sock"
    monkeypatch.setenv("DOCKER_HOST", address)
    if required is None:
        monkeypatch.delenv("MLGATE_REQUIRE_DOCKER", raising=False)
    else:  # only "1" makes the Docker tests required
        monkeypatch.setenv("MLGATE_REQUIRE_DOCKER", required)
    with pytest.raises(pytest.skip.Exception, match=f"no Docker engine at {address}: .*ci/run"):
        engine_client()


@pytest.mark.parametrize("address", ["unix:///no/such/docker.sock", "tcp://127.0.0.1:9"])
def test_no_engine_fails_when_docker_is_required(monkeypatch: pytest.MonkeyPatch, address):
    # .ci/run sets the variable: a broken engine must turn CI red, not skip. A dead TCP
    # address takes the SDK's path (ping), the socket the probe's.
    monkeypatch.setenv("DOCKER_HOST", address)
    monkeypatch.setenv("MLGATE_REQUIRE_DOCKER", "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        engine_client()
    message = str(failed.value)
    assert message.startswith(f"no Docker engine at {address}: ")
    assert ".ci/run starts one" in message
    assert "MLGATE_REQUIRE_DOCKER=1" in message


def test_every_reason_to_skip_goes_through_the_switch(monkeypatch: pytest.MonkeyPatch):
    # A missing tool is the same kind of reason: skipped on a laptop, a failure in CI.
    monkeypatch.setattr(docker_support.shutil, "which", lambda name: None)
    monkeypatch.delenv("MLGATE_REQUIRE_DOCKER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no htpasswd"):
        docker_support.bcrypt_htpasswd("user", "password")
    monkeypatch.setenv("MLGATE_REQUIRE_DOCKER", "1")
    with pytest.raises(pytest.fail.Exception, match=r"no htpasswd .*MLGATE_REQUIRE_DOCKER=1"):
        docker_support.bcrypt_htpasswd("user", "password")


def _import(client, name: str | None = None, *, content: str) -> str:
    """A one-file image imported into the engine (no base image needed); returns its id."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        payload = content.encode()
        member = tarfile.TarInfo("marker.txt")
        member.size = len(payload)
        archive.addfile(member, io.BytesIO(payload))
    repository, _, tag = (name or "").rpartition(":")
    output = client.api.import_image_from_data(
        data.getvalue(), repository=repository or None, tag=tag or None
    )
    return json.loads(output.strip().splitlines()[-1])["status"]


def _tags(client, image_id: str) -> list[str] | None:
    import docker.errors

    try:
        return sorted(client.images.get(image_id).tags)
    except docker.errors.ImageNotFound:
        return None


def test_session_cleanup_removes_only_the_sessions_images(
    docker_client, monkeypatch: pytest.MonkeyPatch
):
    token = secrets.token_hex(6)
    ours = "127.0.0.1:1"  # the session's registry, as far as the cleanup is told
    repository = f"{ours}/mlgate-tests/cleanup-{token}"
    base = f"mlgate-tests/cleanup-base-{token}"
    monkeypatch.setattr(docker_support, "BASE_REPOSITORY", base)
    made: list[str] = []
    try:
        made.append(old := _import(docker_client, f"{repository}:old", content=f"old {token}"))
        made.append(old_dangling := _import(docker_client, content=f"old dangling {token}"))
        before = image_ids(docker_client)
        assert before is not None
        assert {old, old_dangling} <= before

        made.append(new := _import(docker_client, f"{repository}:new", content=f"new {token}"))
        docker_client.images.get(new).tag(repository, "also")
        made.append(kept := _import(docker_client, f"{repository}:kept", content=f"kept {token}"))
        docker_client.images.get(kept).tag(f"mlgate-tests/cleanup-{token}", "kept")
        made.append(base_image := _import(docker_client, f"{base}:{BASE_TAG}", content=token))
        docker_client.images.get(base_image).tag(repository, "base")
        made.append(other := _import(docker_client, f"127.0.0.1:2/x-{token}:1", content=token))
        made.append(dangling := _import(docker_client, content=f"dangling {token}"))

        removed = remove_session_images(docker_client, before, {ours})

        assert _tags(docker_client, new) is None  # both names gone, and the image
        assert {f"{repository}:new", f"{repository}:also"} <= set(removed)
        assert _tags(docker_client, kept) == [f"mlgate-tests/cleanup-{token}:kept"]
        assert _tags(docker_client, dangling) is None
        # Never an image from before the session, the base image or another registry's.
        assert _tags(docker_client, old) == [f"{repository}:old"]
        assert _tags(docker_client, old_dangling) == []
        assert _tags(docker_client, base_image) == [f"{repository}:base", f"{base}:{BASE_TAG}"]
        assert _tags(docker_client, other) == [f"127.0.0.1:2/x-{token}:1"]
    finally:
        import docker.errors

        for image_id in made:
            with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
                docker_client.images.remove(image_id, force=True)


def test_session_cleanup_survives_an_engine_that_went_away(monkeypatch: pytest.MonkeyPatch):
    import docker

    client = docker.DockerClient(base_url="tcp://127.0.0.1:9", version="1.41", timeout=5)
    try:
        assert image_ids(client) is None
        assert remove_session_images(client, set(), {"127.0.0.1:1"}) == []
    finally:
        client.close()


@pytest.mark.slow
def test_base_image_runs_python_311_and_makes_venvs_without_network(
    docker_client, serving_base_image: str
):
    script = (
        "python3 -c 'import sys; print(tuple(sys.version_info[:2]))'"
        " && command -v useradd"
        " && python3 -m venv /tmp/venv && /tmp/venv/bin/python -m pip --version"
    )
    output = docker_client.containers.run(
        serving_base_image, ["sh", "-c", script], network_mode="none", remove=True
    )
    lines = output.decode().splitlines()
    assert lines[0] == "(3, 11)"
    assert lines[1] == "/usr/sbin/useradd"
    assert lines[2].startswith("pip ")
    assert "python 3.11" in lines[2]


@pytest.mark.slow
def test_base_image_digest_is_served_by_the_registry_and_pulls_back(
    docker_client, docker_registry: str, serving_base_image: str
):
    repository, digest = serving_base_image.split("@")
    assert repository == f"{docker_registry}/{BASE_REPOSITORY}"
    assert digest.startswith("sha256:")

    # The registry itself serves a manifest whose hash is the digest.
    request = urllib.request.Request(
        f"http://{docker_registry}/v2/{BASE_REPOSITORY}/manifests/{digest}",
        headers={"Accept": MANIFEST_TYPES},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        manifest = response.read()
    assert f"sha256:{hashlib.sha256(manifest).hexdigest()}" == digest

    assert docker_client.images.get_registry_data(serving_base_image).id == digest
    pulled = docker_client.images.pull(serving_base_image)
    assert pulled.id == docker_client.images.get(f"{BASE_REPOSITORY}:{BASE_TAG}").id


@pytest.mark.slow
def test_auth_registry_denies_pushes_without_the_right_credentials(
    docker_client, docker_registry_with_auth, serving_base_image: str
):
    address, username, password = docker_registry_with_auth
    assert http_status(f"http://{address}/v2/") == 401
    assert http_status(f"http://{address}/v2/", (username, "wrong")) == 401
    assert http_status(f"http://{address}/v2/", (username, password)) == 200

    repository = f"{address}/mlgate-tests/auth-check"
    image = docker_client.images.get(serving_base_image)
    image.tag(repository, "1")
    try:
        with pytest.raises(PushError, match="no basic auth credentials"):
            push(docker_client, repository, "1")
        with pytest.raises(PushError, match="unauthorized"):
            push(docker_client, repository, "1", {"username": username, "password": "wrong"})
        digest = push(docker_client, repository, "1", {"username": username, "password": password})
    finally:
        docker_client.images.remove(f"{repository}:1", noprune=True)
    data = docker_client.images.get_registry_data(
        f"{repository}@{digest}", auth_config={"username": username, "password": password}
    )
    assert data.id == digest


@pytest.mark.slow
def test_wheels_are_cached_and_install_offline_in_the_base_image(
    docker_client, serving_base_image: str, serving_wheels
):
    requirements = [
        f"numpy=={version('numpy')}",
        f"prometheus-client=={version('prometheus-client')}",
    ]
    wheels: Path = serving_wheels(requirements)
    assert serving_wheels(list(reversed(requirements))) == wheels  # same lines, same cache
    names = sorted(path.name for path in wheels.iterdir())
    assert all(name.endswith(".whl") for name in names), names
    numpy_wheels = [name for name in names if name.startswith("numpy-")]
    assert len(numpy_wheels) == 1
    assert "-cp311-cp311-manylinux" in numpy_wheels[0]
    assert numpy_wheels[0].endswith("_x86_64.whl")
    assert not [path for path in wheels.parent.iterdir() if path.name.startswith(".")]

    script = (
        "python3 -m venv /tmp/venv"
        " && /tmp/venv/bin/pip install -q --no-index --find-links /wheels numpy prometheus-client"
        " && /tmp/venv/bin/python -c"
        " 'import numpy, prometheus_client; print(numpy.__version__, numpy.ones(3).sum())'"
    )
    output = docker_client.containers.run(
        serving_base_image,
        ["sh", "-c", script],
        network_mode="none",
        volumes={str(wheels): {"bind": "/wheels", "mode": "ro"}},
        remove=True,
    )
    assert output.decode().split() == [version("numpy"), "3.0"]
