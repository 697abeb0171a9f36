"""The fairness gate: Fairlearn metrics per group, disparities with bootstrap intervals.

`run_fairness(session)` is the stage (wired into `mlgate.stages`); `sections(result)`
builds its part of the PR report and the model card from the stage's result dict;
`tags(result)` gives its registry tags.
"""

from __future__ import annotations

from mlgate.fairness.report import sections, tags
from mlgate.fairness.stage import CHART_FILE, run_fairness

__all__ = ["CHART_FILE", "run_fairness", "sections", "tags"]
