"""Hostile text from data and config, through whole runs, escaped for every medium it reaches.

A sensitive feature's category names, a feature's column name and the card's free text
carry HTML, markdown links, @-mentions and workflow commands. They must show as
themselves in report.md (markdown), in the model card HTML, and in what the command
prints in GitHub Actions, where a line that starts with `::` is a workflow command.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
import yaml

from fastrepo import latest_run, make_fast
from test_report import outside_code, table_problems

SCRIPT = "<script>alert('x')</script>"
GROUP = f"{SCRIPT} @octo-org/admins"  # a category of the sensitive feature gender
NEWLINE_GROUP = "male\n::warning::injected by data"
COLUMN = "plan <img src=x onerror=alert(1)> | [x](javascript:alert(1))"
DESCRIPTION = "</p><iframe src=//evil.example></iframe> **bold** ::error::from config"
INTENDED_USE = "line one\n# Heading from config\n[click](javascript:alert(2))\r::error::cr"
HOSTILE_LIVE = ("<script", "<img", "<iframe", "](javascript:", "@octo-org/admins", "\n# Heading")
# The workflow commands mlgate itself may print; anything else at a line start was injected.
OWN_COMMANDS = re.compile(r"^::(error|warning|notice|add-mask|group|endgroup)( [^:]*)?::")
# What the hostile inputs below try to issue: a line that starts with one was injected,
# even though it looks like a command mlgate itself prints.
INJECTED = (
    "::warning::injected by data",
    "::error::pwned by data",
    "::error::from config",
    "::error::cr",
    "::error::lf in config",
    "::error::ls",
)


def _rewrite_csv(path: Path, change) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    change(rows[0], rows[1:])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _hostile_repo(repo: Path) -> None:
    make_fast(repo)

    def change(header: list[str], rows: list[list[str]]) -> None:
        gender = header.index("gender")
        for row in rows:
            row[gender] = {"female": GROUP, "male": NEWLINE_GROUP}[row[gender]]
        header[header.index("plan")] = COLUMN

    for name in ("data/train.csv", "data/validation.csv"):
        _rewrite_csv(repo / name, change)
    spec_path = repo / "configs/features.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["features"] = {
        (COLUMN if name == "plan" else name): value for name, value in spec["features"].items()
    }
    spec["sensitive_features"]["gender"]["values"] = [GROUP, NEWLINE_GROUP]
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    config_path = repo / "mlgate.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["card"]["description"] = DESCRIPTION
    config["card"]["intended_use"] = INTENDED_USE
    config["card"]["owners"] = ["<b>team</b>@example.com"]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    (repo / "expectations/churn.yml").write_text(
        (repo / "expectations/churn.yml").read_text().replace("{column: plan", "{column: x")
    )


def _injected_commands(*outputs: str) -> list[str]:
    """Lines that a runner would read as a workflow command mlgate did not mean to issue."""
    lines = [line for output in outputs for line in re.split(r"\r\n|\r|\n", output)]
    return [
        line
        for line in lines
        if line.startswith(INJECTED) or (line.startswith("::") and not OWN_COMMANDS.match(line))
    ]


@pytest.mark.slow
def test_hostile_names_and_free_text_are_escaped_through_a_whole_run(
    churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _hostile_repo(churn_repo)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))

    run = cli("run", cwd=churn_repo)

    assert run.code in (0, 1), run.err
    assert "a bug in mlgate" not in run.err
    assert _injected_commands(run.out, run.err) == []
    monkeypatch.delenv("GITHUB_ACTIONS")
    report = cli("report", cwd=churn_repo)
    assert report.code in (0, 1), report.err
    assert _injected_commands(report.out, report.err) == []

    run_dir = latest_run(churn_repo)
    markdown = (run_dir / "report.md").read_text()
    live = outside_code(markdown)
    for hostile in HOSTILE_LIVE:
        assert hostile not in live, hostile
    assert table_problems(markdown) == []
    assert "&lt;script&gt;" in markdown  # the group is shown, as text

    card_md = outside_code((run_dir / "model_card.md").read_text())
    for hostile in HOSTILE_LIVE:
        assert hostile not in card_md, hostile
    html = (run_dir / "model_card.html").read_text()
    for hostile in ("<script>alert", "<iframe", "<img src=x", "<b>team</b>", 'href="javascript:'):
        assert hostile not in html, hostile
    assert "&lt;iframe src=//evil.example&gt;" in html
    assert "&lt;script&gt;alert(" in html


def test_a_hostile_category_in_failed_validation_is_escaped_in_annotations_and_report(
    churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def change(header: list[str], rows: list[list[str]]) -> None:
        plan = header.index("plan")
        rows[1][plan] = "basic\n::error::pwned by data"
        rows[2][plan] = '=HYPERLINK("http://evil.example","<img src=x>")'
        del rows[40:]

    _rewrite_csv(churn_repo / "data/train.csv", change)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    validate = cli("validate", cwd=churn_repo)

    assert validate.code == 1, validate.err
    assert _injected_commands(validate.out, validate.err) == []
    annotations = [line for line in validate.err.splitlines() if line.startswith("::error")]
    # The sample value is shown as a Python literal: its line break is the text "\\n".
    assert any("'basic\\n::error::pwned by data'" in line for line in annotations), annotations
    monkeypatch.delenv("GITHUB_ACTIONS")
    report = cli("report", cwd=churn_repo)
    assert report.code == 1, report.err
    markdown = (latest_run(churn_repo) / "report.md").read_text()
    live = outside_code(markdown)
    assert "<img" not in live
    assert "\n::error::pwned" not in markdown
    assert table_problems(markdown) == []


@pytest.mark.parametrize(
    "metric",
    ["roc\r::error::cr in config", "roc\n::error::lf in config", "roc\u2028::error::ls"],
    ids=["carriage-return", "line-feed", "line-separator"],
)
def test_an_error_message_with_line_breaks_stays_one_line(
    churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch, metric: str
) -> None:
    config = yaml.safe_load((churn_repo / "mlgate.yaml").read_text())
    config["evaluation"]["metrics"] = [metric]
    (churn_repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    result = cli("validate", cwd=churn_repo)

    assert result.code == 2, result.err
    assert _injected_commands(result.out, result.err) == []
    lines = re.split(r"\r\n|\r|\n", result.err.strip())  # where a runner ends a line
    assert len(lines) == 2, lines  # the message, and its annotation
    assert lines[0].startswith("mlgate: error: mlgate.yaml:")
    assert lines[1].startswith("::error file=")
    assert "mlgate.yaml,line=" in lines[1]


URL_TEXT = "https://evil.example/{n} www.evil.example"
# Fields that hold one of a few words (a stage's task); the report looks them up.
WORDS = frozenset({"task"})


def _hostile_strings(document, schema_check) -> int:
    """Put a bare URL into every string (value or key) of `document` the schema still
    accepts there, one at a time; returns how many fields took one."""
    taken = 0

    def visit(node) -> None:
        nonlocal taken
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, value in items:
            if isinstance(value, (dict, list)):
                visit(value)
            elif isinstance(value, str) and key not in WORDS:
                node[key] = URL_TEXT.format(n=taken)
                if schema_check():
                    taken += 1
                else:
                    node[key] = value
            if isinstance(node, dict) and isinstance(key, str) and not key.startswith("$"):
                hostile = URL_TEXT.format(n=taken)
                node[hostile] = node.pop(key)
                if schema_check():
                    taken += 1
                else:
                    node[key] = node.pop(hostile)

    visit(document)
    return taken


@pytest.mark.slow
def test_bare_urls_in_every_field_of_a_fork_artifact_are_not_links(
    churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import json

    import jsonschema

    from mlgate.report import artifact

    make_fast(churn_repo)
    assert cli("run", cwd=churn_repo).code in (0, 1)
    out = tmp_path / "artifact"
    written = cli("report", "--no-comment", "--write-artifact", str(out), cwd=churn_repo)
    assert written.code in (0, 1), written.err
    path = out / "report.json"
    document = json.loads(path.read_text())
    validator = jsonschema.Draft202012Validator(artifact.schema())
    assert validator.is_valid(document)
    fields = _hostile_strings(document, lambda: validator.is_valid(document))
    assert fields >= 40, fields  # the free-text fields of every stage's result, and keys
    path.write_text(json.dumps(document))

    report = cli("report", "--no-comment", "--from-artifact", str(out), cwd=tmp_path)
    assert report.code in (0, 1, 2), report.err
    assert report.code != 2, report.err  # the artifact is valid: it must be reported
    body = report.out
    assert "evil.example" in body  # the text is shown ...
    for link in ("https://evil.example", "www.evil.example", "](http"):
        assert link not in body, link  # ... but never as something GitHub links


@pytest.mark.slow
@pytest.mark.parametrize("brk", ["\n", "\r", "\u2028"], ids=["lf", "cr", "ls"])
def test_a_run_dir_with_a_line_break_cannot_issue_a_workflow_command(
    churn_repo: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, brk: str
) -> None:
    make_fast(churn_repo)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    run_dir = tmp_path / f"runs{brk}::warning::INJECTED"
    result = cli("validate", "--run-dir", str(run_dir), cwd=churn_repo)
    assert result.code in (0, 1), result.err
    lines = re.split(r"\r\n|\r|\n|\u2028|\u2029|\x85|\x0b|\x0c", result.out + result.err)
    assert [line for line in lines if line.startswith("::warning::INJECTED")] == []
    assert "INJECTED" in result.out  # the path is still shown, its line break escaped
