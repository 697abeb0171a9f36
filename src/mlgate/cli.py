"""The `mlgate` command: parse options, hand off to the stages, map errors to exit codes.

Only the standard library is imported at module level so that `mlgate --help`
starts as fast as Python itself; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from mlgate.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_SERVICE

# Commands that are not stages, each a module `mlgate.commands.<name>` with
# `configure(parser)` (argparse only) and `run(args) -> int`, and the summary that
# `mlgate --help` lists (the first line of the module's docstring; a test keeps them
# equal). The summaries live here so that `mlgate --help` imports no command module.
OTHER_COMMANDS: dict[str, str] = {
    "report": "the PR comment (created once, then edited) and the job summary, from a run's "
    "results",
    "promote": "move an alias (staging, canary, production) to a registered version whose "
    "gates passed",
    "rollback": "put an alias back on the version it held before, from the promotion ledger",
    "lineage": "answer who trained a version, with what code and data, how it gated and who "
    "promoted it",
    "build-image": "build a serving container image of a registered model version, and push it",
    "init": "scaffold mlgate.yaml, a feature spec and a starting suite from a data file",
    "monitor-issue": "sync the monitor's result with the model's GitHub issue, and start a due "
    "retraining",
    "monitor": "check production data for drift and degradation against the production version",
    "plan": "plan which models of a repository a change touches (a GitHub matrix, or a table)",
    "shadow-report": "judge a shadow model from a serving image's /metrics: promote it, or hold",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 with no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"mlgate: error: {message} (see `{self.prog} --help`)\n")


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter at the width argparse would take from shutil.get_terminal_size(),
    without importing shutil (and the compression modules it loads): a tenth of the start-up
    of `mlgate --help`."""

    def __init__(self, prog: str) -> None:
        import os

        try:
            columns = int(os.environ["COLUMNS"])
        except (KeyError, ValueError):
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
            except (AttributeError, ValueError, OSError):
                columns = 80
        super().__init__(prog, width=columns - 2)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `command`, only that command's options are configured (the
    others are listed by name and summary), so a run imports one command module, and
    `mlgate --help` (command "") none."""
    from mlgate import __version__, pipeline

    def configured(name: str) -> bool:
        return command is None or name == command

    def add_command(name: str, summary: str) -> argparse.ArgumentParser:
        # A command that is not configured is only listed, never parsed: no -h of its own.
        return commands.add_parser(
            name,
            help=summary,
            description=summary,
            add_help=configured(name),
            formatter_class=_Formatter,
        )

    parser = _Parser(
        prog="mlgate",
        description="CI/CD for machine-learning models: train, evaluate, gate and register "
        "a model from mlgate.yaml.",
        epilog="Exit codes: 0 every gate passed, 1 a gate failed, 2 bad config/input/usage, "
        "3 an outside service failed.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"mlgate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def stage_command(name: str, summary: str) -> None:
        sub = add_command(name, summary)
        if not configured(name):
            return
        sub.add_argument(
            "config",
            nargs="?",
            metavar="CONFIG",
            help="path to mlgate.yaml, or its folder (default: ./mlgate.yaml)",
        )
        sub.add_argument(
            "--run-dir",
            metavar="DIR",
            help="run directory shared by the stages (default: .mlgate/runs/<run-id>/ beside "
            "the config; later stages use the latest run)",
        )
        sub.add_argument("--json", action="store_true", help="print the machine-readable result")
        sub.add_argument(
            "--no-cache",
            action="store_true",
            help="run every stage even when its inputs are unchanged since an earlier run",
        )
        sub.add_argument(
            "--stage-cache",
            metavar="DIR",
            help="keep the stage cache in DIR and leave in it only this run's stages, for a CI "
            "cache to save (default: .mlgate/cache/stages/ beside the config, which keeps "
            "every run's)",
        )

    stage_command("run", pipeline.RUN_HELP)
    for stage in pipeline.STAGES:
        stage_command(stage.name, stage.help)
    for name, summary in OTHER_COMMANDS.items():
        sub = add_command(name, summary)
        if configured(name):
            _command_module(name).configure(sub)
    return parser


# Commands whose module's name says more than the command's (`mlgate lineage` shows it).
_MODULE_OF = {"lineage": "show_lineage"}


def _command_module(name: str):  # returns a module
    module = _MODULE_OF.get(name, name.replace("-", "_"))
    return importlib.import_module(f"{__package__}.commands.{module}")


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    # The top level has no option taking a value, so the first word is the command.
    parser = build_parser(next((word for word in argv if not word.startswith("-")), ""))
    _mask_secrets()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    with (
        _sigterm_as_interrupt(),
        _handle_errors(as_json=getattr(args, "json", False)) as outcome,
    ):
        if args.command in OTHER_COMMANDS:
            outcome.code = _command_module(args.command).run(args)
        else:
            outcome.code = _run_stages(args)
    return outcome.code


def entrypoint() -> None:
    _exit(main())


def _exit(code: int) -> None:
    """End the process without tearing down every module one by one: a run imports about
    2,000, and that teardown took 0.4 s, as long as some stages. Every file mlgate writes
    is closed by now; exit handlers (temporary folders, logging) still run. A thread that
    is still working gets the usual exit, which waits for it."""
    import os
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # a closed pipe: nothing more can be said on it
            stream.flush()
    os._exit(code)


class _Outcome:
    code = 0


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (how GitHub cancels a job) stops mlgate like Ctrl-C: exit 130, results kept."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _mask_secrets() -> None:
    """In GitHub Actions, mask every credential before anything could print it."""
    import os

    if os.environ.get("GITHUB_ACTIONS") == "true":
        from mlgate._actions_io import mask_secrets

        mask_secrets()


def _write_github_outputs(run_dir, results, code: int, stage_cache_key: str = "") -> None:
    """Step outputs (passed, run-id, model-version, ...) when GITHUB_OUTPUT is set."""
    import os

    if os.environ.get("GITHUB_OUTPUT"):
        from mlgate._actions_io import stage_outputs, write_outputs

        outputs = stage_outputs(run_dir, results, code)
        if stage_cache_key:  # --stage-cache, and the run went to its end
            outputs["stage-cache-key"] = stage_cache_key
        write_outputs(outputs)


def _keep_this_run(store, results) -> str:  # store: pathlib.Path; results: list[StageResult]
    """--stage-cache: the store keeps this run's stages only; the key names that set."""
    from mlgate._cache import StageCache, store_key

    used = {r.stage: r.cache.fingerprint for r in results if r.cache and r.cache.fingerprint}
    StageCache(store).keep_only(used)
    return store_key(used)


@contextmanager
def _handle_errors(*, as_json: bool) -> Iterator[_Outcome]:
    """The one place where exceptions become exit codes and one-line messages."""
    from mlgate import _console as console
    from mlgate.errors import MlgateError

    outcome = _Outcome()
    try:
        yield outcome
    except MlgateError as error:
        console.error(str(error), file=error.file, line=error.line)
        outcome.code = error.exit_code
        if as_json:
            console.print_error_json(str(error), error.exit_code)
    except KeyboardInterrupt:
        console.error("interrupted; the run directory keeps the stages that finished")
        outcome.code = EXIT_INTERRUPTED
    except Exception as error:
        if isinstance(error, OSError) and error.filename:
            # A folder that cannot be written, a file that is not there: a problem of the
            # environment, named by its path (--run-dir, $GITHUB_OUTPUT, --write-artifact...).
            message = f"cannot use {error.filename}: {error.strerror or type(error).__name__}"
            console.error(message)
            outcome.code = EXIT_BAD_INPUT
            if as_json:
                console.print_error_json(message, EXIT_BAD_INPUT)
            return
        # Anything else is a bug in mlgate, not the user's input: say so, keep it short.
        log = console.save_traceback()
        console.error(
            f"unexpected {type(error).__name__}: {error}".splitlines()[0]
            + f" (a bug in mlgate; traceback in {log})"
        )
        outcome.code = EXIT_SERVICE


def _run_stages(args: argparse.Namespace) -> int:
    from mlgate.project import find_config, load_project
    from mlgate.rundir import hold_lock
    from mlgate.tracking.uri import tracking_uri

    project = load_project(find_config(args.config))
    tracking_uri(project)  # a bad or config-only tracking URI: exit 2 before any run directory
    with hold_lock(project.state_dir, args.command):  # one run at a time per model repo
        return _run_stages_locked(args, project)


def _start_stage_process(session, stage: str, *, share: bool = True) -> None:  # Session
    from mlgate.stage_process import StageProcess

    process = StageProcess.start(session, stage, share=share)
    if process is not None:
        session.stage_processes[stage] = process


def _stopped(run_dir, error: BaseException):  # -> mlgate.results.StoppedRun | None
    """Why the run stopped: as `run_stages` recorded it, or (an error before the first
    stage) recorded here, so that the run directory never reads as a finished run."""
    from mlgate.errors import MlgateError
    from mlgate.run import stopped_by

    try:
        stopped = run_dir.stopped()
        if stopped is None:
            stopped = stopped_by(None, error)
            run_dir.record_stop(stopped)
        return stopped
    except (MlgateError, OSError):
        return None


def _run_stages_locked(args: argparse.Namespace, project) -> int:  # project: mlgate.project.Project
    from pathlib import Path

    from mlgate import _console as console
    from mlgate._checked import check_project, passed_before
    from mlgate.errors import MlgateError
    from mlgate.pipeline import COMMANDS
    from mlgate.run import clear_outputs, run_stages
    from mlgate.rundir import RunDir
    from mlgate.stage_process import importing
    from mlgate.stages._session import Session

    names, which = COMMANDS[args.command]
    chosen = Path(args.run_dir) if args.run_dir else None
    if which == "new":
        run_dir = RunDir.create(project.state_dir, chosen)
        clear_outputs(run_dir)
    else:
        run_dir = RunDir.existing(project.state_dir, chosen)
    session = Session(
        project=project,
        run_dir=run_dir,
        use_cache=not args.no_cache,
        stage_cache=Path(args.stage_cache).absolute() if args.stage_cache else None,
    )
    printer = console.StagePrinter(project, run_dir, quiet=args.json)
    printer.header(args.command)
    # `mlgate run`: validate, train and register run in processes of their own
    # (mlgate.stage_process). Validate's is forked before the checks, so that Great
    # Expectations loads while they run; train's and register's after them, so that they
    # start with what the checks imported (scikit-learn, the team's code).
    ahead = len(names) > 1 and names[0] == "validate" and names[-1] == "register"
    try:
        with importing():
            if ahead:  # an unchanged re-run restores every stage and imports none of it
                rerun = passed_before(project, use_cache=session.use_cache)
                _start_stage_process(session, "validate", share=not rerun)
            # Every config error, before the first stage prints (remembered when it passed).
            check_project(project, use_cache=session.use_cache)
            if ahead:
                _start_stage_process(session, "train")
                _start_stage_process(session, "register")
        results = run_stages(session, names, on_result=printer.stage)
    except (Exception, KeyboardInterrupt) as error:
        # The run directory keeps what finished and why it stopped (`run_stages` recorded
        # it); a later report step shows both, never "passed".
        stopped = _stopped(run_dir, error)
        if stopped is not None:
            printer.stopped(stopped)
        if stopped is not None or isinstance(error, MlgateError):
            code = stopped.exit_code if stopped is not None else error.exit_code
            _write_github_outputs(run_dir, list(session.results.values()), code)
        raise
    finally:
        for process in session.stage_processes.values():
            process.close()
    stopped = run_dir.stopped()  # an earlier command's stop that this one did not repair
    code = stopped.exit_code if stopped is not None else console.exit_code(results)
    printer.footer(results, code, stopped)
    if args.command == "run" and stopped is None:
        from mlgate.alerts import notify_run

        try:  # a failed gate alerts, a pass resolves (alerts: in mlgate.yaml)
            notify_run(project, results, code)
        except MlgateError as error:  # alerts.required and an alert was not delivered
            _write_github_outputs(run_dir, results, error.exit_code)
            raise
    # Saved for a later run only when this one ran to its end (a failed gate included).
    saved = session.stage_cache is not None and stopped is None
    key = _keep_this_run(session.stage_cache, results) if saved else ""
    _write_github_outputs(run_dir, results, code, key)
    if args.json:
        console.print_json(project, run_dir, results, code, stopped=stopped)
    return code
