"""`s3://bucket/key` data sources: fetched once into a local cache, recorded with their version.

boto3 finds the endpoint and credentials the usual way (`AWS_ENDPOINT_URL_S3`,
`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`,
`AWS_PROFILE`, the shared config files, an instance role) and retries in its standard
mode (`AWS_MAX_ATTEMPTS` bounds it; 3 attempts by default).

The cache lives under the project's state dir (`.mlgate/cache/s3/`). An entry is keyed
by bucket, key, version id and ETag, so a HEAD request decides whether the copy on disk
is still the object in the bucket. A download goes to a temporary name, is checked
against the size the HEAD announced, hashed, and only then renamed into place; the entry's
record (`object.json`) is written last, so a cut-short download never counts as cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import InputError, MlgateError, ServiceError

log = logging.getLogger(__name__)

SCHEME = "s3://"
RECORD_NAME = "object.json"
# A body cut short is read again from the start; boto3 retries the requests themselves.
DOWNLOAD_ATTEMPTS = 3
CHUNK_BYTES = 1 << 20
# Partial files older than this were left by a killed process; newer ones may be in use.
STALE_PARTIAL_SECONDS = 3600
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")


@dataclass(frozen=True)
class S3Object:
    """One object as read: where it is on disk and what identifies it in the bucket."""

    uri: str
    bucket: str
    key: str
    version_id: str | None
    etag: str
    size_bytes: int
    sha256: str
    path: Path
    from_cache: bool


def is_s3_uri(value: str) -> bool:
    return value.lower().startswith(SCHEME)


def parse_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key.csv` → ("bucket", "some/key.csv"), or InputError naming the URI."""
    rest = uri[len(SCHEME) :] if is_s3_uri(uri) else None
    if rest is None or "/" not in rest:
        raise InputError(
            "not an S3 object URI; write it as s3://BUCKET/KEY (for example "
            "s3://my-bucket/data/train.csv)",
            file=uri,
        )
    bucket, key = rest.split("/", 1)
    if not _BUCKET_NAME.match(bucket):
        raise InputError(f"'{bucket}' is not a valid S3 bucket name", file=uri)
    if not key or key.endswith("/"):
        raise InputError("names a folder, not an object; give the full key of a file", file=uri)
    return bucket, key


def client(uri: str | None = None) -> Any:
    """An S3 client configured from the environment, retrying in boto3's standard mode."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard"}, connect_timeout=10, read_timeout=60)
    try:
        return boto3.session.Session().client("s3", config=config)
    except ValueError as exc:  # a malformed AWS_ENDPOINT_URL(_S3)
        raise InputError(
            f"cannot use the configured S3 endpoint: {exc}; check AWS_ENDPOINT_URL_S3 "
            "and AWS_ENDPOINT_URL",
            file=uri,
        ) from None


def fetch(uri: str, cache_dir: Path, *, version_id: str | None = None, s3: Any = None) -> S3Object:
    """The object at `uri` as a local file, from the cache when the bucket still holds it.

    With `version_id`, that version of the object (for example the one a registered model
    was trained on, as its lineage recorded it) rather than the current one.
    """
    bucket, key = parse_uri(uri)
    pinned_version = version_id
    s3 = s3 if s3 is not None else client(uri)
    # The object may be replaced between HEAD and GET; the GET is pinned to what HEAD saw,
    # so that shows as "changed" and is decided again once.
    for _ in range(2):
        head = _head(s3, uri, bucket, key, pinned_version)
        version_id = head.get("VersionId") or None
        if version_id == "null":  # an object written before versioning was enabled
            version_id = None
        etag = str(head.get("ETag", "")).strip('"')
        size = int(head["ContentLength"])
        entry = cache_dir / bucket / _entry_name(bucket, key, version_id, etag)
        cached = _cached(entry, bucket, key, version_id, etag, size)
        if cached is not None:
            log.info("%s: served from the cache (%s)", uri, entry)
            return S3Object(
                uri, bucket, key, version_id, etag, size, cached, _data_path(entry, key), True
            )
        try:
            digest = _download(s3, uri, bucket, key, version_id, etag, size, entry)
        except _ObjectChanged:
            _remove_if_empty(entry)
            continue
        except BaseException:
            _remove_if_empty(entry)
            raise
        log.info("%s: downloaded %d bytes into the cache (%s)", uri, size, entry)
        return S3Object(
            uri, bucket, key, version_id, etag, size, digest, _data_path(entry, key), False
        )
    raise ServiceError(
        "the object kept changing while it was being read; run again once writes to it stop",
        file=uri,
    )


def check_unchanged(read: S3Object, *, s3: Any = None) -> None:
    """Exit 3 when the object at `read.uri` is no longer the version `read` was: another
    reader (Spark) that read it meanwhile may have seen other bytes than were hashed."""
    s3 = s3 if s3 is not None else client(read.uri)
    head = _head(s3, read.uri, read.bucket, read.key)
    version_id = head.get("VersionId") or None
    if version_id == "null":
        version_id = None
    if str(head.get("ETag", "")).strip('"') != read.etag or version_id != read.version_id:
        raise ServiceError(
            "the object changed while it was being read; run again once writes to it stop",
            file=read.uri,
        )


@dataclass(frozen=True)
class Listed:
    """One object under a prefix, as the listing shows it."""

    uri: str
    key: str
    size_bytes: int
    last_modified: Any  # a timezone-aware datetime


def parse_prefix(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` → ("bucket", "some/prefix/"); the prefix may be empty."""
    rest = uri[len(SCHEME) :] if is_s3_uri(uri) else None
    bucket, _, prefix = (rest or "").partition("/")
    if rest is None or not _BUCKET_NAME.match(bucket):
        raise InputError(
            "not an S3 prefix; write it as s3://BUCKET/PREFIX/ (for example "
            "s3://my-bucket/predictions/)",
            file=uri,
        )
    return bucket, prefix


def list_prefix(uri: str, *, s3: Any = None) -> list[Listed]:
    """Every object under the prefix `uri` (paginated), in the listing's key order."""
    bucket, prefix = parse_prefix(uri)
    s3 = s3 if s3 is not None else client(uri)
    found: list[Listed] = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                key = str(item["Key"])
                if key.endswith("/"):
                    continue  # a folder marker
                found.append(
                    Listed(
                        f"{SCHEME}{bucket}/{key}",
                        key,
                        int(item.get("Size", 0)),
                        item.get("LastModified"),
                    )
                )
    except Exception as exc:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
            "NoSuchBucket",
            "404",
        ):
            raise InputError(
                f"bucket '{bucket}' does not exist at {_endpoint(s3)}; check the bucket name "
                "(and AWS_ENDPOINT_URL_S3 if you use an S3-compatible store)",
                file=uri,
            ) from None
        raise _translate(exc, s3, uri) from None
    return found


# --- requests ---------------------------------------------------------------------------


class _ObjectChanged(Exception):
    """The object is no longer the version HEAD described (HTTP 412 or 404 on the GET)."""


def _head(
    s3: Any, uri: str, bucket: str, key: str, version_id: str | None = None
) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(
            Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {})
        )
    except ClientError as exc:
        if _status(exc) != 404:
            raise _translate(exc, s3, uri) from None
    except Exception as exc:
        raise _translate(exc, s3, uri) from None
    # HEAD answers carry no body, so a missing bucket and a missing key look alike.
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _status(exc) == 404:
            raise InputError(
                f"bucket '{bucket}' does not exist at {_endpoint(s3)}; check the bucket name "
                "(and AWS_ENDPOINT_URL_S3 if you use an S3-compatible store)",
                file=uri,
            ) from None
        if _status(exc) != 403:  # 403: the bucket exists but may not be listed; say the key
            raise _translate(exc, s3, uri) from None
    except Exception as exc:
        raise _translate(exc, s3, uri) from None
    if version_id:
        raise InputError(
            f"version {version_id} of object '{key}' in bucket '{bucket}' no longer exists "
            "(deleted, or expired by a lifecycle rule)",
            file=uri,
        )
    raise InputError(
        f"no object '{key}' in bucket '{bucket}'; check the key (it is case-sensitive)",
        file=uri,
    )


def _download(
    s3: Any,
    uri: str,
    bucket: str,
    key: str,
    version_id: str | None,
    etag: str,
    size: int,
    entry: Path,
) -> str:
    from botocore.exceptions import (
        ClientError,
        FlexibleChecksumError,
        HTTPClientError,
        IncompleteReadError,
        ReadTimeoutError,
    )

    try:
        entry.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the S3 cache folder {entry.parent}: {exc.strerror}; make the "
            "model repo's .mlgate/ folder writable",
            file=uri,
        ) from None
    _sweep_partials(entry)
    target = _data_path(entry, key)
    pinned: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        pinned["VersionId"] = version_id
    elif etag:
        pinned["IfMatch"] = f'"{etag}"'
    problem = ""
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        partial = entry / f".{target.name}.{uuid.uuid4().hex}.partial"
        try:
            try:
                response = s3.get_object(**pinned)
            except ClientError as exc:
                if _status(exc) in (404, 412):
                    raise _ObjectChanged() from None
                raise
            written, digest = _write_body(response["Body"], partial)
            if written != size:
                problem = f"got {written:,} of {size:,} bytes"
                continue
            os.replace(partial, target)
            _write_record(entry, uri, bucket, key, version_id, etag, size, digest)
            return digest
        except (
            IncompleteReadError,
            HTTPClientError,
            ReadTimeoutError,
            FlexibleChecksumError,
        ) as exc:
            problem = _first_line(exc)
            log.warning("%s: download attempt %d failed: %s", uri, attempt, problem)
            time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
        except _ObjectChanged:
            raise
        except Exception as exc:
            raise _translate(exc, s3, uri) from None
        finally:
            partial.unlink(missing_ok=True)
    raise ServiceError(
        f"the download from {_endpoint(s3)} was cut short {DOWNLOAD_ATTEMPTS} times "
        f"({problem}); nothing was cached; check the connection and run again",
        file=uri,
    )


def _write_body(body: Any, partial: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    written = 0
    try:
        with partial.open("wb") as out:
            for chunk in body.iter_chunks(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    finally:
        body.close()
    return written, digest.hexdigest()


def _translate(exc: Exception, s3: Any, uri: str) -> MlgateError:
    """A boto3 failure as one line: the user's mistake (exit 2) or the service's (exit 3)."""
    from botocore import exceptions as bx

    endpoint = _endpoint(s3)
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return InputError(
            "no AWS credentials to read it; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE) for the job",
            file=uri,
        )
    if isinstance(exc, (bx.CredentialRetrievalError, bx.TokenRetrievalError)):
        return InputError(f"the AWS credentials could not be loaded: {_first_line(exc)}", file=uri)
    if isinstance(exc, (bx.ConnectionError, bx.HTTPClientError)):
        return ServiceError(
            f"S3 endpoint {endpoint} is unreachable after {_attempts(s3)} attempts "
            f"({_first_line(exc)}); check AWS_ENDPOINT_URL_S3 / the network and run again",
            file=uri,
        )
    if isinstance(exc, bx.ClientError):
        status = _status(exc)
        code = str(exc.response.get("Error", {}).get("Code", status))
        if status == 403 or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return InputError(
                f"access denied by {endpoint} (HTTP 403{'' if code == '403' else ', ' + code}); "
                "the credentials in use may not read this object, or are not valid there",
                file=uri,
            )
        if status >= 500 or code in ("SlowDown", "Throttling", "RequestTimeout"):
            return ServiceError(
                f"S3 at {endpoint} kept failing after {_attempts(s3)} attempts "
                f"(HTTP {status} {code}); run again later",
                file=uri,
            )
        return InputError(f"S3 at {endpoint} refused the request (HTTP {status} {code})", file=uri)
    if isinstance(exc, OSError):  # writing the local copy, not talking to S3
        return InputError(f"cannot write its copy in the S3 cache: {exc}", file=uri)
    return ServiceError(f"reading it failed: {_first_line(exc)}", file=uri)


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _endpoint(s3: Any) -> str:
    url = str(getattr(s3.meta, "endpoint_url", "") or "S3")
    from mlgate._redact import without_credentials

    return without_credentials(url)


def _attempts(s3: Any) -> int:
    retries = getattr(s3.meta.config, "retries", None) or {}
    return int(retries.get("total_max_attempts", 3))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- the cache --------------------------------------------------------------------------


def _entry_name(bucket: str, key: str, version_id: str | None, etag: str) -> str:
    identity = json.dumps([bucket, key, version_id, etag], separators=(",", ":"))
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _data_path(entry: Path, key: str) -> Path:
    """The key's last part, made safe as a file name; its suffix still gives the format."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", key.rsplit("/", 1)[-1]).lstrip(".")
    return entry / (name or "object")


def _cached(
    entry: Path, bucket: str, key: str, version_id: str | None, etag: str, size: int
) -> str | None:
    """The recorded SHA-256 when the entry holds exactly this object, else None."""
    try:
        record = json.loads((entry / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    wanted = {"bucket": bucket, "key": key, "version_id": version_id, "etag": etag, "size": size}
    if any(record.get(name) != value for name, value in wanted.items()):
        return None
    path = _data_path(entry, key)
    try:
        if path.stat().st_size != size:
            return None
    except OSError:
        return None
    digest = _sha256_of(path)
    if digest != record.get("sha256"):
        log.warning("%s: cached copy does not match its recorded hash; downloading again", path)
        return None
    return digest


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_record(
    entry: Path,
    uri: str,
    bucket: str,
    key: str,
    version_id: str | None,
    etag: str,
    size: int,
    digest: str,
) -> None:
    record = {
        "uri": uri,
        "bucket": bucket,
        "key": key,
        "version_id": version_id,
        "etag": etag,
        "size": size,
        "sha256": digest,
        "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    partial = entry / f".{RECORD_NAME}.{uuid.uuid4().hex}.partial"
    try:
        partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, entry / RECORD_NAME)
    finally:
        partial.unlink(missing_ok=True)


def _remove_if_empty(entry: Path) -> None:
    """A failed first download leaves no empty folders behind (rmdir refuses non-empty)."""
    for folder in (entry, entry.parent):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _sweep_partials(entry: Path) -> None:
    cutoff = time.time() - STALE_PARTIAL_SECONDS
    for leftover in entry.glob(".*.partial"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
