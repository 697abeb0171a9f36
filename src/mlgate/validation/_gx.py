"""Great Expectations, imported quietly and only when needed, and its expectations' registry.

Both the suite reader (which checks names and arguments against the registry) and the
engine (which runs the suite) need it; it lives here so that neither imports the other.
"""

from __future__ import annotations

import os
import warnings
from typing import Any


def gx_module() -> Any:
    """Import Great Expectations quietly (it costs seconds: only when validating)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with warnings.catch_warnings():
        # GE imports pyspark when present, which warns about pandas 3 at import time.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
    return gx


def expectation_class(name: str) -> Any | None:
    gx_module()
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        return get_expectation_impl(name)
    except ExpectationNotFoundError:
        return None


def known_expectations() -> list[str]:
    gx_module()
    from great_expectations.expectations.registry import (
        list_registered_expectation_implementations,
    )

    return sorted(list_registered_expectation_implementations())
