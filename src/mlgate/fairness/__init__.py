"""The fairness gate's parts: Fairlearn metrics per group, disparities with bootstrap intervals.

`groups` says which groups are compared, `measure` (with `bootstrap`) computes the
figures, `verdicts` judges them against the thresholds `thresholds` checks, `chart`
draws the per-group bar chart and `tags` gives the registry tags. The stage itself
is `mlgate.stages.fairness`; its part of the PR report is
`mlgate.report.sections.fairness`.

This module imports none of its parts, so that a part may import its siblings.
"""

from __future__ import annotations

from mlgate.rundir import FAIRNESS_CHART as CHART_FILE

__all__ = ["CHART_FILE"]
