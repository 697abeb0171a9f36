"""A GitHub deployment for each move, so the repository's Environments page shows it.

Only when GITHUB_TOKEN and GITHUB_REPOSITORY are set (in a workflow: the job needs
`deployments: write`). The deployment's environment is the alias, its payload the
model version, and a `success` status marks it live (GitHub then marks the
environment's earlier deployments inactive). A blue/green swap changes two environments,
so it is recorded as two deployments, one per alias (`Entry.sides()`), each naming the
other alias in its payload (`swapped_with`) and the one ledger entry both belong to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mlgate.promotion.ledger import Entry

TASK = "deploy:model"


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("GITHUB_TOKEN") and env.get("GITHUB_REPOSITORY"))


def payload(model: str, entry: Entry) -> dict[str, Any]:
    return {
        "model": model,
        "version": entry.to_version,
        "previous_version": entry.from_version,
        "alias": entry.alias,
        "model_uri": f"models:/{model}@{entry.alias}",
        "kind": entry.kind,
        "ledger_seq": entry.seq,
        "canary_percent": entry.canary_percent,
        "actor": entry.actor,
        "swapped_with": entry.partner,
    }


def record_deployment(
    model: str,
    entry: Entry,
    commit: str | None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """Create the deployment and its `success` status; None when GitHub is not configured.

    `commit` (the version's training commit) is the ref when the job gives none.
    """
    from mlgate.errors import ConfigError
    from mlgate.report.github import RetryPolicy, call, connect
    from mlgate.tracking.tags import GIT_COMMIT

    env = os.environ if environ is None else environ
    if not wanted(env):
        return None
    ref = env.get("GITHUB_SHA") or commit
    if not ref:
        raise ConfigError(
            "cannot record the GitHub deployment: no ref (set GITHUB_SHA, or register "
            f"versions from a git checkout so they carry {GIT_COMMIT})"
        )
    client = connect(env["GITHUB_TOKEN"], env.get("GITHUB_API_URL"), RetryPolicy())
    repository = client.get_repo(env["GITHUB_REPOSITORY"])
    was = f"v{entry.from_version}" if entry.from_version else "unset"
    description = f"{model} {entry.alias}: {was} → v{entry.to_version} ({entry.kind})"[:140]
    deployment = call(
        lambda: repository.create_deployment(
            ref=ref,
            task=TASK,
            auto_merge=False,
            required_contexts=[],
            payload=payload(model, entry),
            environment=entry.alias,
            description=description,
            transient_environment=False,
            production_environment=entry.alias == "production",
        ),
        f"create a deployment to {entry.alias} in {env['GITHUB_REPOSITORY']}",
    )
    link = {"target_url": entry.run_url} if entry.run_url else {}
    status = call(
        lambda: deployment.create_status(
            "success",
            description=description,
            environment=entry.alias,
            auto_inactive=True,
            **link,
        ),
        f"mark deployment {deployment.id} a success",
    )
    return {
        "id": deployment.id,
        "environment": entry.alias,
        "ref": ref,
        "state": status.state,
        "url": deployment.url,
    }
