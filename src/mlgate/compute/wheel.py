"""mlgate as a wheel, packed from the host's own install, for an image that lacks it.

The wheel is mounted read-only and put first on PYTHONPATH: Python imports pure-Python
packages straight from a zip, and importlib.metadata reads the dist-info beside them,
so the image needs only Python and the libraries. Kept under the state folder, named by
its contents: a changed mlgate (an editable install being edited) packs a new one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from importlib import metadata
from pathlib import Path

TAG = "py3-none-any"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entries dated alike: the same files, the same wheel


def host_wheel(cache: Path) -> Path:
    """The wheel of the mlgate this process runs, built into `cache` when missing."""
    import mlgate

    package = Path(mlgate.__file__).resolve().parent
    files = sorted(
        path
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package.parent).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    version = mlgate.__version__
    target = cache / digest.hexdigest()[:16] / f"mlgate-{version}-{TAG}.whl"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        _write(partial, package, files, version)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _write(target: Path, package: Path, files: list[Path], version: str) -> None:
    info = f"mlgate-{version}.dist-info"
    entries = [(path.relative_to(package.parent).as_posix(), path.read_bytes()) for path in files]
    entries.append((f"{info}/METADATA", _metadata(version).encode()))
    wheel_file = f"Wheel-Version: 1.0\nGenerator: mlgate\nRoot-Is-Purelib: true\nTag: {TAG}\n"
    entries.append((f"{info}/WHEEL", wheel_file.encode()))
    record = [f"{name},sha256={_urlsafe_sha256(data)},{len(data)}" for name, data in entries]
    record.append(f"{info}/RECORD,,")
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries:
            item = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            item.compress_type = zipfile.ZIP_DEFLATED
            item.external_attr = 0o644 << 16
            wheel.writestr(item, data)


def _metadata(version: str) -> str:
    """The installed distribution's METADATA, or the least a wheel must say."""
    try:
        text = metadata.distribution("mlgate").read_text("METADATA")
    except metadata.PackageNotFoundError:
        text = None
    return text or f"Metadata-Version: 2.1\nName: mlgate\nVersion: {version}\n"


def _urlsafe_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
