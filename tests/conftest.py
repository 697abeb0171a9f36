"""Shared fixtures: a fresh copy of the bundled example, and the CLI called in-process."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlgate.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"

# Variables that would make a test depend on the machine or CI it runs on.
ISOLATED_ENV = (
    "MLFLOW_TRACKING_URI",
    "GITHUB_ACTIONS",
    "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH",
    "GITHUB_REF",
    "GITHUB_SHA",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_ACTOR",
    "GITHUB_SERVER_URL",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def churn_repo(tmp_path: Path) -> Path:
    """A private copy of examples/churn (without any earlier .mlgate state)."""
    target = tmp_path / "churn"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    return target


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `mlgate ARGS` in-process from a working directory; return code and output."""

    def run(*args: str, cwd: Path | None = None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse exits for --help and usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
