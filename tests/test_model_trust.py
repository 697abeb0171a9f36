"""The config names code that mlgate imports and calls: only trusted code is accepted.

A pull request can edit mlgate.yaml. `model.type: os:system` with `params: {command: ...}`
must be refused before anything is called; a factory or class is accepted from
scikit-learn, from the model repository's own modules, or from a package listed in
`model.trusted_packages`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

FACTORY = """\
from sklearn.linear_model import LogisticRegression


def build(C=1.0):
    return LogisticRegression(C=C, max_iter=500)
"""


def _set_model(repo: Path, model: dict[str, Any]) -> None:
    path = repo / "mlgate.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["model"] = model
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize(
    "model",
    [
        {"type": "os:system", "params": {"command": "touch PWNED"}},
        {"type": "subprocess:check_call", "params": {"args": ["touch", "PWNED"]}},
        {"type": "subprocess.Popen", "params": {"args": ["touch", "PWNED"]}},
        {"type": "builtins:exec", "params": {"source": "open('PWNED', 'w')"}},
    ],
    ids=["os-system", "subprocess-factory", "class-path", "builtins"],
)
def test_code_from_outside_the_repo_is_refused_before_it_runs(
    churn_repo: Path, cli, model: dict[str, Any]
) -> None:
    _set_model(churn_repo, model)
    result = cli("run", cwd=churn_repo)
    assert result.code == 2, result.out + result.err
    [line] = result.error_lines
    assert "model.type" in line
    assert "model.trusted_packages" in line
    assert not (churn_repo / "PWNED").exists()
    assert "train " not in result.out  # refused before training


def test_a_factory_of_the_repository_is_accepted(churn_repo: Path, cli) -> None:
    (churn_repo / "team_models.py").write_text(FACTORY)
    _set_model(churn_repo, {"type": "team_models:build", "params": {"C": 0.5}})
    try:
        result = cli("train", cwd=churn_repo)
    finally:
        sys.modules.pop("team_models", None)
    assert result.code == 0, result.err


@pytest.fixture
def installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module importable from outside the model repository (as an installed package is)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "outside_models.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(site))
    yield "outside_models"
    sys.modules.pop("outside_models", None)


def test_an_installed_package_needs_to_be_trusted(
    churn_repo: Path, cli, installed_package: str
) -> None:
    _set_model(churn_repo, {"type": f"{installed_package}:build"})
    refused = cli("train", cwd=churn_repo)
    assert refused.code == 2, refused.out + refused.err
    assert f"add {installed_package} there" in refused.err
    assert installed_package not in sys.modules  # not even imported
    _set_model(
        churn_repo, {"type": f"{installed_package}:build", "trusted_packages": [installed_package]}
    )
    trusted = cli("train", cwd=churn_repo)
    assert trusted.code == 0, trusted.err


def test_a_repo_module_that_links_outside_the_repo_is_not_the_repo_s(
    churn_repo: Path, cli, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.py"
    outside.write_text(FACTORY)
    (churn_repo / "linked_models.py").symlink_to(outside)
    _set_model(churn_repo, {"type": "linked_models:build"})
    result = cli("train", cwd=churn_repo)
    assert result.code == 2, result.out + result.err
    assert "linked_models is neither a module of the model repository" in result.err


def test_trusted_packages_are_module_names(churn_repo: Path, cli) -> None:
    _set_model(churn_repo, {"type": "RandomForest", "trusted_packages": ["os; rm -rf /"]})
    result = cli("train", cwd=churn_repo)
    assert result.code == 2
    assert "model.trusted_packages" in result.err


def test_the_repository_module_wins_over_one_of_that_name_imported_earlier(
    churn_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process, two model repos with a `team_models` module each (as in a test run or a
    notebook): the second repo's factory is its own, not the module cached from the first."""
    from mlgate._estimators import choose_estimator
    from mlgate.project import load_project

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "team_models.py").write_text(FACTORY.replace("def build", "def other"))
    monkeypatch.syspath_prepend(str(elsewhere))
    monkeypatch.delitem(sys.modules, "team_models", raising=False)
    __import__("team_models")  # the other one, now in sys.modules
    (churn_repo / "team_models.py").write_text(FACTORY)
    _set_model(churn_repo, {"type": "team_models:build", "params": {"C": 0.5}})

    try:
        choice = choose_estimator(load_project(churn_repo / "mlgate.yaml"), "classification")
    finally:
        sys.modules.pop("team_models", None)

    assert choice.estimator.get_params()["C"] == 0.5
    assert choice.code_paths == ("team_models.py",)
