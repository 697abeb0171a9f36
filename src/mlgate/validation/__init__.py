"""Data validation: Great Expectations suites, the feature spec's baseline, and drift.

`check_data` runs everything for the validate stage; its report sections and GitHub
annotations are in `mlgate.report.sections.validate`. The feature spec's baseline is
computed in pandas; Great Expectations runs the suite, and is imported only when there
is one.
"""

from __future__ import annotations

from mlgate.validation.check import DataCheck, check_data

__all__ = ["DataCheck", "check_data"]
