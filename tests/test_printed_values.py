"""Every value mlgate prints goes through `_actions_io.one_line`.

In GitHub Actions the runner reads any log line that starts with `::` as a workflow
command, so a folder, file name or recorded tag with a line break in it must never
start a line of its own (`::warning::INJECTED`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "churn"
INJECTED = "x\n::warning::INJECTED\r::error::INJECTED"


def _commands(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("::")]


def test_init_prints_a_folder_and_file_name_with_line_breaks_as_one_line(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / f"model{INJECTED}"
    (folder / "data").mkdir(parents=True)
    shutil.copy(EXAMPLE / "data" / "train.csv", folder / "data" / f"train{INJECTED}.csv")
    shutil.copy(EXAMPLE / "data" / "validation.csv", folder / "data" / "validation.csv")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    result = cli(
        "init",
        str(folder),
        "--data",
        str(folder / "data" / f"train{INJECTED}.csv"),
        "--validation",
        str(folder / "data" / "validation.csv"),
        "--target",
        "churned",
        "--name",
        "printed-values",
        cwd=tmp_path,
    )

    assert result.code == 0, result.err
    assert (folder / "mlgate.yaml").is_file()
    assert _commands(result.out) == []
    assert _commands(result.err) == []
    assert "::warning::INJECTED" in result.out  # shown, escaped, on its line
    assert "modelx\\n::warning::INJECTED\\r::error::INJECTED" in result.out


@pytest.mark.slow
def test_lineage_and_promote_print_recorded_values_as_one_line(
    churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = churn_repo / "mlgate.yaml"
    config.write_text(config.read_text().replace("production-churn-model", "printed-churn"))
    monkeypatch.setenv("GITHUB_ACTOR", f"dev{INJECTED}")  # recorded as the version's actor
    assert cli("run", cwd=churn_repo).code == 0
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    lineage = cli("lineage", "printed-churn:1", "--config", str(config), cwd=churn_repo)
    promoted = cli(
        "promote",
        "printed-churn",
        "--version",
        "1",
        "--to",
        "staging",
        "--force",
        "--reason",
        f"because{INJECTED}",
        "--config",
        str(config),
        cwd=churn_repo,
    )

    assert lineage.code == 0, lineage.err
    assert "actor: devx\\n::warning::INJECTED" in lineage.out
    assert promoted.code == 0, promoted.err
    for result in (lineage, promoted):
        assert _commands(result.out) == []
        assert _commands(result.err) == []
