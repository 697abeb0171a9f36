"""`compute.docker_image`: the train stage in a real image on the Docker engine.

The training image is built once per session FROM the debootstrap base
(`serving_base_image`): a venv with the host's exact versions of what the train stage
imports and no mlgate (mlgate brings its own wheel), pushed to a loopback registry. The
example trains both here and in it, and the predictions must be identical; an image whose
scikit-learn says another version is refused; a tiny memory limit is an OOM kill named by
its key; SIGTERM removes the container; no engine is exit 3.
Tests that need the engine skip with the reason when it cannot start (fail with
MLGATE_REQUIRE_DOCKER=1, as .ci/run sets).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from docker_support import push
from fastrepo import make_fast, run_dirs
from mlgate.compute import probe
from mlgate.compute.container import LABEL_RUN

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

MODEL = "production-churn-model"
HOST_VERSIONS = {name: metadata.version(name) for name in probe.NEEDED}
SITE = "/opt/venv/lib/python3.11/site-packages"


def _build(client: Any, context: Path, tag: str) -> None:
    import docker.errors

    try:
        client.images.build(path=str(context), tag=tag, rm=True, forcerm=True, network_mode="none")
    except docker.errors.BuildError as error:
        tail = " | ".join(str(line.get("stream", line)).strip() for line in error.build_log)
        pytest.fail(f"building {tag}: {error.msg}: {tail[-2000:]}")


@pytest.fixture(scope="session")
def training_image(
    docker_client: Any,
    docker_registry: str,
    serving_base_image: str,
    serving_wheels: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, str]:
    """(tag, NAME@sha256:...) of the pushed training image: the host's versions, no mlgate."""
    requirements = [f"{name}=={version}" for name, version in HOST_VERSIONS.items()]
    context = tmp_path_factory.mktemp("training-image")
    shutil.copytree(serving_wheels(requirements), context / "wheels")
    (context / "Dockerfile").write_text(
        f"FROM {serving_base_image}\n"
        "COPY wheels /tmp/wheels\n"
        "RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-index -q "
        f"--find-links /tmp/wheels {' '.join(requirements)} && rm -rf /tmp/wheels\n"
        "ENV PATH=/opt/venv/bin:$PATH\n"
    )
    repository = f"{docker_registry}/mlgate-tests/training-env"
    _build(docker_client, context, f"{repository}:host")
    return f"{repository}:host", f"{repository}@{push(docker_client, repository, 'host')}"


@pytest.fixture(scope="session")
def other_sklearn_image(
    docker_client: Any, training_image: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The training image whose scikit-learn dist-info says 1.0.0; built here, never pushed."""
    tag, _ = training_image
    ours = HOST_VERSIONS["scikit-learn"]
    context = tmp_path_factory.mktemp("other-sklearn")
    (context / "Dockerfile").write_text(
        f"FROM {tag}\n"
        f"RUN sed -i 's/^Version: {ours}$/Version: 1.0.0/' "
        f"{SITE}/scikit_learn-{ours}.dist-info/METADATA\n"
    )
    other = tag.replace(":host", ":other-sklearn")
    _build(docker_client, context, other)
    return other


@pytest.fixture(scope="session")
def stages_image(
    docker_client: Any,
    docker_registry: str,
    training_image: tuple[str, str],
    serving_wheels: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """NAME@sha256:... of the training image plus what validate and evaluate import there
    (Great Expectations, matplotlib) at the host's versions; pushed for its digest."""
    tag, _ = training_image
    requirements = [
        f"{name}=={metadata.version(name)}" for name in ("great-expectations", "matplotlib")
    ]
    context = tmp_path_factory.mktemp("stages-image")
    shutil.copytree(serving_wheels(requirements), context / "wheels")
    (context / "Dockerfile").write_text(
        f"FROM {tag}\n"
        "COPY wheels /tmp/wheels\n"
        "RUN pip install --no-index -q --find-links /tmp/wheels "
        f"{' '.join(requirements)} && rm -rf /tmp/wheels\n"
    )
    repository = f"{docker_registry}/mlgate-tests/training-env"
    _build(docker_client, context, f"{repository}:stages")
    return f"{repository}@{push(docker_client, repository, 'stages')}"


def _use_image(repo: Path, image: str, **settings: Any) -> None:
    config = repo / "mlgate.yaml"
    data = yaml.safe_load(config.read_text())
    data["compute"] = {"docker_image": image, **settings}
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _latest(repo: Path) -> Path:
    runs = repo / ".mlgate" / "runs"
    return runs / (runs / "LATEST").read_text().strip()


def test_training_in_the_image_gives_the_same_model_as_training_here(
    churn_repo: Path, tmp_path: Path, cli, training_image: tuple[str, str]
) -> None:
    tag, pinned = training_image
    here = tmp_path / "here"
    shutil.copytree(churn_repo, here)
    make_fast(here, n_estimators=60)
    make_fast(churn_repo, n_estimators=60)
    # A tag: resolved to the digest the registry gave it.
    _use_image(churn_repo, tag, memory="1g", cpus=1)

    on_host = cli("run", cwd=here)
    in_image = cli("run", "--json", cwd=churn_repo)

    assert on_host.code == 0, on_host.err
    assert in_image.code == 0, in_image.err
    host_dir, image_dir = _latest(here), _latest(churn_repo)
    predictions = (image_dir / "predictions.csv").read_bytes()
    assert predictions == (host_dir / "predictions.csv").read_bytes()
    trained = json.loads((image_dir / "train.json").read_text())
    expected = json.loads((host_dir / "train.json").read_text())
    for field in ("estimator_class", "params", "feature_columns"):
        assert trained[field] == expected[field], field
    # The same model: the same scores, to the bit, on every validation row. (Not the pickle's
    # bytes: pickle writes an object shared by two attributes once, and which equal objects
    # are shared depends on what the process did before, as a test worker's did.)
    import joblib
    import numpy as np
    import pandas as pd

    rows = pd.read_csv(here / "data" / "validation.csv")[expected["feature_columns"]]
    models = [joblib.load(d / "model.joblib") for d in (image_dir, host_dir)]
    scores = [model.predict_proba(rows) for model in models]
    assert np.array_equal(scores[0], scores[1])
    assert trained["image"] == {
        "reference": tag,
        "pinned": pinned,
        "by_digest": True,
        "python": trained["image"]["python"],
        "packages": HOST_VERSIONS,
        "mlgate": "host wheel",
    }
    assert trained["image"]["python"].startswith("3.11.")
    assert trained["summary"].endswith(f" · in {pinned[: pinned.index('@') + 20]}")
    # Written as the user who ran mlgate, not the container's root or nobody.
    assert (image_dir / "model.joblib").stat().st_uid == os.getuid()
    assert not list(image_dir.glob(".train.container.json*"))

    # The card and the lineage name the image; the environment box is ticked by it.
    card = (image_dir / "model_card.md").read_text(encoding="utf-8")
    assert f"| Trained in image | `{pinned}` |\n\nParameters:" in card
    # Markdown text: an @ is kept from mentioning anyone by a zero-width space after it.
    environment = "- [x] Training environment captured in a Docker image: trained in "
    assert environment + pinned.replace("@", "@\u200b") in card
    lineage = cli("lineage", f"{MODEL}:1", "--config", "mlgate.yaml", "--json", cwd=churn_repo)
    assert lineage.code == 0, lineage.err
    record = json.loads(lineage.out)
    assert record["training_image"] == {"image": pinned, "by_digest": True, "stages": ["train"]}
    assert record["environment"]["scikit-learn"] == HOST_VERSIONS["scikit-learn"]
    text = cli("lineage", f"{MODEL}:1", "--config", "mlgate.yaml", cwd=churn_repo)
    assert f"Where it trained\n  image: {pinned}\n" in text.out

    # Unchanged inputs reuse the training; another limit is another environment.
    again = cli("train", cwd=churn_repo)
    assert again.code == 0, again.err
    assert json.loads((_latest(churn_repo) / "train.json").read_text())["cache"]["reused"]
    _use_image(churn_repo, tag, memory="1g", cpus=2)
    changed = cli("train", cwd=churn_repo)
    assert changed.code == 0, changed.err
    assert not json.loads((_latest(churn_repo) / "train.json").read_text())["cache"]["reused"]


def _comparable(value: Any) -> Any:
    """A stage result less what differs between any two runs (the time taken, the config
    file, which now names the image, the pickle's bytes: see the test above) and where it
    ran. The predictions file stands for the model."""
    if isinstance(value, dict):
        volatile = (
            *("seconds", "training_seconds", "config_sha256", "cache", "image", "summary"),
            "model_sha256",
        )
        return {k: _comparable(v) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


def test_validate_and_evaluate_in_the_image_give_the_host_results(
    churn_repo: Path, cli, stages_image: str
) -> None:
    make_fast(churn_repo, n_estimators=60)
    config = churn_repo / "mlgate.yaml"
    data = yaml.safe_load(config.read_text())
    data["evaluation"]["champion_alias"] = "candidate"  # the first run's version is the champion
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    first = cli("run", cwd=churn_repo)
    assert first.code == 0, first.err
    on_host = cli("run", "--no-cache", cwd=churn_repo)
    assert on_host.code == 0, on_host.err
    host_dir = _latest(churn_repo)

    _use_image(churn_repo, stages_image, stages=["validate", "train", "evaluate"])
    in_image = cli("run", "--no-cache", cwd=churn_repo)

    assert in_image.code == 0, in_image.err
    image_dir = _latest(churn_repo)
    assert image_dir != host_dir
    short = f" · in {stages_image[: stages_image.index('@') + 20]}"
    for stage in ("validate", "train", "evaluate", "fairness"):
        here = json.loads((host_dir / f"{stage}.json").read_text())
        there = json.loads((image_dir / f"{stage}.json").read_text())
        assert _comparable(there) == _comparable(here), stage
        if stage == "fairness":  # on the host, from the image's predictions
            assert "image" not in there
            continue
        assert there["image"]["pinned"] == stages_image, stage
        assert there["image"]["by_digest"] is True
        assert there["summary"].endswith(short), stage
        if stage != "train":  # its summary says how long it took
            assert there["summary"] == here["summary"] + short, stage
    evaluated = json.loads((image_dir / "evaluate.json").read_text())
    # The champion came from the registry on the host, through the run directory.
    assert evaluated["champion_status"] == "found"
    assert evaluated["champion"]["version"] == "1"
    assert (image_dir / "predictions.csv").read_bytes() == (
        host_dir / "predictions.csv"
    ).read_bytes()
    assert (image_dir / "predictions.csv").stat().st_uid == os.getuid()
    assert sorted(p.name for p in (image_dir / "plots").iterdir()) == sorted(
        p.name for p in (host_dir / "plots").iterdir()
    )
    assert not list(image_dir.glob(".*container*"))  # the champion file and outcomes are gone
    for line in ("validating", "training", "evaluating"):
        assert f"  {line} in {stages_image}" in in_image.err

    card = (image_dir / "model_card.md").read_text(encoding="utf-8")
    assert "| Stages run in the image | validate, train, evaluate |\n" in card
    lineage = cli("lineage", f"{MODEL}:2", "--config", "mlgate.yaml", "--json", cwd=churn_repo)
    assert lineage.code == 0, lineage.err
    assert json.loads(lineage.out)["training_image"] == {
        "image": stages_image,
        "by_digest": True,
        "stages": ["validate", "train", "evaluate"],
    }


def test_an_image_with_another_scikit_learn_is_refused(
    churn_repo: Path, cli, other_sklearn_image: str
) -> None:
    _use_image(churn_repo, other_sklearn_image)

    ran = cli("train", cwd=churn_repo)

    assert ran.code == 2, ran.err
    ours = HOST_VERSIONS["scikit-learn"]
    assert re.fullmatch(
        r"mlgate: error: mlgate\.yaml:\d+: compute\.docker_image: "
        + re.escape(
            f"{other_sklearn_image} has scikit-learn 1.0.0, mlgate here loads models with "
            f"scikit-learn {ours}: install scikit-learn=={ours} in the image (a model pickled "
            "under one version and loaded under another can fail silently)"
        ),
        ran.error_lines[-1],
    ), ran.error_lines[-1]
    assert not (_latest(churn_repo) / "train.json").exists()


def test_an_image_the_registry_does_not_have_is_exit_2_naming_the_key(
    churn_repo: Path, cli, docker_client: Any, docker_registry: str
) -> None:
    absent = f"{docker_registry}/mlgate-tests/no-such-image:latest"
    _use_image(churn_repo, absent)

    ran = cli("train", cwd=churn_repo)

    assert ran.code == 2, ran.err
    line = ran.error_lines[-1]
    prefix = r"mlgate: error: mlgate\.yaml:\d+: compute\.docker_image: "
    assert re.match(prefix + re.escape(f"{absent} is not on the Docker engine"), line), line
    assert "cannot be pulled" in line


def test_running_out_of_memory_names_the_limit(
    churn_repo: Path, cli, training_image: tuple[str, str]
) -> None:
    _, pinned = training_image
    make_fast(churn_repo)
    _use_image(churn_repo, pinned, memory="40m")

    ran = cli("train", cwd=churn_repo)

    assert ran.code == 2, ran.err
    assert re.fullmatch(
        r"mlgate: error: mlgate\.yaml:\d+: compute\.memory: "
        + re.escape(
            f"the train stage ran out of memory in {pinned} (killed at the 40m limit): "
            "raise the limit, or train on less data"
        ),
        ran.error_lines[-1],
    ), ran.error_lines[-1]


def test_sigterm_stops_and_removes_the_training_container(
    churn_repo: Path, docker_client: Any, training_image: tuple[str, str]
) -> None:
    _, pinned = training_image
    make_fast(churn_repo, n_estimators=5000)  # trains far longer than the checks below
    _use_image(churn_repo, pinned)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlgate", "train"],
        cwd=churn_repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        box = _running_container(churn_repo, docker_client, process)
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130, out + err
    assert "Traceback" not in err
    assert docker_client.containers.list(all=True, filters={"id": box}) == []
    assert not (run_dirs(churn_repo)[0] / "train.json").exists()


def _running_container(repo: Path, client: Any, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"mlgate ended before training: {process.returncode}\n{out}\n{err}")
        for run_dir in run_dirs(repo):
            label = f"{LABEL_RUN}={run_dir.name}"
            found = client.containers.list(filters={"label": label, "status": "running"})
            # The probe runs a container too: the stage's is the one that mounts the run.
            for box in found:
                if any(m["Destination"] == str(run_dir.resolve()) for m in box.attrs["Mounts"]):
                    return box.id
        time.sleep(0.2)
    process.kill()
    pytest.fail("the training container did not start in time")


def test_no_engine_is_exit_3(churn_repo: Path) -> None:
    make_fast(churn_repo)
    _use_image(churn_repo, "my-registry/training-env:latest")
    socket = f"unix://{churn_repo}/no-engine.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}

    # In a process of its own: the SDK leaves the refused socket open.
    done = subprocess.run(
        [sys.executable, "-m", "mlgate", "train"],
        cwd=churn_repo,
        env={**env, "DOCKER_HOST": socket},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"mlgate: error: no Docker engine reachable at {socket} ("), last
