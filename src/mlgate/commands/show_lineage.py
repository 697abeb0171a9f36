"""answer who trained a version, with what code and data, how it gated and who promoted it.

Everything comes from the registry: the version's lineage tags and the model's
promotion ledger. MODEL alone means MODEL@production when that alias is set,
else the latest version.
"""

from __future__ import annotations

import argparse
from typing import Any


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
        # Every recorded value (tags a run wrote: names, URIs, actors) as one line, so the
        # rendered lines stay the record's own.
        print(audit.render(_one_line_values(record)))
    return 0


def _one_line_values(value: Any) -> Any:
    """`value` with every string in it (keys too) through `_actions_io.one_line`."""
    from mlgate._actions_io import one_line

    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, dict):
        return {_one_line_values(key): _one_line_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_one_line_values(item) for item in value)
    return value
