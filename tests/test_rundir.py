"""The run directory's files: written whole, and with the modes the user's umask gives."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlgate.rundir import RunDir, atomic_write_bytes


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=["022", "077", "002"])
def test_result_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        run_dir = RunDir.create(tmp_path)
        written = run_dir.write_result("validate", {"stage": "validate"})
        atomic_write_bytes(run_dir.file("report.md"), b"# report\n")
        plain = run_dir.file("plain.csv")
        plain.write_text("a\n", encoding="utf-8")  # what pandas or matplotlib would leave
    finally:
        os.umask(previous)

    expected = 0o666 & ~umask
    for path in (written, run_dir.file("report.md"), plain):
        assert stat.S_IMODE(path.stat().st_mode) == expected, path.name
