"""put an alias back on the version it held before, from the promotion ledger.

The rollback is recorded in the ledger too (and as a GitHub deployment when
GITHUB_TOKEN and GITHUB_REPOSITORY are set). With no history there is nothing to
restore, and the command says so.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from mlgate.commands.promote import add_common

    parser.add_argument("model", metavar="MODEL", help="registered model name")
    parser.add_argument(
        "--alias", default="production", metavar="ALIAS", help="the alias (default: production)"
    )
    parser.add_argument("--reason", metavar="TEXT", help="why: kept in the ledger")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from mlgate._ci_context import ci_context
    from mlgate.alerts import notify_moved
    from mlgate.commands._promotion import finish, open_store, promotion_settings
    from mlgate.promotion import moves, rules

    store, project = open_store(args.config, args.model)
    rules.check_target(args.alias, promotion_settings(project).aliases)
    outcome = moves.rollback(store, args.model, args.alias, args.reason, ci_context())
    notify_moved(project, args.model, outcome)  # alerts: rollback
    return finish(store, args, outcome)
