"""The PR report: composed from stage results, fitted to GitHub's limits, delivered.

`compose` builds the markdown from plain data (pure), `budget` fits it under a
size limit, `artifact` carries the results for pull requests from forks,
`github` finds and edits the one comment, and `deliver` wires them together for
`mlgate report`.
"""

from __future__ import annotations

from mlgate.report.compose import Composed, ReportData, compose, marker

__all__ = ["Composed", "ReportData", "compose", "marker"]
