"""`mlgate._forked.beside`: a function run in a forked process gives what calling it here
would give, its value or its error, whether the process works, fails or dies.

Each case runs in a fresh interpreter: a test process may have threads of its own (then
`beside` rightly runs the function in place, and the fork would go untested).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked on Linux only")

_CASES = r"""
import json, os, sys, threading
from pathlib import Path
from mlgate._forked import beside

folder, case = Path(sys.argv[1]), sys.argv[2]

def where():
    (folder / "written").write_text("yes")
    return os.getpid()

def fails():
    calls = folder / "calls"
    calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
    raise ValueError(f"no plots in {folder.name}")

def dies(caller):
    if os.getpid() != caller:
        os._exit(9)  # a crash there, with no word sent back
    return 42

said = {"caller": os.getpid()}
if case == "value":
    said["ran_in"] = beside(where).result()
elif case == "error":
    try:
        beside(fails).result()
    except ValueError as error:
        said["raised"] = str(error)
elif case == "dies":
    said["value"] = beside(dies, os.getpid()).result()
elif case == "thread":
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    said["ran_in"] = beside(where).result()
    stop.set()
    other.join()
print(json.dumps(said))
"""


def _case(folder: Path, case: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CASES, str(folder), case],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_value_comes_back_from_another_process(tmp_path: Path) -> None:
    said = _case(tmp_path, "value")

    assert said["ran_in"] != said["caller"]
    assert (tmp_path / "written").read_text() == "yes"  # what it wrote there is here


def test_an_error_there_is_raised_here_as_if_called_here(tmp_path: Path) -> None:
    said = _case(tmp_path, "error")

    assert said["raised"] == f"no plots in {tmp_path.name}"
    assert (tmp_path / "calls").read_text() == "xx"  # there, then once more here


def test_a_process_that_dies_is_replaced_by_a_call_here(tmp_path: Path) -> None:
    assert _case(tmp_path, "dies")["value"] == 42


def test_with_another_thread_running_it_runs_here(tmp_path: Path) -> None:
    # A fork copies only the calling thread: with another one running it is not safe.
    said = _case(tmp_path, "thread")

    assert said["ran_in"] == said["caller"]
