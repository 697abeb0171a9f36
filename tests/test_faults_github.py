"""GitHub that stays down: the report step gives up in bounded time and fails only if required.

tests/test_report_github.py covers a single 502 (with and without the write done), a
secondary rate limit and a 404 against the contract-checked fake. What is left is an
outage: every request answered 503 (or dropped) for as long as mlgate keeps trying. The
gate itself passed, so the report step warns and exits 0, unless the report is required
(`--required` or report.required), which makes it exit 3.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from faultproxy import Fault, FaultProxy

pytestmark = pytest.mark.slow

TOKEN = "ghs_mlgateFaultTestToken0123456789abcdefAB"


@pytest.fixture
def validated(churn_repo: Path, cli) -> Path:
    """A passing validate stage: enough of a run for a report."""
    for name in ("data/train.csv", "data/validation.csv"):
        lines = (churn_repo / name).read_text().splitlines(keepends=True)
        (churn_repo / name).write_text("".join(lines[:41]))
    assert cli("validate", cwd=churn_repo).code == 0
    return churn_repo


def test_a_github_outage_warns_and_fails_only_a_required_report(
    validated: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (A dropped connection takes the same path: PyGithub's retries, then a warning.)
    fault = Fault.respond(503, b"{}")
    with FaultProxy("http://127.0.0.1:9") as github:  # the upstream is never reached
        github.inject(fault, times=None)
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("GITHUB_REPOSITORY", "octo-org/churn-model")

        started = time.monotonic()
        optional = cli("report", "--pr", "7", cwd=validated)
        optional_seconds = time.monotonic() - started
        attempts = github.count()
        required = cli("report", "--pr", "7", "--required", cwd=validated)

    assert optional.code == 0, optional.err  # the gate passed; GitHub's trouble is a warning
    warnings = [line for line in optional.out.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1, optional.out
    assert "::warning title=mlgate report::" in warnings[0]
    assert "Traceback" not in optional.out + optional.err
    printed = (optional.out + optional.err).splitlines()
    assert {line for line in printed if TOKEN in line} == {f"::add-mask::{TOKEN}"}
    print(f"{attempts} requests in {optional_seconds:.1f}s before giving up")
    # Bounded: a few attempts, then give up well within a job's time.
    assert 2 <= attempts <= 10, github.requests
    assert optional_seconds < 120

    assert required.code == 3, required.err
    [line] = [line for line in required.err.splitlines() if line.startswith("mlgate: error:")]
    assert "GitHub" in line or "github" in line.lower()
    assert "Traceback" not in required.out + required.err
