"""Many models in one repository: which models a change touches (`mlgate plan`).

`discover` finds every mlgate.yaml, `depends` lists the files each model depends on
(its config, spec, suite, data and DVC pointers, templates, and the Python modules its
model factory imports), and `plan` selects the models whose files a change touched and
renders the selection as a GitHub matrix or a table. Git itself is behind `changes`.
"""

from __future__ import annotations

from mlgate.monorepo.depends import ModelFiles, model_files
from mlgate.monorepo.discover import find_configs
from mlgate.monorepo.plan import Plan, Selected, matrix, plan_all, select, table

__all__ = [
    "ModelFiles",
    "Plan",
    "Selected",
    "find_configs",
    "matrix",
    "model_files",
    "plan_all",
    "select",
    "table",
]
