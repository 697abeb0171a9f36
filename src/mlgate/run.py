"""The orchestrator of `mlgate run` and the stage commands: each stage in order, or reused.

For each stage named, `run_stages` restores the result from the stage cache when the
stage's inputs are unchanged, else runs `mlgate.stages.<name>.run`, stamps the time
taken and the cache record, writes `<stage>.json` to the run directory and hands the
result to the printer. A FAILED stage that stops the run (`pipeline.Stage.stops_the_run`)
ends it; other failures do not stop the stages after them. A stage that stops on an error
(or an interruption) leaves `StoppedRun` in the run directory, naming it with the exit
code and the one line the command prints; its later successful completion removes it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from mlgate import _actions_io as actions_io
from mlgate.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_SERVICE, MlgateError
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
    results = []
    for name in names:
        started = time.perf_counter()
        try:
            result = _reused_or_run(session, name)
            _annotate(result)
            result = result.replace(seconds=time.perf_counter() - started)
            session.results[name] = result
            session.run_dir.write_result(name, result.to_json())
        except (Exception, KeyboardInterrupt) as error:
            # What finished stays; the record says the run did not finish, and why.
            with contextlib.suppress(OSError):  # the error itself is what the user must see
                session.run_dir.record_stop(stopped_by(name, error))
            raise
        session.run_dir.clear_stop(name)
        results.append(result)
        if on_result is not None:
            on_result(result)
        if result.verdict is Verdict.FAILED and BY_NAME[name].stops_the_run:
            break
    return results


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


def _compute(session: Session, name: str) -> StageResult:
    process = session.stage_processes.get(name)
    if process is not None:  # its libraries were imported there meanwhile
        return process.run(session)
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


def _reused_or_run(session: Session, name: str) -> StageResult:
    """Restore the stage from the cache when its inputs are unchanged, else run and store it."""
    from mlgate._cache import StageCache
    from mlgate._reuse import stage_inputs, still_valid

    store = StageCache(session.stage_store())
    if not session.use_cache:  # run first: the stage hashes the data while reading it
        result = _compute(session, name)
        inputs = stage_inputs(session, name)
        fingerprint = inputs.fingerprint() if inputs.cacheable else None
        return _stored(session, store, name, fingerprint, result)
    inputs = stage_inputs(session, name)
    fingerprint = inputs.fingerprint() if inputs.cacheable else None
    if fingerprint:
        cached = store.lookup(name, fingerprint)
        if cached is not None and still_valid(session, cached):
            restored = _restored(name, cached.result)
            if restored is not None:
                cached.restore(session.run_dir.path)
                from_run = restored.cache.run_id if restored.cache else None
                record = CacheRecord(fingerprint=fingerprint, reused=True, from_run=from_run)
                return restored.replace(cache=record)
    return _stored(session, store, name, fingerprint, _compute(session, name))


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
