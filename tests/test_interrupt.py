"""Interrupted runs: SIGINT or SIGTERM mid-training, and two runs in one repo at once.

GitHub cancels a job with SIGINT then SIGTERM; a laptop user presses Ctrl-C. Either way
the run directory must hold only whole results, nothing may be registered, and the exit
code is 130 with one line saying what happened. A second `mlgate run` in the same repo
while the first holds the state directory refuses at once (exit 2) and names the holder.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastrepo import check_consistent, embedded_versions, make_fast, run_dirs
from mlgate.rundir import hold_lock

pytestmark = pytest.mark.slow


def _start_run(repo: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "mlgate", "run"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_training(repo: Path, process: subprocess.Popen[str], timeout: float = 180) -> Path:
    """The run directory, once the validate stage's result is written (training has begun)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended before training: {process.returncode}\n{out}\n{err}")
        for run_dir in run_dirs(repo):
            if (run_dir / "validate.json").exists():
                return run_dir
        time.sleep(0.1)
    process.kill()
    pytest.fail("the validate stage did not finish in time")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_training_keeps_the_run_directory_whole(
    churn_repo: Path, cli, signum: int
) -> None:
    # Enough trees that training outlasts the checks below by far.
    make_fast(churn_repo, n_estimators=3000)
    process = _start_run(churn_repo)
    try:
        run_dir = _wait_for_training(churn_repo, process)

        # Meanwhile a second run in the same repo refuses, naming the first.
        second = cli("run", cwd=churn_repo)
        assert second.code == 2, second.err
        [line] = second.error_lines
        assert "another mlgate command is using" in line
        assert f"mlgate run, pid {process.pid}" in line
        assert "wait for it to finish" in line
        assert len(run_dirs(churn_repo)) == 1  # the refused run made no directory of its own

        time.sleep(0.5)
        assert process.poll() is None, "training finished before the signal: add trees"
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130, out + err
    assert err.strip().splitlines() == [
        "mlgate: error: interrupted; the run directory keeps the stages that finished"
    ]
    assert "Traceback" not in out + err
    assert check_consistent(run_dir) == []
    assert (run_dir / "validate.json").exists()
    assert not (run_dir / "train.json").exists()  # the stage that was cut off left no result
    assert embedded_versions(churn_repo) == 0
    # The lock went with the process: the next command may run.
    with hold_lock(churn_repo / ".mlgate", "test"):
        pass


def test_the_lock_is_refused_while_held_and_free_after(tmp_path: Path) -> None:
    state = tmp_path / ".mlgate"
    with hold_lock(state, "run"):
        # A second open file description behaves like another process.
        with (state / "lock").open() as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert (state / "lock").read_text() == f"mlgate run, pid {os.getpid()}\n"
    with (state / "lock").open() as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_state_folder_that_cannot_be_written_is_one_line_exit_2(churn_repo: Path, cli) -> None:
    (churn_repo / ".mlgate").write_text("a file where mlgate keeps its folder\n")

    result = cli("validate", cwd=churn_repo)

    assert result.code == 2, result.err
    [line] = result.error_lines
    assert line.startswith("mlgate: error: .mlgate: cannot write mlgate's state folder")


def test_an_interrupt_while_saving_the_model_leaves_no_half_model(
    churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import joblib

    make_fast(churn_repo)

    def dump_half_then_interrupt(value: object, filename: str | Path, *args, **kwargs) -> None:
        Path(filename).write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(joblib, "dump", dump_half_then_interrupt)

    result = cli("train", cwd=churn_repo)

    assert result.code == 130, result.err
    [run_dir] = run_dirs(churn_repo)
    assert not (run_dir / "model.joblib").exists()
    assert check_consistent(run_dir) == []
    assert not (run_dir / "train.json").exists()
