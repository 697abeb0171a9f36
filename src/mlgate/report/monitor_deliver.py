"""`mlgate monitor-issue`: a monitoring run's result to the model's GitHub issue.

Reads `monitor.json` of a monitoring run (the latest under `.mlgate/monitor/`, or the
one given), syncs the model's issue (`monitor_sync`), starts a due retraining (or, with
`dispatch=False`, only claims it for a later `--dispatch CLAIM` step in a job that may
start workflows), and writes the step outputs and a line of the job summary.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlgate import _actions_io as actions_io
from mlgate.errors import EXIT_GATE_FAILED, EXIT_OK, ConfigError, RunDirError
from mlgate.report import monitor_issue as core
from mlgate.results.monitor import MonitorResult


@dataclass(frozen=True)
class Options:
    config: str | None = None
    run_dir: str | None = None
    dispatch: bool = True  # start a due retraining here (False: claim it only)
    claimed: str | None = None  # start the retraining this claim names, nothing else


def run(options: Options, environ: dict[str, str] | None = None) -> int:
    from mlgate.project import find_config, load_project
    from mlgate.report import github, monitor_sync

    env = dict(os.environ if environ is None else environ)
    token, repository = env.get("GITHUB_TOKEN") or "", env.get("GITHUB_REPOSITORY") or ""
    if env.get("GITHUB_ACTIONS") == "true" and token:
        actions_io.add_mask(token, stream=sys.stdout)
    project = load_project(find_config(options.config))
    section = project.config.monitoring
    policy = core.Policy.from_config(section)
    if not token or not repository:
        missing = "GITHUB_TOKEN" if not token else "GITHUB_REPOSITORY"
        raise ConfigError(
            f"{missing} is not set: the monitor issue needs the repository and a token that "
            "may write issues (and start workflows, for monitoring.retrain)"
        )
    retry = github.RetryPolicy()
    client = github.connect(token, env.get("GITHUB_API_URL"), retry)

    if options.claimed is not None:
        done = monitor_sync.dispatch_claimed(
            client, repository, project.registry_name, options.claimed, policy
        )
        if done is None:
            line = "the retraining claim is no longer on the issue as claimed; nothing started"
        else:
            line = f"retraining started: {done.workflow} on {done.ref}"
        print(actions_io.one_line(f"mlgate: {line}"))
        if env.get("GITHUB_STEP_SUMMARY"):
            from mlgate import _markdown as markdown

            summary = f"mlgate monitor · {markdown.text(line)}\n"
            actions_io.append_summary(summary, env["GITHUB_STEP_SUMMARY"])
        _outputs(env, {"retrained": done is not None})
        return EXIT_OK

    result = read_result(project.state_dir, options.run_dir)
    if result.model != project.registry_name:
        raise RunDirError(
            f"monitor.json is about model {result.model!r}, not {project.registry_name!r} of "
            "this config; pass the config the monitoring run used"
        )
    from mlgate import _ci_context as ci_context

    synced = monitor_sync.sync(
        client,
        repository,
        result,
        policy,
        now=datetime.now(timezone.utc),
        claim=_claim_token(env),
        run_url=ci_context.ci_context(env).run_url,
        dispatch=options.dispatch,
        retry=retry,
    )
    _report(synced, result, env)
    return EXIT_OK if result.ok else EXIT_GATE_FAILED


def read_result(state_dir: Path, chosen: str | None) -> MonitorResult:
    """The monitoring run's result: `chosen`'s monitor.json, or the latest run's."""
    import json

    from mlgate.rundir import LATEST, MONITOR_FILE, MONITOR_RUNS

    if chosen is not None:
        folder = Path(chosen)
    else:
        pointer = state_dir / MONITOR_RUNS / LATEST
        try:
            run_id = pointer.read_text(encoding="utf-8").strip()
        except OSError:
            raise RunDirError(
                f"no monitoring run under {state_dir / MONITOR_RUNS}; run `mlgate monitor` "
                "first or pass --run-dir"
            ) from None
        if not run_id or "/" in run_id:
            raise RunDirError(f"{pointer} names no monitoring run; pass --run-dir")
        folder = state_dir / MONITOR_RUNS / run_id
    path = folder / MONITOR_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise RunDirError(f"{path} does not exist; run `mlgate monitor` first") from None
    except ValueError:
        raise RunDirError(f"{path} is not JSON; rerun `mlgate monitor`") from None
    try:
        return MonitorResult.from_json(data)
    except ValueError as error:
        first = " ".join(str(error).split())[:200]
        raise RunDirError(f"{path} is not a monitor result mlgate can read ({first})") from None


def _claim_token(env: dict[str, str]) -> str:
    """Unique to this run (and attempt): only the run whose claim the issue holds dispatches."""
    run = env.get("GITHUB_RUN_ID") or "local"
    attempt = env.get("GITHUB_RUN_ATTEMPT") or "1"
    return f"{run}.{attempt}.{secrets.token_hex(4)}"


def _report(synced: Any, result: MonitorResult, env: dict[str, str]) -> None:
    for note in synced.notes:
        print(actions_io.one_line(f"mlgate: note: {note}"), file=sys.stderr)
    if synced.number is None:
        line = f"{result.model}: {result.verdict}; no monitor issue open, nothing to do"
    else:
        line = f"monitor issue #{synced.number} {synced.action}: {synced.url}"
    print(actions_io.one_line(line))
    if synced.dispatched is not None:
        started = synced.dispatched
        print(actions_io.one_line(f"retraining started: {started.workflow} on {started.ref}"))
    elif synced.claimed is not None:
        print(actions_io.one_line(f"retraining claimed: {synced.claimed.workflow}"))
    if env.get("GITHUB_STEP_SUMMARY"):
        from mlgate import _markdown as markdown

        where = f"issue #{synced.number} {synced.action}" if synced.number else "no issue"
        started = ""
        if synced.dispatched is not None:
            started = ", retraining started"
        elif synced.claimed is not None:
            started = ", retraining claimed for the retrain job"
        actions_io.append_summary(
            f"mlgate monitor · {markdown.text(result.model)} · "
            f"{core.MARKS[result.verdict]} · {where}{started}\n",
            env["GITHUB_STEP_SUMMARY"],
        )
    _outputs(
        env,
        {
            "verdict": result.verdict,
            "issue-number": synced.number or "",
            "issue-url": synced.url or "",
            "issue-action": synced.action,
            "retrain-claim": synced.claimed.claim if synced.claimed is not None else "",
            "retrained": synced.dispatched is not None,
        },
    )


def _outputs(env: dict[str, str], values: dict[str, Any]) -> None:
    if env.get("GITHUB_OUTPUT"):
        actions_io.write_outputs(values, env["GITHUB_OUTPUT"])
