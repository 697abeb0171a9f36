"""The orchestrator of `mlgate run` and the stage commands: each stage in order, or reused.

For each stage named, `run_stages` restores the result from the stage cache when the
stage's inputs are unchanged, else runs `mlgate.stages.<name>.run`, stamps the time
taken and the cache record, writes `<stage>.json` to the run directory and hands the
result to the printer. A FAILED stage that stops the run (`pipeline.Stage.stops_the_run`)
ends it; other failures do not stop the stages after them. A stage that stops on an error
(or an interruption) leaves `StoppedRun` in the run directory, naming it with the exit
code and the one line the command prints; its later successful completion removes it.

In `mlgate run`, validate and train run at once, each in a process of its own
(`mlgate.stage_process`), and the run reads validate's result first: validate still
decides. If it fails or stops the run, training is ended and what it left removed; a
model trained on other bytes than validate read is refused. While train runs, the run
imports the libraries of the stages after it (`_ImportsAhead`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mlgate import _actions_io as actions_io
from mlgate.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_SERVICE,
    InputError,
    MlgateError,
)
from mlgate.pipeline import BY_NAME, NAMES
from mlgate.results import CacheRecord, StageResult, StoppedRun, ValidateResult, Verdict, read
from mlgate.rundir import (
    CARD_FILES,
    FAIRNESS_CHART,
    MODEL_FILE,
    ONNX_FILE,
    PLOTS_DIR,
    PREDICTIONS_FILE,
    STOPPED_FILE,
    RunDir,
)
from mlgate.stages._session import Session

if TYPE_CHECKING:
    from mlgate.stage_process import Beside


def clear_outputs(run_dir: RunDir) -> None:
    """A new run in a reused directory must not show an earlier run's results."""
    results = [BY_NAME[name].result_file for name in NAMES]
    outputs = [MODEL_FILE, ONNX_FILE, PREDICTIONS_FILE, FAIRNESS_CHART, *CARD_FILES, STOPPED_FILE]
    for name in [*results, *outputs]:
        run_dir.file(name).unlink(missing_ok=True)
    for plot in run_dir.file(PLOTS_DIR).glob("*.png"):
        plot.unlink()


def run_stages(
    session: Session,
    names: list[str] | tuple[str, ...],
    on_result: Callable[[StageResult], None] | None = None,
) -> list[StageResult]:
    results, turns = [], set()
    try:
        for name in names:
            turns.add(name)
            result = _run_one(session, name, names)
            results.append(result)
            if on_result is not None:
                on_result(result)
            if result.verdict is Verdict.FAILED and BY_NAME[name].stops_the_run:
                break
    finally:
        _cancel_ahead(session, turns)
    return results


def _run_one(session: Session, name: str, names: Sequence[str]) -> StageResult:
    started = time.perf_counter()
    try:
        result = _reused_or_run(session, name, _beside(session, name, names))
        if name == "train":
            _check_same_data(session)
        _past(session, name)
        _annotate(result)
        result = result.replace(seconds=_seconds(session, name, started))
        session.results[name] = result
        session.run_dir.write_result(name, result.to_json())
    except (Exception, KeyboardInterrupt) as error:
        # What finished stays; the record says the run did not finish, and why.
        with contextlib.suppress(OSError):  # the error itself is what the user must see
            session.run_dir.record_stop(stopped_by(name, error))
        raise
    session.run_dir.clear_stop(name)
    return result


def _beside(session: Session, name: str, names: Sequence[str]) -> Beside | None:
    """What starts while `name` runs in its process: train, when validate is running and
    train comes next in a process of its own and is not in the cache; the later stages'
    libraries, while train runs."""
    train = session.stage_processes.get("train")
    if train is None or "train" not in names:
        return None
    if name == "train":
        return _ImportsAhead(session, names[names.index("train") + 1 :])
    if name != "validate" or names.index("train") != names.index("validate") + 1:
        return None
    return None if _in_cache(session, "train") else _TrainBeside(session, train)


class _TrainBeside:
    """Train, begun in its process while validate runs in its own; once it is done, the
    processes waiting for the run to be past train are told (register's imports MLflow)."""

    def __init__(self, session: Session, train: Any) -> None:
        self._session = session
        self._train = train

    def start(self) -> None:
        self._train.begin(self._session)

    def look(self) -> None:
        if self._train.done():
            _past(self._session, "train")


class _ImportsAhead:
    """The libraries of the stages after train that run in this process, imported while
    train runs in its own (validate is done by then, and its core free): matplotlib for the
    plots and the fairness chart, Fairlearn, Jinja2 and the card's templates. Each is only
    a head start: what fails here is met again, and reported, by its stage."""

    def __init__(self, session: Session, later: Sequence[str]) -> None:
        self._session = session
        self._modules = dict.fromkeys(m for name in later for m in _IMPORTS.get(name, ()))
        self._card = "card" in later

    def start(self) -> None:
        from mlgate.stage_process import importing

        with importing():
            for module in self._modules:
                with contextlib.suppress(Exception):
                    importlib.import_module(module)
            if self._card:
                from mlgate.card.render import warm_templates

                warm_templates(self._session.project)

    def look(self) -> None:
        pass


# What a stage imports beyond what the run has by the time train starts.
_IMPORTS = {
    "evaluate": ("sklearn.metrics", "matplotlib.figure", "matplotlib.backends.backend_agg"),
    "fairness": ("fairlearn.metrics", "matplotlib.figure", "matplotlib.backends.backend_agg"),
    "card": ("jinja2",),
}


def _in_cache(session: Session, name: str) -> bool:
    """True when the stage would be restored from the cache (a lookup, nothing restored)."""
    if not session.use_cache:
        return False
    from mlgate._cache import StageCache

    fingerprint = _fingerprint(session, name)
    return (
        bool(fingerprint)
        and StageCache(session.stage_store()).lookup(name, fingerprint) is not None
    )


def _check_same_data(session: Session) -> None:
    """Refuse a model trained on other bytes than validate checked (train may have read
    the files beside validate, in a process of its own)."""
    validated = session.results.get("validate")
    if not isinstance(validated, ValidateResult):
        return
    for role, sha256 in session.data_hashes.items():
        checked = validated.files.get(role)
        if checked is not None and checked.sha256 != sha256:
            raise InputError(
                f"the {role} data changed while this run read it ({checked.uri}); "
                "run again once writes to it stop"
            )


def _cancel_ahead(session: Session, turns: set[str]) -> None:
    """A stage begun before its turn, which the run did not reach, is ended and what it
    left removed (train, begun beside a validate that stopped the run)."""
    for name, process in session.stage_processes.items():
        if process.began and name not in turns:
            process.cancel()
            _remove_outputs(session, name)


def _remove_outputs(session: Session, name: str) -> None:
    import shutil

    from mlgate._reuse import READS

    folder = session.run_dir.path
    for output in READS[name].outputs:
        for path in (folder / output, *folder.glob(f".{output}.*")):  # and a partial one
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _past(session: Session, name: str) -> None:
    """Tell the stage processes the run is past `name` (register's then imports MLflow)."""
    for process in session.stage_processes.values():
        process.past(name)


def _seconds(session: Session, name: str, started: float) -> float:
    """The stage's time: from its start to its end, in its process if it ran there (train
    may have begun before its turn, validate ended before the run read its result)."""
    process = session.stage_processes.get(name)
    if process is None or process.finished_at is None:
        return time.perf_counter() - started
    return process.finished_at - min(started, process.began_at or started)


def stopped_by(stage: str | None, error: BaseException) -> StoppedRun:
    """The record of a stop: the exit code and one line `mlgate.cli` shows for `error`."""
    if isinstance(error, MlgateError):
        return StoppedRun.of(stage, error.exit_code, str(error))
    if isinstance(error, KeyboardInterrupt):
        return StoppedRun.of(
            stage, EXIT_INTERRUPTED, "interrupted (Ctrl-C, or the job was cancelled)"
        )
    if isinstance(error, OSError) and error.filename:
        why = error.strerror or type(error).__name__
        return StoppedRun.of(stage, EXIT_BAD_INPUT, f"cannot use {error.filename}: {why}")
    first = f"unexpected {type(error).__name__}: {error}".splitlines()[0]
    return StoppedRun.of(stage, EXIT_SERVICE, f"{first} (a bug in mlgate)")


def _compute(session: Session, name: str, beside: Beside | None = None) -> StageResult:
    process = session.stage_processes.get(name)
    if process is not None:  # its libraries were imported there meanwhile
        return process.run(session, beside)
    # compute.stages: these run inside the team's image (compute.docker_image).
    if name in session.project.config.compute.image_stages:
        from mlgate.compute import handoff
        from mlgate.compute.container import run_stage

        try:  # the registry is read here: the image has no MLflow and no network
            return run_stage(session, name, handoff.prepare(session, name))
        finally:
            handoff.cleanup(session)
    return importlib.import_module(BY_NAME[name].module).run(session)


def _annotate(result: StageResult) -> None:
    """In GitHub Actions, one `::error` per failed expectation (a reused result too)."""
    if isinstance(result, ValidateResult) and os.environ.get("GITHUB_ACTIONS") == "true":
        from mlgate.report.sections.validate import annotations

        for line in annotations(result):  # stderr: stdout may carry --json
            print(actions_io.one_line(line), file=sys.stderr, flush=True)


def _reused_or_run(session: Session, name: str, beside: Beside | None = None) -> StageResult:
    """Restore the stage from the cache when its inputs are unchanged, else run and store it.

    `beside` starts while the stage runs in its own process, if it runs there.
    """
    from mlgate._cache import StageCache
    from mlgate._reuse import still_valid

    store = StageCache(session.stage_store())
    if not session.use_cache:  # run first: the stage hashes the data while reading it
        result = _compute(session, name, beside)
        return _stored(session, store, name, _fingerprint(session, name), result)
    fingerprint = _fingerprint(session, name)
    if fingerprint:
        cached = store.lookup(name, fingerprint)
        if cached is not None and still_valid(session, cached):
            restored = _restored(name, cached.result)
            if restored is not None:
                cached.restore(session.run_dir.path)
                from_run = restored.cache.run_id if restored.cache else None
                record = CacheRecord(fingerprint=fingerprint, reused=True, from_run=from_run)
                return restored.replace(cache=record)
    return _stored(session, store, name, fingerprint, _compute(session, name, beside))


def _fingerprint(session: Session, name: str) -> str | None:
    """The stage's inputs as one hash, or None when they cannot be cached."""
    from mlgate._reuse import stage_inputs

    inputs = stage_inputs(session, name)
    return inputs.fingerprint() if inputs.cacheable else None


def _restored(name: str, stored: Any) -> StageResult | None:
    """A cached result, or None when it no longer reads as one (then the stage runs again)."""
    try:
        return read(name, stored)
    except ValueError:
        return None


def _stored(
    session: Session, store: Any, name: str, fingerprint: str | None, result: StageResult
) -> StageResult:
    """The stage's fresh result, marked with its fingerprint and kept for a later run."""
    from mlgate._reuse import READS

    record = CacheRecord(fingerprint=fingerprint, reused=False, run_id=session.run_dir.run_id)
    result = result.replace(cache=record)
    if fingerprint:
        store.store(name, fingerprint, result.to_json(), session.run_dir.path, READS[name].outputs)
    return result
