"""A stand-in for the GitHub Actions runner, enough to run this repository's composite
actions and reusable workflows here, where no runner can run.

`run_action` plays the runner's part for a composite action: it evaluates the `if:`,
`env:` and `with:` expressions the actions use (`evaluate`, the subset of GitHub's
expression language they need; anything else is an error), runs each `run:` script with
bash and the `env:` the step declares, gives each step fresh GITHUB_OUTPUT/GITHUB_ENV/
GITHUB_PATH files and parses them as the runner does (heredoc entries included), follows
`$/...` self-repository references into the sibling action, and stands in for the
third-party actions (setup-python: this interpreter; cache: the machine's warm uv cache;
cache/restore and cache/save: folders under the runner's temp folder, one per key;
checkout, upload-artifact and download-artifact: copies under the runner's temp folder).
`run_job` does the same for one job of a reusable workflow (`on: workflow_call`).

The tests of the actions live in tests/test_actions.py; other test files use this module
to run one action (promote, build-image) the way a workflow would.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

__all__ = [
    "ActionRun",
    "ExpressionError",
    "Runner",
    "evaluate",
    "load",
    "parse_outputs",
    "run_action",
    "run_job",
    "substitute",
]


def load(path: Path) -> dict[str, Any]:
    """An action or workflow file, as YAML 1.1 reads it (the key `on` becomes True)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- expressions ----------------------------------------------------------------------------


class ExpressionError(Exception):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|&&|\|\||!|\(|\)|,)|'(?P<str>(?:[^']|'')*)'"
    r"|(?P<fn>[a-zA-Z]+)\(\)|(?P<call>format)\(|(?P<path>[A-Za-z_][\w.-]*))"
)


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """The subset of GitHub's expression language the actions use; anything else fails."""
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(expression.strip()):
        match = _TOKEN.match(expression.strip(), position)
        if not match:
            raise ExpressionError(f"cannot read {expression!r} at {position}")
        position = match.end()
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
    result, rest = _or(tokens, context)
    if rest:
        raise ExpressionError(f"trailing tokens in {expression!r}: {rest}")
    return result


def _or(tokens, context):
    left, tokens = _and(tokens, context)
    while tokens and tokens[0] == ("op", "||"):
        right, tokens = _and(tokens[1:], context)
        left = left or right
    return left, tokens


def _and(tokens, context):
    left, tokens = _compare(tokens, context)
    while tokens and tokens[0] == ("op", "&&"):
        right, tokens = _compare(tokens[1:], context)
        left = left and right
    return left, tokens


def _compare(tokens, context):
    left, tokens = _unary(tokens, context)
    if tokens and tokens[0] in (("op", "=="), ("op", "!=")):
        operator = tokens[0][1]
        right, tokens = _unary(tokens[1:], context)
        same = _text(left).lower() == _text(right).lower()  # GitHub compares case-blind
        return (same if operator == "==" else not same), tokens
    return left, tokens


def _unary(tokens, context):
    kind, value = tokens[0]
    if (kind, value) == ("op", "!"):
        operand, rest = _unary(tokens[1:], context)
        return not operand, rest
    if (kind, value) == ("op", "("):
        inner, rest = _or(tokens[1:], context)
        if not rest or rest[0] != ("op", ")"):
            raise ExpressionError("unbalanced parentheses")
        return inner, rest[1:]
    if kind == "str":
        return value.replace("''", "'"), tokens[1:]
    if kind == "call":  # format('{0}/x', a, ...), GitHub's only function with arguments here
        arguments, rest = [], tokens[1:]
        while True:
            argument, rest = _or(rest, context)
            arguments.append(argument)
            if not rest or rest[0] not in (("op", ","), ("op", ")")):
                raise ExpressionError("unbalanced format()")
            if rest[0] == ("op", ")"):
                break
            rest = rest[1:]
        template, *values = arguments
        text = re.sub(r"\{(\d+)\}", lambda m: _text(values[int(m.group(1))]), str(template))
        return text, rest[1:]
    if kind == "fn":
        functions = context["functions"]
        if value not in functions:
            raise ExpressionError(f"unknown function {value}()")
        return functions[value](), tokens[1:]
    if kind == "path":
        if value in ("true", "false"):
            return value == "true", tokens[1:]
        head, *parts = value.split(".")
        if head not in context or head == "functions":
            raise ExpressionError(f"unknown context {head} in {value}")
        node: Any = context[head]
        for part in parts:  # like GitHub: a missing property is null, shown as ''
            node = node.get(part) if isinstance(node, dict) else None
        return node, tokens[1:]
    raise ExpressionError(f"unexpected {value!r}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def substitute(text: Any, context: dict[str, Any]) -> str:
    if not isinstance(text, str):
        return "" if text is None else str(text).lower() if isinstance(text, bool) else str(text)

    def one(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), context)
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def parse_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT (and GITHUB_ENV) as the runner reads them: NAME=value or NAME<<DELIM."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n") if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, marker = line.split("<<", 1)
            body = []
            while index < len(lines) and lines[index] != marker:
                body.append(lines[index])
                index += 1
            if index >= len(lines):
                raise AssertionError(f"{path}: no closing delimiter for {name}")
            index += 1
            values[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            values[name] = value
    return values


# --- the runner -----------------------------------------------------------------------------


@dataclass
class Runner:
    """One job's state: its environment, PATH additions and working files."""

    workspace: Path
    temp: Path
    env: dict[str, str]
    logs: list[str] = field(default_factory=list)
    path_additions: list[str] = field(default_factory=list)
    exported: list[tuple[str, str]] = field(default_factory=list)  # GITHUB_ENV, in order

    def github_context(self) -> dict[str, Any]:
        return {"token": self.env.get("GITHUB_TOKEN", ""), "workspace": str(self.workspace)}


@dataclass
class ActionRun:
    outputs: dict[str, str]
    outcome: str
    steps: dict[str, dict[str, Any]]


_counter = iter(range(1_000_000))


def run_action(runner: Runner, action_dir: Path, given: dict[str, str]) -> ActionRun:
    """Run a composite action's steps as the runner would; return its outputs and outcome."""
    action = load(action_dir / "action.yml")
    context: dict[str, Any] = {
        "github": runner.github_context(),
        "runner": {"temp": str(runner.temp), "os": "Linux", "arch": "X64"},
    }
    declared = action.get("inputs") or {}
    unknown = set(given) - set(declared)
    assert not unknown, f"{action_dir}: inputs {unknown} are not declared"
    inputs = {
        name: given[name] if name in given else substitute(spec.get("default", ""), context)
        for name, spec in declared.items()
    }
    steps: dict[str, dict[str, Any]] = {}
    context.update(inputs=inputs, steps=steps, env=runner.env)
    failed = _run_steps(runner, action["runs"]["steps"], context, action_dir)
    outputs = {
        name: substitute(spec.get("value", ""), context)
        for name, spec in (action.get("outputs") or {}).items()
    }
    return ActionRun(outputs, "failure" if failed else "success", steps)


def _run_steps(
    runner: Runner, step_list: list[dict[str, Any]], context: dict[str, Any], step_dir: Path
) -> bool:
    """Run steps in order with GitHub's status rules; True when one of them failed."""
    steps = context["steps"]
    failed = False
    context["functions"] = {
        "success": lambda: not failed,
        "failure": lambda: failed,
        "always": lambda: True,
        "cancelled": lambda: False,
    }
    for step in step_list:
        if not _condition(step.get("if"), context):
            if "id" in step:
                steps[step["id"]] = {"outputs": {}, "outcome": "skipped"}
            continue
        env = {name: substitute(value, context) for name, value in step.get("env", {}).items()}
        if "uses" in step:
            with_ = {k: substitute(v, context) for k, v in (step.get("with") or {}).items()}
            outputs, ok = _uses_step(runner, step["uses"], with_, env)
        else:
            directory = substitute(step.get("working-directory", "."), context)
            outputs, ok = _run_step(runner, step_dir, step["run"], env, directory)
        failed = failed or not ok
        if "id" in step:
            steps[step["id"]] = {"outputs": outputs, "outcome": "success" if ok else "failure"}
    return failed


def _condition(condition: Any, context: dict[str, Any]) -> bool:
    text = str(condition if condition is not None else "success()").strip()
    if text.startswith("${{"):
        text = text[3:-2]
    if not re.search(r"\b(success|failure|always|cancelled)\(\)", text):
        text = f"success() && ({text})"  # GitHub's implicit status check
    return bool(evaluate(text, context))


def run_job(
    runner: Runner,
    workflow_path: Path,
    job_name: str,
    *,
    event_name: str,
    event: dict[str, Any],
    inputs: dict[str, Any] | None = None,
) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run one job of a reusable workflow (on: workflow_call): (ran, steps) of the job."""
    workflow = load(workflow_path)
    call = workflow[True]["workflow_call"]
    declared = call.get("inputs") or {}
    values = {name: spec.get("default", "") for name, spec in declared.items()}
    values.update(inputs or {})
    job = workflow["jobs"][job_name]
    steps: dict[str, dict[str, Any]] = {}
    context: dict[str, Any] = {
        "github": {
            **runner.github_context(),
            "event_name": event_name,
            "event": event,
            "repository": runner.env["GITHUB_REPOSITORY"],
        },
        "runner": {"temp": str(runner.temp), "os": "Linux", "arch": "X64"},
        "inputs": values,
        "secrets": {},  # a pull request from a fork gets none
        "steps": steps,
        "env": {},
        "functions": {"success": lambda: True, "always": lambda: True},
    }
    if "if" in job and not _condition(job["if"], context):
        return False, steps
    job_env = {name: substitute(value, context) for name, value in (job.get("env") or {}).items()}
    context["env"] = job_env
    runner.env.update(job_env, GITHUB_EVENT_NAME=event_name)
    event_path = runner.temp / f"event-{next(_counter)}.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    runner.env["GITHUB_EVENT_PATH"] = str(event_path)
    failed = _run_steps(runner, job["steps"], context, runner.workspace)
    steps["_job"] = {"outcome": "failure" if failed else "success", "outputs": {}}
    return True, steps


def _uses_step(
    runner: Runner, uses: str, with_: dict[str, str], env: dict[str, str]
) -> tuple[dict[str, str], bool]:
    if uses.startswith("$/"):  # this repository at the running commit
        saved, exported_before = dict(runner.env), len(runner.exported)
        runner.env.update(env)  # a step's env reaches the composite action's steps
        try:
            nested = run_action(runner, (ROOT / uses[2:]).resolve(), with_)
        finally:
            # The step's env ends with the step; what its steps wrote to GITHUB_ENV stays
            # for the rest of the job.
            runner.env = {**saved, **dict(runner.exported[exported_before:])}
        return nested.outputs, nested.outcome == "success"
    name = uses.split("@", 1)[0]
    if name == "actions/setup-python":
        # Only the interpreter's path comes back: like the real action with
        # update-environment false, nothing reaches the job's PATH or environment.
        assert with_.get("update-environment") == "false", "setup-python changes PATH"
        return {
            "python-path": sys.executable,
            "python-version": platform.python_version(),
        }, True
    if name == "actions/cache":
        # "Restore" the cache: the machine's warm uv cache, as a hit would on a runner.
        target = Path(with_["path"])
        warm = subprocess.run(["uv", "cache", "dir"], capture_output=True, text=True, check=True)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(warm.stdout.strip(), target_is_directory=True)
        assert with_["key"].startswith("mlgate-uv-Linux-X64-py")
        return {"cache-hit": "true"}, True
    caches = runner.temp / "_caches"  # the Actions cache: one folder per key
    if name == "actions/cache/restore":
        keys = [with_["key"], *with_.get("restore-keys", "").split()]
        found = [c for c in caches.glob("*") if c.name == keys[0]]
        for prefix in keys[1:]:  # else the newest entry whose key starts with a restore key
            found = found or sorted(
                (c for c in caches.glob("*") if c.name.startswith(prefix)),
                key=lambda c: c.stat().st_mtime_ns,
                reverse=True,
            )
        if found:  # a relative path is the workspace's, as actions/cache reads it
            shutil.copytree(found[0], runner.workspace / with_["path"], dirs_exist_ok=True)
        matched = found[0].name if found else ""
        hit = "true" if matched == keys[0] else "false"
        return {"cache-hit": hit, "cache-primary-key": keys[0], "cache-matched-key": matched}, True
    if name == "actions/cache/save":
        entry = caches / with_["key"]
        assert not entry.exists(), f"cache key {with_['key']} saved twice (GitHub refuses it)"
        shutil.copytree(runner.workspace / with_["path"], entry)
        return {}, True
    artifacts = runner.temp / "_artifacts"
    if name == "actions/checkout":
        # The caller's repository: the example, already in the workspace; no credentials kept.
        assert with_.get("persist-credentials") == "false"
        assert (runner.workspace / "mlgate.yaml").is_file()
        return {}, True
    if name == "actions/upload-artifact":
        target = artifacts / with_["name"]
        assert not target.exists(), f"artifact {with_['name']} uploaded twice"
        source = Path(with_["path"])
        if not source.is_dir() or not any(source.iterdir()):
            return {}, with_.get("if-no-files-found") != "error"
        shutil.copytree(source, target)
        return {"artifact-id": str(next(_counter))}, True
    if name == "actions/download-artifact":
        assert with_["run-id"]  # the triggering run's artifact, with a token that may read it
        assert with_["github-token"]
        source = artifacts / with_["name"]
        if not source.is_dir():
            return {}, False
        shutil.copytree(source, Path(with_["path"]), dirs_exist_ok=True)
        return {"download-path": with_["path"]}, True
    raise AssertionError(f"no stand-in for the action {uses}")


def _run_step(
    runner: Runner, action_dir: Path, script: str, env: dict[str, str], directory: str
) -> tuple[dict[str, str], bool]:
    number = next(_counter)
    files = {
        name: runner.temp / "_runner_file_commands" / f"{name.lower()}_{number}"
        for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
    full_env = {
        **runner.env,
        **env,
        **{name: str(path) for name, path in files.items()},
        "GITHUB_ACTION_PATH": str(action_dir),
        "PATH": os.pathsep.join([*reversed(runner.path_additions), runner.env["PATH"]]),
    }
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=runner.workspace / directory,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one log, in the order lines were written, as the runner's
        text=True,
        timeout=300,
    )
    runner.logs.append(f"$ {script}\n{completed.stdout}[exit {completed.returncode}]")
    exported = parse_outputs(files["GITHUB_ENV"])
    runner.exported.extend(exported.items())
    runner.env.update(exported)
    added = files["GITHUB_PATH"].read_text(encoding="utf-8").split()
    runner.path_additions.extend(added)
    return parse_outputs(files["GITHUB_OUTPUT"]), completed.returncode == 0
