"""Which models a change touches, and the selection as a GitHub matrix or a table.

Pure: the models (`ModelFiles`) and the changed files come in, a `Plan` comes out.
Each model gets a `name` safe for an artifact name and a concurrency group, made from
its config's folder (unique, since two configs never share a folder) and the same
whichever models a change selects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mlgate.monorepo.depends import ModelFiles

# Characters GitHub accepts in an artifact name and a concurrency group, and a reader too.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Selected:
    """A model the change touches, and why (the changed files it depends on)."""

    model: ModelFiles
    name: str
    why: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    selected: tuple[Selected, ...]
    found: int  # models in the repository (or under the paths given)
    changed: int  # changed files looked at
    # Why every model is planned without looking at a change (no base); else None.
    everything: str | None = None

    @property
    def count(self) -> int:
        return len(self.selected)


def safe_names(models: Sequence[ModelFiles]) -> dict[str, str]:
    """config -> a name made of [A-Za-z0-9._-], unique among `models`."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for model in sorted(models, key=lambda m: m.config):
        wanted = _safe(model.folder.replace("/", "-")) or _safe(model.model) or "model"
        name, number = wanted, 2
        while name in taken:
            name, number = f"{wanted}-{number}", number + 1
        taken.add(name)
        names[model.config] = name
    return names


def select(models: Sequence[ModelFiles], changed: Iterable[str]) -> Plan:
    """The models whose files are among `changed`, in config order."""
    changed = set(changed)
    names = safe_names(models)
    chosen = []
    for model in sorted(models, key=lambda m: m.config):
        why = model.touched_by(changed)
        if why:
            chosen.append(Selected(model=model, name=names[model.config], why=why))
    return Plan(selected=tuple(chosen), found=len(models), changed=len(changed))


def plan_all(models: Sequence[ModelFiles], reason: str) -> Plan:
    """Every model, for `reason` (no base to compare with)."""
    names = safe_names(models)
    chosen = tuple(
        Selected(model=model, name=names[model.config], why=())
        for model in sorted(models, key=lambda m: m.config)
    )
    return Plan(selected=chosen, found=len(models), changed=0, everything=reason)


def matrix(plan: Plan) -> dict[str, Any]:
    """The plan as `strategy.matrix` reads it: `{"include": [{model, config, name}]}`.

    Nothing else at the top level: every other key would become a matrix dimension.
    """
    return {
        "include": [
            {"model": s.model.model, "config": s.model.config, "name": s.name}
            for s in plan.selected
        ]
    }


def table(plan: Plan) -> str:
    """The plan for a person: one row per model (model, config, why), and a closing line."""
    rows = [
        (s.model.model, s.model.config, ", ".join(s.why) if s.why else "every model planned")
        for s in plan.selected
    ]
    lines = []
    if rows:
        header = ("model", "config", "why")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(2)]
        for row in [header, *rows]:
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip())
    lines.append(summary(plan))
    return "\n".join(lines)


def summary(plan: Plan) -> str:
    found = f"{plan.found} model{'s' if plan.found != 1 else ''} found"
    if plan.everything is not None:
        return f"every model is planned ({found}): {plan.everything}"
    changed = f"{plan.changed} changed file{'s' if plan.changed != 1 else ''}"
    if not plan.selected:
        return f"no model is touched by the {changed} ({found})"
    return f"{plan.count} of {found.replace(' found', '')} touched by the {changed}"


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-.")
