"""What promote, rollback and lineage share: the store, the settings and the output."""

from __future__ import annotations

import argparse
from typing import Any


def open_store(config: str | None, model: str) -> tuple[Any, Any]:
    """The model's store on the tracking server, and the project when a config was used."""
    from mlgate.tracking.model_store import ModelStore
    from mlgate.tracking.uri import tracking_uri

    project = command_project(config)
    state_dir = project.state_dir if project is not None else None
    return ModelStore.connect(tracking_uri(project), model, state_dir), project


def command_project(config: str | None) -> Any:
    """The project whose tracking settings a command uses, or None.

    `--config` names it; without, ./mlgate.yaml is used as every other command does
    (with no config at all, MLFLOW_TRACKING_URI must name the server). Its `promotion:`
    section applies also when MLFLOW_TRACKING_URI is set, as in CI: the environment still
    names the server (tracking.uri), the config says how to promote.
    """
    from pathlib import Path

    from mlgate.project import DEFAULT_CONFIG_NAME, find_config, load_project

    if config is None and not Path(DEFAULT_CONFIG_NAME).is_file():
        return None
    return load_project(find_config(config))


def resolve_version(store: Any, target: str) -> Any:
    """The version MODEL[@ALIAS | :VERSION] names, as a model_store.VersionInfo.

    MODEL alone means MODEL@production when that alias is set, else the latest version.
    """
    from mlgate.errors import InputError
    from mlgate.promotion.audit import parse_target

    model, alias, version = parse_target(target)
    if alias is not None or version is None:
        snapshot = store.read()
        if alias is not None:
            version = snapshot.aliases.get(alias)
            if version is None:
                set_aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(snapshot.aliases.items()))
                raise InputError(
                    f"alias {alias} of {model} is not set (aliases: {set_aliases or 'none'})"
                )
        else:
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
    return info


def promotion_settings(project: Any) -> Any:
    """The config's promotion section, or its defaults when there is no config."""
    from mlgate.config import PromotionSection

    return project.config.promotion if project is not None else PromotionSection()


def finish(store: Any, args: argparse.Namespace, outcome: Any) -> int:
    """Record the GitHub deployment, then print and write the step outputs."""
    import dataclasses
    import json

    from mlgate._actions_io import append_summary, write_outputs
    from mlgate._markdown import text
    from mlgate.errors import ServiceError
    from mlgate.promotion import deploy
    from mlgate.tracking.tags import GIT_COMMIT

    deployment_error = None
    if outcome.entry is not None and deploy.wanted():
        # One deployment per alias moved: a swap changes two environments.
        made = []
        for side in outcome.entry.sides():
            info = store.version(side.to_version)
            commit = info.tags.get(GIT_COMMIT) if info else None
            try:
                made.append(deploy.record_deployment(store.name, side, commit))
            except ServiceError as error:
                deployment_error = error
                break
        made = [d for d in made if d]
        outcome = dataclasses.replace(
            outcome, deployment=made[0] if made else None, deployments=tuple(made)
        )
    if args.json:
        print(json.dumps(outcome.to_dict(store.name), indent=2, default=str))
    else:
        from mlgate._actions_io import one_line

        # Names, aliases, reasons and environments as one line each.
        print(one_line(outcome.message))
        for finding in outcome.findings:
            print(one_line(f"  overridden with --force: {finding.message}"))
        if outcome.checklist:
            ticked = sum(box.ticked for box in outcome.checklist)
            print(f"  pre-deployment checklist: {ticked} of {len(outcome.checklist)} ticked")
            for box in outcome.checklist:
                mark = "[x]" if box.ticked else "[ ]"
                print(one_line(f"    {mark} {box.label}: {box.evidence}"))
        for deployed in outcome.deployments:
            print(one_line(f"  GitHub deployment {deployed['id']} to {deployed['environment']}"))
    entry = outcome.entry
    write_outputs(
        {
            "changed": entry is not None,
            # A no-op still names the version the alias holds: callers build and deploy it.
            "version": outcome.version or "",
            "previous-version": outcome.previous_version or "",
            "ledger-seq": entry.seq if entry else "",
            # A swap records two (its aliases in order), comma-separated.
            "deployment-id": ",".join(str(d["id"]) for d in outcome.deployments),
        }
    )
    append_summary(f"**mlgate** · {text(outcome.message)}")
    if deployment_error is not None:
        raise ServiceError(
            f"{outcome.message}, but recording the GitHub deployment failed: "
            f"{deployment_error}; the registry and its ledger are up to date"
        )
    return 0
