"""answer who trained a version, with what code and data, how it gated and who promoted it.

Everything comes from the registry: the version's lineage tags and the model's
promotion ledger. MODEL alone means MODEL@production when that alias is set,
else the latest version.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from mlgate.commands.promote import add_common

    parser.add_argument(
        "target", metavar="MODEL[@ALIAS | :VERSION]", help="e.g. production-churn-model@production"
    )
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from mlgate.commands._promotion import open_store, resolve_version
    from mlgate.promotion import audit

    model, _, _ = audit.parse_target(args.target)
    store, _ = open_store(args.config, model)
    snapshot = store.read()
    info = resolve_version(store, args.target)
    run = store.run(info.run_id) if info.run_id else None
    record = audit.answer(model, info, snapshot.aliases, snapshot.tags, run)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        print(audit.render(record))
    return 0
