"""mlgate's speed, each figure measured against its baseline in the same run.

    python benchmarks/run.py                    # start-up, the example and 10x, re-run (~6 min)
    python benchmarks/run.py --scales 1 10 100  # also 100x the example's rows (long)
    python benchmarks/run.py --install          # also uv (warm cache) against pip, same wheels
    python benchmarks/run.py --install-only     # only that

Every figure is the median of --repeats runs, and every one is a ratio to a baseline
timed on the same machine in the same run, so a slow or busy machine slows both sides.
`mlgate run --no-cache` is timed against two baselines, run in turn with it: the
script a team would write by hand (the same pipeline, its parameters and metrics
logged to MLflow and the model registered, in a fresh SQLite store as mlgate's), and
the same script without MLflow (pandas and scikit-learn alone).
Run it from the repo root with the project's virtualenv (`.venv/bin/python`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"
BIN = Path(sys.executable).parent
EXAMPLE_ROWS = (4000, 1000)

# The baseline for `mlgate run`: the same data, pipeline, fit, prediction and metrics
# with pandas and scikit-learn alone, timing its own phases.
PLAIN_SCRIPT = r"""
import json, sys, time
started = time.perf_counter()
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
imported = time.perf_counter()
data = sys.argv[1]
train = pd.read_csv(f"{data}/train.csv")
valid = pd.read_csv(f"{data}/validation.csv")
numeric = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "num_products"]
categorical = ["plan", "contract", "payment_method", "paperless_billing"]
pipeline = Pipeline([
    ("prepare", ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
    ])),
    ("model", GradientBoostingClassifier(
        n_estimators=250, learning_rate=0.05, max_depth=5, random_state=42)),
])
read = time.perf_counter()
pipeline.fit(train[numeric + categorical], train["churned"])
fitted = time.perf_counter()
scores = pipeline.predict_proba(valid[numeric + categorical])[:, 1]
labels = pipeline.predict(valid[numeric + categorical])
predicted = time.perf_counter()
truth = valid["churned"] == "yes"
metrics = {
    "roc_auc": roc_auc_score(truth, scores),
    "accuracy": accuracy_score(valid["churned"], labels),
    "f1": f1_score(valid["churned"], labels, pos_label="yes"),
}
done = time.perf_counter()
print(json.dumps({"import": imported - started, "read": read - imported,
                  "fit": fitted - read, "predict": predicted - fitted,
                  "metrics": done - predicted, "values": metrics}))
"""

# The hand-written MLflow script: the plain script, then its parameters and metrics logged
# to MLflow and the model registered, in a fresh SQLite store (argv[2]).
MLFLOW_SCRIPT = (
    PLAIN_SCRIPT.replace("print(json.dumps(", "phases = (").replace(
        '"values": metrics}))', '"values": metrics})'
    )
    + r"""
import mlflow
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[2]}/mlflow.db")
mlflow.set_experiment("churn")
with mlflow.start_run():
    mlflow.log_params(pipeline.named_steps["model"].get_params())
    mlflow.log_metrics(metrics)
    mlflow.sklearn.log_model(pipeline, name="model", registered_model_name="churn",
                             serialization_format="cloudpickle")
phases["mlflow"] = time.perf_counter() - done
print(json.dumps(phases))
"""
)


def timed(command: list[str], *, cwd: Path | None = None, env: dict | None = None) -> tuple:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"benchmark: {' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return seconds, done.stdout


def median_of(repeats: int, measure) -> float:
    return statistics.median(measure() for _ in range(repeats))


def clean_env() -> dict[str, str]:
    # Not GitHub's or MLflow's variables (a local run), and let Python keep its bytecode
    # cache as it does on a runner, so that the figures are not about recompiling.
    skip = ("GITHUB_", "MLFLOW_", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items() if not k.startswith(skip)}


# --- 1. start-up ------------------------------------------------------------------------


def startup(repeats: int) -> list[tuple]:
    mlgate = [str(BIN / "mlgate"), "--help"]
    python = [sys.executable, "-c", "pass"]
    env = clean_env()
    timed(mlgate, env=env)  # warm the file cache once for both
    base = median_of(repeats, lambda: timed(python, env=env)[0])
    ours = median_of(repeats, lambda: timed(mlgate, env=env)[0])
    return [("start-up: `mlgate --help` vs `python -c pass`", ours, base, "≤ 2.5")]


# --- 2-4. overhead, scale, re-run ---------------------------------------------------------


def example_copy(workdir: Path, scale: int) -> Path:
    """A private copy of the example, its data regenerated at `scale` times the rows."""
    target = workdir / f"churn-x{scale}"
    if not target.exists():
        shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
        if scale != 1:
            rows_train, rows_validation = (rows * scale for rows in EXAMPLE_ROWS)
            subprocess.run(
                [
                    sys.executable,
                    str(target / "generate.py"),
                    "--rows-train",
                    str(rows_train),
                    "--rows-validation",
                    str(rows_validation),
                    "--out",
                    str(target / "data"),
                ],
                check=True,
                capture_output=True,
            )
    return target


def fresh_state(repo: Path) -> None:
    shutil.rmtree(repo / ".mlgate", ignore_errors=True)


def mlflow_run(repo: Path, store: Path) -> tuple[float, dict]:
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    seconds, out = timed(
        [sys.executable, "-c", MLFLOW_SCRIPT, str(repo / "data"), str(store)],
        cwd=store,
        env=clean_env(),
    )
    return seconds, json.loads(out.splitlines()[-1])


def mlgate_run(repo: Path, *extra: str) -> tuple[float, dict]:
    seconds, out = timed(
        [str(BIN / "mlgate"), "run", str(repo), "--json", *extra], cwd=repo, env=clean_env()
    )
    return seconds, json.loads(out)


def plain_run(repo: Path) -> tuple[float, dict]:
    seconds, out = timed([sys.executable, "-c", PLAIN_SCRIPT, str(repo / "data")], env=clean_env())
    return seconds, json.loads(out)


def overhead(workdir: Path, scale: int, repeats: int) -> tuple[list[tuple], dict]:
    repo = example_copy(workdir, scale)
    plain, scripted, ours, stages = [], [], [], []
    for _ in range(repeats):  # in turn, so that a change in the machine's load hits all three
        plain.append(plain_run(repo))
        scripted.append(mlflow_run(repo, workdir / "mlflow-script"))
        fresh_state(repo)
        ours.append(mlgate_run(repo, "--no-cache"))
    base = statistics.median(seconds for seconds, _ in plain)
    by_hand = statistics.median(seconds for seconds, _ in scripted)
    total = statistics.median(seconds for seconds, _ in ours)
    for _, document in ours:
        stages.append({s["stage"]: s["seconds"] for s in document["stages"]})
    per_stage = {
        name: statistics.median(run.get(name, 0.0) for run in stages) for name in stages[0]
    }
    plain_phases = {
        phase: statistics.median(doc[phase] for _, doc in plain)
        for phase in ("import", "read", "fit", "predict", "metrics")
    }
    label = "example" if scale == 1 else f"{scale}× rows"
    rows = [
        (
            f"`mlgate run --no-cache` vs hand-written MLflow script ({label})",
            total,
            by_hand,
            "≤ 0.5",
        ),
        (f"`mlgate run --no-cache` vs plain scikit-learn ({label})", total, base, "≤ +2 s"),
    ]
    detail = {
        "scale": scale,
        "mlgate_stages": per_stage,
        "plain_phases": plain_phases,
        "extra_seconds": total - base,
        "mlgate_seconds": total,
        "plain_seconds": base,
        "mlflow_script_seconds": by_hand,
    }
    return rows, detail


def rerun(workdir: Path, repeats: int) -> list[tuple]:
    repo = example_copy(workdir, 1)
    firsts, seconds_ = [], []
    for _ in range(repeats):
        fresh_state(repo)
        firsts.append(mlgate_run(repo)[0])
        seconds_.append(mlgate_run(repo)[0])
    first, second = statistics.median(firsts), statistics.median(seconds_)
    return [("unchanged re-run vs first run", second, first, "≤ 0.10")]


# --- 5. install ---------------------------------------------------------------------------


def install(workdir: Path) -> list[tuple]:
    """uv with a warm cache against pip, both from the same local wheels, no index."""
    wheels = Path.home() / ".cache" / "mlgate-benchmarks" / "wheels"
    requirements = ROOT / "requirements" / "runtime.txt"
    source = ["--no-index", "--find-links", str(wheels), "-r", str(requirements)]
    uv = shutil.which("uv") or str(BIN / "uv")

    pip_venv = workdir / "pip"
    subprocess.run([sys.executable, "-m", "venv", str(pip_venv)], check=True)
    pip = [str(pip_venv / "bin" / "python"), "-m", "pip"]
    if not any(wheels.glob("*.whl")):  # once: the wheels both installers read
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *pip,
                "download",
                "-q",
                "--only-binary=:all:",
                "-r",
                str(requirements),
                "-d",
                str(wheels),
            ],
            check=True,
        )

    def uv_install(name: str) -> float:
        venv = workdir / name
        subprocess.run([uv, "venv", "-q", str(venv)], check=True)
        started = time.perf_counter()
        subprocess.run(
            [uv, "pip", "install", "-q", "-p", str(venv / "bin" / "python"), *source], check=True
        )
        return time.perf_counter() - started

    def pip_install() -> float:
        started = time.perf_counter()
        subprocess.run([*pip, "install", "-q", "--no-cache-dir", *source], check=True)
        return time.perf_counter() - started

    uv_install("uv-warm-up")  # fills uv's cache, as the setup action's cache restore does
    ours = uv_install("uv-cached")
    base = pip_install()
    return [("install: uv (warm cache) vs pip, same wheels", ours, base, "≤ 0.20")]


# --- output -------------------------------------------------------------------------------


def print_table(rows: list[tuple], details: list[dict], repeats: int) -> None:
    cpus = os.cpu_count()
    print(
        f"\nmachine: {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; median of {repeats} runs\n"
    )
    print("| figure | mlgate (s) | baseline (s) | ratio | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, ours, base, target in rows:
        ratio = f"{ours / base:.2f}"
        if target.startswith("≤ +"):  # a target in seconds: show the difference too
            ratio += f" ({ours - base:+.1f} s)"
        print(f"| {name} | {ours:.3f} | {base:.3f} | {ratio} | {target} |")
    for detail in details:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in detail["mlgate_stages"].items())
        phases = ", ".join(f"{k} {v:.2f}" for k, v in detail["plain_phases"].items())
        print(
            f"\nscale {detail['scale']}×: mlgate {detail['mlgate_seconds']:.2f} s "
            f"(+{detail['extra_seconds']:.2f} s), MLflow script "
            f"{detail['mlflow_script_seconds']:.2f} s; stages: {stages}; plain: {phases}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--startup-repeats", type=int, default=31)
    parser.add_argument(
        "--scales", type=int, nargs="*", default=[1, 10], help="row multipliers (none: skip)"
    )
    parser.add_argument("--install", action="store_true", help="also time uv against pip")
    parser.add_argument("--install-only", action="store_true", help="only time uv against pip")
    args = parser.parse_args()
    rows, details = [], []
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as temp:
        workdir = Path(temp)
        if not args.install_only:
            rows += startup(args.startup_repeats)
            for scale in args.scales:
                repeats = args.repeats if scale < 100 else 1
                scale_rows, detail = overhead(workdir, scale, repeats)
                rows += scale_rows
                details.append(detail)
            rows += rerun(workdir, args.repeats)
        if args.install or args.install_only:
            rows += install(workdir)
    print_table(rows, details, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
