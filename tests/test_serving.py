"""The pure core of `mlgate build-image`: requirements, names, labels, the Dockerfile."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.errors import ConfigError, InputError
from mlgate.serving import plan
from mlgate.serving.dockerfile import quoted, render_dockerfile

DIGEST = "sha256:" + "ab" * 32
BASE = f"registry.example.com:5000/python@{DIGEST}"


def test_requirements_keep_the_models_pins_with_mlflow_skinny() -> None:
    pins = (
        "mlflow==3.17.2\nscikit-learn==1.9.1  # trained with\n\n# a comment\ncloudpickle==3.1.3\n"
    )
    assert plan.image_requirements(pins, "3.17.2") == [
        "mlflow-skinny==3.17.2",
        "scikit-learn==1.9.1",
        "cloudpickle==3.1.3",
        *plan.SERVER_REQUIREMENTS,
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("mlflow[extras]==3.1", "mlflow-skinny[extras]==3.1"),
        ("MLflow>=3,<4", "mlflow-skinny>=3,<4"),
        ("mlflow", "mlflow-skinny"),
        ("mlflow-skinny==3.17.2", "mlflow-skinny==3.17.2"),
        ("mlflow-tracing==3.17.2", "mlflow-tracing==3.17.2"),
    ],
)
def test_only_mlflow_itself_becomes_mlflow_skinny(line: str, expected: str) -> None:
    assert expected in plan.image_requirements(line, "3.17.2")


def test_a_model_without_mlflow_in_its_pins_gets_its_recorded_version() -> None:
    assert plan.image_requirements("numpy==2.4.6", "3.17.2")[:2] == [
        "mlflow-skinny==3.17.2",
        "numpy==2.4.6",
    ]
    with pytest.raises(InputError, match="does not name mlflow"):
        plan.image_requirements("numpy==2.4.6", None)


def test_the_server_requirements_are_added_only_when_the_model_lacks_them() -> None:
    lines = plan.image_requirements("mlflow==3.17.2\nprometheus_client==0.25.0", None)
    assert lines == ["mlflow-skinny==3.17.2", "prometheus_client==0.25.0", "numpy", "pandas"]
    pinned = plan.image_requirements("mlflow==3.17.2\nnumpy==2.4.6\npandas==3.1.1", None)
    assert pinned == [
        "mlflow-skinny==3.17.2",
        "numpy==2.4.6",
        "pandas==3.1.1",
        "prometheus-client==0.26.0",
    ]


def test_a_wheel_directory_must_hold_every_project_the_image_names() -> None:
    requirements = ["mlflow-skinny==3.17.2", "scikit-learn==1.9.1", "-c constraints.txt"]
    wheels = ["mlflow_skinny-3.17.2-py3-none-any.whl", "numpy-2.4.6-cp311-cp311-linux.whl"]
    assert plan.missing_wheels(requirements, wheels) == ["scikit-learn==1.9.1"]
    wheels.append("scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.whl")
    assert plan.missing_wheels(requirements, wheels) == []


def test_files_the_pins_refer_to_must_be_beside_them() -> None:
    assert plan.referenced_files(["-c constraints.txt", "numpy", "--requirement=more.txt"]) == [
        "constraints.txt",
        "more.txt",
    ]
    with pytest.raises(InputError, match="outside the model directory"):
        plan.referenced_files(["-r ../../etc/passwd"])


def test_python_minor_comes_from_the_recorded_version() -> None:
    assert plan.python_minor("3.11.7") == "3.11"
    with pytest.raises(InputError, match="python_version"):
        plan.python_minor(None)


@pytest.mark.parametrize(
    ("model", "repository"),
    [
        ("production-churn-model", "mlgate/production-churn-model"),
        ("Churn Model (EU)", "mlgate/churn-model-eu"),
        ("a..b__c", "mlgate/a-b-c"),
        ("!!!", "mlgate/model"),
    ],
)
def test_a_local_repository_name_is_one_docker_accepts(model: str, repository: str) -> None:
    assert plan.local_repository(model) == repository
    assert plan.check_repository(repository) == repository


@pytest.mark.parametrize(
    "repository",
    ["ghcr.io/acme/churn-model", "127.0.0.1:5000/acme/churn", "churn", "a/b_c/d__e"],
)
def test_repositories_docker_accepts(repository: str) -> None:
    assert plan.check_repository(repository) == repository


@pytest.mark.parametrize(
    "repository",
    ["Acme/churn", "acme/churn:latest", f"acme/churn@{DIGEST}", "acme//x", "-x", "acme/churn\n"],
)
def test_repositories_docker_refuses(repository: str) -> None:
    with pytest.raises(ValueError, match="not an image repository"):
        plan.check_repository(repository)


def test_labels_carry_oci_annotations_and_the_lineage_tags() -> None:
    tags = {
        "mlgate.git.commit": "0123abc",
        "mlgate.git.repository": "acme/churn",
        "mlgate.ci.run_url": "https://github.example.com/acme/churn/actions/runs/7",
        "mlgate.data.training.sha256": "f" * 64,
        "mlgate.gate.fairness": "passed",
        "mlgate.gates": '[{"metric": "roc_auc"}]',  # figures stay on the version
        "mlgate.image": "old@sha256:...",  # what a build writes is not what it reads
        "mlgate.card": "mlgate/model_card.html",
        "mlgate.model.note": "two\nlines",
        "team.owner": "ml-team",
    }
    labels = plan.labels(
        "churn",
        "3",
        "run123",
        tags,
        base_image=BASE,
        created="2026-11-27T08:00:00+00:00",
        mlgate_version="0.1.0",
    )
    assert labels["org.opencontainers.image.source"] == "https://github.example.com/acme/churn"
    assert labels["org.opencontainers.image.revision"] == "0123abc"
    assert labels["org.opencontainers.image.base.name"] == "registry.example.com:5000/python"
    assert labels["org.opencontainers.image.base.digest"] == DIGEST
    assert labels["mlgate.model.uri"] == "models:/churn/3"
    assert labels["mlgate.mlflow_run_id"] == "run123"
    assert labels["mlgate.data.training.sha256"] == "f" * 64
    assert labels["mlgate.gate.fairness"] == "passed"
    assert labels["mlgate.model.note"] == "two lines"
    for absent in ("mlgate.gates", "mlgate.image", "mlgate.card", "team.owner"):
        assert absent not in labels


@pytest.mark.parametrize(
    ("repository", "url"),
    [
        ("acme/churn", "https://github.com/acme/churn"),
        ("https://gitlab.example.com/acme/churn.git", "https://gitlab.example.com/acme/churn"),
        ("git@github.com:acme/churn.git", "https://github.com/acme/churn"),
        ("not a repository", None),
        (None, None),
    ],
)
def test_source_url(repository: str | None, url: str | None) -> None:
    assert plan.source_url(repository, None) == url


def test_an_unpinned_base_image_is_refused_with_how_to_pin_it() -> None:
    assert plan.pinned_image(BASE) == BASE
    assert plan.pinned_image(f"python:3.11-slim@{DIGEST}") == f"python:3.11-slim@{DIGEST}"
    for reference in ("python:3.11-slim", "python@sha256:abc", f"Python@{DIGEST}", f"{BASE}\n"):
        with pytest.raises(ValueError, match="RepoDigests"):
            plan.pinned_image(reference)


def test_quoted_escapes_what_the_dockerfile_parser_would_interpret() -> None:
    assert quoted('a "b" $HOME \\ c') == '"a \\"b\\" \\$HOME \\\\ c"'
    assert quoted("one\ntwo") == '"one two"'


def _render(**overrides) -> str:
    settings = {
        "base_image": BASE,
        "python_version": "3.11",
        "port": 8080,
        "wheels": True,
        "model_ref": "churn v3\nRUN rm -rf /",
        "labels": {"mlgate.model.name": "churn"},
    }
    return render_dockerfile(**{**settings, **overrides})


def test_the_dockerfile_has_two_stages_a_user_a_health_check_and_the_labels() -> None:
    text = _render()
    assert text.count(f"FROM {BASE}") == 2
    assert "--no-index --find-links /tmp/mlgate/wheels" in text
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text
    assert 'LABEL "mlgate.model.name"="churn"' in text
    # A name in a comment cannot start an instruction of its own.
    assert "\nRUN rm" not in text
    online = _render(wheels=False)
    assert "--no-index" not in online
    assert "COPY wheels" not in online


def test_a_team_template_can_extend_the_default(tmp_path: Path) -> None:
    template = tmp_path / "Dockerfile.j2"
    template.write_text(
        '{% extends "mlgate/Dockerfile.j2" %}\n'
        "{% block runtime %}{{ super() }}RUN echo team step\n{% endblock %}\n"
    )
    text = _render(team_template=template)
    assert "RUN echo team step" in text
    assert "LABEL " in text


def test_a_broken_team_template_names_its_file_and_line(tmp_path: Path) -> None:
    template = tmp_path / "Dockerfile.j2"
    template.write_text("FROM {{ base_image }}\nRUN {% if %}\n")
    with pytest.raises(ConfigError) as raised:
        _render(team_template=template)
    assert raised.value.line == 2
    assert str(template) in str(raised.value.file)
    template.write_text("FROM {{ base_image }}\nRUN echo {{ no_such_value }}\n")
    with pytest.raises(ConfigError, match="no_such_value"):
        _render(team_template=template)


def test_the_build_stops_at_once_on_a_base_image_with_another_python() -> None:
    import re
    import subprocess
    import sys

    text = _render(python_version="3.99")
    probe = re.search(r"RUN python3 -c '([^']*)'", text).group(1)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 1
    have = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert done.stderr.strip() == (
        f"the base image has Python {have} but the model was trained on Python 3.99: "
        "choose a base image with Python 3.99"
    )
    same = _render(python_version=have)
    probe = re.search(r"RUN python3 -c '([^']*)'", same).group(1)
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0
