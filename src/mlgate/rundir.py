"""The run directory: where each stage leaves its JSON result for the next one.

Separate workflow steps (or jobs, via an artifact) chain stages through it, and a
failure midway leaves every finished stage's result in place. Files are written
to a temporary name and renamed, so a reader never sees half a result.

One stage command at a time per model repo: `hold_lock` takes an advisory lock on the
state directory (`.mlgate/lock`), and a second `mlgate run` there refuses at once (exit 2)
naming the process that holds it, rather than interleaving two runs' files.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import RunDirError

if TYPE_CHECKING:
    from mlgate.results import StoppedRun

RUNS = "runs"
MONITOR_RUNS = "monitor"  # `mlgate monitor`'s checks, apart from the stage runs
LATEST = "LATEST"
LOCK = "lock"

# Every file a run directory holds, named once. `<stage>.json` is `pipeline.Stage.result_file`.
MODEL_FILE = "model.joblib"  # train: the fitted pipeline
ONNX_FILE = "model.onnx"  # train, with export.onnx: the pipeline as ONNX
SPARK_MODEL_DIR = "spark-model"  # train, with a Spark MLlib model.type: Spark's own format
PREDICTIONS_FILE = "predictions.csv"  # evaluate: the validation rows' labels and scores
PLOTS_DIR = "plots"  # evaluate: one PNG per plot
FAIRNESS_CHART = "fairness.png"  # fairness
CARD_MARKDOWN = "model_card.md"  # card
CARD_HTML = "model_card.html"  # card
CARD_FACTS = "card.json"  # card: the facts a later card is compared with
CARD_FILES = (CARD_MARKDOWN, CARD_HTML, CARD_FACTS)
REPORT_MARKDOWN = "report.md"  # report: the full report
REPORT_COMMENT = "report-comment.md"  # report: the comment as posted
REPORT_DOCUMENT = "report.json"  # report: the fork artifact's data
STOPPED_FILE = "stopped.json"  # why the run did not finish (`mlgate.results.StoppedRun`)
MONITOR_FILE = "monitor.json"  # monitor: `mlgate.results.monitor.MonitorResult`
MONITOR_MARKDOWN = "monitor.md"  # monitor: the result in words


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def run_id(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, state_dir: Path, chosen: Path | None = None, *, folder: str = RUNS) -> RunDir:
        if chosen is not None:
            try:
                chosen.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise RunDirError(
                    "is not a directory; give --run-dir a folder (new or from an earlier run)",
                    file=chosen,
                ) from None
            except OSError as exc:
                raise RunDirError(
                    f"cannot create the run directory: {exc.strerror or exc}", file=chosen
                ) from None
            return cls(chosen.resolve())
        runs = state_dir / folder
        runs.mkdir(parents=True, exist_ok=True)
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
        path = runs / run_id
        path.mkdir()
        atomic_write_text(runs / LATEST, run_id + "\n")
        return cls(path)

    @classmethod
    def existing(cls, state_dir: Path, chosen: Path | None = None) -> RunDir:
        """The run directory given, or the latest one under the state directory."""
        if chosen is not None:
            if not chosen.is_dir():
                raise RunDirError(
                    f"run directory {chosen} does not exist; run `mlgate train` first"
                )
            return cls(chosen.resolve())
        pointer = state_dir / RUNS / LATEST
        try:
            run_id = pointer.read_text(encoding="utf-8").strip()
        except OSError:
            raise RunDirError(
                f"no earlier run under {state_dir / RUNS}; run `mlgate train` first or pass "
                "--run-dir"
            ) from None
        path = state_dir / RUNS / run_id
        if not run_id or "/" in run_id or not path.is_dir():
            raise RunDirError(f"{pointer} names a run that does not exist; pass --run-dir")
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_result(self, stage: str, result: dict[str, Any]) -> Path:
        target = self.file(f"{stage}.json")
        atomic_write_text(target, json.dumps(result, indent=2, sort_keys=False, default=str))
        return target

    def peek_result(self, stage: str) -> dict[str, Any]:
        """The stage's result if this run has a readable one, else an empty dict."""
        try:
            result = json.loads(self.file(f"{stage}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return result if isinstance(result, dict) else {}

    def stopped(self) -> StoppedRun | None:
        """Why this run did not finish, or None when no error stopped it."""
        target = self.file(STOPPED_FILE)
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RunDirError(f"cannot read {target}: {exc.strerror or exc}") from None
        from mlgate.results import StoppedRun

        try:
            return StoppedRun.from_json(json.loads(text))
        except ValueError:
            raise RunDirError(
                f"{target} is not a record mlgate can read; rerun the stage that stopped"
            ) from None

    def record_stop(self, stopped: StoppedRun) -> None:
        """Keep why the run stopped. An earlier stage's stop stays: it is the cause."""
        from mlgate.pipeline import NAMES

        try:
            kept = self.stopped()
        except RunDirError:
            kept = None
        if kept is not None and stopped.stage is not None and kept.stage != stopped.stage:
            order = {name: index for index, name in enumerate(NAMES)}
            if kept.stage is None or order.get(kept.stage, 99) < order.get(stopped.stage, 99):
                return
        atomic_write_text(self.file(STOPPED_FILE), json.dumps(stopped.to_json(), indent=2))

    def clear_stop(self, stage: str) -> None:
        """The stage that stopped the run has now finished: the run is no longer stopped.

        A stop before the first stage (a config error) is cleared only by a new run."""
        try:
            kept = self.stopped()
        except RunDirError:
            return  # unreadable: kept, so that the run never reads as finished
        if kept is not None and kept.stage == stage:
            self.file(STOPPED_FILE).unlink(missing_ok=True)

    def read_result(self, stage: str, *, needed_by: str) -> dict[str, Any]:
        target = self.file(f"{stage}.json")
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunDirError(
                f"`mlgate {needed_by}` needs the {stage} stage's result, which is not in "
                f"{self.path}; run `mlgate {stage}` first (or `mlgate run`)"
            ) from None
        except ValueError:
            raise RunDirError(f"{target} is not valid JSON; rerun the {stage} stage") from None


def atomic_write_text(target: Path, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_bytes(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        # mkstemp makes the file 0600; a result file follows the umask like every other file.
        os.chmod(temporary, 0o666 & ~current_umask())
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's umask (read by setting it, so set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def hold_lock(state_dir: Path, command: str) -> Iterator[None]:
    """Hold the state directory's lock while `command` runs; refuse if another process has it.

    The lock is an fcntl advisory lock, so it goes away with the process that held it
    (a killed run leaves no stale lock behind). Windows has no fcntl: no lock there.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = state_dir / LOCK
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise RunDirError(
            f"cannot write mlgate's state folder: {exc.strerror or exc}; run from a writable "
            "checkout",
            file=state_dir,
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = " ".join(handle.read().split())[:100] or "another process"
            raise RunDirError(
                f"another mlgate command is using {state_dir} ({holder}); wait for it to "
                "finish, or run from another checkout",
                file=path,
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"mlgate {command}, pid {os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
