"""An unchanged re-run skips the pre-flight checks it passed before; any change runs them.

The checks import scikit-learn and pandas (about a second); a re-run that restores
every stage from the cache needs neither.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastrepo import make_fast

# `mlgate ARGS` in-process, then which heavy libraries this process imported.
_RUN_AND_LOOK = """
import json, sys
from mlgate.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "sklearn": "sklearn" in sys.modules}), file=sys.stderr)
"""


def _run(repo: Path, *args: str) -> tuple[dict, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LOOK, "run", *args],
        cwd=repo,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(done.stderr.strip().splitlines()[-1]), done.stdout + done.stderr


def test_an_unchanged_rerun_skips_the_checks_and_a_changed_file_does_not(
    churn_repo: Path,
) -> None:
    make_fast(churn_repo)
    first, out = _run(churn_repo)
    assert first == {"code": 0, "sklearn": True}, out

    again, out = _run(churn_repo)
    assert again == {"code": 0, "sklearn": False}, out  # every stage restored, no checks

    forced, out = _run(churn_repo, "--no-cache")
    assert forced["code"] == 0, out
    assert forced["sklearn"] is True

    # The same config, but the training file lost its target column: the checks run again
    # (the file's size and time changed) and stop the run before any stage.
    training = churn_repo / "data" / "train.csv"
    rows = [line.rsplit(",", 1)[0] for line in training.read_text().splitlines()]
    assert rows[0].endswith(",age"), "the example's target is no longer its last column"
    training.write_text("\n".join(rows) + "\n")
    changed, out = _run(churn_repo)
    assert changed["code"] == 2, out
    assert "churned" in out
    assert "✓ validate" not in out
