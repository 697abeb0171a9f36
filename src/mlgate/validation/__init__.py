"""Data validation: Great Expectations suites, the feature spec's baseline, and drift.

`check_data` runs everything for the validate stage; `sections` and `annotations`
turn its result into report sections and GitHub annotations. The feature spec's
baseline is computed in pandas; Great Expectations runs the suite, and is imported only
when there is one.
"""

from __future__ import annotations

from mlgate.validation.check import DataCheck, check_data
from mlgate.validation.report import annotations, sections

__all__ = ["DataCheck", "annotations", "check_data", "sections"]
