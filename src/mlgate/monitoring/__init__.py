"""`mlgate monitor`: production data against the production version's training data.

`monitor(project)` runs one check and returns its `MonitorResult` (also written to
`monitor.json`); `window` reads the production rows, `reference` the version and its
training data, `check` and `concept` are the pure verdicts, `markdown` renders
`monitor.md`.
"""

from __future__ import annotations

from mlgate.monitoring.monitor import Checked, monitor

__all__ = ["Checked", "monitor"]
