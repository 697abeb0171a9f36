"""DVC-tracked data files: the pointer read, the file fetched when missing, its md5 checked.

A data file is DVC-tracked when `<file>.dvc` sits beside it, or when a `dvc.lock` in its
folder or a parent folder (up to the DVC repo's root, the folder holding `.dvc/`) lists it
as a stage's output. Finding that needs no DVC; reading the pointer, fetching and hashing
go through DVC's own Python API (`dvc.repo.Repo`, imported only then, from the extra
`mlgate[dvc]`):

- the pointer's md5, hash name and remote (the output's own `remote:`, else the repo's
  default remote) are read with `Repo.find_outs_by_path`;
- a file missing from the workspace is fetched from that remote into the DVC cache and
  checked out (`Repo.fetch` then `Repo.checkout` of that one target); an S3 remote goes
  through dvc-s3, which finds the endpoint and credentials as boto3 does for mlgate's own
  s3:// sources (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...)
  unless the remote's DVC config sets them;
- the workspace file's md5 (DVC's hash of its bytes, remembered in DVC's state database
  so an unchanged file is not hashed again) must equal the pointer's, else the file is
  refused (exit 2) naming both files, both hashes and the fix.

Lineage gets the md5, the remote's URL without credentials, the pointer file and the
commit that last changed it (None when the pointer has changes git has not committed,
or the repo is not a git repo). One process resolves a file once while neither it nor
its pointer changes.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import InputError, ServiceError

log = logging.getLogger(__name__)

DVC_SUFFIX = ".dvc"
LOCK_FILE = "dvc.lock"
DVC_DIR = ".dvc"
EXTRA = "pip install 'mlgate[dvc]' (in the setup action: extras: true)"
_DVC_LOGGERS = ("dvc", "dvc_data", "dvc_objects")


class DvcMissing(Exception):
    """DVC is not installed, but a pointer tracks the file (the caller names the config key)."""

    def __init__(self, pointer: Path) -> None:
        super().__init__(str(pointer))
        self.pointer = pointer


@dataclass(frozen=True)
class Tracked:
    """A DVC-tracked data file, present in the workspace with the md5 its pointer records."""

    path: Path
    pointer: str  # the .dvc file or dvc.lock, relative to the DVC repo's root
    md5: str
    remote: str | None  # the remote's URL without credentials; None: no remote configured
    commit: str | None  # the last commit of the pointer; None: uncommitted, or no git


_resolved: dict[Path, tuple[tuple[Any, ...], Tracked]] = {}


def pointer_file(path: Path) -> Path | None:
    """The `.dvc` file or `dvc.lock` that tracks `path`, found without DVC; None: untracked."""
    path = Path(path).absolute()
    beside = path.with_name(path.name + DVC_SUFFIX)
    if beside.is_file():
        return beside
    root = _dvc_root(path.parent)
    if root is None:
        return None
    for folder in (path.parent, *path.parent.parents):
        lock = folder / LOCK_FILE
        if lock.is_file() and path in _lock_outputs(lock):
            return lock
        if folder == root:
            break
    return None


def resolve(path: Path) -> Tracked | None:
    """`path` as DVC tracks it, fetched when missing and checked, or None when untracked.

    Raises `DvcMissing` when a pointer tracks it but DVC is not installed, `InputError`
    (exit 2) for a hash mismatch, a file the remote lacks or no remote to fetch from, and
    `ServiceError` (exit 3) when the remote cannot be read.
    """
    path = Path(path).absolute()
    pointer = pointer_file(path)
    if pointer is None:
        return None
    signature = (_stat(path), _stat(pointer))
    known = _resolved.get(path)
    if known is not None and known[0] == signature:
        return known[1]
    try:
        from dvc.repo import Repo
    except ImportError:
        raise DvcMissing(pointer) from None
    tracked = _resolve(Repo, path, pointer)
    _resolved[path] = ((_stat(path), _stat(pointer)), tracked)
    return tracked


# --- through DVC ------------------------------------------------------------------------


def _resolve(repo_class: Any, path: Path, pointer: Path) -> Tracked:
    from dvc.exceptions import DvcException

    root = _dvc_root(path.parent) or pointer.parent
    shown = _relative(pointer, root)
    try:
        with _quiet_dvc() as said, repo_class(str(root)) as repo:
            out = _output(repo, path, shown)
            md5 = str(out.hash_info.value or "")
            if not md5:
                raise InputError(
                    f"{shown} records no md5 for it; run `dvc add` (or `dvc commit`) again",
                    file=path,
                )
            name, url = _remote(repo, out)
            if not path.exists():
                _fetch(repo, path, shown, md5, name, url, said)
                log.info("%s: fetched from the DVC remote %s (md5 %s)", path, url or name, md5)
            actual = _workspace_md5(repo, path, out.hash_name)
    except DvcException as exc:
        raise InputError(f"DVC cannot read {shown}: {_first_line(exc)}", file=path) from None
    if actual != md5:
        fix = (
            f"`dvc commit` (or `dvc repro`) to record it in {shown}"
            if Path(shown).name == LOCK_FILE
            else f"`dvc add {_relative(path, root)}` to track it (and commit {shown})"
        )
        raise InputError(
            f"its md5 {actual} differs from the md5 {md5} that {shown} records; run "
            f"`dvc pull {_relative(path, root)}` to restore the tracked version, or {fix}",
            file=path,
        )
    return Tracked(
        path=path,
        pointer=shown,
        md5=md5,
        remote=url,
        commit=_commit(root, shown),
    )


def _output(repo: Any, path: Path, pointer: str) -> Any:
    from dvc.exceptions import OutputNotFoundError

    try:
        outs = repo.find_outs_by_path(str(path))
    except OutputNotFoundError:
        raise InputError(
            f"{pointer} names it, but DVC finds no output for it there; check the "
            f"pointer with `dvc status`",
            file=path,
        ) from None
    out = outs[0]
    if out.is_dir_checksum:
        raise InputError(
            "DVC tracks it as a folder; name a file (mlgate reads one data file per role)",
            file=path,
        )
    return out


def _remote(repo: Any, out: Any) -> tuple[str | None, str | None]:
    """The name and URL (credentials removed) of the remote that holds the output."""
    from mlgate._redact import without_credentials

    name = out.remote or repo.config.get("core", {}).get("remote")
    if not name:
        return None, None
    url = repo.config.get("remote", {}).get(name, {}).get("url")
    return name, without_credentials(str(url)) if url else None


def _fetch(
    repo: Any,
    path: Path,
    pointer: str,
    md5: str,
    name: str | None,
    url: str | None,
    said: list[_Said],
) -> None:
    from dvc.config import NoRemoteError
    from dvc.exceptions import CheckoutError, DownloadError

    if name is None:
        raise InputError(
            f"it is not in the workspace and {pointer} names no DVC remote to fetch it from "
            "(no `remote:` on the output and no default remote); add one with "
            "`dvc remote add -d NAME URL`, or `dvc pull` it before the run",
            file=path,
        )
    where = url or name
    try:
        repo.fetch(targets=[str(path)])
    except ImportError as exc:  # a remote of a kind whose DVC plugin is not installed
        raise InputError(
            f"it is not in the workspace and the DVC remote {where} cannot be read here: "
            f"{_first_line(exc)} (mlgate[dvc] brings dvc-s3 only); install that plugin "
            "beside mlgate, or `dvc pull` the file before the run",
            file=path,
        ) from None
    except NoRemoteError:
        raise InputError(
            f"it is not in the workspace and the DVC remote '{name}' that {pointer} uses is "
            "not configured; `dvc remote add` it",
            file=path,
        ) from None
    except DownloadError:
        why = said[0].text if said else "the download failed"
        refused = [line for line in said if line.denied]
        if refused:  # the user's to fix: exit 2, not a service's
            why = refused[0].cause
            raise InputError(
                f"the DVC remote {where} refused to give it (md5 {md5}, {pointer}): {why}; "
                "the credentials in use (AWS_ACCESS_KEY_ID / AWS_PROFILE, or the remote's "
                "own DVC config) may not read it",
                file=path,
            ) from None
        raise ServiceError(
            f"fetching it (md5 {md5}, {pointer}) from the DVC remote {where} failed: {why}; "
            "check the remote's endpoint (AWS_ENDPOINT_URL_S3, or the remote's own DVC "
            "config) and the network, and run again",
            file=path,
        ) from None
    try:
        repo.checkout(targets=[str(path)])
    except CheckoutError:
        raise InputError(
            f"it is not in the workspace, and its md5 {md5} ({pointer}) is neither in the "
            f"local DVC cache nor in the DVC remote {where}; `dvc push` it from where it "
            "was added",
            file=path,
        ) from None


def _workspace_md5(repo: Any, path: Path, hash_name: str) -> str:
    """DVC's hash of the file's bytes (`md5`, or `md5-dos2unix` for a DVC 2 pointer)."""
    from dvc_data.hashfile.hash import hash_file

    _, info = hash_file(str(path), repo.fs, hash_name, state=repo.state)
    return str(info.value)


@dataclass(frozen=True)
class _Said:
    """One error DVC logged: its line (with the cause), the innermost cause, and whether
    access was refused."""

    text: str
    cause: str
    denied: bool


# What a refused request or missing credentials raise under DVC's remotes (s3fs turns an
# HTTP 403 into PermissionError; botocore names the credential problems).
_DENIED = frozenset({"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"})


def _said(record: logging.LogRecord) -> _Said:
    text = _first_line(record.getMessage())
    causes = []
    error = record.exc_info[1] if record.exc_info else None
    while error is not None and len(causes) < 10:
        causes.append(error)
        error = error.__cause__ or error.__context__
    if causes:
        text += f" - {_first_line(causes[0])}"
    denied = any(
        isinstance(cause, PermissionError) or type(cause).__name__ in _DENIED for cause in causes
    )
    return _Said(text, _first_line(causes[-1]) if causes else text, denied)


@contextlib.contextmanager
def _quiet_dvc() -> Iterator[list[_Said]]:
    """DVC's log lines kept (for the error message) instead of printed; no progress bars,
    and no deprecation notices from the libraries under it (pygtrie's, for one)."""
    said: list[_Said] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                said.append(_said(record))

    handler = Keep()
    saved = []
    for name in _DVC_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate, logger.handlers[:]))
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.WARNING)  # above INFO: DVC shows no progress bars
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield said
    finally:
        for logger, level, propagate, handlers in saved:
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)


# --- without DVC ------------------------------------------------------------------------


def _dvc_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / DVC_DIR).is_dir():
            return folder
    return None


def _lock_outputs(lock: Path) -> set[Path]:
    """The output paths a `dvc.lock` lists (relative to its folder), as absolute paths."""
    import yaml

    try:
        data = yaml.safe_load(lock.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return set()
    stages = data.get("stages") if isinstance(data, dict) else None
    found = set()
    for stage in stages.values() if isinstance(stages, dict) else ():
        outs = stage.get("outs") if isinstance(stage, dict) else None
        for out in outs if isinstance(outs, list) else ():
            where = out.get("path") if isinstance(out, dict) else None
            if isinstance(where, str):
                found.add(Path(lock.parent, where).absolute())
    return found


def _commit(root: Path, pointer: str) -> str | None:
    from mlgate._ci_context import git_output

    if git_output(root, "status", "--porcelain", "--", pointer):
        return None  # changed since its last commit: that commit does not hold this md5
    return git_output(root, "log", "-1", "--format=%H", "--", pointer) or None


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_size, status.st_mtime_ns, status.st_ino)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _first_line(value: Any) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__
