"""The command line: start-up cost, usage errors, exit codes and the service-failure path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("mlflow", "sklearn", "great_expectations", "pandas", "pydantic", "yaml", "numpy")


def _modules_after(code: str) -> set[str]:
    probe = f"""
import sys, json
try:
    {code}
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return set(json.loads(completed.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("from mlgate.cli import main; main(['--help'])", id="help"),
        pytest.param("from mlgate.cli import main; main(['run', '--help'])", id="run-help"),
        pytest.param("from mlgate.cli import main; main(['--version'])", id="version"),
    ],
)
def test_help_imports_no_heavy_library(code: str) -> None:
    loaded = _modules_after(code)
    assert {name for name in loaded if name.split(".")[0] in HEAVY} == set()


def test_config_error_imports_no_ml_library(tmp_path: Path) -> None:
    config = tmp_path / "mlgate.yaml"
    config.write_text("model: {type: X}\n")
    loaded = _modules_after(f"from mlgate.cli import main; main(['run', {str(config)!r}])")
    ml = {"mlflow", "sklearn", "great_expectations", "pandas"}
    assert {name for name in loaded if name.split(".")[0] in ml} == set()


def test_no_command_prints_help_and_exits_2(cli) -> None:
    result = cli()
    assert result.code == 2
    assert "usage: mlgate" in result.err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["deploy"], id="unknown-command"),
        pytest.param(["run", "--frobnicate"], id="unknown-option"),
        pytest.param(["run", "a.yaml", "b.yaml"], id="two-configs"),
    ],
)
def test_usage_errors_are_one_line_exit_2(cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.code == 2
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith("mlgate: error:")


def test_missing_config_names_the_file(cli, tmp_path: Path) -> None:
    result = cli("run", cwd=tmp_path)
    assert result.code == 2
    assert result.error_lines == [
        "mlgate: error: mlgate.yaml: config not found; check the path, or draft one with "
        "`mlgate init`"
    ]


def test_evaluate_without_a_trained_run_says_what_to_do(cli, churn_repo: Path) -> None:
    result = cli("evaluate", cwd=churn_repo)
    assert result.code == 2
    assert "run `mlgate train` first" in result.err


def test_error_in_github_actions_is_also_an_annotation(cli, churn_repo, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    (churn_repo / "mlgate.yaml").write_text("version: 1.0\nmodel: {type: X}\nextra: '%\n::x'\n")
    result = cli("run", cwd=churn_repo)
    assert result.code == 2
    [message, annotation] = result.error_lines
    assert message.startswith("mlgate: error: mlgate.yaml:")
    assert annotation.startswith("::error file=")
    assert ",line=" in annotation
    # One line: a newline in the text cannot start a second workflow command.
    assert "\n" not in annotation


@pytest.mark.slow
def test_unreachable_tracking_server_exits_3_and_keeps_the_run(cli, churn_repo, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")

    result = cli("run", cwd=churn_repo)

    assert result.code == 3
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith("mlgate: error: MLflow at http://127.0.0.1:9 failed")
    runs = churn_repo / ".mlgate" / "runs"
    run_dir = runs / (runs / "LATEST").read_text().strip()
    kept = sorted(p.name for p in run_dir.glob("*.json"))
    assert kept == ["evaluate.json", "stopped.json", "train.json", "validate.json"]
    assert json.loads((run_dir / "stopped.json").read_text())["exit_code"] == 3


@pytest.mark.slow
def test_an_unwritable_path_of_the_environment_is_exit_2_naming_it(
    churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path))  # a folder, not a file

    result = cli("validate", cwd=churn_repo)

    assert result.code == 2, result.err
    assert result.error_lines == [f"mlgate: error: cannot use {tmp_path}: Is a directory"]


def test_command_summaries_are_the_modules_docstrings() -> None:
    """`mlgate --help` lists the summaries from cli.OTHER_COMMANDS without importing the
    command modules: each must stay the first line of its module's docstring."""
    from mlgate import cli

    for name, summary in cli.OTHER_COMMANDS.items():
        doc = cli._command_module(name).__doc__
        assert summary == doc.strip().splitlines()[0].rstrip("."), name


def test_top_level_help_imports_no_command_module() -> None:
    loaded = _modules_after("from mlgate.cli import main; main(['--help'])")
    assert {name for name in loaded if name.startswith("mlgate.commands")} == set()
    assert {"dataclasses", "shutil"} & loaded == set()
