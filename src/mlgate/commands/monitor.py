"""check production data for drift and degradation against the production version.

Reads `monitoring.data` (a file, a glob, or s3://bucket/prefix/ read newest first, the
serving image's prediction log included) up to `monitoring.window`, compares it with the
training data recorded on the version behind `monitoring.reference_alias`, and writes
monitor.json and monitor.md to .mlgate/monitor/<id>/ and one MLflow run. Exit 0 ok,
1 drift or degraded, 2 bad config or data, 3 a service failed.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config",
        nargs="?",
        metavar="CONFIG",
        help="path to mlgate.yaml, or its folder (default: ./mlgate.yaml)",
    )
    parser.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where to write monitor.json and monitor.md (default: .mlgate/monitor/<id>/)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from mlgate.alerts import notify_monitor
    from mlgate.errors import EXIT_GATE_FAILED, EXIT_OK
    from mlgate.monitoring import monitor
    from mlgate.project import find_config, load_project
    from mlgate.tracking.uri import tracking_uri

    project = load_project(find_config(args.config))
    tracking_uri(project)  # a bad tracking URI: exit 2 before anything is read
    checked = monitor(project, run_dir=Path(args.run_dir) if args.run_dir else None)
    result = checked.result
    code = EXIT_OK if result.ok else EXIT_GATE_FAILED
    if args.json:
        # As `mlgate run --json`: an undelivered required alert (exit 3) prints the error
        # document in place of the result.
        notify_monitor(project.config, result)  # drift or degraded; on ok, resolve them
        document = {
            "model": result.model,
            "run_id": checked.run_dir.run_id,
            "run_dir": str(checked.run_dir.path),
            "exit_code": code,
            "monitor": result.to_json(),
        }
        print(json.dumps(document, indent=2))
        return code
    # The verdict first: with alerts.required a failed alert is exit 3, and the reader
    # must still see what the check found.
    _print(result, checked.run_dir)
    notify_monitor(project.config, result)
    return code


def _print(result, run_dir) -> None:  # MonitorResult, RunDir
    """One honest verdict line, the reasons, and a short table of the worst features."""
    from mlgate._actions_io import one_line

    mark = "✓" if result.ok else "✗"
    print(one_line(f"mlgate monitor · {result.model} v{result.version} ({result.alias})"))
    print(one_line(f"  {mark} {result.summary}"))
    for reason in result.reasons[:10]:
        print(one_line(f"    - {reason}"))
    checked = [item for item in result.features if item.skipped is None]
    shown = sorted(checked, key=lambda item: -(item.psi or 0))[:8]
    if shown:
        width = max(len(item.feature) for item in shown)
        width = min(max(width, 7), 40)
        print(f"    {'feature':<{width}}  {'PSI':>6}  {'KS p':>8}")
        for item in shown:
            pvalue = "–" if item.ks_pvalue is None else f"{item.ks_pvalue:.2g}"
            flag = "  drift" if item.drifted else ""
            name = one_line(item.feature)[:width]
            print(f"    {name:<{width}}  {item.psi:>6.3f}  {pvalue:>8}{flag}")
    for check in result.concept.metrics:
        interval = (
            f" [{check.interval.low:.3f}, {check.interval.high:.3f}]" if check.interval else ""
        )
        recorded = f", {check.recorded:.3f} at registration" if check.recorded is not None else ""
        flag = "  degraded" if check.degraded else ""
        print(one_line(f"    {check.metric} {check.value:.3f}{interval}{recorded}{flag}"))
    print(one_line(f"  results in {_relative(run_dir.path)}"))


def _relative(path) -> str:
    from pathlib import Path

    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
