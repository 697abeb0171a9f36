"""Stages of `mlgate run` in processes forked when it starts, to use the machine's other core.

Validate spends seconds importing Great Expectations and register importing MLflow and
opening its store, libraries nothing else in the run needs; train's fit is most of a
run's time. `mlgate run` forks a process for each:

- validate's is forked before the pre-flight checks, so Great Expectations loads while
  they import scikit-learn; it validates once they pass.
- train's is forked after them. When validate's turn comes it trains at the same time,
  from the data it reads and hashes itself; the run reads validate's result first, so a
  failed validation is shown at once and training is ended (`mlgate.run`).
- register's is forked after them too, but imports MLflow and opens the store only once
  validate or training is done (PREPARE_AFTER): on two cores, beside both, it would slow
  them as much as it gains. Then it readies what logging the model needs, and registers
  when the run reaches register.

Each process imports with the garbage collector paused and then freezes what it
imported (`importing`), and the optional backends its libraries would import but a
stage process never uses are kept out (`_UNUSED`).

When its turn comes, the process runs the stage on the run directory, as `mlgate validate`,
`mlgate train` or `mlgate register` would in a fresh process, and sends back the result or
its one-line error; the run writes and prints it as its own. A run that stops earlier, or
restores the stage from the cache, ends the process without waiting.

A new embedded store is made under another name and given its real one only when register
runs: until then the run's own reads of the store (is there a champion?) see no store, as
they would without this process, and a run that stops early leaves none behind.
Fork is used on Linux only, where it is safe before any thread starts, and not in a run
that uses Spark (its JVM and gateway threads are the run's own, and a Spark model needs the
run's session to load), nor for a stage that runs in compute.docker_image; otherwise the
stage runs in the run's own process.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlgate._forked import die_with_parent
from mlgate.config import is_spark_model
from mlgate.errors import MlgateError

if TYPE_CHECKING:
    from mlgate.results import StageResult
    from mlgate.stages._session import Session

STAGES = ("validate", "train", "register")
# A process that waits to start its imports until the run is past one of these stages:
# validate and train run side by side, and on two cores importing MLflow beside both
# would slow them as much as it gains; once either is done, its core is free.
PREPARE_AFTER = {"register": ("validate", "train")}
# The new embedded store while it is made (one command at a time holds the repo's lock).
PREPARING_SUFFIX = ".preparing"
# The session's state a fresh stage process would otherwise work out again, each way.
_HANDED_OVER = ("data_hashes", "fetched_s3", "champion_probe", "training_image")
_HANDED_BACK = ("data_hashes",)
# What both the run and the stage's process import, imported before the fork.
_SHARED = {"validate": ("pandas", "scipy.stats", "pyarrow.compute")}
# Optional backends that Great Expectations and MLflow import when they are installed,
# which these processes never use: they run no Spark (`start` keeps a Spark run in its
# own process), and Great Expectations is handed pandas frames, never a database or a
# cloud store. Each is kept out while the stage's libraries are imported (0.9 s of
# Great Expectations' 2.1 s, where all are installed).
_UNUSED = {
    "validate": (
        "pyspark",
        "sqlalchemy",
        "boto3",
        "botocore",
        "google.cloud",
        "google.auth",
        "google.oauth2",
        "azure",
    ),
    "register": ("pyspark",),
}
_LOOK_EVERY = 0.05  # seconds
# How long an interrupted run waits for the stage to wind down (end its MLflow run).
_WIND_DOWN_SECONDS = 30


class StageFailedElsewhere(MlgateError):
    """The stage failed in its process: its exit code and its one line."""

    def __init__(self, exit_code: int, line: str) -> None:
        super().__init__(line)
        self.exit_code = exit_code


class Beside(Protocol):
    """Work started here while a stage runs in its process (`StageProcess.run`)."""

    def start(self) -> None: ...

    def look(self) -> None:
        """Called every _LOOK_EVERY seconds until the stage's result arrives."""


class StageProcess:
    """The run's handle on one stage's process: `run` the stage there once, `close` always."""

    def __init__(self, stage: str, process: Any, connection: Any, preparing: Path | None):
        self.stage = stage
        self._process = process
        self._connection = connection
        self._preparing = preparing
        self._prepared = False
        self.began = False  # the stage was sent to run there
        self.began_at: float | None = None  # when (perf_counter, the machine-wide clock)
        self.finished_at: float | None = None  # when the stage ended there

    @classmethod
    def start(cls, session: Session, stage: str, *, share: bool = True) -> StageProcess | None:
        """Fork the stage's process, or None where that is not safe (it then runs here).

        `share`: import what the run will need too (`_SHARED`) before the fork, once for
        both; not in a run that will likely restore every stage and need none of it.
        """
        config = session.project.config
        if (
            not sys.platform.startswith("linux")
            or _uses_spark(config)
            or stage in config.compute.image_stages
        ):
            return None
        import multiprocessing

        for module in _SHARED.get(stage, ()) if share else ():  # once here, not again there
            importlib.import_module(module)
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe()
        for stream in (sys.stdout, sys.stderr):  # else the child writes their buffers again
            stream.flush()
        gc.freeze()  # Python's advice for a fork: the child then leaves these objects alone
        preparing = _preparing_path(session) if stage == "register" else None
        process = context.Process(
            target=_serve,
            args=(child, session, stage, preparing),
            name=f"mlgate-{stage}",
            daemon=True,
        )
        process.start()
        child.close()
        return cls(stage, process, parent, preparing)

    def past(self, stage: str) -> None:
        """The run is past `stage`: a process waiting for that starts its imports now."""
        if self._prepared or stage not in PREPARE_AFTER.get(self.stage, ()):
            return
        self._prepared = True
        with contextlib.suppress(OSError):  # a dead process: its turn runs the stage here
            self._connection.send(("prepare", None))

    def begin(self, session: Session) -> None:
        """Start the stage there; `run` waits for its result."""
        state = {name: getattr(session, name) for name in _HANDED_OVER}
        self.began, self.began_at = True, time.perf_counter()
        with contextlib.suppress(OSError):  # a dead process: `run` runs the stage here
            self._connection.send(("run", state))

    def done(self) -> bool:
        """True when the stage begun there has sent its result (or the process ended)."""
        return self.began and self._connection.poll()

    def run(self, session: Session, beside: Beside | None = None) -> StageResult:
        """The stage's result from there (begun now if not yet). `beside` starts once it
        has begun, and is looked at while the run waits."""
        from mlgate.results import read

        try:
            if not self.began:
                self.begin(session)
            if beside is not None:
                beside.start()
                while not self._connection.poll(_LOOK_EVERY):
                    beside.look()
            reply = self._connection.recv()
        except KeyboardInterrupt:
            self._wind_down()
            raise
        except (EOFError, OSError):  # the process died: run the stage here instead
            return _stage_module(self.stage).run(session)
        kind, payload = reply
        if kind == "result":
            stored, handed_back, self.finished_at = payload
            for name, value in handed_back.items():
                setattr(session, name, value)
            return read(self.stage, stored)
        if kind == "interrupted":
            raise KeyboardInterrupt
        raise StageFailedElsewhere(*payload)

    def cancel(self) -> None:
        """End a stage begun there that the run no longer wants: nothing in it is kept."""
        self._process.kill()
        self._process.join()

    def close(self) -> None:
        """End the process; a store it was making and did not hand over goes with it."""
        if not self.began:  # idle, or still importing: nothing to wait for
            self._process.kill()
        self._connection.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        _remove_store(self._preparing)

    def _wind_down(self) -> None:
        """Interrupted while the stage runs there: interrupt it too, let it end its run."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._process.pid, signal.SIGINT)
        if self._connection.poll(_WIND_DOWN_SECONDS):
            with contextlib.suppress(EOFError, OSError):
                self._connection.recv()


def _stage_module(stage: str) -> Any:
    from mlgate.pipeline import BY_NAME

    return importlib.import_module(BY_NAME[stage].module)


# --- the forked process -----------------------------------------------------------------


def _serve(connection: Any, session: Session, stage: str, preparing: Path | None) -> None:
    die_with_parent()  # and the repo lock it shares
    # Idle, this process is the run's helper: the run decides what an interrupt means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    registry: Any = None
    failure: BaseException | None = None
    try:
        # A process in PREPARE_AFTER waits for the word to start, or for its turn.
        kind, state = connection.recv() if stage in PREPARE_AFTER else ("prepare", None)
        with importing():
            if kind in ("prepare", "run") and stage == "register":
                registry, failure = _connect(session, preparing)
            elif kind in ("prepare", "run") and stage == "validate":
                failure = _warm_up()
        if kind == "prepare":
            kind, state = connection.recv()
    except (EOFError, OSError):
        kind, state = "quit", None
    if kind != "run":
        return  # the run removes the store this process was making
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for name, value in state.items():
            setattr(session, name, value)
        if failure is not None:
            raise failure
        if preparing is not None:
            _hand_over(preparing, session)
        session._registry = registry  # None after a hand-over: opened by its real name
        if stage == "train":  # beside validate, whose result may not exist yet: the run
            session.load_data()  # compares the hashes of what each read
        result = _stage_module(stage).run(session)
        handed_back = {name: getattr(session, name) for name in _HANDED_BACK}
        # The machine-wide clock: the run may be busy with other work when this arrives.
        reply: tuple[str, Any] = ("result", (result.to_json(), handed_back, time.perf_counter()))
    except KeyboardInterrupt:
        reply = ("interrupted", None)
    except MlgateError as error:
        reply = ("error", (error.exit_code, str(error)))
    except BaseException as error:  # reported to the run, as the CLI would
        reply = ("error", (_service_code(), _unexpected(error)))
    finally:
        _remove_store(preparing)
    with contextlib.suppress(OSError):
        connection.send(reply)


def _warm_up() -> BaseException | None:
    """Validate's libraries, imported now; a failure is raised when the stage runs."""
    try:
        import pandas  # noqa: F401

        from mlgate.validation._gx import gx_module

        with _kept_out(_UNUSED["validate"]):
            gx_module()
        return None
    except (Exception, KeyboardInterrupt) as error:  # the stage meets it again, and says so
        return error


@contextlib.contextmanager
def _kept_out(modules: tuple[str, ...]) -> Iterator[None]:
    """Importing `modules` fails inside the block, as if they were not installed (a library
    that tries them does without); afterwards they import as usual. One already imported
    stays."""
    kept = [name for name in modules if name not in sys.modules]
    for name in kept:
        sys.modules[name] = None  # type: ignore[assignment]  # Python's "not importable"
    try:
        yield
    finally:
        for name in kept:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _connect(session: Session, preparing: Path | None) -> tuple[Any, BaseException | None]:
    """The registry, opened now; a failure is kept and raised when the stage runs."""
    from mlgate.tracking.client import open_client
    from mlgate.tracking.registry import Registry
    from mlgate.tracking.uri import tracking_uri

    try:
        with _kept_out(_UNUSED["register"]):
            import mlflow  # noqa: F401
        if preparing is None:
            registry = Registry.connect(session.project)
        else:
            _remove_store(preparing)  # a run killed outright may have left one
            client = open_client(f"sqlite:///{preparing}", session.project.state_dir)
            _close_store(client)  # the real path is opened once the store is handed over
            Registry(session.project, tracking_uri(session.project), client)  # its own checks
            registry = None
    except (Exception, KeyboardInterrupt) as error:  # raised when the stage runs
        return None, error
    _ready_to_log(session)
    return registry, None


def _ready_to_log(session: Session) -> None:
    """What registering does first in every run, done while the run evaluates: MLflow's
    model-logging modules imported, its map of the installed packages (it checks the
    model's requirements against it, 0.3 s) and the card's templates (registering names
    the version on it). Each is only a head start: what fails here is done again there."""
    with contextlib.suppress(Exception):
        import mlflow.models.signature
        import mlflow.sklearn  # noqa: F401
        from mlflow.utils import requirements_utils

        requirements_utils._init_modules_to_packages_map()  # MLflow's own, cached in it
    from mlgate.card.render import warm_templates

    warm_templates(session.project)


def _preparing_path(session: Session) -> Path | None:
    """Where a new embedded store is made, or None when the store exists or is a server."""
    from mlgate.tracking.uri import embedded_db, embedded_uri, tracking_uri

    project = session.project
    if tracking_uri(project) != embedded_uri(project) or embedded_db(project).exists():
        return None
    real = embedded_db(project)
    return real.with_name(real.name + PREPARING_SUFFIX)


def _hand_over(preparing: Path, session: Session) -> None:
    """Give the prepared store its real name, unless a store appeared there meanwhile."""
    from mlgate.tracking.uri import embedded_db

    real = embedded_db(session.project)
    with contextlib.suppress(FileExistsError):
        os.link(preparing, real)  # never replaces a store that is there
    _remove_store(preparing)


def _close_store(client: Any) -> None:
    """Dispose of the engines on the prepared file, so nothing writes to it by that name."""
    with contextlib.suppress(Exception):  # MLflow's internals: at worst a connection stays
        for store in (client._tracking_client.store, client._get_registry_client().store):
            engine = getattr(store, "engine", None)
            if engine is not None:
                engine.dispose()


def _remove_store(preparing: Path | None) -> None:
    if preparing is None:
        return
    for path in (preparing, preparing.with_name(preparing.name + "-journal")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def importing() -> Iterator[None]:
    """No garbage collection while the block imports libraries, whose objects then live
    as long as the process: they are frozen, so no later collection scans them, and a
    process forked later does not copy the pages a collection would touch. Each full
    collection walked every object the libraries made (0.1 to 0.2 s each, 1.5 s of CPU
    in a run on the example)."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _uses_spark(config: Any) -> bool:
    return bool(
        config.compute.cluster
        or config.validation.engine == "spark"
        or is_spark_model(config.model.type)
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _service_code() -> int:
    from mlgate.errors import EXIT_SERVICE

    return EXIT_SERVICE


def _unexpected(error: BaseException) -> str:
    from mlgate._console import save_traceback

    log = save_traceback()
    first = f"unexpected {type(error).__name__}: {error}".splitlines()[0]
    return f"{first} (a bug in mlgate; traceback in {log})"
