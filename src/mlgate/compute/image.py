"""`compute.docker_image` on the Docker engine: present or pulled, and named by digest.

A reference with a digest is pulled by it when missing. A tag is used as the engine
holds it (pulled when missing) and resolved to the registry digest the engine recorded
for it (RepoDigests); an image that was never pushed has none, so its local image id
stands in and the record says so. In CI a tag is a warning: the next run may get
another image under the same name.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from mlgate.compute.reference import split
from mlgate.errors import ConfigError, ServiceError

KEY = "compute.docker_image"


@dataclass(frozen=True)
class ResolvedImage:
    written: str  # as compute.docker_image names it
    pinned: str  # NAME@sha256:... or, for an image never pushed, its local id (sha256:...)
    image_id: str
    by_digest: bool  # `pinned` is a registry digest, which anyone can pull again

    @property
    def how(self) -> str:
        if self.written == self.pinned:
            return "pinned by digest"
        if self.by_digest:
            return f"tag {self.written} resolved to its digest"
        return f"{self.written} was never pushed: its local image id stands in for a digest"


def in_ci(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true" or bool(environ.get("CI"))


def resolve(client: Any, written: str) -> ResolvedImage:
    """The image on the engine (pulled when missing) and the digest that names it."""
    from mlgate.serving.engine import _engine_calls

    name, tag, digest = split(written)
    with _engine_calls(f"look up {written}"):
        image = _local(client, written) or _pull(client, written, name, tag, digest)
    if digest is not None:
        return ResolvedImage(written, written, image.id, by_digest=True)
    # Docker's short names (python, library/python) are recorded as written.
    found = [
        entry
        for entry in image.attrs.get("RepoDigests") or []
        if entry.partition("@")[0] in (name, f"docker.io/{name}", f"docker.io/library/{name}")
    ]
    if found:
        return ResolvedImage(written, found[0], image.id, by_digest=True)
    return ResolvedImage(written, image.id, image.id, by_digest=False)


def warn_if_unpinned(image: ResolvedImage) -> None:
    """In CI, a tag is a warning: the same name may hold another image next time."""
    if image.written != image.pinned and in_ci():
        from mlgate._actions_io import one_line

        print(
            one_line(
                f"mlgate: warning: {KEY} {image.written} is a tag, not a digest ({image.how}); "
                f"pin it as {image.pinned if image.by_digest else 'NAME@sha256:<digest>'} "
                "so every run trains in the same image"
            ),
            file=sys.stderr,
            flush=True,
        )


def _local(client: Any, reference: str) -> Any:
    from docker.errors import ImageNotFound

    try:
        return client.images.get(reference)
    except ImageNotFound:
        return None


def _pull(client: Any, written: str, name: str, tag: str | None, digest: str | None) -> Any:
    from docker.errors import APIError, ImageNotFound

    from mlgate.serving.engine import _DENIED, _NOT_FOUND, _reason, registry_auth

    print(f"  pulling {written}", file=sys.stderr, flush=True)
    try:
        client.images.pull(name, tag=digest or tag or "latest", auth_config=registry_auth())
    except (ImageNotFound, APIError) as error:
        message = _reason(error)
        missing = _NOT_FOUND.search(message) or _DENIED.search(message)
        if isinstance(error, ImageNotFound) or missing:
            raise ConfigError(
                f"{written} is not on the Docker engine and cannot be pulled ({message}): "
                "build or pull it first (docker login or MLGATE_REGISTRY_USERNAME/PASSWORD "
                "for a private registry), or name another image",
                key=KEY,
            ) from None
        raise ServiceError(f"pulling {written} failed: {message}") from None
    return client.images.get(written)
