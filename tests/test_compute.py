"""`compute.docker_image` without an engine: the config keys, the image checks, the wheel.

Quick tests of the pure parts: what the config accepts, how an image that cannot train
what the host loads is refused, the checklist's `environment` box, and the wheel of the
host's mlgate that an image without it imports from. The runs in a real image are in
tests/test_compute_docker.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.checklist import Facts, tick
from mlgate.compute import probe
from mlgate.compute.image import ResolvedImage, in_ci, warn_if_unpinned
from mlgate.compute.reference import by_digest, split
from mlgate.compute.wheel import host_wheel
from mlgate.errors import ConfigError
from mlgate.project import load_project
from test_config import BASE_CONFIG, CONFIG, write_repo

DIGEST = "sha256:" + "ab" * 32


def _config(tmp_path: Path, compute: str) -> Path:
    return write_repo(tmp_path, {CONFIG: BASE_CONFIG + "compute:\n" + compute})


def test_the_compute_keys_load(tmp_path: Path) -> None:
    written = f"127.0.0.1:5000/team/training-env@{DIGEST}"
    path = _config(
        tmp_path,
        f"  docker_image: {written}\n  network: true\n  cpus: 2\n  memory: 512m\n",
    )

    compute = load_project(path).config.compute

    assert compute.docker_image == written
    assert compute.network is True
    assert compute.cpus == 2.0
    assert compute.memory == "512m"


@pytest.mark.parametrize(
    ("compute", "expected"),
    [
        (
            "  docker_image: Training Env\n",
            "mlgate.yaml:10: compute.docker_image: 'Training Env' is not an image reference",
        ),
        (
            "  docker_image: team/env@sha256:short\n",
            "mlgate.yaml:10: compute.docker_image: 'team/env@sha256:short' is not an image",
        ),
        (
            "  memory: 4g\n",
            "mlgate.yaml:9: compute: memory applies to the training container: set docker_image",
        ),
        (
            "  docker_image: team/env:1\n  memory: 4 GB\n",
            "mlgate.yaml:11: compute.memory",
        ),
        ("  docker_image: team/env:1\n  cpus: 0\n", "mlgate.yaml:11: compute.cpus"),
        (
            "  stages: [validate, train]\n",
            "mlgate.yaml:10: compute.stages: the stages run in compute.docker_image: set "
            "docker_image too, or remove stages",
        ),
        (
            "  docker_image: team/env:1\n  stages: [train, evalute]\n",
            "mlgate.yaml:11: compute.stages: 'evalute' is not a stage that runs in the image: "
            "use validate, train, evaluate",
        ),
        (
            "  docker_image: team/env:1\n  stages: [train, register]\n",
            "mlgate.yaml:11: compute.stages: register runs where mlgate runs, not in the image: "
            "list only validate, train, evaluate (fairness, card and register read the registry",
        ),
        (
            "  docker_image: team/env:1\n  stages: [evaluate]\n",
            "mlgate.yaml:11: compute.stages: list train too",
        ),
        ("  docker_image: team/env:1\n  stages: train\n", "mlgate.yaml:11: compute.stages"),
    ],
    ids=[
        "not-a-reference",
        "short-digest",
        "limit-without-image",
        "memory-unit",
        "no-cpus",
        "stages-without-image",
        "unknown-stage",
        "host-stage",
        "stages-without-train",
        "stages-not-a-list",
    ],
)
def test_a_bad_compute_key_names_itself(tmp_path: Path, compute: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_project(_config(tmp_path, compute))

    assert raised.value.exit_code == 2
    message = str(raised.value).removeprefix(f"{tmp_path}/")
    assert message.startswith(expected), message


def test_the_stages_in_the_image_are_train_alone_unless_listed(tmp_path: Path) -> None:
    image = "  docker_image: team/env:1\n"
    listed = load_project(_config(tmp_path / "a", image + "  stages: [evaluate, train]\n"))
    alone = load_project(_config(tmp_path / "b", image)).config.compute

    assert listed.config.compute.image_stages == ("train", "evaluate")  # the pipeline's order
    assert alone.image_stages == ("train",)
    assert (
        load_project(_config(tmp_path / "c", "  cluster: local[2]\n")).config.compute.image_stages
        == ()
    )


def test_references_split_into_name_tag_and_digest() -> None:
    assert split("python:3.11-slim") == ("python", "3.11-slim", None)
    assert split("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", None, None)
    assert split(f"ghcr.io/acme/env:v2@{DIGEST}") == ("ghcr.io/acme/env", "v2", DIGEST)
    assert by_digest(f"acme/env@{DIGEST}")
    assert not by_digest("acme/env:latest")


def _env(python: str, sklearn: str | None, **others: str | None) -> probe.ImageEnvironment:
    packages = dict.fromkeys(probe.NEEDED, "1.0")
    packages.update({"scikit-learn": sklearn, **others})
    return probe.ImageEnvironment(python=python, packages=packages)


def test_an_image_with_another_scikit_learn_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError) as raised:
        probe.check("acme/env:1", _env("3.11.2", "1.4.0"), _env("3.11.7", "1.7.2"))

    error = raised.value
    assert error.exit_code == 2
    assert error.key == "compute.docker_image"
    assert "acme/env:1 has scikit-learn 1.4.0" in str(error)
    assert "scikit-learn 1.7.2" in str(error)
    assert "install scikit-learn==1.7.2 in the image" in str(error)


def test_an_image_with_another_python_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError, match=r"has Python 3\.12\.1, .* Python 3\.11\.7.* 3\.11$"):
        probe.check("acme/env:1", _env("3.12.1", "1.7.2"), _env("3.11.7", "1.7.2"))


def test_the_same_python_minor_and_scikit_learn_pass() -> None:
    probe.check("acme/env:1", _env("3.11.2", "1.7.2"), _env("3.11.7", "1.7.2"))


def test_missing_libraries_are_named_with_the_hosts_versions() -> None:
    image = _env("3.11.2", "1.7.2", pydantic=None, PyYAML=None)
    host = _env("3.11.7", "1.7.2", pydantic="2.11.0", PyYAML="6.0.2")

    with pytest.raises(ConfigError) as raised:
        probe.check("acme/env:1", image, host)

    assert "acme/env:1 lacks pydantic==2.11.0, PyYAML==6.0.2" in str(raised.value)


def test_the_probe_asks_for_parquet_and_onnx_libraries_only_when_used() -> None:
    assert "pyarrow" not in probe.needed(parquet=False, onnx=False)
    assert "pyarrow" in probe.needed(parquet=True, onnx=False)
    assert {"skl2onnx", "onnxruntime"} <= set(probe.needed(parquet=False, onnx=True))


def test_the_probe_asks_for_what_each_stage_in_the_image_imports() -> None:
    alone = set(probe.needed(parquet=False, onnx=False))
    assert not {"great-expectations", "pandera", "matplotlib"} & alone
    everything = probe.needed(parquet=False, onnx=False, stages=("validate", "train", "evaluate"))
    assert {"great-expectations", "matplotlib"} <= set(everything)
    pandera = probe.needed(
        parquet=False, onnx=False, stages=("validate", "train"), engine="pandera"
    )
    assert "pandera" in pandera
    assert "great-expectations" not in pandera


def test_a_champion_file_the_host_did_not_write_is_not_loaded(tmp_path: Path) -> None:
    from mlgate.errors import RunDirError
    from mlgate.rundir import RunDir
    from mlgate.stages._session import Session
    from mlgate.stages.evaluate import CHAMPION_FILE, handed_champion

    project = load_project(write_repo(tmp_path / "repo", {CONFIG: BASE_CONFIG}))
    session = Session(project=project, run_dir=RunDir(tmp_path / "run"))
    session.run_dir.path.mkdir(parents=True, exist_ok=True)
    (session.run_dir.path / CHAMPION_FILE).write_bytes(b"not the pickle the host wrote")
    handed = {"status": "found", "version": "3", "run_id": None, "sha256": "0" * 64}

    with pytest.raises(RunDirError, match=r"is not the champion mlgate handed .* SHA-256 differs"):
        handed_champion(session, handed)

    none_yet = handed_champion(session, {"status": "none", "note": "no champion yet"})
    assert (none_yet.status, none_yet.note, none_yet.predictions) == (
        "none",
        "no champion yet",
        None,
    )


def _environment_box(**facts: object) -> tuple[bool, str]:
    [box] = [box for box in tick(Facts(**facts)) if box.key == "environment"]
    return box.ticked, box.evidence


def test_the_environment_box_is_ticked_by_a_training_image_pinned_by_digest() -> None:
    pinned = f"127.0.0.1:5000/env@{DIGEST}"

    assert _environment_box(training_image=pinned, training_image_by_digest=True) == (
        True,
        f"trained in {pinned}",
    )
    ticked, why = _environment_box(training_image=DIGEST, training_image_by_digest=False)
    assert not ticked
    assert "a local image never pushed" in why
    assert _environment_box() == (
        False,
        "no image built for this version (mlgate build-image --push)",
    )


def test_a_tag_is_a_warning_in_ci_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tagged = ResolvedImage("acme/env:1", f"acme/env@{DIGEST}", DIGEST, by_digest=True)
    pinned = ResolvedImage(f"acme/env@{DIGEST}", f"acme/env@{DIGEST}", DIGEST, by_digest=True)
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)

    warn_if_unpinned(tagged)
    assert capsys.readouterr().err == ""

    monkeypatch.setenv("CI", "true")
    assert in_ci()
    warn_if_unpinned(pinned)
    assert capsys.readouterr().err == ""
    warn_if_unpinned(tagged)
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("mlgate: warning: compute.docker_image acme/env:1 is a tag")
    assert f"pin it as acme/env@{DIGEST}" in line


def test_the_host_wheel_is_what_python_imports_mlgate_from(tmp_path: Path) -> None:
    import mlgate

    wheel = host_wheel(tmp_path)
    assert host_wheel(tmp_path) == wheel  # the same files: the same wheel, not packed again

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import mlgate.compute.inside, mlgate.results; from importlib import metadata;"
            "print(mlgate.__file__); print(metadata.version('mlgate'))",
        ],
        env={**os.environ, "PYTHONPATH": str(wheel)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    where, version = done.stdout.split()
    assert where == str(wheel / "mlgate" / "__init__.py")
    assert version == mlgate.__version__
