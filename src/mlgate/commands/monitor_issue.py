"""sync the monitor's result with the model's GitHub issue, and start a due retraining.

One issue per model, found again by a hidden marker (open or closed, never a second):
created or edited on drift or degradation with the latest figures and a history, labelled
with monitoring.issue_labels, closed with a comment after monitoring.close_after
consecutive ok checks. With monitoring.retrain: true, starts monitoring.retrain_workflow
by workflow_dispatch (on the default branch, the reason as input `reason`) at most once
per monitoring.retrain_cooldown, recorded on the issue first.
"""

from __future__ import annotations

import argparse

EPILOG = """\
GitHub: GITHUB_TOKEN (issues: write; actions: write to start the retraining),
GITHUB_REPOSITORY, GITHUB_API_URL (default https://api.github.com).

In a workflow the retraining can start in a job of its own, so that only that job may
start workflows: `--no-dispatch` records the claim on the issue and writes it as the
step output retrain-claim; `mlgate monitor-issue --dispatch CLAIM` starts it there.

Exit codes: 0 the model is ok, 1 drift or degraded (the issue was updated), 2 bad config,
no monitoring run, or a retrain workflow GitHub does not have or that takes no `reason`,
3 GitHub failed after retries or refused the retraining (no permission).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "config",
        nargs="?",
        metavar="CONFIG",
        help="path to mlgate.yaml, or its folder (default: ./mlgate.yaml)",
    )
    parser.add_argument(
        "--run-dir",
        metavar="DIR",
        help="the monitoring run to sync (default: the latest under .mlgate/monitor/)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--no-dispatch",
        dest="dispatch",
        action="store_false",
        help="claim a due retraining on the issue but leave starting it to --dispatch",
    )
    which.add_argument(
        "--dispatch",
        metavar="CLAIM",
        dest="claimed",
        help="start the retraining that CLAIM (a retrain-claim output) holds on the issue",
    )


def run(args: argparse.Namespace) -> int:
    from mlgate.report.monitor_deliver import Options
    from mlgate.report.monitor_deliver import run as deliver

    return deliver(
        Options(
            config=args.config,
            run_dir=args.run_dir,
            dispatch=args.dispatch,
            claimed=args.claimed,
        )
    )
