"""The GitHub Actions: their contract (descriptions, pins, no template injection) and their
behaviour, by running each composite action's steps the way the runner does.

The workflows run end to end under a real runner emulator in tests/test_workflows_act.py
(act: pull requests, pushes, promotions, the fork flow, every stage action in one job).
What stays here needs to look inside the job, which act removes when it ends (the job
summary, files the credentials could leak into, the setup action's second call), or is
quicker without a runner (a failed gate, bad input): tests/actions_harness.py plays the
runner's part (`run_action`); see its docstring for what it stands in for.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mlgate
from actions_harness import (
    ActionRun,
    ExpressionError,
    Runner,
    evaluate,
    parse_outputs,
    run_action,
)
from actions_harness import load as _load
from mlgate import _actions_io as actions_io

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"
ACTION_FILES = sorted([ROOT / "action.yml", *ROOT.glob("actions/*/action.yml")])
WORKFLOW_FILES = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("workflows/*.yml")])
STAGE_ACTIONS = {
    "validate-data": "validate",
    "train": "train",
    "evaluate": "evaluate",
    "fairness-gate": "fairness",
    "model-card": "card",
    "registry-push": "register",
    "pr-report": "report",
}
TOKEN = "ghs_mlgateTestToken0123456789abcdefXYZ"
MLFLOW_PASSWORD = "mlflow-Test-Password-42"
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def _steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"].get("steps", []))
    return [step for job in document.get("jobs", {}).values() for step in job.get("steps", [])]


def _uses(document: dict[str, Any]) -> list[str]:
    found = [step["uses"] for step in _steps(document) if "uses" in step]
    found += [job["uses"] for job in document.get("jobs", {}).values() if "uses" in job]
    return found


# --- the static contract ------------------------------------------------------------------


def test_every_action_the_product_names_exists() -> None:
    names = {path.parent.name for path in ROOT.glob("actions/*/action.yml")}
    assert (ROOT / "action.yml").is_file()
    assert {"setup", *STAGE_ACTIONS} <= names


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_input_and_output_has_a_description(path: Path) -> None:
    action = _load(path)
    assert action.get("description"), f"{path}: the action has no description"
    for kind in ("inputs", "outputs"):
        for name, spec in (action.get(kind) or {}).items():
            assert re.fullmatch(r"[a-z][a-z0-9-]*", name), f"{path}: {kind} {name} not kebab-case"
            assert isinstance(spec, dict), f"{path}: {kind[:-1]} {name!r} is not a mapping"
            assert str(spec.get("description", "")).strip(), (
                f"{path}: {kind[:-1]} {name!r} has no description"
            )
            if kind == "inputs" and "default" in spec:
                assert isinstance(spec["default"], str), f"{path}: input {name} default not a str"
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") == "bash", f"{path}: step {step.get('name')} has no shell"


@pytest.mark.parametrize(
    "path", ACTION_FILES + WORKFLOW_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_expression_inside_a_run_script(path: Path) -> None:
    for step in _steps(_load(path)):
        if "run" in step:
            assert "${{" not in step["run"], f"{path}: step {step.get('name')} expands ${{{{ }}}}"


@pytest.mark.parametrize(
    "path", ACTION_FILES + WORKFLOW_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_third_party_actions_are_pinned_to_a_commit_sha(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for uses in _uses(_load(path)):
        if uses.startswith(("./", "$/", "OWNER/mlgate/")):
            continue  # this repository itself (OWNER: the starters' placeholder)
        assert SHA_PIN.match(uses), f"{path}: {uses} is not pinned to a full commit SHA"
        # ... with the version it stands for beside it, for the humans who update it.
        assert re.search(re.escape(uses) + r" # v\d", text), f"{path}: {uses} lacks # vX"


def test_checkouts_do_not_persist_credentials() -> None:
    for path in WORKFLOW_FILES:
        for step in _steps(_load(path)):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, path


def test_workflows_grant_nothing_at_the_top_and_limit_every_job() -> None:
    for path in WORKFLOW_FILES:
        workflow = _load(path)
        assert workflow.get("permissions") == {}, f"{path}: top-level permissions not {{}}"
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path}: job {name} has no permissions"
            if "steps" in job:
                assert "timeout-minutes" in job, f"{path}: job {name} has no timeout-minutes"


def test_reusable_model_ci_takes_named_secrets_not_inherit() -> None:
    workflow = _load(ROOT / ".github" / "workflows" / "model-ci.yml")
    call = workflow[True]["workflow_call"]  # YAML 1.1 reads the key `on` as true
    assert {"config", "python-version", "runner", "comment"} <= set(call["inputs"])
    assert "mlflow-tracking-uri" in call["secrets"]
    for path in WORKFLOW_FILES:
        assert "secrets: inherit" not in path.read_text(encoding="utf-8"), path
    starter = _load(ROOT / "workflows" / "model-ci.yml")
    job = starter["jobs"]["mlgate"]
    assert job["uses"].endswith("/.github/workflows/model-ci.yml@v1")
    assert set(job["secrets"]) <= set(call["secrets"])
    assert set(job["with"]) <= set(call["inputs"])


@pytest.mark.parametrize("path", sorted(ROOT.glob("workflows/*.yml")), ids=lambda p: p.name)
def test_starters_call_reusable_workflows_that_exist_with_their_inputs(path: Path) -> None:
    for name, job in _load(path)["jobs"].items():
        match = re.fullmatch(r"OWNER/mlgate/(\.github/workflows/[\w-]+\.yml)@v1", job["uses"])
        assert match, f"{path}: job {name} does not call a reusable mlgate workflow"
        called = _load(ROOT / match.group(1))[True]["workflow_call"]
        assert set(job.get("with") or {}) <= set(called.get("inputs") or {}), path
        assert set(job.get("secrets") or {}) <= set(called.get("secrets") or {}), path
        required = {k for k, v in (called.get("inputs") or {}).items() if v.get("required")}
        assert required <= set(job.get("with") or {}), f"{path}: missing {required}"


def test_setup_refuses_an_unsupported_runner_first(job: Runner) -> None:
    windows = Runner(job.workspace, job.temp, {**job.env, "RUNNER_OS": "Windows"})
    run = run_action(windows, ROOT / "actions" / "setup", {})
    assert run.outcome == "failure"
    assert len(windows.logs) == 1  # nothing else ran: no Python set up, nothing installed
    assert "::error::mlgate runs on Linux and macOS runners, not Windows" in windows.logs[0]


def test_fork_report_treats_the_artifact_as_data() -> None:
    workflow = _load(ROOT / ".github" / "workflows" / "report-fork.yml")
    steps = _steps(workflow)
    assert not any(str(s.get("uses", "")).startswith("actions/checkout@") for s in steps)
    download = next(s for s in steps if str(s.get("uses", "")).startswith("actions/download"))
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["path"].startswith("${{ runner.temp }}")  # outside the workspace
    post = next(s for s in steps if s.get("uses") == "$/actions/pr-report")
    assert post["with"] == {"from-artifact": "${{ steps.download.outputs.download-path }}"}


_BARE_COMMAND = re.compile(
    r"(?:^|[;&|(]\s*|\b(?:then|do|else)\s+)(?:python3?|pip3?|mlgate)\b", re.M
)


@pytest.mark.parametrize(
    "path", ACTION_FILES + WORKFLOW_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_mlgate_runs_by_its_own_interpreter_never_from_path(path: Path) -> None:
    # Whatever python or mlgate the caller's PATH holds, the actions run the one setup
    # installed: by absolute path, from setup's (or install.sh's) `python` output.
    document = _load(path)
    for step in _steps(document):
        if "run" in step:
            bare = _BARE_COMMAND.search(step["run"])
            assert bare is None, f"{path}: step {step.get('name')} runs {bare.group(0)!r}"
            if "-m mlgate" in step["run"]:
                # -I: not the working directory's own `mlgate.py` or `mlgate/` (the model repo's).
                assert '"${MLGATE_PYTHON}" -I -m mlgate' in step["run"], path
                assert re.fullmatch(
                    r"\$\{\{ steps\.(setup|install)\.outputs\.python \}\}",
                    step["env"]["MLGATE_PYTHON"],
                ), path
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/setup-python@") and "runs" in document:
            # An action leaves the caller's Python alone (hynek/build-and-inspect-python-package
            # does the same); only the project's own CI job sets up a Python for itself.
            assert step["with"].get("update-environment") is False, path


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_action_scripts_pass_shellcheck(path: Path, tmp_path: Path) -> None:
    # actionlint checks the scripts of workflows only; composite actions get the same here.
    for index, step in enumerate(_load(path)["runs"]["steps"]):
        if "run" not in step:
            continue
        declared = "".join(f': "${{{name}:=}}"\n' for name in step.get("env", {}))
        script = tmp_path / f"step{index}.sh"
        script.write_text(f"#!/usr/bin/env bash\n{declared}{step['run']}\n", encoding="utf-8")
        checked = subprocess.run(
            ["shellcheck", "--severity=style", str(script)], capture_output=True, text=True
        )
        assert checked.returncode == 0, f"{path} step {step.get('name')}:\n{checked.stdout}"


# --- GITHUB_OUTPUT and masks --------------------------------------------------------------


def test_outputs_use_a_fresh_random_delimiter(tmp_path: Path) -> None:
    target = tmp_path / "output"
    actions_io.write_outputs({"passed": True, "run-id": "r1", "notes": "two\nlines"}, target)
    text = target.read_text(encoding="utf-8")
    delimiters = re.findall(r"^[\w-]+<<(ghadelimiter_[0-9a-f]{32})$", text, re.MULTILINE)
    assert len(delimiters) == len(set(delimiters)) == 3
    assert parse_outputs(target) == {"passed": "true", "run-id": "r1", "notes": "two\nlines"}


def test_a_value_holding_its_delimiter_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "output"
    marker = "ghadelimiter_fixed"
    forged = f"x\n{marker}\nmodel-version<<EOF\n999\nEOF"
    with pytest.raises(actions_io.OutputError, match="delimiter"):
        actions_io.format_output("passed", forged, marker=marker)
    # write_outputs formats everything first: nothing at all is written when one is refused.
    target.write_text("", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(actions_io, "delimiter", lambda: marker)
        with pytest.raises(actions_io.OutputError):
            actions_io.write_outputs({"run-id": "ok", "passed": forged}, target)
    assert target.read_text(encoding="utf-8") == ""


def test_the_job_summary_is_appended_to_not_replaced(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    assert actions_io.append_summary("**mlgate** one", summary)
    assert actions_io.append_summary("two\n", summary)
    assert summary.read_text(encoding="utf-8") == "earlier step\n**mlgate** one\ntwo\n"
    assert not actions_io.append_summary("nowhere")  # GITHUB_STEP_SUMMARY is not set


@pytest.mark.parametrize(
    "name",
    [pytest.param("bad name", id="space"), pytest.param("x<<y", id="heredoc"), ""],
)
def test_an_invalid_output_name_is_refused(name: str) -> None:
    with pytest.raises(actions_io.OutputError):
        actions_io.format_output(name, "v")


def test_masks_cover_tokens_and_uri_passwords() -> None:
    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_TOKEN": TOKEN,
        "MLFLOW_TRACKING_URI": "https://ci:p%40ss@mlflow.example.com",
        "MLFLOW_TRACKING_TOKEN": "line1\nline2",
        "AWS_SECRET_ACCESS_KEY": "",
    }
    stream = io.StringIO()
    assert actions_io.mask_secrets(environ, stream=stream) == 4
    lines = stream.getvalue().splitlines()
    assert f"::add-mask::{TOKEN}" in lines
    assert "::add-mask::p@ss" in lines
    assert "::add-mask::p%2540ss" in lines  # the URI's own (percent-encoded) form, escaped
    assert {"::add-mask::line1", "::add-mask::line2"} <= set(lines)
    quiet = io.StringIO()
    assert actions_io.mask_secrets({**environ, "GITHUB_ACTIONS": ""}, stream=quiet) == 0
    assert quiet.getvalue() == ""


# --- the runner stand-in (tests/actions_harness.py) ------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("inputs.cache == 'true'", True, id="eq"),
        pytest.param("inputs.cache == 'TRUE'", True, id="eq-case-blind"),
        pytest.param("!cancelled() && steps.run.outputs.dir != ''", False, id="missing-output"),
        pytest.param("steps.run.outputs.missing", None, id="null"),
        pytest.param("failure() || (inputs.cache != 'false' && !false)", True, id="nested"),
    ],
)
def test_the_runner_stand_in_reads_expressions_as_github_does(expression, expected) -> None:
    context = {
        "inputs": {"cache": "true"},
        "steps": {"run": {"outputs": {}}},
        "functions": {"cancelled": lambda: False, "failure": lambda: False},
    }
    assert evaluate(expression, context) == expected
    with pytest.raises(ExpressionError):
        evaluate("secrets.token", context)  # an unknown context is an error, not ''


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """A job: a workspace holding a copy of examples/churn, and a push event to main."""
    base = tmp_path_factory.mktemp("job")
    workspace, temp = base / "workspace", base / "runner-temp"
    temp.mkdir()
    shutil.copytree(
        EXAMPLE, workspace / "churn", ignore=shutil.ignore_patterns(".mlgate", "__pycache__")
    )
    event = temp / "event.json"
    event.write_text(
        json.dumps(
            {
                "ref": "refs/heads/main",
                "after": "0" * 40,
                "repository": {"full_name": "acme/churn-model", "default_branch": "main"},
            }
        ),
        encoding="utf-8",
    )
    summary = temp / "step_summary.md"
    summary.write_text("", encoding="utf-8")
    # The machine's own settings (certificates, proxies, HOME), but no GitHub or MLflow
    # variable of the session running the tests, and not the project's own virtualenv.
    machine = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GITHUB_", "MLFLOW_", "RUNNER_", "ACTIONS_", "AWS_"))
        and name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CI")
    }
    env = {
        **machine,
        "PATH": os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))
        ),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": "0" * 40,
        "GITHUB_REPOSITORY": "acme/churn-model",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "http://127.0.0.1:9",  # nothing listens: no comment may be tried
        "GITHUB_ACTOR": "octocat",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_TOKEN": TOKEN,
        "MLFLOW_TRACKING_PASSWORD": MLFLOW_PASSWORD,
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "RUNNER_TEMP": str(temp),
    }
    return Runner(workspace=workspace, temp=temp, env=env)


@pytest.fixture(scope="module")
def pipeline(job: Runner) -> ActionRun:
    """The root action once on the example: setup, mlgate run, mlgate report."""
    return run_action(job, ROOT, {"config": "churn"})


def _log(job: Runner) -> str:
    return "\n".join(job.logs)


@pytest.mark.slow
def test_root_action_runs_the_pipeline_and_sets_its_outputs(pipeline: ActionRun, job: Runner):
    assert pipeline.outcome == "success", _log(job)
    outputs = pipeline.outputs
    assert outputs["passed"] == "true"
    assert outputs["exit-code"] == "0"
    run_dir = Path(outputs["run-dir"])
    assert run_dir.parent == job.workspace / "churn" / ".mlgate" / "runs"
    assert outputs["run-id"] == run_dir.name
    assert json.loads((run_dir / "evaluate.json").read_text())["verdict"] == "passed"
    register = json.loads((run_dir / "register.json").read_text())
    assert outputs["model-version"] == register["version"] == "1"  # a push to main registers
    assert outputs["mlflow-run-id"] == register["mlflow_run_id"]
    # setup installed mlgate into the runner's temp directory and put the command alone on
    # PATH: the caller's `python` is still their own.
    assert job.path_additions == [str(job.temp / "mlgate-venv" / "mlgate-bin")]
    assert [p.name for p in Path(job.path_additions[0]).iterdir()] == ["mlgate"]
    assert job.env["MLGATE_PYTHON"] == str(job.temp / "mlgate-venv" / "bin" / "python")
    assert (job.temp / "mlgate-venv" / ".mlgate-install").is_file()


@pytest.mark.slow
def test_root_action_reports_to_the_job_summary(pipeline: ActionRun, job: Runner) -> None:
    assert pipeline.steps["report"]["outcome"] == "success", _log(job)
    summary = Path(job.env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert "production-churn-model" in summary
    report = Path(pipeline.outputs["report-path"])
    assert report.is_file()
    assert report.parent == Path(pipeline.outputs["run-dir"])


@pytest.mark.slow
def test_credentials_are_masked_first_and_written_nowhere(pipeline: ActionRun, job: Runner):
    log = _log(job)
    run_log = next(entry for entry in job.logs if '" -I -m mlgate run ' in entry)
    assert run_log.index(f"::add-mask::{TOKEN}") < run_log.index("mlgate run ·")
    assert f"::add-mask::{MLFLOW_PASSWORD}" in run_log
    assert pipeline.outcome == "success", log
    leaked = [
        path
        for folder in (job.workspace, job.temp)
        for path in folder.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and "mlgate-venv" not in path.parts
        and "mlgate-uv-cache" not in path.parts
        and (TOKEN.encode() in path.read_bytes() or MLFLOW_PASSWORD.encode() in path.read_bytes())
    ]
    assert leaked == []


@pytest.mark.slow
def test_setup_action_is_a_no_op_the_second_time(job: Runner, pipeline: ActionRun) -> None:
    first = (job.temp / "mlgate-venv" / ".mlgate-install").stat().st_mtime_ns
    again = run_action(job, ROOT / "actions" / "setup", {})
    assert again.outcome == "success", _log(job)
    assert again.outputs["python"] == str(job.temp / "mlgate-venv" / "bin" / "python")
    assert again.outputs["version"] == mlgate.__version__
    assert again.outputs["cache-hit"] == "true"
    assert "already installed" in job.logs[-1]
    assert (job.temp / "mlgate-venv" / ".mlgate-install").stat().st_mtime_ns == first


@pytest.fixture(scope="module")
def stage_runs(job: Runner, pipeline: ActionRun) -> dict[str, ActionRun]:
    """train then evaluate, as steps of the same job, with a config whose roc_auc floor
    this model cannot reach, so that evaluate fails its gate. (Every stage action passing
    in one job is tests/test_workflows_act.py's run of the README's snippet under act.)
    """
    churn = job.workspace / "churn"
    original = (churn / "mlgate.yaml").read_text(encoding="utf-8")
    strict = original.replace("roc_auc: {min: 0.80}", "roc_auc: {min: 0.99}")
    assert strict != original
    (churn / "strict.yaml").write_text(strict, encoding="utf-8")
    strict_inputs = {"config": "churn/strict.yaml", "run-dir": str(job.temp / "strict-run")}
    return {
        folder: run_action(job, ROOT / "actions" / folder, strict_inputs)
        for folder in ("train", "evaluate")
    }


@pytest.mark.slow
def test_a_failed_gate_fails_the_step_with_exit_1(
    stage_runs: dict[str, ActionRun], job: Runner
) -> None:
    failed = stage_runs["evaluate"]
    assert failed.outcome == "failure"
    assert failed.outputs["passed"] == "false"
    assert failed.outputs["exit-code"] == "1"
    assert failed.outputs["run-dir"] == str(job.temp / "strict-run")
    evaluation = json.loads((job.temp / "strict-run" / "evaluate.json").read_text())
    assert evaluation["verdict"] == "failed"


@pytest.mark.slow  # runs the action's install and mlgate
def test_bad_input_fails_the_step_with_exit_2(job: Runner) -> None:
    # Set up the venv the way setup would, without the cost of the pipeline.
    runner = Runner(
        workspace=job.workspace,
        temp=job.temp,
        env=dict(job.env),
        path_additions=[str(Path(sys.executable).parent)],
    )
    run = run_action(runner, ROOT / "actions" / "validate-data", {"config": "no-such-dir"})
    assert run.outcome == "failure"
    assert run.outputs["passed"] == ""  # a command that never ran its stages sets no outputs
    assert "[exit 2]" in runner.logs[-1]
    assert "mlgate: error:" in runner.logs[-1]


def test_a_stage_that_errors_still_names_its_run_dir(cli, churn_repo: Path, tmp_path: Path):
    # So that a later report step (if: !cancelled() && run-dir != '') can show what finished.
    output = tmp_path / "github_output"
    empty = tmp_path / "run"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_OUTPUT", str(output))
        result = cli("register", str(churn_repo), "--run-dir", str(empty))
    assert result.code == 2, result.err
    assert "run `mlgate validate` first" in result.err
    assert parse_outputs(output) == {
        "passed": "false",
        "exit-code": "2",
        "run-id": "run",
        "run-dir": str(empty),
    }


HOSTILE_MODULE = """\
import pathlib
pathlib.Path(__file__).resolve().parent.joinpath("PWNED").write_text("shadowed mlgate")
raise SystemExit(0)
"""


@pytest.mark.slow
def test_a_model_repo_s_own_mlgate_module_does_not_shadow_mlgate(
    pipeline: ActionRun, job: Runner, tmp_path: Path
) -> None:
    """`python -m mlgate` in the model repo's folder would import its `mlgate.py` (or
    `mlgate/` package) first; the actions run the installed mlgate, isolated (-I)."""
    assert pipeline.outcome == "success", _log(job)
    workspace = tmp_path / "workspace"
    repo = workspace / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    (workspace / "mlgate.py").write_text(HOSTILE_MODULE)  # where install.sh runs
    (repo / "mlgate.py").write_text(HOSTILE_MODULE)  # where the stage runs
    (repo / "mlgate").mkdir()  # and the package form, which Python would prefer
    for name in ("__init__.py", "__main__.py"):
        (repo / "mlgate" / name).write_text(HOSTILE_MODULE)
    hostile = Runner(workspace=workspace, temp=job.temp, env=dict(job.env))
    hostile.env["GITHUB_WORKSPACE"] = str(workspace)
    validated = run_action(
        hostile, ROOT / "actions" / "validate-data", {"working-directory": "churn"}
    )
    assert validated.outcome == "success", "\n".join(hostile.logs)
    assert validated.outputs["passed"] == "true"
    assert Path(validated.outputs["run-dir"]).parent == repo / ".mlgate" / "runs"
    assert sorted(str(p.relative_to(workspace)) for p in workspace.rglob("PWNED")) == []


@pytest.mark.parametrize("name", ["runtime.txt", "runtime-extras.txt", "lock.txt"])
def test_every_pinned_requirement_carries_its_hashes(name: str) -> None:
    text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
    entries = re.split(
        r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1] if text.startswith("#") else text
    )
    pins = [entry for entry in entries if re.match(r"[A-Za-z0-9][\w.-]*==", entry)]
    assert len(pins) > 50
    unhashed = [entry.split()[0] for entry in pins if "--hash=sha256:" not in entry]
    assert unhashed == []
    assert "--generate-hashes" in (ROOT / "requirements" / "compile.sh").read_text()


def test_the_runtime_pins_mlflow_skinny_and_only_the_tests_the_full_mlflow() -> None:
    """A runner needs MLflow's client, registry and SQLite store, not its UI and tracking
    server (Flask, gunicorn, graphene, ...): the full package is the tests' alone."""

    def pinned(name: str) -> set[str]:
        text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
        return {pin.lower() for pin in re.findall(r"^([A-Za-z0-9][\w.-]*)==", text, re.M)}

    for name in ("runtime.txt", "runtime-extras.txt"):
        assert {"mlflow-skinny", "sqlalchemy", "alembic"} <= pinned(name), name
        assert pinned(name).isdisjoint({"mlflow", "flask", "gunicorn", "graphene"}), name
    assert "mlflow" in pinned("lock.txt")


def test_setup_installs_only_hashed_dependencies_and_keys_its_cache_by_sha256() -> None:
    install = (ROOT / "actions" / "setup" / "install.sh").read_text(encoding="utf-8")
    assert '--require-hashes -r "$requirements"' in install
    assert '--no-deps "$root"' in install  # mlgate itself: from the checkout, nothing resolved
    fingerprint = next(
        step["run"]
        for step in _steps(_load(ROOT / "actions" / "setup" / "action.yml"))
        if step.get("id") == "pins"
    )
    assert "cksum" not in fingerprint
    assert "sha256sum" in fingerprint
