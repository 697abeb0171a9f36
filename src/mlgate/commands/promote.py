"""move an alias (staging, canary, production) to a registered version whose gates passed.

Checks the version's recorded gates and lineage, moves the alias, reads it back and
appends to the model's promotion ledger (who, when, why, gate summary); records a
GitHub deployment when GITHUB_TOKEN and GITHUB_REPOSITORY are set. `--swap A B`
exchanges the versions of two aliases (blue/green) as one move.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="registered model name")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--version", metavar="N", help="the version to promote")
    source.add_argument(
        "--from", dest="from_alias", metavar="ALIAS", help="promote the version behind ALIAS"
    )
    source.add_argument(
        "--swap",
        nargs=2,
        metavar=("ALIAS", "OTHER"),
        help="exchange the versions of two aliases (blue/green) as one move; "
        "each version must pass the rules for the alias it takes",
    )
    parser.add_argument(
        "--to", dest="target", metavar="ALIAS", help="the alias to move (staging, production, ...)"
    )
    parser.add_argument(
        "--canary",
        metavar="PERCENT",
        type=float,
        help="set the canary alias, with this share of traffic recorded (implies --to canary)",
    )
    parser.add_argument("--reason", metavar="TEXT", help="why: kept in the ledger")
    parser.add_argument(
        "--force",
        action="store_true",
        help="promote although a gate failed or lineage is missing (needs --reason)",
    )
    add_common(parser)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="CONFIG",
        help="the model repo's config to take the tracking URI and promotion settings from "
        "(default: MLFLOW_TRACKING_URI)",
    )
    parser.add_argument("--json", action="store_true", help="print the machine-readable result")


def run(args: argparse.Namespace) -> int:
    import functools

    from mlgate._ci_context import ci_context
    from mlgate._reviews import find_review
    from mlgate.alerts import notify_moved, notify_refused
    from mlgate.commands._promotion import finish, open_store, promotion_settings
    from mlgate.errors import PromotionRefused, UsageError
    from mlgate.promotion import moves, rules

    if args.swap is not None:
        return _swap(args)
    target = args.target
    if args.canary is not None:
        if target not in (None, moves.CANARY):
            raise UsageError(f"--canary sets the canary alias; it cannot go with --to {target}")
        target = moves.CANARY
        rules.check_canary_percent(args.canary)
    if target is None:
        raise UsageError("say where to: --to ALIAS (or --canary PERCENT)")
    if args.version is not None and not args.version.isdigit():
        raise UsageError(f"--version {args.version}: a version is a number, e.g. --version 3")
    rules.check_force(args.force, args.reason)

    store, project = open_store(args.config, args.model)
    settings = promotion_settings(project)
    rules.check_target(target, settings.aliases)
    if args.from_alias is not None:
        rules.check_alias(args.from_alias)
    percent = args.canary
    if target == moves.CANARY and percent is None:
        percent = settings.canary_percent
    request = moves.Request(
        model=args.model,
        target=target,
        version=args.version,
        from_alias=args.from_alias,
        canary_percent=percent,
        reason=args.reason,
        force=args.force,
        require_gates=settings.require_gates,
        require_checklist=tuple(settings.require_checklist),
    )
    ci = ci_context()
    # A required code box cannot be judged while GitHub is down: exit 3, not a refusal.
    lookup = functools.partial(find_review, required="code" in request.require_checklist)
    try:
        outcome = moves.promote(store, request, ci, review_lookup=lookup)
    except PromotionRefused as refused:  # alerts: promotion_refused, then the refusal's exit
        notify_refused(project, args.model, args.version, target, refused.message)
        raise
    notify_moved(project, args.model, outcome)  # alerts: promotion_forced
    return finish(store, args, outcome)


def _swap(args: argparse.Namespace) -> int:
    import functools

    from mlgate._ci_context import ci_context
    from mlgate._reviews import find_review
    from mlgate.alerts import notify_moved, notify_refused
    from mlgate.commands._promotion import finish, open_store, promotion_settings
    from mlgate.errors import PromotionRefused, UsageError
    from mlgate.promotion import moves, rules

    if args.target is not None or args.canary is not None:
        raise UsageError("--swap moves its two aliases; it cannot go with --to or --canary")
    rules.check_force(args.force, args.reason)
    store, project = open_store(args.config, args.model)
    settings = promotion_settings(project)
    rules.check_swap(args.swap, settings.aliases)
    first, second = args.swap
    request = moves.SwapRequest(
        model=args.model,
        aliases=(first, second),
        reason=args.reason,
        force=args.force,
        require_gates=settings.require_gates,
        require_checklist=tuple(settings.require_checklist),
    )
    lookup = functools.partial(find_review, required="code" in request.require_checklist)
    try:
        outcome = moves.swap(store, request, ci_context(), review_lookup=lookup)
    except PromotionRefused as refused:  # alerts: promotion_refused, then the refusal's exit
        notify_refused(project, args.model, None, f"{first} ↔ {second}", refused.message)
        raise
    notify_moved(project, args.model, outcome)  # alerts: promotion_forced
    return finish(store, args, outcome)
