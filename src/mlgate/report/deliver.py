"""`mlgate report`: gather the results, compose the report, and deliver it everywhere.

A run that an error stopped midway (`rundir.STOPPED_FILE`) is reported as not finished,
naming the stage and the one line, and `mlgate report` exits with that run's exit code.

Where it goes: `report.md` in the run directory (the full report, also printed
outside GitHub), `$GITHUB_STEP_SUMMARY` (under 1 MiB), `::error` annotations for
failed gates, and the pull request's comment (under 65,536 characters), created
once and edited on every later run. `--write-artifact` and `--from-artifact` split
this for pull requests from forks (see `mlgate.report.artifact`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate import _actions_io as actions_io
from mlgate import pipeline
from mlgate.errors import EXIT_GATE_FAILED, EXIT_OK, InputError, RunDirError, ServiceError
from mlgate.report import artifact, budget
from mlgate.report.compose import ReportData, compose, folded_note, marker
from mlgate.results import RegisterResult, StageResult
from mlgate.rundir import REPORT_COMMENT, REPORT_MARKDOWN

if TYPE_CHECKING:
    from mlgate.rundir import RunDir


@dataclass(frozen=True)
class Options:
    config: str | None = None
    run_dir: str | None = None
    pr: int | None = None
    comment: bool = True
    required: bool = False
    write_artifact: str | None = None
    from_artifact: str | None = None


def run(options: Options, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    token = env.get("GITHUB_TOKEN") or ""
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    if in_actions and token:
        # Before anything else prints: the runner hides the token in every later log line.
        actions_io.add_mask(token, stream=sys.stdout)
    event = _event(env)

    if options.from_artifact:
        data = _trusted_context(artifact.read(Path(options.from_artifact)), env, event)
        required, out_dir = options.required, None
    else:
        data, required, out_dir = _from_run_dir(options, env, event)
        if options.write_artifact:
            path = artifact.write(data, _directory(options.write_artifact))
            print(actions_io.one_line(f"report data for a later workflow_run job: {path}"))

    composed = compose(data)
    note = lambda titles: folded_note(titles, data)  # noqa: E731
    full = composed.full()
    comment = budget.fit(composed, limit=budget.COMMENT_TARGET, note=note)
    if out_dir is not None:
        from mlgate.rundir import atomic_write_text

        atomic_write_text(out_dir / REPORT_MARKDOWN, full)
        atomic_write_text(out_dir / REPORT_COMMENT, comment.body)

    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        summary = budget.fit(
            composed, limit=budget.STEP_SUMMARY_TARGET, measure=budget.utf8_bytes, note=note
        )
        actions_io.append_summary(summary.body, summary_path)
    if in_actions:
        _annotate(data)
    else:
        sys.stdout.write(full)

    comment_url = None
    if options.comment and not options.write_artifact:
        comment_url = _comment(
            data, comment.body, options, env, event, required=required, token=token
        )
    if env.get("GITHUB_OUTPUT"):
        actions_io.write_outputs(
            {
                "passed": data.passed,
                "report-path": out_dir / REPORT_MARKDOWN if out_dir is not None else "",
                "comment-url": comment_url or "",
            },
            env["GITHUB_OUTPUT"],
        )
    return exit_code(data)


def exit_code(data: ReportData) -> int:
    """The reported run's exit code: a stopped run's own, 1 when a gate failed, else 0."""
    if data.stopped is not None:
        return data.stopped.exit_code
    return EXIT_GATE_FAILED if data.failed else EXIT_OK


# --- gathering --------------------------------------------------------------------------


def _from_run_dir(
    options: Options, env: dict[str, str], event: dict[str, Any]
) -> tuple[ReportData, bool, Path]:
    from mlgate import __version__
    from mlgate import _ci_context as ci_context
    from mlgate.project import find_config, load_project
    from mlgate.rundir import RunDir

    project = load_project(find_config(options.config))
    chosen = Path(options.run_dir) if options.run_dir else None
    run_dir = RunDir.existing(project.state_dir, chosen)
    stages = {
        name: _read_result(run_dir, name)
        for name in pipeline.NAMES
        if run_dir.file(pipeline.BY_NAME[name].result_file).is_file()
    }
    stopped = run_dir.stopped()
    if not stages and stopped is None:
        raise InputError(f"{run_dir.path} holds no stage results; run `mlgate run` first")
    ci = ci_context.ci_context(env)
    head = event.get("pull_request", {}).get("head", {}) if isinstance(event, dict) else {}
    commit = head.get("sha") if isinstance(head, dict) else None
    commit = commit or ci_context.code_version(project.root, ci).commit
    data = ReportData(
        model=project.registry_name,
        stages=stages,
        mlgate_version=__version__,
        commit=commit if isinstance(commit, str) else None,
        run_url=ci.run_url,
        pull_request=options.pr or _event_pull_number(event),
        stopped=stopped,
    )
    return data, options.required or project.config.report.required, run_dir.path


def _read_result(run_dir: RunDir, stage: str) -> StageResult:
    """The stage's typed result from the run directory; a malformed file is a RunDirError."""
    from mlgate import results

    stored = run_dir.read_result(stage, needed_by="report")
    try:
        return results.read(stage, stored)
    except ValueError as error:
        raise RunDirError(
            f"{run_dir.file(pipeline.BY_NAME[stage].result_file)} is not a result mlgate can "
            f"read ({_why(error)}); rerun the {stage} stage"
        ) from None


def _why(error: ValueError) -> str:
    """The first problem pydantic found, as `field.path: message`."""
    found = error.errors() if callable(getattr(error, "errors", None)) else []  # type: ignore[attr-defined]
    if not found:
        return " ".join(str(error).split())[:200]
    where = ".".join(str(part) for part in found[0].get("loc", ()))
    return f"{where}: {found[0].get('msg', 'invalid')}" if where else found[0].get("msg", "")


def _trusted_context(data: ReportData, env: dict[str, str], event: dict[str, Any]) -> ReportData:
    """In a workflow_run job, the run URL and commit come from GitHub's event, not the artifact."""
    from dataclasses import replace

    stages = dict(data.stages)
    register = stages.get("register")
    if isinstance(register, RegisterResult) and not _on_trusted_mlflow(
        register.mlflow_run_url, env
    ):
        # A fork could point "MLflow run" anywhere: link only to this repository's server.
        stages["register"] = register.replace(mlflow_run_url=None)
    data = replace(data, stages=stages)
    run = event.get("workflow_run") if isinstance(event, dict) else None
    if not isinstance(run, dict):
        return data
    commit = run.get("head_sha") if isinstance(run.get("head_sha"), str) else data.commit
    run_url = run.get("html_url") if isinstance(run.get("html_url"), str) else data.run_url
    return replace(data, commit=commit, run_url=run_url)


def _on_trusted_mlflow(url: object, env: dict[str, str]) -> bool:
    """Whether `url` is on the MLflow server this (trusted) job is configured with."""
    from urllib.parse import urlsplit

    tracking = urlsplit(env.get("MLFLOW_TRACKING_URI") or "")
    if not isinstance(url, str) or tracking.scheme not in ("http", "https"):
        return False
    target = urlsplit(url)
    return (target.scheme, target.netloc) == (tracking.scheme, tracking.netloc)


def _event(env: dict[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"GITHUB_EVENT_PATH {path} is not a readable JSON event") from None
    return event if isinstance(event, dict) else {}


def _event_pull_number(event: dict[str, Any]) -> int | None:
    pull = event.get("pull_request")
    number = pull.get("number") if isinstance(pull, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _directory(path: str) -> Path:
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# --- delivering -------------------------------------------------------------------------


def _annotate(data: ReportData) -> None:
    if data.stopped is not None:
        stopped = data.stopped
        where = f"the {stopped.stage} stage stopped" if stopped.stage else "stopped"
        message = f"{where} (exit {stopped.exit_code}): {stopped.message}"
        title = f"mlgate {data.model}: the run did not finish"
        actions_io.annotate("error", message, title=title, stream=sys.stdout)
    for name in data.failed:
        title = f"mlgate {data.model}: {pipeline.LABELS.get(name, name)}"
        summary = data.stages[name].summary
        actions_io.annotate("error", summary, title=title, stream=sys.stdout)


def _warn(message: str, env: dict[str, str]) -> None:
    print(actions_io.one_line(f"mlgate: warning: {message}"), file=sys.stderr)
    if env.get("GITHUB_ACTIONS") == "true":
        actions_io.annotate("warning", message, title="mlgate report", stream=sys.stdout)


def _comment(
    data: ReportData,
    body: str,
    options: Options,
    env: dict[str, str],
    event: dict[str, Any],
    *,
    required: bool,
    token: str,
) -> str | None:
    number = _pull_number(data, options, event)
    if number is None:
        if options.pr is None and not env.get("GITHUB_EVENT_NAME", "").startswith("pull_request"):
            return None  # a push or a laptop run: no pull request to comment on
        raise InputError("no pull request number: pass --pr N")
    repository = env.get("GITHUB_REPOSITORY")
    try:
        if not token or not repository:
            missing = "GITHUB_TOKEN" if not token else "GITHUB_REPOSITORY"
            raise ServiceError(f"{missing} is not set, so the report comment was not posted")
        from mlgate.report import github

        policy = github.RetryPolicy()
        client = github.connect(token, env.get("GITHUB_API_URL"), policy)
        if options.from_artifact:
            _check_pull_matches_run(client, repository, number, event)
        posted = github.upsert_comment(client, repository, number, marker(data.model), body, policy)
    except ServiceError as error:
        if required:
            raise
        _warn(f"{error} (report.required is false, so this does not fail the job)", env)
        return None
    print(actions_io.one_line(f"report comment {posted.action} on #{number}: {posted.url}"))
    return posted.url


def _pull_number(data: ReportData, options: Options, event: dict[str, Any]) -> int | None:
    if options.pr is not None:
        return options.pr
    run = event.get("workflow_run") if isinstance(event, dict) else None
    if isinstance(run, dict):
        pulls = run.get("pull_requests")
        if isinstance(pulls, list) and pulls and isinstance(pulls[0], dict):
            number = pulls[0].get("number")
            if isinstance(number, int):
                return number
        # A fork's run lists no pull request: the artifact's number is checked against
        # the run's head commit before it is used.
        return data.pull_request
    return _event_pull_number(event) if not options.from_artifact else data.pull_request


def _check_pull_matches_run(
    client: Any, repository: str, number: int, event: dict[str, Any]
) -> None:
    """An artifact may only comment on the pull request whose run produced it."""
    run = event.get("workflow_run") if isinstance(event, dict) else None
    expected = run.get("head_sha") if isinstance(run, dict) else None
    if not isinstance(expected, str):
        raise InputError(
            "--from-artifact runs in a workflow_run job: GITHUB_EVENT_PATH must hold its event"
        )
    from mlgate.report.github import call

    head = call(lambda: client.get_repo(repository).get_pull(number).head.sha, f"read #{number}")
    if head != expected:
        raise InputError(
            f"pull request #{number} is at {head[:7]}, but the run that made this "
            f"artifact built {expected[:7]}; not commenting"
        )
