"""The Docker fixtures themselves (tests/docker_support.py): the engine, the loopback
registries, the base image pinned by digest, and the wheel directories."""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest

from docker_support import BASE_REPOSITORY, BASE_TAG, PushError, engine_client, push

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


def test_no_engine_is_a_skip_that_names_the_address(monkeypatch: pytest.MonkeyPatch, tmp_path):
    address = f"unix://{tmp_path}/no-docker.sock"
    monkeypatch.setenv("DOCKER_HOST", address)
    with pytest.raises(pytest.skip.Exception, match=f"no Docker engine at {address}: .*ci/run"):
        engine_client()


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
