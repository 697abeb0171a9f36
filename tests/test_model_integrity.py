"""model.joblib is a pickle, which runs code as it loads: a later stage loads only the
file the train stage wrote, checked against the SHA-256 recorded in train.json."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from fastrepo import latest_run, make_fast


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pickle ran"))


def test_a_swapped_model_file_is_refused_before_it_is_loaded(churn_repo: Path, cli) -> None:
    make_fast(churn_repo)
    trained = cli("train", cwd=churn_repo)
    assert trained.code == 0, trained.err
    run_dir = latest_run(churn_repo)
    recorded = json.loads((run_dir / "train.json").read_text())["model_sha256"]
    assert len(recorded) == 64
    marker = churn_repo / "PWNED"
    (run_dir / "model.joblib").write_bytes(pickle.dumps(_Payload(marker)))
    result = cli("evaluate", "--run-dir", str(run_dir), cwd=churn_repo)
    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert "model.joblib is not the model this run's train stage wrote" in line
    assert not marker.exists()


@pytest.mark.slow  # trains the example twice
def test_a_train_json_written_before_the_hash_was_recorded_still_reads(
    churn_repo: Path, cli
) -> None:
    make_fast(churn_repo)
    assert cli("train", cwd=churn_repo).code == 0
    run_dir = latest_run(churn_repo)
    document = json.loads((run_dir / "train.json").read_text())
    del document["model_sha256"]
    (run_dir / "train.json").write_text(json.dumps(document))
    result = cli("evaluate", "--run-dir", str(run_dir), cwd=churn_repo)
    assert result.code in (0, 1), result.err
