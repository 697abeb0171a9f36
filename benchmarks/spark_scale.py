"""Spark MLlib training against scikit-learn's, and a run larger than the driver's memory.

    .venv/bin/python benchmarks/spark_scale.py speed --rows 200000 1000000
    sudo .venv/bin/python benchmarks/spark_scale.py proof --gib 1 --memory 3g   # 10 minutes
    sudo .venv/bin/python benchmarks/spark_scale.py proof --gib 3 --memory 1g --heap 512 \
        --partition 16m --workers 2                                              # 20 minutes

`speed`: the churn example's columns, drawn by examples/churn/generate.py at each
--rows, with a 50,000-row validation file. `mlgate validate` runs once per size (pandas,
no suite, no drift); then `mlgate train --no-cache` runs in a fresh process for each
engine, in turn, --repeats times: `LogisticRegression` (scikit-learn, pandas reads the
file) and `pyspark.ml.classification.LogisticRegression` on `local[2]` (Spark reads the
file). Rows per second is the training rows over the train stage's own seconds
(train.json: reading, fitting, saving); the process's wall time, with Python's and
the JVM's start, is printed beside it. Medians.

`proof`: a training CSV of --gib GiB, then two runs with --memory as the limit:
`mlgate validate` with the pandas engine under `prlimit --as` (its address space), which
must end with exit 2 and a one-line message (not a crash), and `mlgate run` with
`validation.engine: spark` and the Spark LogisticRegression under a cgroup (v1 memory
controller, so root) holding the Python process and Spark's driver JVM, with
`spark.driver.memory` under the limit: it must end with a registered version. A JVM
reserves more address space than it uses, so the Spark run is limited by resident
memory (the cgroup), not by `prlimit --as`. With --workers N the Spark run goes to a
standalone cluster of N one-core workers on loopback (tools/spark_standalone.py), whose
executors (--executor memory each) are outside the cgroup: the limit then holds the
driver side alone, mlgate's Python and Spark's driver JVM.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from mlgate.config import is_spark_model

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "churn"
MLGATE = [sys.executable, "-m", "mlgate"]
VALIDATION_ROWS = 50_000
CHUNK = 500_000
SKLEARN = {"type": "LogisticRegression", "params": {"max_iter": 200}}
SPARK = {"type": "pyspark.ml.classification.LogisticRegression", "params": {"maxIter": 20}}


def _load(name: str, path: Path):
    """A script of this repository that is no package module, loaded by its path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def write_rows(path: Path, rows: int, seed: int, *, max_bytes: int | None = None) -> int:
    """The churn columns, `rows` of them (or until the file holds `max_bytes`), in chunks."""
    generate = _load("churn_generate", EXAMPLE / "generate.py").generate
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        index = 0
        while written < rows and (max_bytes is None or out.tell() < max_bytes):
            count = min(CHUNK, rows - written)
            frame = generate(count, seed + index, 0.0, 0.0)
            frame["customer_id"] = [f"C{written + i:010d}" for i in range(count)]
            frame.to_csv(out, index=False, header=index == 0)
            written += count
            index += 1
    return written


def make_repo(folder: Path, model: dict, *, spark_validation: bool = False) -> Path:
    repo = folder / "repo"
    if not repo.exists():
        shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "data"))
        (repo / "data").mkdir()
    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    config["model"] = model
    config["validation"] = {"drift": {"enabled": False}}
    if spark_validation:
        config["validation"]["engine"] = "spark"
    config.pop("compute", None)
    if is_spark_model(model["type"]):
        config["compute"] = {"cluster": "local[2]"}
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return repo


def mlgate(repo: Path, *args: str, prefix: tuple[str, ...] = ()) -> tuple[int, str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [*prefix, *MLGATE, *args], cwd=repo, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - started


def speed(rows_list: list[int], repeats: int) -> None:
    print(f"{'rows':>10} {'engine':>8} {'train s':>8} {'rows/s':>10} {'wall s':>7}")
    for rows in rows_list:
        with tempfile.TemporaryDirectory(prefix="mlgate-spark-scale-") as scratch:
            repo = make_repo(Path(scratch), SKLEARN)
            write_rows(repo / "data" / "train.csv", rows, seed=1)
            write_rows(repo / "data" / "validation.csv", VALIDATION_ROWS, seed=10_000)
            code, output, _ = mlgate(repo, "validate", "--run-dir", ".mlgate/runs/v")
            if code != 0:
                raise SystemExit(f"validate failed at {rows} rows:\n{output}")
            figures: dict[str, list[tuple[float, float]]] = {"sklearn": [], "spark": []}
            for _ in range(repeats):
                for engine, model in (("sklearn", SKLEARN), ("spark", SPARK)):
                    make_repo(Path(scratch), model)
                    code, output, wall = mlgate(
                        repo, "train", "--no-cache", "--run-dir", ".mlgate/runs/v"
                    )
                    if code != 0:
                        raise SystemExit(f"{engine} train failed at {rows} rows:\n{output}")
                    result = json.loads((repo / ".mlgate/runs/v/train.json").read_text())
                    figures[engine].append((result["seconds"], wall))
            for engine, runs in figures.items():
                seconds = statistics.median(s for s, _ in runs)
                wall = statistics.median(w for _, w in runs)
                print(
                    f"{rows:>10,} {engine:>8} {seconds:>8.1f} {rows / seconds:>10,.0f} {wall:>7.1f}"
                )


def proof(
    gib: float, memory: str, heap_mib: int | None, partition: str, workers: int, executor: str
) -> None:
    limit = _bytes(memory)
    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(
            tempfile.TemporaryDirectory(prefix="mlgate-spark-proof-", dir=os.getcwd())
        )
        repo = make_repo(Path(scratch), SKLEARN)
        train = repo / "data" / "train.csv"
        started = time.perf_counter()
        rows = write_rows(train, 10**12, seed=1, max_bytes=int(gib * 2**30))
        write_rows(repo / "data" / "validation.csv", VALIDATION_ROWS, seed=10_000)
        size = train.stat().st_size / 2**30
        print(
            f"training file: {rows:,} rows, {size:.2f} GiB ({time.perf_counter() - started:.0f}s)"
        )

        code, output, wall = mlgate(
            repo, "validate", "--no-cache", prefix=("prlimit", f"--as={limit}", "--")
        )
        print(f"pandas engine under prlimit --as={memory}: exit {code} in {wall:.0f}s")
        print("  " + (output.strip().splitlines() or ["(no output)"])[-1])

        make_repo(Path(scratch), SPARK, spark_validation=True)
        config = yaml.safe_load((repo / "mlgate.yaml").read_text())
        # A quarter of the cgroup for the driver's heap: the JVM's own memory (metaspace,
        # code, threads, network buffers), Python with pandas, Great Expectations and
        # MLflow, and the validation rows share the rest.
        heap = heap_mib or max(limit // 2**20 // 4, 256)
        # Blocks of 32 MiB, not 128: what MLlib caches of a partition stays well within the heap.
        spark_conf: dict[str, object] = {
            "spark.driver.memory": f"{heap}m",
            "spark.sql.files.maxPartitionBytes": partition,
        }
        where = "local[2]"
        if workers:
            # The executors run in the workers, outside the cgroup: only mlgate's Python and
            # the driver's JVM are held to the limit, as on a runner driving a cluster.
            standalone = _load("spark_standalone", ROOT / "tools" / "spark_standalone.py")
            cluster = stack.enter_context(
                standalone.standalone_cluster(
                    Path(scratch) / "cluster", workers=workers, memory=executor
                )
            )
            config["compute"]["cluster"] = where = cluster.url
            spark_conf |= {
                "spark.executor.memory": executor,
                "spark.cores.max": workers,
                "spark.scheduler.minRegisteredResourcesRatio": 1.0,
                "spark.scheduler.maxRegisteredResourcesWaitingTime": "60s",
            }
        config["compute"]["spark_conf"] = spark_conf
        (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        group = Path("/sys/fs/cgroup/memory") / f"mlgate-spark-proof-{os.getpid()}"
        group.mkdir()
        try:
            (group / "memory.limit_in_bytes").write_text(str(limit))
            command = f"echo $$ > {group}/cgroup.procs && exec {' '.join(MLGATE)} run --no-cache"
            started = time.perf_counter()
            done = subprocess.run(
                ["sh", "-c", command],
                cwd=repo,
                capture_output=True,
                text=True,
                check=False,
                # The driver listens on loopback, where the workers are, and the executors'
                # Python workers run this interpreter.
                env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable},
            )
            wall = time.perf_counter() - started
            peak = int((group / "memory.max_usage_in_bytes").read_text()) / 2**20
        finally:
            for pid in (group / "cgroup.procs").read_text().split():
                Path("/sys/fs/cgroup/memory/cgroup.procs").write_text(pid)
            group.rmdir()
        print(
            f"Spark engine and MLlib model on {where}, the driver in a {memory} cgroup "
            f"(heap {heap}m): exit "
            f"{done.returncode} in {wall:.0f}s, peak {peak:.0f} MiB"
        )
        for line in done.stdout.strip().splitlines():
            print("  " + line)
        if done.returncode != 0:  # mlgate's own lines, not the JVM's warnings after them
            for line in done.stderr.splitlines():
                said = line.startswith(("mlgate", "Caused by"))
                if said or "Error" in line or "Exception" in line:
                    print("  " + line[:500])


def _bytes(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    return int(float(text[:-1]) * units[text[-1].lower()]) if text[-1].isalpha() else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    timed = commands.add_parser("speed", help="rows per second, both engines")
    timed.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    timed.add_argument("--repeats", type=int, default=1)
    limited = commands.add_parser("proof", help="a run larger than the driver's memory")
    limited.add_argument("--gib", type=float, default=3.0)
    limited.add_argument("--memory", default="1g")
    limited.add_argument("--heap", type=int, help="the driver's heap in MiB (a quarter)")
    limited.add_argument("--partition", default="32m", help="spark.sql.files.maxPartitionBytes")
    limited.add_argument(
        "--workers",
        type=int,
        default=0,
        help="a standalone cluster of this many one-core workers on loopback (0: local[2])",
    )
    limited.add_argument("--executor", default="2g", help="each worker's executor memory")
    args = parser.parse_args(argv)
    if args.command == "speed":
        speed(args.rows, args.repeats)
    else:
        proof(args.gib, args.memory, args.heap, args.partition, args.workers, args.executor)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
