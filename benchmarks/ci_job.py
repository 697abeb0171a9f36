"""The whole CI job from a cold runner: the setup action's install plus `mlgate run` on the
example, against pip installing scikit-learn, pandas and MLflow plus the hand-written script.

    .venv/bin/python benchmarks/ci_job.py                 # 3 rounds (~8 min on 2 cores)
    .venv/bin/python benchmarks/ci_job.py --rounds 5
    .venv/bin/python benchmarks/ci_job.py --checkout DIR  # another checkout's action and pins

Both sides start from nothing: a new virtualenv, an empty uv or pip cache, and the wheels
served from one local folder (no index), which is filled once at the start over the
network (not timed; kept in ~/.cache/mlgate-benchmarks/ci-wheels for the next call).

mlgate's side is actions/setup/install.sh itself, unchanged: uv is not on PATH, so it
installs uv with pip as on a fresh runner, makes the virtualenv, installs
requirements/runtime.txt with --require-hashes and builds mlgate from the checkout (uv is
sent to the folder by UV_NO_INDEX and UV_FIND_LINKS, pip by PIP_NO_INDEX and
PIP_FIND_LINKS). Then `mlgate run` on a fresh copy of examples/churn.
The baseline is what a team writes by hand: `python -m venv`, `pip install scikit-learn
pandas mlflow` at the lock's versions, then benchmarks/run.py's MLflow script (the same
pipeline, its parameters and metrics logged and the model registered in a fresh SQLite
store).

Each round runs mlgate's side, then the baseline, so a change in the machine's load hits
both; every figure is the median over the rounds. uv does not compile bytecode and pip
does, so mlgate's first import pays that inside its run time, as it does on a runner.
Run it from the repo root with the project's virtualenv (`.venv/bin/python`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"
WHEELS = Path.home() / ".cache" / "mlgate-benchmarks" / "ci-wheels"
# What the baseline installs: the three libraries a hand-written MLflow job needs.
BASELINE_PACKAGES = ("scikit-learn", "pandas", "mlflow")


def _run_benchmark() -> object:
    """benchmarks/run.py, for its hand-written MLflow script (one script, two benchmarks)."""
    spec = importlib.util.spec_from_file_location(
        "mlgate_run_benchmark", ROOT / "benchmarks/run.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN_BENCHMARK = _run_benchmark()
MLFLOW_SCRIPT = RUN_BENCHMARK.MLFLOW_SCRIPT


@dataclass(frozen=True)
class Side:
    install: float
    run: float
    megabytes: float

    @property
    def total(self) -> float:
        return self.install + self.run


def check(command: list, *, env: dict | None = None, cwd: Path | None = None) -> float:
    """Run `command` to success and return its wall time; exit naming it otherwise."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(
            f"ci_job: {' '.join(map(str, command))} exited {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return seconds


def megabytes(path: Path) -> float:
    """Disk use of a folder as du counts it (a hard-linked file once)."""
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


def plain_env() -> dict[str, str]:
    """This process's environment without GitHub's, MLflow's, uv's or pip's settings, so
    each side is told only what this script sets."""
    env = RUN_BENCHMARK.clean_env()
    env = {k: v for k, v in env.items() if not k.startswith(("UV_", "PIP_", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def offline(env: dict[str, str], cache: Path) -> dict[str, str]:
    """uv and pip reading only the wheel folder (not this machine's pip configuration),
    with an empty cache of their own."""
    return {
        **env,
        "UV_NO_INDEX": "1",
        "UV_FIND_LINKS": str(WHEELS),
        "UV_CACHE_DIR": str(cache / "uv"),
        "UV_NO_CONFIG": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELS),
        "PIP_CACHE_DIR": str(cache / "pip"),
    }


def path_without_uv(path: str) -> str:
    """PATH without any folder holding a `uv`, as on a runner that never installed it."""
    folders = [d for d in path.split(os.pathsep) if d and not (Path(d) / "uv").exists()]
    return os.pathsep.join(folders)


def pinned_constraints(lock: Path, target: Path) -> Path:
    """The lock's pins (with their markers) without hashes: pip's constraints for the
    baseline, so both sides install the same versions of what they share."""
    pins = [
        line.rstrip(" \\")
        for line in lock.read_text(encoding="utf-8").splitlines()
        if re.match(r"[A-Za-z0-9][\w.-]*==", line)
    ]
    target.write_text("\n".join(pins) + "\n", encoding="utf-8")
    return target


def uv_version(checkout: Path) -> str:
    """The uv release install.sh installs when uv is not on PATH."""
    script = (checkout / "actions" / "setup" / "install.sh").read_text(encoding="utf-8")
    return re.search(r"MLGATE_UV:-([0-9.]+)", script).group(1)


def fill_wheels(
    python: str, checkout: Path, constraints: Path, workdir: Path, *, extras: bool
) -> None:
    """Every file both sides install, downloaded into WHEELS (network, not timed; a file
    already there is not downloaded again)."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    tools = workdir / "download-venv"
    check([python, "-m", "venv", str(tools)])
    pip = [str(tools / "bin" / "python"), "-m", "pip", "download", "-q", "-d", str(WHEELS)]
    requirements = checkout / "requirements"
    check([*pip, "--only-binary=:all:", "-r", str(requirements / "runtime.txt")])
    check([*pip, "--only-binary=:all:", "-c", str(constraints), *BASELINE_PACKAGES])
    # install.sh's uv, hatchling to build mlgate's own wheel from the checkout.
    check([*pip, "--only-binary=:all:", f"uv=={uv_version(checkout)}", "hatchling"])
    if extras:  # one of them is published as source only: setuptools builds it
        check([*pip, "--prefer-binary", "-r", str(requirements / "runtime-extras.txt")])
        check([*pip, "--only-binary=:all:", "setuptools", "wheel"])
    shutil.rmtree(tools)


def fresh_example(folder: Path) -> Path:
    repo = folder / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    return repo


def setup_install(
    python: str, checkout: Path, folder: Path, *, extras: bool = False
) -> tuple[float, Path]:
    """The setup action's install.sh, unchanged, into a new virtualenv: its seconds, and
    the virtualenv."""
    folder.mkdir(parents=True)
    # setup-python's interpreter: a Python with pip and without uv (made before the clock).
    runner = folder / "runner-python"
    check([python, "-m", "venv", str(runner)])
    env = offline(plain_env(), folder / "cache")
    env["PATH"] = path_without_uv(env.get("PATH", os.defpath))
    env["MLGATE_BASE_PYTHON"] = str(runner / "bin" / "python")
    env["MLGATE_VENV"] = str(folder / "mlgate-venv")
    env["MLGATE_EXTRAS"] = "true" if extras else "false"
    seconds = check(["bash", str(checkout / "actions" / "setup" / "install.sh")], env=env)
    return seconds, folder / "mlgate-venv"


def mlgate_side(python: str, checkout: Path, folder: Path) -> Side:
    """The setup action's install, then `mlgate run` on a fresh copy of the example."""
    install, venv = setup_install(python, checkout, folder)
    repo = fresh_example(folder)
    started = time.perf_counter()
    done = subprocess.run(
        [str(venv / "bin" / "mlgate"), "run", str(repo)],
        cwd=repo,
        env=plain_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    ran = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: a gate failed, still a whole run
        sys.exit(f"ci_job: mlgate run exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return Side(install, ran, megabytes(venv))


def baseline_side(python: str, constraints: Path, folder: Path) -> Side:
    """`python -m venv`, pip install scikit-learn pandas mlflow, the hand-written script."""
    folder.mkdir(parents=True)
    env = offline(plain_env(), folder / "cache")
    venv = folder / "venv"
    started = time.perf_counter()
    check([python, "-m", "venv", str(venv)], env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    check([*pip, "-c", str(constraints), *BASELINE_PACKAGES], env=env)
    install = time.perf_counter() - started
    repo = fresh_example(folder)
    store = folder / "store"
    store.mkdir()
    ran = check(
        [str(venv / "bin" / "python"), "-c", MLFLOW_SCRIPT, str(repo / "data"), str(store)],
        env=plain_env(),
        cwd=store,
    )
    return Side(install, ran, megabytes(venv))


def median_side(sides: list[Side]) -> Side:
    return Side(
        statistics.median(s.install for s in sides),
        statistics.median(s.run for s in sides),
        statistics.median(s.megabytes for s in sides),
    )


def print_report(ours: list[Side], base: list[Side], extras_mb: float | None, python: str) -> None:
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, Python {version}, "
        f"{platform.system()} {platform.release()}; median of {len(ours)} rounds\n"
    )
    a, b = median_side(ours), median_side(base)
    # The median of the rounds' totals (the median install plus the median run may differ).
    a_total = statistics.median(s.total for s in ours)
    b_total = statistics.median(s.total for s in base)
    print("| side | install (s) | run (s) | total (s) | venv (MB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| setup action's install.sh + `mlgate run` | {a.install:.1f} | {a.run:.1f} | "
        f"{a_total:.1f} | {a.megabytes:.0f} |"
    )
    print(
        f"| `pip install {' '.join(BASELINE_PACKAGES)}` + hand-written MLflow script | "
        f"{b.install:.1f} | {b.run:.1f} | {b_total:.1f} | {b.megabytes:.0f} |"
    )
    pairs = sorted(x.total / y.total for x, y in zip(ours, base, strict=True))
    print(
        f"\nratio of the totals (mlgate / baseline): {a_total / b_total:.2f} "
        f"(per round {pairs[0]:.2f}–{pairs[-1]:.2f}; goal ≤ 1.00)"
    )
    if extras_mb is not None:
        print(
            f"install size: requirements/runtime.txt {a.megabytes:.0f} MB, "
            f"requirements/runtime-extras.txt (extras: true) {extras_mb:.0f} MB"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both sides (median)")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="the mlgate checkout whose setup action and pins are installed (default: this one)",
    )
    parser.add_argument(
        "--python",
        default=getattr(sys, "_base_executable", sys.executable),
        help="the interpreter both sides start from, as setup-python gives it",
    )
    parser.add_argument(
        "--no-extras-size", action="store_true", help="skip sizing the extras install"
    )
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    ours, base = [], []
    with tempfile.TemporaryDirectory(prefix="mlgate-ci-job-") as temp:
        workdir = Path(temp)
        constraints = pinned_constraints(ROOT / "requirements" / "lock.txt", workdir / "pins.txt")
        fill_wheels(args.python, checkout, constraints, workdir, extras=not args.no_extras_size)
        for round_ in range(args.rounds):
            folder = workdir / f"round-{round_}"
            ours.append(mlgate_side(args.python, checkout, folder / "mlgate"))
            base.append(baseline_side(args.python, constraints, folder / "baseline"))
            print(
                f"round {round_ + 1}: mlgate {ours[-1].install:.1f} + {ours[-1].run:.1f} s, "
                f"baseline {base[-1].install:.1f} + {base[-1].run:.1f} s",
                file=sys.stderr,
            )
            shutil.rmtree(folder)
        extras_mb = None
        if not args.no_extras_size:
            _, venv = setup_install(args.python, checkout, workdir / "extras", extras=True)
            extras_mb = megabytes(venv)
    print_report(ours, base, extras_mb, args.python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
