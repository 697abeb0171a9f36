"""An image reference as `compute.docker_image` writes it: NAME[:TAG][@sha256:DIGEST]."""

from __future__ import annotations

import re

# Docker's grammar, simplified: an optional registry host[:port], lowercase path
# components, an optional tag, an optional digest.
_NAME = re.compile(
    r"(?:[a-zA-Z0-9][a-zA-Z0-9.-]*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def split(reference: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of a well-formed reference; ValueError otherwise."""
    rest, at, digest = reference.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    name, tag = (rest[:colon], rest[colon + 1 :]) if colon > slash else (rest, None)
    if (
        not _NAME.fullmatch(name)
        or (tag is not None and not _TAG.fullmatch(tag))
        or (at and not _DIGEST.fullmatch(digest))
    ):
        raise ValueError(
            f"'{reference}' is not an image reference: write NAME[:TAG] or "
            "NAME@sha256:<digest> (e.g. ghcr.io/acme/training-env@sha256:...)"
        )
    return name, tag, digest or None


def image_reference(reference: str) -> str:
    split(reference)
    return reference


def by_digest(reference: str) -> bool:
    """Whether `reference` pins the image by its content (NAME@sha256:...)."""
    return split(reference)[2] is not None
