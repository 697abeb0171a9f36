"""plan which models of a repository a change touches (a GitHub matrix, or a table).

Finds every mlgate.yaml under the repository (or under PATHS), works out the files each
model depends on, and selects the models whose files changed between the merge base of
--base and HEAD. Without --base every model is planned. In GitHub Actions the selection
is also written to $GITHUB_OUTPUT as `matrix` (JSON for `strategy.matrix`) and `count`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="folders (or mlgate.yaml files) to look for models in (default: the whole "
        "repository around the current folder)",
    )
    parser.add_argument(
        "--base",
        metavar="REF",
        help="compare HEAD with the merge base of REF and HEAD (a branch, tag or commit: the "
        "pull request's base SHA, or a push's `before`); without it every model is planned",
    )
    parser.add_argument(
        "--include-uncommitted",
        action="store_true",
        help="count staged, unstaged and new files too (by default only commits count)",
    )
    parser.add_argument(
        "--json", action="store_true", help='print the GitHub matrix: {"include": [...]}'
    )


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from mlgate import monorepo
    from mlgate._actions_io import append_summary, in_github_actions, one_line, write_outputs
    from mlgate.errors import InputError, UsageError
    from mlgate.monorepo import discover, gitrepo
    from mlgate.monorepo.depends import dvc_lock_outputs
    from mlgate.monorepo.plan import summary

    paths = [Path(path).absolute() for path in args.paths]
    start = paths[0] if paths else Path.cwd()
    git_root = gitrepo.toplevel(start if start.is_dir() else start.parent)
    root = git_root or (start if start.is_dir() else start.parent).resolve()
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        if not path.resolve().is_relative_to(root):
            raise UsageError(f"{path} is not in the repository at {root}; plan one repository")
    if args.base is not None and git_root is None:
        raise UsageError(f"--base needs a git repository; {root} is not in one")
    files = gitrepo.listed_files(root) if git_root else discover.walk_files(root)
    under = [path.resolve().relative_to(root).as_posix() for path in paths]
    configs = discover.find_configs(files, under)
    if not configs:
        where = ", ".join(args.paths) if args.paths else str(root)
        raise InputError(f"no {discover.CONFIG_NAME} found under {where}")
    locks = dvc_lock_outputs(root, discover.dvc_locks(files))
    models = [monorepo.model_files(root, root / config, dvc_locks=locks) for config in configs]

    base = gitrepo.resolve_base(root, args.base or "") if git_root else None
    if base is None or base.commit is None:
        reason = base.no_base if base is not None else "not a git repository"
        plan = monorepo.plan_all(models, reason or "no base")
    else:
        changed = gitrepo.changed_files(root, base.commit)
        if args.include_uncommitted:
            changed += gitrepo.uncommitted_files(root)
        plan = monorepo.select(models, changed)

    selection = monorepo.matrix(plan)
    if in_github_actions():
        write_outputs(
            {"matrix": json.dumps(selection, separators=(",", ":")), "count": str(plan.count)}
        )
        append_summary(_summary_markdown(plan))
    for model in models:
        for note in model.notes:
            print(f"mlgate: note: {one_line(note)}", file=sys.stderr)
    if args.json:
        if plan.everything is not None:
            print(f"mlgate: {one_line(summary(plan))}", file=sys.stderr)
        print(json.dumps(selection, indent=2))
    else:
        print(_one_line_lines(monorepo.table(plan)))
    return 0


def _one_line_lines(text: str) -> str:
    """Each line of `text` through one_line: a value (a path) can never start a line."""
    from mlgate._actions_io import one_line

    return "\n".join(one_line(line) for line in text.split("\n"))


def _summary_markdown(plan) -> str:  # plan: mlgate.monorepo.Plan
    from mlgate import _markdown as markdown
    from mlgate.monorepo.plan import summary

    lines = ["### mlgate plan", "", markdown.text(summary(plan)), ""]
    if plan.selected:
        rows = [
            [
                markdown.text(chosen.model.model),
                markdown.code(chosen.model.config),
                markdown.text(", ".join(chosen.why) if chosen.why else "every model planned"),
            ]
            for chosen in plan.selected
        ]
        lines.append(markdown.table(["model", "config", "why"], rows))
    return "\n".join(lines)
