"""The README's sample output is what `mlgate run` prints on the bundled example.

Run ids, timings and MLflow run ids differ from run to run; everything else must match,
so the README cannot drift from the program. On a mismatch, the message shows the
block to paste into the README.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import EXAMPLE

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "## What `mlgate run` prints"

# What changes from run to run, each replaced by one placeholder on both sides.
_VARYING = (
    (re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b"), "<run-id>"),
    (re.compile(r" in \d+\.\ds\b"), " in <seconds>s"),
    (re.compile(r"\brun [0-9a-f]{8}\b"), "run <mlflow-run>"),
)


def readme_sample() -> str:
    text = README.read_text(encoding="utf-8")
    after = text[text.index(HEADING) :]
    match = re.search(r"```\n(.*?)```", after, re.DOTALL)
    assert match, f"no code block under {HEADING!r} in README.md"
    return match.group(1)


def normalise(output: str) -> str:
    for pattern, placeholder in _VARYING:
        output = pattern.sub(placeholder, output)
    return output


@pytest.mark.slow
def test_the_readme_shows_what_mlgate_run_prints(cli, tmp_path: Path) -> None:
    repo = tmp_path / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate"))
    # The README's first command runs the example inside this repository's git checkout:
    # the version it registers has a commit.
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x"],
    ):
        subprocess.run(command, cwd=repo, check=True)

    result = cli("run", cwd=repo)

    assert result.code == 0, result.err
    assert normalise(readme_sample()) == normalise(result.out), (
        f"README.md's sample under {HEADING!r} is stale; replace the block with:\n{result.out}"
    )
