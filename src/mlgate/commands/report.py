"""the PR comment (created once, then edited) and the job summary, from a run's results

Reads the stage results of a run directory (or, for a pull request from a fork,
a report.json artifact) and writes the report: report.md in the run directory
(printed outside GitHub Actions), $GITHUB_STEP_SUMMARY and ::error annotations in
Actions, and one comment per model on the pull request, found again by a hidden
marker and edited on every later run.
"""

from __future__ import annotations

import argparse

EPILOG = """\
GitHub: GITHUB_TOKEN (masked before anything prints; needs pull-requests: write),
GITHUB_REPOSITORY, GITHUB_API_URL (default https://api.github.com), and the pull
request from --pr or the pull_request event in GITHUB_EVENT_PATH. Without a pull
request (a push, a laptop) no comment is posted.

Forks: the pull_request run calls `mlgate report --write-artifact DIR` and uploads
DIR (report.json, results only); a workflow_run job downloads it and calls
`mlgate report --from-artifact DIR [--pr N]`, which checks size and schema, checks
that the pull request's head is the commit the run built, and renders it escaped.

Exit codes: 0 every gate in the results passed, 1 a gate failed, 2 bad input (no run
directory, a rejected artifact), 3 GitHub failed after retries and report.required
(or --required) is set; otherwise a GitHub failure is a warning.
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
        "--run-dir", metavar="DIR", help="the run to report on (default: the latest run)"
    )
    parser.add_argument(
        "--pr", type=_pull_number, metavar="N", help="pull request number (default: from the event)"
    )
    parser.add_argument(
        "--no-comment",
        dest="comment",
        action="store_false",
        help="write report.md and the job summary only",
    )
    parser.add_argument(
        "--required",
        action="store_true",
        help="fail (exit 3) when the comment cannot be posted, as report.required does",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--write-artifact",
        metavar="DIR",
        help="also write DIR/report.json for a workflow_run job to post (no comment is posted)",
    )
    source.add_argument(
        "--from-artifact",
        metavar="DIR",
        help="post the report from an untrusted DIR/report.json (no config or run directory)",
    )


def _pull_number(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a pull request number, got {value!r}")
    return int(value)


def run(args: argparse.Namespace) -> int:
    from mlgate.report.deliver import Options
    from mlgate.report.deliver import run as deliver

    options = Options(
        config=args.config,
        run_dir=args.run_dir,
        pr=args.pr,
        comment=args.comment,
        required=args.required,
        write_artifact=args.write_artifact,
        from_artifact=args.from_artifact,
    )
    return deliver(options)
