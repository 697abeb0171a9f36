"""The audit questions of `mlgate lineage`, answered from the registry alone.

Who trained the version, with what code (commit, repository, workflow run) and what
data (URIs, hashes, S3 version ids), how it did in its gates, and when and by whom
it was promoted (from the ledger). `answer()` is pure: it takes what the store read.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from mlgate.errors import UsageError
from mlgate.promotion import rules
from mlgate.promotion.ledger import Ledger
from mlgate.tracking import tags as keys

_DATA_TAG = re.compile(rf"^{re.escape(keys.DATA_PREFIX)}([^.]+)\.(.+)$")
_ENV_PREFIX = keys.ENV_PREFIX


def parse_target(text: str) -> tuple[str, str | None, str | None]:
    """`MODEL`, `MODEL@ALIAS` or `MODEL:VERSION` → (model, alias, version)."""
    if "@" in text:
        model, alias = text.rsplit("@", 1)
        if model and alias:
            return model, alias, None
    elif ":" in text:
        model, version = text.rsplit(":", 1)
        if model and version.isdigit():
            return model, None, version
    elif text:
        return text, None, None
    raise UsageError(
        f"'{text}' names no model version: write MODEL, MODEL@ALIAS or MODEL:VERSION "
        "(e.g. production-churn-model@production)"
    )


def answer(
    model: str,
    info: Any,
    aliases: dict[str, str],
    tags: dict[str, str],
    run: Any | None,
) -> dict[str, Any]:
    """The audit record of version `info` (a model_store.VersionInfo) as plain data."""
    vtags = info.tags
    data: dict[str, dict[str, Any]] = {}
    for key, value in sorted(vtags.items()):
        if match := _DATA_TAG.match(key):
            data.setdefault(match.group(1), {})[match.group(2)] = keys.typed(key, value)
    gates_detail = _json(vtags.get(keys.GATES))
    fairness = _json(vtags.get(keys.FAIRNESS))
    book = Ledger.from_tags(tags)
    # Each move into an alias, as that alias saw it (a swap moves two: its sides).
    promotions = [
        side.to_dict()
        for entry in book.entries
        for side in entry.sides()
        if side.to_version == info.version
    ]
    findings = rules.check_lineage(info)
    return {
        "model": model,
        "version": info.version,
        "aliases": sorted(a for a, v in aliases.items() if v == info.version),
        "registered_at": _from_ms(info.created_ms),
        "who": {
            "actor": vtags.get(keys.ACTOR),
            "registered_by": info.user_id,
            "mlflow_run_user": getattr(getattr(run, "info", None), "user_id", None),
        },
        "code": {
            "commit": vtags.get(keys.GIT_COMMIT),
            "repository": vtags.get(keys.GIT_REPOSITORY),
            "dirty": _typed(vtags, keys.GIT_DIRTY),
            "workflow_run": vtags.get(keys.CI_RUN_URL),
            "event": vtags.get(keys.CI_EVENT),
            "ref": vtags.get(keys.CI_REF),
        },
        "data": data,
        "config": {
            "config_sha256": vtags.get(keys.CONFIG_SHA256),
            "feature_spec_sha256": vtags.get(keys.FEATURE_SPEC_SHA256),
            "model_type": vtags.get(keys.MODEL_TYPE),
            "estimator": vtags.get(keys.MODEL_ESTIMATOR),
            "fingerprint": vtags.get(keys.FINGERPRINT),
        },
        "environment": {
            k[len(_ENV_PREFIX) :]: v for k, v in sorted(vtags.items()) if k.startswith(_ENV_PREFIX)
        },
        # compute.docker_image: the image it trained in (None: where mlgate ran).
        "training_image": {
            "image": vtags.get(keys.TRAINING_IMAGE),
            "by_digest": _typed(vtags, keys.TRAINING_IMAGE_BY_DIGEST),
            # compute.stages (absent on versions registered before it was recorded).
            "stages": [name for name in vtags.get(keys.IMAGE_STAGES, "").split(",") if name],
        },
        "gates": {
            "verdicts": rules.gate_verdicts(vtags),
            "metrics": {
                k[len(rules.METRIC_PREFIX) :]: keys.typed(k, v)
                for k, v in sorted(vtags.items())
                if k.startswith(rules.METRIC_PREFIX)
            },
            "checks": gates_detail if isinstance(gates_detail, list) else [],
            "fairness": fairness if isinstance(fairness, list) else [],
        },
        "mlflow_run_id": info.run_id,
        "promotions": promotions,
        "complete": not findings,
        "missing": [f.message for f in findings],
    }


def render(record: dict[str, Any]) -> str:
    """The audit record as text, one question per block."""
    lines = [f"{record['model']} v{record['version']}"]
    if record["aliases"]:
        lines[0] += f" (now {', '.join(record['aliases'])})"
    who = record["who"]
    lines += ["", "Who trained it"]
    lines.append(f"  actor: {who['actor'] or 'not recorded'}")
    if who["registered_by"]:
        lines.append(f"  registered by: {who['registered_by']}")
    lines.append(f"  registered at: {record['registered_at'] or 'unknown'}")
    code = record["code"]
    lines += ["", "What code"]
    lines.append(f"  commit: {code['commit'] or 'not recorded'}")
    for label, key in (("repository", "repository"), ("workflow run", "workflow_run")):
        if code[key]:
            lines.append(f"  {label}: {code[key]}")
    if code["dirty"] is True:
        lines.append("  uncommitted changes: yes (the commit alone does not reproduce it)")
    lines += ["", "What data"]
    for role, fields in record["data"].items():
        lines.append(f"  {role}: {fields.get('uri', '?')}")
        for name in ("sha256", "version_id", "rows"):
            if fields.get(name) not in (None, ""):
                lines.append(f"    {name}: {fields[name]}")
        if fields.get(keys.DATA_DVC_MD5):  # a DVC-tracked file
            lines.append(f"    dvc md5: {fields[keys.DATA_DVC_MD5]}")
            pointer = fields.get(keys.DATA_DVC_POINTER) or "?"
            commit = fields.get(keys.DATA_DVC_COMMIT) or "not committed"
            lines.append(f"    dvc pointer: {pointer} (commit {commit})")
            lines.append(f"    dvc remote: {fields.get(keys.DATA_DVC_REMOTE) or 'none'}")
    if not record["data"]:
        lines.append("  not recorded")
    config = record["config"]
    if config["config_sha256"]:
        lines.append(f"  config sha256: {config['config_sha256']}")
    trained_in = record["training_image"]
    lines += ["", "Where it trained"]
    if trained_in["image"]:
        pinned = "" if trained_in["by_digest"] else " (a local image id: never pushed)"
        lines.append(f"  image: {trained_in['image']}{pinned}")
        if trained_in["stages"]:
            lines.append(f"  stages in it: {', '.join(trained_in['stages'])}")
    else:
        lines.append("  no image recorded: on the machine mlgate ran on")
    lines += ["", "Gates"]
    gates = record["gates"]
    for name, verdict in gates["verdicts"].items():
        lines.append(f"  {name}: {verdict}")
    for check in gates["checks"]:
        if isinstance(check, dict):
            lines.append(
                f"    {check.get('metric')} {_figure(check.get('value'))} "
                f"({check.get('bound')} {_figure(check.get('limit'))}): {check.get('verdict')}"
            )
    for check in gates["fairness"]:
        if isinstance(check, dict):
            lines.append(
                f"    {check.get('feature')} {check.get('metric')} {_figure(check.get('value'))} "
                f"(threshold {_figure(check.get('threshold'))}): {check.get('verdict')}"
            )
    if gates["metrics"]:
        lines.append(
            "  metrics: " + ", ".join(f"{k} {_as_tagged(v)}" for k, v in gates["metrics"].items())
        )
    if not gates["verdicts"]:
        lines.append("  no recorded verdicts")
    lines += ["", "Promotions"]
    for entry in record["promotions"]:
        was = f"v{entry['from_version']}" if entry["from_version"] else "unset"
        line = (
            f"  #{entry['seq']} {entry['at']} {entry['kind']} {entry['alias']} "
            f"({was} → v{entry['to_version']}) by {entry['actor']}"
        )
        if entry.get("partner"):
            line += f", swapped with {entry['partner']}"
        if entry["canary_percent"] is not None:
            line += f", {entry['canary_percent']:g}% of traffic"
        if entry["forced"]:
            line += ", forced"
        if entry["reason"]:
            line += f": {entry['reason']}"
        lines.append(line)
        if entry["run_url"]:
            lines.append(f"    workflow run: {entry['run_url']}")
    if not record["promotions"]:
        lines.append("  never promoted")
    if record["missing"]:
        lines += ["", "Incomplete: " + "; ".join(record["missing"])]
    return "\n".join(lines)


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _typed(tags: dict[str, str], key: str) -> Any:
    value = tags.get(key)
    return None if value is None else keys.typed(key, value)


def _as_tagged(value: Any) -> str:
    """A metric as its tag spelled it (written with 6 significant digits)."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _figure(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def _from_ms(ms: int | None) -> str | None:
    if not ms:
        return None
    stamp = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
