"""What this card changes against the champion's card: metrics, data and parameters.

Pure functions of two cards' facts. The champion's facts are read from the
`card.json` its run logged to MLflow, so a reviewer sees in the PR report what the
pull request changes, figures included, without opening either card.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgate import _markdown as markdown

COMPARED = "compared"
NO_CHAMPION = "no champion"
NO_CHAMPION_CARD = "no champion card"

_MISSING = object()


def no_diff(status: str, reason: str) -> dict[str, Any]:
    """The record when there is nothing to compare with, saying why."""
    return {
        "status": status,
        "reason": reason,
        "champion_version": None,
        "champion_date": None,
        "items": [],
    }


def diff_facts(current: Mapping[str, Any], champion: Mapping[str, Any]) -> dict[str, Any]:
    """Each difference as {area, name, before, after} with the figures as text."""
    items = [*_metrics(current, champion), *_data(current, champion), *_params(current, champion)]
    model = champion.get("model") or {}
    return {
        "status": COMPARED,
        "reason": "",
        "champion_version": model.get("version"),
        "champion_date": model.get("date"),
        "items": items,
    }


def _metrics(current: Mapping[str, Any], champion: Mapping[str, Any]) -> list[dict[str, Any]]:
    now = _metric_values(current)
    before = _metric_values(champion)
    items = []
    for name in [*now, *(name for name in before if name not in now)]:
        old, new = before.get(name), now.get(name)
        if old == new:
            continue
        after = _figure(new)
        if isinstance(old, (int, float)) and isinstance(new, (int, float)):
            after += f" ({markdown.signed(new - old, 4)})"
        items.append({"area": "metrics", "name": name, "before": _figure(old), "after": after})
    return items


def _metric_values(facts: Mapping[str, Any]) -> dict[str, Any]:
    metrics = (facts.get("evaluation") or {}).get("metrics") or []
    return {item["name"]: item.get("value") for item in metrics if isinstance(item, Mapping)}


def _data(current: Mapping[str, Any], champion: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = []
    for role in ("training", "evaluation"):
        new = (current.get("data") or {}).get(role) or {}
        old = (champion.get("data") or {}).get(role) or {}
        if not _data_changed(old, new):
            continue
        items.append(
            {
                "area": "data",
                "name": f"{role} data",
                "before": _describe_file(old),
                "after": _describe_file(new),
            }
        )
    return items


def _data_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Other content, or another remote object. A local path alone does not count: the
    same file sits under another folder on a laptop and on each CI runner."""
    if old.get("sha256") != new.get("sha256"):
        return True
    remote = "://" in str(old.get("uri", "")) or "://" in str(new.get("uri", ""))
    return remote and old.get("uri") != new.get("uri")


def _describe_file(info: Mapping[str, Any]) -> str:
    if not info:
        return "–"
    rows = info.get("rows")
    parts = [str(info.get("uri", "?")), f"sha256 {str(info.get('sha256', ''))[:12]}"]
    if isinstance(rows, int):
        parts.append(f"{rows:,} rows")
    return " · ".join(parts)


def _params(current: Mapping[str, Any], champion: Mapping[str, Any]) -> list[dict[str, Any]]:
    new_model = current.get("model") or {}
    old_model = champion.get("model") or {}
    items = []
    for key in ("type", "estimator"):
        if new_model.get(key) != old_model.get(key):
            items.append(
                _change("parameters", f"model {key}", old_model.get(key), new_model.get(key))
            )
    new_params = new_model.get("params") or {}
    old_params = old_model.get("params") or {}
    for name in sorted({*new_params, *old_params}):
        old, new = old_params.get(name, _MISSING), new_params.get(name, _MISSING)
        if old != new:
            items.append(_change("parameters", name, old, new))
    new_features = list(new_model.get("features") or [])
    old_features = list(old_model.get("features") or [])
    added = [name for name in new_features if name not in old_features]
    removed = [name for name in old_features if name not in new_features]
    if added or removed:
        items.append(
            {
                "area": "parameters",
                "name": "features",
                "before": ", ".join(removed) + " (removed)" if removed else "–",
                "after": ", ".join(added) + " (added)" if added else "–",
            }
        )
    return items


def _change(area: str, name: str, old: Any, new: Any) -> dict[str, Any]:
    return {"area": area, "name": name, "before": _figure(old), "after": _figure(new)}


def _figure(value: Any) -> str:
    if value is _MISSING or value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
