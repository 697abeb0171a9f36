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

    from mlgate.commands._promotion import open_store
    from mlgate.errors import InputError
    from mlgate.promotion import lineage

    model, alias, version = lineage.parse_target(args.target)
    store, _ = open_store(args.config, model)
    snapshot = store.read()
    if alias is not None:
        version = snapshot.aliases.get(alias)
        if version is None:
            set_aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(snapshot.aliases.items()))
            raise InputError(
                f"alias {alias} of {model} is not set (aliases: {set_aliases or 'none'})"
            )
    elif version is None:
        version = snapshot.aliases.get("production")
        if version is None:
            numbers = store.version_numbers()
            if not numbers:
                raise InputError(f"{model} has no versions at {store.where}")
            version = numbers[-1]
    info = store.version(version)
    if info is None:
        raise InputError(
            f"{model} has no version {version} at {store.where}; "
            f"versions: {', '.join(store.version_numbers()) or 'none'}"
        )
    run = store.run(info.run_id) if info.run_id else None
    record = lineage.answer(model, info, snapshot.aliases, snapshot.tags, run)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        print(lineage.render(record))
    return 0
