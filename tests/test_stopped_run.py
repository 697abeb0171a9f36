"""A run that an error stopped midway is never read as one that passed (issue 16).

A config error (exit 2) or MLflow failing (exit 3) stops a run after its directory
became the latest run. The run directory then records the stop (`stopped.json`), and
every output a user reads says the run did not finish, which stage stopped it and why:
the terminal footer, `mlgate report` (report.md, the comment, the job summary, its exit
code), the fork artifact report.json, `mlgate card`, and the step outputs of the actions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from actions_harness import Runner, parse_outputs, run_action
from fastrepo import latest_run, make_fast
from mlgate import pipeline
from mlgate.errors import ConfigError, ServiceError
from mlgate.report import artifact
from mlgate.report.compose import ReportData, compose
from mlgate.results import StoppedRun, read
from mlgate.run import stopped_by
from mlgate.rundir import STOPPED_FILE, RunDir

ROOT = Path(__file__).resolve().parents[1]
BAD_DEPTH = 'got "three"'


def _bad_config(repo: Path) -> None:
    config = repo / "mlgate.yaml"
    text = config.read_text(encoding="utf-8")
    assert "max_depth: 3}" in text
    config.write_text(text.replace("max_depth: 3}", 'max_depth: "three"}'), encoding="utf-8")


def _good_config(repo: Path) -> None:
    config = repo / "mlgate.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('max_depth: "three"}', "max_depth: 3}"), encoding="utf-8")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]  # closed again when the block ends: nothing listens


def _title(report: str) -> str:
    return next(line for line in report.splitlines() if line.startswith("## mlgate"))


def _rows(report: str) -> dict[str, list[str]]:
    """The verdict table's rows, by gate: [verdict, why]."""
    rows = {}
    for line in report.split("\n\n")[1].splitlines()[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows[cells[0]] = cells[1:]
    return rows


def _passed_only_for_finished(text: str, finished: set[str]) -> None:
    """ "passed" appears only on the lines of stages that did finish, never as the run's."""
    assert "every gate passed" not in text
    labels = {pipeline.LABELS[name] for name in finished}
    for line in text.splitlines():
        if "passed" not in line:
            continue
        own = any(line.startswith(f"| {label} |") for label in labels)
        assert own or "expectations passed" in line or "Verdict ✓ passed" in line, line


# --- a config error -------------------------------------------------------------------------


@pytest.mark.slow  # real runs of the example
def test_a_config_error_run_says_it_did_not_finish_everywhere(
    cli, churn_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_fast(churn_repo)
    _bad_config(repo)
    outputs, summary = tmp_path / "github_output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))

    run = cli("run", cwd=repo)

    assert run.code == 2, run.err
    [line] = run.error_lines
    assert line.startswith("mlgate: error: mlgate.yaml:")
    assert line.endswith(BAD_DEPTH)
    assert "passed" not in run.out
    assert "did not finish" in run.out.splitlines()[-1]
    run_dir = latest_run(repo)
    stopped = StoppedRun.from_json(json.loads((run_dir / STOPPED_FILE).read_text()))
    assert stopped.exit_code == 2
    assert stopped.message == line.removeprefix("mlgate: error: ")
    assert parse_outputs(outputs)["passed"] == "false"
    assert parse_outputs(outputs)["exit-code"] == "2"

    # mlgate report: the report, the job summary and the exit code.
    outputs.unlink()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report = cli("report", "--no-comment", cwd=repo)

    assert report.code == 2, report.err
    written = (run_dir / "report.md").read_text(encoding="utf-8")
    for text in (written, summary.read_text(encoding="utf-8"), report.out):
        assert "passed" not in text
        assert "❌ did not finish" in _title(text)
        assert "expected an int in the range" in text
        assert "(exit 2)" in text
        rows = _rows(text)
        stopped_at = pipeline.LABELS.get(stopped.stage or "", "run")
        assert rows[stopped_at][0] == "❌ stopped"
        assert rows[stopped_at][1].endswith(r"&quot;three&quot; \(exit 2\)")
        after = pipeline.NAMES[pipeline.NAMES.index(stopped.stage) + 1 :] if stopped.stage else ()
        for name in after or pipeline.NAMES:
            assert rows[pipeline.LABELS[name]][0] == "⏭ not run"
    assert parse_outputs(outputs) == {
        "passed": "false",
        "report-path": str(run_dir / "report.md"),
        "comment-url": "",
    }

    # mlgate card: refused while the config is bad; on the stopped run once it is fixed.
    outputs.unlink()
    card = cli("card", cwd=repo)
    assert card.code == 2
    assert "passed" not in card.out
    assert "did not finish" in card.out
    _good_config(repo)
    card = cli("card", "--run-dir", str(run_dir), cwd=repo)

    assert card.code == 2, card.err
    assert card.err == ""
    footer = card.out.splitlines()[-1]
    assert footer.startswith("did not finish:")
    assert footer.endswith(f"results in .mlgate/runs/{run_dir.name}")
    assert "(exit 2): mlgate.yaml:" in footer
    assert BAD_DEPTH in footer
    markdown = (run_dir / "model_card.md").read_text(encoding="utf-8")
    assert "> **This run did not finish.**" in markdown
    assert "(exit 2): mlgate.yaml:" in markdown
    assert "passed" not in markdown
    html = (run_dir / "model_card.html").read_text(encoding="utf-8")
    assert "This run did not finish." in html
    assert "&#34;three&#34;" in html
    assert json.loads((run_dir / "card.json").read_text())["facts"]["stopped"] == (
        stopped.to_json()
    )
    assert parse_outputs(outputs)["passed"] == "false"
    assert parse_outputs(outputs)["exit-code"] == "2"

    # The pr-report and model-card actions, as a workflow's steps run them.
    runner = _runner(tmp_path, repo)
    given = {"config": repo.name, "run-dir": str(run_dir)}
    reported = run_action(runner, ROOT / "actions" / "pr-report", {**given, "comment": "false"})
    assert reported.outcome == "failure"
    assert reported.outputs["passed"] == "false"
    assert "[exit 2]" in runner.logs[-1]
    assert (
        "::error title=mlgate production-churn-model%3A the run did not finish::"
        in (runner.logs[-1])
    )
    job_summary = Path(runner.env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert "❌ did not finish" in _title(job_summary)
    assert "passed" not in job_summary
    carded = run_action(runner, ROOT / "actions" / "model-card", given)
    assert carded.outcome == "failure"
    assert carded.outputs["passed"] == "false"
    assert carded.outputs["exit-code"] == "2"


# --- MLflow failing midway ------------------------------------------------------------------


@pytest.mark.slow  # real runs of the example
def test_an_mlflow_failure_midway_says_so_until_the_stage_is_repaired(
    cli, churn_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_fast(churn_repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")

    run = cli("run", cwd=repo)

    assert run.code == 3, run.err
    [line] = run.error_lines
    assert line.startswith("mlgate: error: MLflow at http://127.0.0.1:")
    run_dir = latest_run(repo)
    stopped = StoppedRun.from_json(json.loads((run_dir / STOPPED_FILE).read_text()))
    assert stopped.stage in ("fairness", "register")  # where MLflow is first needed
    assert stopped.exit_code == 3
    assert stopped.message == line.removeprefix("mlgate: error: ")
    footer = run.out.splitlines()[-1]
    assert footer.startswith(f"did not finish: the {stopped.stage} stage stopped (exit 3)")
    finished = {p.stem for p in run_dir.glob("*.json")} - {"stopped"}
    assert stopped.stage not in finished

    report = cli("report", "--no-comment", "--write-artifact", str(tmp_path / "art"), cwd=repo)

    assert report.code == 3, report.err
    written = (run_dir / "report.md").read_text(encoding="utf-8")
    label = pipeline.LABELS[stopped.stage]
    assert _title(written).endswith(f"❌ did not finish: {label} stopped (exit 3)")
    rows = _rows(written)
    assert rows[label][0] == "❌ stopped"
    assert rows[label][1].startswith("MLflow at http")  # not a link: markdown.text()
    assert "://127.0.0.1:" in rows[label][1]
    assert rows[label][1].endswith(r"\(exit 3\)")
    for name in pipeline.NAMES[pipeline.NAMES.index(stopped.stage) + 1 :]:
        assert rows[pipeline.LABELS[name]] == ["⏭ not run", f"the run stopped at {label}"]
    assert rows["data validation"][0] == rows["evaluation"][0] == "✅ passed"
    _passed_only_for_finished(written, finished)

    # The fork artifact carries the stop, and the workflow_run job shows the same report.
    document = json.loads((tmp_path / "art" / "report.json").read_text())
    assert document["stopped"] == stopped.to_json()
    forwarded = cli("report", "--no-comment", "--from-artifact", str(tmp_path / "art"))
    assert forwarded.code == 3, forwarded.err
    assert _title(forwarded.out) == _title(written)
    assert _rows(forwarded.out) == rows

    # `mlgate card` on the stopped run: the card and the step outputs say so.
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the embedded store: the card reads no champion
    card = cli("card", "--json", cwd=repo)
    assert card.code == 3, card.err
    assert json.loads(card.out)["stopped"] == stopped.to_json()
    assert json.loads(card.out)["exit_code"] == 3
    assert parse_outputs(outputs)["passed"] == "false"
    assert parse_outputs(outputs)["exit-code"] == "3"
    markdown = (run_dir / "model_card.md").read_text(encoding="utf-8")
    assert f"The {stopped.stage} stage stopped it (exit 3): MLflow at" in markdown

    # With MLflow back, the stage that stopped and those after it finish: the stop is gone.
    for name in pipeline.NAMES[pipeline.NAMES.index(stopped.stage) :]:
        repaired = cli(name, "--run-dir", str(run_dir), cwd=repo)
        assert repaired.code == 0, (name, repaired.err)
        assert not (run_dir / STOPPED_FILE).exists()
    assert repaired.out.splitlines()[-1].startswith("passed · results in")
    report = cli("report", "--no-comment", cwd=repo)
    assert report.code == 0, report.err
    assert "✅ every gate passed" in _title(report.out)


# --- runs that finished ---------------------------------------------------------------------


@pytest.mark.slow  # real runs of the example
def test_a_passing_run_still_passes_and_a_failed_gate_never_reads_as_passed(
    cli, churn_repo: Path, tmp_path: Path
) -> None:
    repo = make_fast(churn_repo)
    run = cli("run", "--json", cwd=repo)
    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert list(document) == ["model", "run_id", "run_dir", "exit_code", "stages"]
    run_dir = latest_run(repo)
    assert sorted(p.name for p in run_dir.glob("*.json")) == sorted(
        stage.result_file for stage in pipeline.STAGES
    )
    report = cli("report", "--no-comment", "--write-artifact", str(tmp_path / "art"), cwd=repo)
    assert report.code == 0, report.err
    assert _title(report.out).endswith("✅ every gate passed")
    assert "stopped" not in json.loads((tmp_path / "art" / "report.json").read_text())

    config = repo / "mlgate.yaml"
    strict = config.read_text(encoding="utf-8").replace(
        "roc_auc: {min: 0.80}", "roc_auc: {min: 0.99}"
    )
    assert strict != config.read_text(encoding="utf-8")
    config.write_text(strict, encoding="utf-8")
    failed = cli("run", cwd=repo)
    assert failed.code == 1, failed.err
    assert failed.out.splitlines()[-1].startswith("failed: evaluate")
    report = cli("report", "--no-comment", cwd=repo)
    assert report.code == 1, report.err
    assert _title(report.out).endswith("❌ 1 gate failed")
    assert "every gate passed" not in report.out
    assert _rows(report.out)["evaluation"][0] == "❌ failed"


# --- the pure parts -------------------------------------------------------------------------


def _results_of(run_dir: Path) -> dict[str, object]:
    return {
        name: read(name, json.loads((run_dir / f"{name}.json").read_text()))
        for name in pipeline.NAMES
        if (run_dir / f"{name}.json").is_file()
    }


def test_the_report_of_a_stopped_run_and_its_artifact(tmp_path: Path) -> None:
    stopped = StoppedRun.of("train", 2, 'mlgate.yaml:8: model.params.max_depth: got "three"\n')
    assert stopped.message == 'mlgate.yaml:8: model.params.max_depth: got "three"'
    data = ReportData(model="m", stages={}, mlgate_version="1.0", stopped=stopped)

    body = compose(data).full()

    assert _title(body).endswith("❌ did not finish: training stopped (exit 2)")
    assert _rows(body) == {
        "training": [
            "❌ stopped",
            r"mlgate.yaml:8: model.params.max\_depth: got &quot;three&quot; \(exit 2\)",
        ],
        **{
            pipeline.LABELS[name]: ["⏭ not run", "the run stopped at training"]
            for name in pipeline.NAMES[2:]
        },
    }
    assert not data.passed

    artifact.write(data, tmp_path)
    assert artifact.read(tmp_path) == data
    assert artifact.schema()["$defs"]["stopped"]["properties"]["stage"] == {
        "enum": [*pipeline.NAMES, None]
    }
    document = json.loads((tmp_path / "report.json").read_text())
    document["stopped"]["stage"] = "rm -rf"
    (tmp_path / "report.json").write_text(json.dumps(document))
    with pytest.raises(Exception, match="does not match the report schema at stopped/stage"):
        artifact.read(tmp_path)


def test_the_first_stage_that_stopped_stays_the_cause(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    run_dir.record_stop(stopped_by("train", ConfigError("bad", key="model.params")))
    run_dir.record_stop(stopped_by("evaluate", ServiceError("MLflow down")))
    assert run_dir.stopped() == StoppedRun(stage="train", exit_code=2, message="model.params: bad")
    run_dir.clear_stop("evaluate")  # another stage finishing does not repair train
    assert run_dir.stopped() is not None
    run_dir.clear_stop("train")
    assert run_dir.stopped() is None
    assert stopped_by("register", KeyboardInterrupt()).exit_code == 130
    assert stopped_by("train", ValueError("x\ny")).message == (
        "unexpected ValueError: x (a bug in mlgate)"
    )


# --- the runner -----------------------------------------------------------------------------


def _runner(tmp_path: Path, repo: Path) -> Runner:
    """A job's runner whose mlgate is this checkout's: install.sh finds it installed."""
    temp = tmp_path / "runner-temp"
    venv = temp / "mlgate-venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    stamp = subprocess.run(
        [
            "bash",
            "-c",
            'printf %s "$1|$("$2" -c "import sys; print(sys.version)")|'
            '$(cksum <"$1/requirements/runtime.txt")|$(cksum <"$1/pyproject.toml")"',
            "stamp",
            str(ROOT),
            sys.executable,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (venv / ".mlgate-install").write_text(stamp, encoding="utf-8")
    (venv / ".mlgate-base").write_text(sys.executable, encoding="utf-8")
    os.symlink(Path(sys.executable).parent / "mlgate", venv / "bin" / "mlgate")
    event = temp / "event.json"
    event.write_text(json.dumps({"ref": "refs/heads/main"}), encoding="utf-8")
    summary = temp / "step_summary.md"
    summary.write_text("", encoding="utf-8")
    machine = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GITHUB_", "MLFLOW_", "RUNNER_", "ACTIONS_", "AWS_"))
        and name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CI")
    }
    env = {
        **machine,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": "0" * 40,
        "GITHUB_REPOSITORY": "acme/churn-model",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "http://127.0.0.1:9",
        "GITHUB_WORKSPACE": str(repo.parent),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "RUNNER_TEMP": str(temp),
    }
    assert shutil.which("bash")
    return Runner(workspace=repo.parent, temp=temp, env=env)
