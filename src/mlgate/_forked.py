"""One function run in a forked process while the caller goes on with other work.

`beside(function, *args)` forks a process that calls `function(*args)` and sends back
its value; `.result()` waits for it. The evaluate stage draws its plots this way while it
bootstraps its intervals, on a core the run would otherwise leave idle.

The caller always gets what calling `function` itself would give: where a fork is not
safe (not Linux, or a thread other than this one is running, such as a Spark session's),
the function runs in `.result()` instead, and when the process fails in any way (an error,
a crash) it runs there once more, so its error is raised here as it would be without
the process. So `function` must be one that can run twice: it writes its files afresh.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Forked(Generic[T]):
    """A function begun in a forked process, or to be run here: `result` once."""

    def __init__(self, function: Callable[..., T], args: tuple, process: Any, connection: Any):
        self._function = function
        self._args = args
        self._process = process
        self._connection = connection

    def result(self) -> T:
        """The function's value; its error is raised here, as if it had been called here."""
        if self._process is None:
            return self._function(*self._args)
        try:
            kind, value = self._connection.recv()
        except (EOFError, OSError):  # the process died without a word
            kind, value = "failed", None
        finally:
            self.close()
        if kind == "value":
            return value
        return self._function(*self._args)

    def close(self) -> None:
        """End the process (a caller that stops early does not wait for it)."""
        if self._process is None:
            return
        process, self._process = self._process, None
        self._connection.close()
        if process.is_alive():
            process.kill()
        process.join()


def beside(function: Callable[..., T], *args: Any) -> Forked[T]:
    """Start `function(*args)` in a forked process, or return a handle that runs it later here."""
    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return Forked(function, args, None, None)
    import multiprocessing

    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    for stream in (sys.stdout, sys.stderr):  # else the child writes their buffers again
        stream.flush()
    process = context.Process(
        target=_call, args=(child, function, args), name="mlgate-beside", daemon=True
    )
    process.start()
    child.close()
    return Forked(function, args, process, parent)


def _call(connection: Any, function: Callable[..., Any], args: tuple) -> None:
    import gc

    gc.disable()  # a short life: a full collection would walk everything the run imported
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides what an interrupt means
    try:
        reply: tuple[str, Any] = ("value", function(*args))
    except BaseException:  # the caller runs it again, and meets the error itself
        reply = ("failed", None)
    with contextlib.suppress(OSError):
        connection.send(reply)


def die_with_parent() -> None:
    """A caller killed outright takes this process with it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before that took hold
        os._exit(0)
