"""The ONNX serving image against the scikit-learn one: image size and /invocations latency.

    python benchmarks/onnx_image.py                       # 1000 requests of 1 row each
    python benchmarks/onnx_image.py --requests 500 --rows 100

Trains the churn example with `export.onnx: true` and registers it in a local store (a
temporary folder), builds `mlgate build-image` of that one version twice, offline from
the same wheel cache the tests use: `--flavor sklearn` (MLflow's pyfunc server) and
`--flavor onnx` (onnxruntime only). Each image then runs on the host network on a
loopback port, and the same body (the first --rows validation rows) is POSTed to
/invocations --requests times over one kept-alive connection, after a warm-up; the
answers of both must agree. Prints the figures as JSON and as a table.

Needs a Docker engine, `docker-registry` and the base image of the tests
(tests/docker_support.py builds it once with debootstrap). Run it from the repo root
with the project's virtualenv (`.venv/bin/python`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"
MODEL = "production-churn-model"
WARM_UP = 50


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per image")
    parser.add_argument("--rows", type=int, default=1, help="rows in each request")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT / "tests"))
    import docker_support

    client = docker_support.engine_client()
    # A storage driver that copies layers (vfs) takes long to create a large container.
    client.api.timeout = 900
    # Its own repository: no image of the tests or of another run is replaced.
    repository = f"mlgate-bench/churn-{os.getpid()}"
    images: dict[str, str] = {}
    figures: dict[str, dict[str, Any]] = {}
    answers = {}
    with tempfile.TemporaryDirectory(prefix="mlgate-onnx-bench-") as scratch:
        work = Path(scratch)
        repo = register(work / "churn")
        (work / "registry").mkdir()
        try:
            with docker_support.start_registry(work / "registry") as registry:
                base = base_image(client, docker_support, registry)
                for flavor in ("sklearn", "onnx"):
                    image = build(repo, flavor, base, repository, docker_support)
                    images[flavor] = image
                    figures[flavor] = {
                        "image": image,
                        "size_mb": round(client.images.get(image).attrs["Size"] / 1e6, 1),
                    }
                body = request_body(repo, args.rows)
                for flavor, image in images.items():
                    latencies, answers[flavor] = serve_and_time(client, image, body, args.requests)
                    figures[flavor].update(
                        p50_ms=round(percentile(latencies, 50) * 1000, 2),
                        p99_ms=round(percentile(latencies, 99) * 1000, 2),
                        mean_ms=round(statistics.fmean(latencies) * 1000, 2),
                    )
        finally:
            for image in images.values():
                client.images.remove(image, force=True)
    if answers["sklearn"] != answers["onnx"]:
        print("the two images answered differently", file=sys.stderr)
        return 1
    record = {"requests": args.requests, "rows_per_request": args.rows, "images": figures}
    print(json.dumps(record, indent=2))
    print()
    print(f"{'flavor':<8} {'size MB':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for flavor, found in figures.items():
        print(f"{flavor:<8} {found['size_mb']:>8} {found['p50_ms']:>8} {found['p99_ms']:>8}")
    return 0


def mlgate(repo: Path, *args: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-m", "mlgate", *args],
        cwd=repo,
        env=environment,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"mlgate {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def register(repo: Path) -> Path:
    """The churn example with export.onnx, registered as v1 in its local store."""
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    with (repo / "mlgate.yaml").open("a", encoding="utf-8") as config:
        config.write("export: {onnx: true}\n")
    mlgate(repo, "run")
    return repo


def base_image(client: Any, docker_support: Any, registry: str) -> str:
    """The tests' Debian base image, pushed to `registry` to be named by digest."""
    image = docker_support.local_base_image(client)
    repository = f"{registry}/{docker_support.BASE_REPOSITORY}"
    image.tag(repository, docker_support.BASE_TAG)
    return f"{repository}@{docker_support.push(client, repository, docker_support.BASE_TAG)}"


def build(repo: Path, flavor: str, base: str, repository: str, docker_support: Any) -> str:
    """`mlgate build-image` of v1 in `flavor`, offline; returns the image reference."""
    import mlflow
    from mlflow import artifacts

    from mlgate.serving import context, plan

    uri = f"sqlite:///{repo / '.mlgate' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)  # `models:/` URIs resolve through the global registry URI
    model_dir = Path(
        artifacts.download_artifacts(
            artifact_uri=f"models:/{MODEL}/1",
            dst_path=str(repo.parent / f"model-{flavor}"),
            tracking_uri=uri,
        )
    )
    pins = (model_dir / "requirements.txt").read_text(encoding="utf-8")
    if flavor == "onnx":
        runtime = context.read_onnx(model_dir, "v1", "--flavor")
        requirements = plan.onnx_requirements(pins, runtime)
    else:
        requirements = plan.image_requirements(pins, None)
    wheels = docker_support.download_wheels(requirements)
    out = mlgate(
        repo,
        "build-image",
        f"{MODEL}:1",
        *("--flavor", flavor, "--base-image", base, "--wheels", str(wheels)),
        *("--repository", repository, "--json"),
    )
    return json.loads(out)["image"]


def request_body(repo: Path, rows: int) -> bytes:
    import pandas as pd
    import yaml

    spec = yaml.safe_load((repo / "configs" / "features.yaml").read_text())
    frame = pd.read_csv(repo / "data" / "validation.csv")[list(spec["features"])].head(rows)
    return json.dumps(
        {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    ).encode()


def serve_and_time(client: Any, image: str, body: bytes, requests: int) -> tuple[list[float], Any]:
    """Seconds per request, and the answer, of `image` on a loopback port."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import _free_port

    port = _free_port()
    box = client.containers.run(
        image,
        detach=True,
        network_mode="host",
        environment={"MLGATE_HOST": "127.0.0.1", "MLGATE_PORT": str(port)},
    )
    try:
        wait_ready(box, port)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}
        answer = None
        latencies = []
        for count in range(WARM_UP + requests):
            started = time.perf_counter()
            connection.request("POST", "/invocations", body=body, headers=headers)
            response = connection.getresponse()
            text = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                raise SystemExit(f"{image} answered {response.status}: {text[:500]!r}")
            if count >= WARM_UP:
                latencies.append(elapsed)
            answer = json.loads(text)
        connection.close()
        return latencies, answer
    finally:
        box.remove(force=True)


def wait_ready(box: Any, port: int, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        box.reload()
        if box.status != "running":
            raise SystemExit(f"the container stopped: {box.logs().decode()[-2000:]}")
        time.sleep(0.5)
    raise SystemExit("the server did not answer /ping in time")


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
