"""A Spark standalone cluster on loopback: a master and workers, each a JVM from pyspark's jars.

The tests (`tests/test_spark_cluster.py`) and the scale proof (`benchmarks/spark_scale.py
proof --cluster`) start one as a team's cluster runs, not Spark's local mode:

    with standalone_cluster(Path("logs"), workers=2) as cluster:
        ...  # compute.cluster: cluster.url

Java must be on PATH. The executors start Python workers with this interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple


class ClusterError(RuntimeError):
    """The cluster did not come up; the message names the logs to read."""


class Cluster(NamedTuple):
    url: str  # spark://127.0.0.1:PORT
    master_ui: str
    worker_uis: list[str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_json(url: str) -> Any:
    # The UIs answer in milliseconds, but a JVM on a busy machine may not.
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def wait_for(what: str, ready: Callable[[], Any], within: float, logs: Path) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            found = ready()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(0.3)
    raise ClusterError(f"{what} did not come up in {within:.0f}s; see the logs in {logs}")


def java() -> str | None:
    return shutil.which("java")


@contextlib.contextmanager
def standalone_cluster(
    logs: Path,
    *,
    workers: int = 2,
    cores: int = 1,
    memory: str = "1g",
    daemon_heap: str = "256m",
) -> Iterator[Cluster]:
    """A master and `workers` workers of `cores` cores and `memory` each, stopped on exit."""
    launcher = java()
    if launcher is None:
        raise ClusterError("no Java runtime to run a Spark master and workers")
    import pyspark

    home = Path(pyspark.__file__).parent
    logs.mkdir(parents=True, exist_ok=True)
    classpath = str(home / "jars" / "*")
    [core] = (home / "jars").glob("spark-core_*.jar")  # spark-core_2.13-4.3.0.jar
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        # What Spark's launch scripts set (load-spark-env.sh): the workers build the
        # executors' classpath with it.
        "SPARK_SCALA_VERSION": core.name.split("_")[1].split("-")[0],
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_WORKER_DIR": str(logs / "work"),
        # The executors start Python workers with the driver's interpreter (PYSPARK_PYTHON).
        "PYSPARK_PYTHON": sys.executable,
    }
    port, master_ui = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *arguments: str) -> None:
        command = [launcher, f"-Xmx{daemon_heap}", "-cp", classpath, *arguments]
        with (logs / f"{name}.log").open("wb") as log:  # the child keeps its own handle
            processes.append(
                subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=logs)
            )

    def alive() -> bool:
        states = [w["state"] for w in read_json(f"http://127.0.0.1:{master_ui}/json/")["workers"]]
        return states.count("ALIVE") == workers

    worker_uis = [free_port() for _ in range(workers)]
    try:
        start(
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(master_ui)),
        )
        wait_for(
            "the Spark master", lambda: read_json(f"http://127.0.0.1:{master_ui}/json/"), 60, logs
        )
        for index, ui in enumerate(worker_uis):
            start(
                f"worker-{index}",
                "org.apache.spark.deploy.worker.Worker",
                url,
                *("--host", "127.0.0.1", "--cores", str(cores), "--memory", memory),
                *("--webui-port", str(ui)),
            )
        wait_for(f"{workers} Spark workers", alive, 60, logs)
        yield Cluster(
            url, f"http://127.0.0.1:{master_ui}", [f"http://127.0.0.1:{ui}" for ui in worker_uis]
        )
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
