"""The benchmarks run to their figures: each script at a tiny size, its output read back.

Nothing here is timed or compared with a target (that is the benchmarks' own job, on a
quiet machine); these only keep the scripts working as the code under them moves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    # validate_scale.py ends with 1 when its ratio misses the target: a figure, not a failure.
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("script", "args", "figure"),
    [
        pytest.param(
            "validate_scale.py",
            ("--rows", "4000", "--validation-rows", "500", "--repeats", "1"),
            "overhead ratio: ",
            id="validate_scale",
        ),
        pytest.param(
            "validate_engines.py",
            ("--rows", "4000", "--validation-rows", "500", "--repeats", "1"),
            "same failures from both engines: yes",
            id="validate_engines",
        ),
        pytest.param(
            "monitor_scale.py",
            ("--rows", "4000", "--train-rows", "2000", "--files", "2", "--repeats", "1"),
            '"ratio": ',
            id="monitor_scale",
        ),
    ],
)
def test_benchmark_runs_to_its_figures(
    script: str, args: tuple[str, ...], figure: str, tmp_path: Path
) -> None:
    out = _run(script, *args, cwd=tmp_path)

    assert figure in out, out
