"""Promotion end to end: a real MLflow server (SQLite backend, S3 artifact store on moto).

The example is trained and registered twice through the server, as two pushes to
main with different parameters; then promoted, canaried, rolled back and loaded
again by `models:/NAME@production`. Other tests register copies of those versions
under their own model names, so that each has its own ledger.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import EXAMPLE, s3_client, start_mlflow_server
from mlgate.promotion.ledger import CLAIM_PREFIX, HEAD_TAG, Ledger

pytestmark = pytest.mark.slow

MODEL = "production-churn-model"
ROOT = Path(__file__).resolve().parents[1]


class Server:
    def __init__(self, url: str, bucket: str, s3: object, repo: Path, log: Path) -> None:
        self.url = url
        self.bucket = bucket
        self.s3 = s3
        self.repo = repo
        self.log = log

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.url)

    def ledger(self, model: str = MODEL) -> Ledger:
        return Ledger.from_tags(self.client().get_registered_model(model).tags)

    def aliases(self, model: str = MODEL) -> dict[str, str]:
        return {a: str(v) for a, v in self.client().get_registered_model(model).aliases.items()}

    def copy_version(self, model: str, source_version: str, **tag_changes: str | None) -> str:
        """Register the model of MODEL v`source_version` under `model`, tags changed."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        original = client.get_model_version(MODEL, source_version)
        tags = {**original.tags, **tag_changes}
        tags = {k: v for k, v in tags.items() if v is not None}
        with contextlib.suppress(MlflowException):
            client.create_registered_model(model)
        # A registered version as the source: the server takes its run and logged model.
        version = client.create_model_version(
            model,
            source=f"models:/{MODEL}/{source_version}",
            run_id=original.run_id,
            tags=tags,
        )
        return str(version.version)


def _push_env(repo: Path, run_id: str, actor: str) -> dict[str, str]:
    event = repo.parent / f"push-{run_id}.json"
    event.write_text(
        json.dumps({"ref": "refs/heads/main", "repository": {"default_branch": "main"}})
    )
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/churn",
        "GITHUB_RUN_ID": run_id,
        "GITHUB_ACTOR": actor,
    }


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _edit(config: Path, change) -> None:
    data = yaml.safe_load(config.read_text())
    change(data)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _quick(data: dict) -> None:
    """Fewer trees and bootstrap rounds: the same pipeline, in seconds rather than minutes."""
    data["model"]["params"].update(n_estimators=60, max_depth=3)
    data.setdefault("evaluation", {}).update(noise_aware=False, bootstrap={"n": 50})
    data.setdefault("fairness", {})["n_boot"] = 0
    data.setdefault("validation", {})["drift"] = {"enabled": False}


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "MLFLOW_", "AWS_", "PYTEST_"))
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3_server: str):
    """An MLflow server storing artifacts in S3 (moto), with MODEL v1 and v2 registered."""
    root = tmp_path_factory.mktemp("promotion-server")
    s3 = s3_client(s3_server)
    bucket = f"mlflow-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    env = {
        "MLFLOW_S3_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with start_mlflow_server(root, artifacts=f"s3://{bucket}/mlflow", env=env) as url:
        repo = root / "churn"
        shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
        _edit(repo / "mlgate.yaml", _quick)
        _git(repo, "init", "-q")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "first model")
        _register(repo, url, run_id="101", actor="alice")
        _edit(repo / "mlgate.yaml", lambda c: c["model"]["params"].update(n_estimators=80))
        _git(repo, "commit", "-q", "-am", "more trees")
        _register(repo, url, run_id="102", actor="bob")
        yield Server(url, bucket, s3, repo, root / "server.log")


def _register(repo: Path, url: str, *, run_id: str, actor: str) -> None:
    env = {**_clean_env(), **_push_env(repo, run_id, actor), "MLFLOW_TRACKING_URI": url}
    env["GITHUB_SHA"] = _git(repo, "rev-parse", "HEAD")
    completed = subprocess.run(
        [sys.executable, "-m", "mlgate", "run"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "registered" in completed.stdout


@pytest.fixture
def mlgate(cli, monkeypatch: pytest.MonkeyPatch, server: Server, tmp_path: Path):
    """`mlgate ARGS` in-process against the server, as GitHub user `actor` in run `run_id`."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)

    def run(*args: str, actor: str = "octocat", run_id: str = "900"):
        monkeypatch.setenv("GITHUB_ACTOR", actor)
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
        monkeypatch.setenv("GITHUB_RUN_ID", run_id)
        return cli(*args, cwd=tmp_path)

    return run


def test_promote_canary_rollback_and_load_again(server: Server, mlgate) -> None:
    first = mlgate(
        "promote",
        MODEL,
        "--version",
        "1",
        "--to",
        "production",
        "--reason",
        "first release",
        actor="alice",
        run_id="201",
    )
    canary = mlgate(
        "promote",
        MODEL,
        "--version",
        "2",
        "--canary",
        "10",
        "--reason",
        "try more trees",
        actor="bob",
        run_id="202",
    )
    assert first.code == 0, first.err
    assert canary.code == 0, canary.err
    assert server.aliases() == {"candidate": "2", "production": "1", "canary": "2"}
    assert server.client().get_registered_model(MODEL).tags["mlgate.canary.percent"] == "10"

    full = mlgate(
        "promote",
        MODEL,
        "--from",
        "canary",
        "--to",
        "production",
        "--reason",
        "canary looked good",
        actor="carol",
        run_id="203",
    )
    assert full.code == 0, full.err
    assert "cleared canary" in full.out
    assert server.aliases() == {"candidate": "2", "production": "2"}
    assert "mlgate.canary.percent" not in server.client().get_registered_model(MODEL).tags

    back = mlgate("rollback", MODEL, "--reason", "latency regression", actor="dave", run_id="204")
    assert back.code == 0, back.err
    assert "production: v2 → v1 (rolled back" in back.out
    assert server.aliases()["production"] == "1"

    book = server.ledger()
    moves = [
        (e.kind, e.alias, e.from_version, e.to_version, e.actor, e.reason) for e in book.entries
    ]
    assert moves == [
        ("promote", "production", None, "1", "alice", "first release"),
        ("promote", "canary", None, "2", "bob", "try more trees"),
        ("promote", "production", "1", "2", "carol", "canary looked good"),
        ("rollback", "production", "2", "1", "dave", "latency regression"),
    ]
    assert book.entries[1].canary_percent == 10
    assert book.entries[2].cleared == ("canary",)
    assert book.entries[3].reverts == 3
    assert book.entries[0].run_url == "https://github.com/acme/churn/actions/runs/201"
    assert book.entries[0].gates["evaluation"] == "passed"
    assert book.head == 4
    assert book.claims == ()  # every claim was resolved by its entry

    # A second rollback has nothing before v1 to go back to.
    again = mlgate("rollback", MODEL)
    assert again.code == 2
    assert "nothing to roll back to" in again.err

    import mlflow.pyfunc

    mlflow.set_tracking_uri(server.url)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@production")
    rows = pd.read_csv(server.repo / "data" / "validation.csv").head(50)
    predicted = model.predict(rows.drop(columns=["customer_id", "gender", "age", "churned"]))
    assert set(predicted) <= {"yes", "no"}
    stored = server.s3.list_objects_v2(Bucket=server.bucket, Prefix="mlflow/")
    assert any(item["Key"].endswith("MLmodel") for item in stored.get("Contents", []))

    # The audit questions, answered from the registry alone.
    text = mlgate("lineage", f"{MODEL}@production")
    assert text.code == 0, text.err
    v1 = server.client().get_model_version(MODEL, "1")
    for expected in (
        "actor: alice",  # who trained it
        f"commit: {v1.tags['mlgate.git.commit']}",  # what code
        "workflow run: https://github.com/acme/churn/actions/runs/101",
        v1.tags["mlgate.data.training.sha256"],  # what data
        "evaluation: passed",  # gate figures
        "fairness: passed",
        "gender demographic_parity_difference",
        "roc_auc",
        "promote production (unset → v1) by alice: first release",  # when promoted, by whom
        "rollback production (v2 → v1) by dave: latency regression",
    ):
        assert expected in text.out, expected
    as_json = mlgate("lineage", f"{MODEL}@production", "--json")
    record = json.loads(as_json.out)
    assert record["version"] == "1"
    assert record["complete"] is True
    assert record["data"]["training"]["uri"].endswith("data/train.csv")
    assert float(record["gates"]["metrics"]["roc_auc"]) > 0.8
    assert [p["seq"] for p in record["promotions"]] == [1, 4]


def test_a_promotion_already_done_still_names_the_version(
    server: Server, mlgate, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A re-dispatched promotion changes nothing but still outputs the alias's version."""
    from actions_harness import parse_outputs

    model = "settled-churn"
    version = server.copy_version(model, "1")

    def promote(name: str, *extra: str) -> tuple[object, dict[str, str]]:
        outputs = tmp_path / f"{name}.out"
        monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
        done = mlgate("promote", model, "--version", version, "--to", "staging", *extra)
        assert done.code == 0, done.err
        return done, parse_outputs(outputs)

    _, first = promote("first")
    again, second = promote("again", "--json")

    assert first == {
        "changed": "true",
        "version": version,
        "previous-version": "",
        "ledger-seq": "1",
        "deployment-id": "",
    }
    assert second == {
        "changed": "false",
        "version": version,
        "previous-version": version,  # it pointed there before as well: not unset
        "ledger-seq": "",  # no move, no ledger entry
        "deployment-id": "",
    }
    result = json.loads(again.out)
    assert result["changed"] is False
    assert (result["alias"], result["version"], result["previous_version"]) == (
        "staging",
        version,
        version,
    )
    assert result["entry"] is None
    assert len(server.ledger(model).entries) == 1


def test_failed_gates_are_refused_and_force_needs_a_reason(server: Server, mlgate) -> None:
    model = "gated-churn"
    good = server.copy_version(model, "1")
    failed_eval = server.copy_version(model, "1", **{"mlgate.gate.evaluation": "failed"})
    failed_fair = server.copy_version(model, "2", **{"mlgate.gate.fairness": "failed"})
    no_lineage = server.copy_version(model, "2", **{"mlgate.data.training.sha256": None})

    evaluation = mlgate("promote", model, "--version", failed_eval, "--to", "staging")
    fairness = mlgate("promote", model, "--version", failed_fair, "--to", "staging")
    lineage = mlgate("promote", model, "--version", no_lineage, "--to", "staging")
    unexplained = mlgate("promote", model, "--version", failed_eval, "--to", "staging", "--force")

    assert evaluation.code == 1
    assert f"refusing to promote {model} v{failed_eval} to staging" in evaluation.err
    assert "the evaluation gate failed" in evaluation.err
    assert fairness.code == 1
    assert "the fairness gate failed" in fairness.err
    assert lineage.code == 1
    assert "lineage incomplete: missing training data hash" in lineage.err
    assert unexplained.code == 2
    assert "--force needs --reason" in unexplained.err
    assert server.aliases(model) == {}
    assert "mlgate.ledger.head" not in server.client().get_registered_model(model).tags

    forced = mlgate(
        "promote",
        model,
        "--version",
        failed_eval,
        "--to",
        "staging",
        "--force",
        "--reason",
        "known issue, approved by risk",
        "--json",
    )
    assert forced.code == 0, forced.err
    result = json.loads(forced.out)
    assert result["entry"]["forced"] is True
    assert result["overridden"] == ["the evaluation gate failed"]
    assert server.ledger(model).entries[-1].reason == "known issue, approved by risk"
    assert mlgate("promote", model, "--version", good, "--to", "staging").code == 0


def test_bad_requests_exit_2_and_name_the_problem(server: Server, mlgate) -> None:
    missing = mlgate("promote", MODEL, "--version", "99", "--to", "staging")
    no_alias = mlgate("promote", MODEL, "--from", "staging", "--to", "production")
    bad_target = mlgate("promote", MODEL, "--version", "1", "--to", "prod")
    no_model = mlgate("lineage", "no-such-model@production")
    no_history = mlgate("rollback", MODEL, "--alias", "staging")

    assert missing.code == 2
    assert "has no version 99" in missing.err
    assert "versions: 1, 2" in missing.err
    assert no_alias.code == 2
    assert "alias staging of production-churn-model is not set" in no_alias.err
    assert bad_target.code == 2
    assert "allowed: staging, canary, production" in bad_target.err
    assert no_model.code == 2
    assert "no registered model named 'no-such-model'" in no_model.err
    assert no_history.code == 2
    assert "no promotion history for alias staging" in no_history.err


# Both processes import everything first, say so, and wait for the word to go: a busy
# machine may take any time to import, but the promotions themselves start together.
_AT_THE_SAME_MOMENT = """
import sys
import mlflow
from mlgate.cli import main
print("ready", flush=True)
sys.stdin.readline()
sys.exit(main(sys.argv[1:]))
"""


def test_two_promotions_at_the_same_moment_have_one_winner(server: Server) -> None:
    model = "raced-churn"
    first, second = server.copy_version(model, "1"), server.copy_version(model, "2")
    env = {**_clean_env(), "MLFLOW_TRACKING_URI": server.url}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _AT_THE_SAME_MOMENT,
                "promote",
                model,
                "--version",
                version,
                "--to",
                "production",
                "--reason",
                f"ship v{version}",
            ],
            env={**env, "GITHUB_ACTOR": f"user-{version}"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in (first, second)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        outcomes.append((process.returncode, out, err))

    codes = sorted(code for code, _, _ in outcomes)
    assert codes[0] == 0, outcomes
    assert codes[1] != 0, outcomes
    [(_, won_out, _)] = [o for o in outcomes if o[0] == 0]
    [(_, _, lost_err)] = [o for o in outcomes if o[0] != 0]
    assert "race" in lost_err or "in progress" in lost_err, lost_err
    assert "nothing was moved" in lost_err
    book = server.ledger(model)
    [entry] = book.entries
    assert server.aliases(model) == {"production": entry.to_version}
    assert f"→ v{entry.to_version}" in won_out
    assert entry.actor == f"user-{entry.to_version}"
    assert book.open_claim() is None


def test_a_server_that_stays_down_exits_3_and_leaves_the_ledger(
    server: Server, mlgate, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faultproxy import Fault, FaultProxy

    model = "unlucky-churn"
    version = server.copy_version(model, "1")
    assert mlgate("promote", model, "--version", version, "--to", "staging").code == 0
    before = server.client().get_registered_model(model).tags
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")

    with FaultProxy(server.url) as proxy:
        proxy.inject(Fault.respond(503, b"unavailable"), method="POST", times=None)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
        down = mlgate("promote", model, "--version", version, "--to", "production")
        writes = proxy.count("POST")
        after_down = book_tags(server, model), server.aliases(model)
        proxy.clear()
        # A server error that passes is retried by MLflow, and the promotion goes through.
        proxy.inject(Fault.respond(503, b"unavailable"), method="POST", times=1)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
        flaky = mlgate("promote", model, "--version", version, "--to", "production")

    assert down.code == 3
    assert "mlgate: error: MLflow at http://127.0.0.1:" in down.err
    assert writes >= 3  # the claim, retried by MLflow (and the abort's attempt)
    assert after_down == (before, {"staging": version})
    assert flaky.code == 0, flaky.err
    book = server.ledger(model)
    assert [(e.alias, e.to_version) for e in book.entries] == [
        ("staging", version),
        ("production", version),
    ]
    assert not any(key.startswith(CLAIM_PREFIX) for key in book_tags(server, model))
    assert book_tags(server, model)[HEAD_TAG] == "2"


def book_tags(server: Server, model: str) -> dict[str, str]:
    return server.client().get_registered_model(model).tags


def test_each_move_is_recorded_as_a_github_deployment(
    server: Server, mlgate, github_api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from github_fake_deployments import add_deployment_routes, deployments

    add_deployment_routes(github_api.fake)
    model = "deployed-churn"
    first, second = server.copy_version(model, "1"), server.copy_version(model, "2")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_promotionTestToken0123456789abcdef")
    monkeypatch.setenv("GITHUB_API_URL", github_api.url)
    monkeypatch.setenv("GITHUB_SHA", "6dcb09b5b57875f334f61aebed695e2e4193db5e")
    since = github_api.log_offset()

    promoted = mlgate("promote", model, "--version", first, "--to", "production", "--json")
    assert mlgate("promote", model, "--version", second, "--to", "production").code == 0
    rolled = mlgate("rollback", model, "--reason", "error rate up")

    assert promoted.code == 0, promoted.err
    assert rolled.code == 0, rolled.err
    assert github_api.violations(since) == []
    made = [d for d in deployments(github_api.fake) if d["payload"].get("model") == model]
    assert [(d["environment"], d["payload"]["version"], d["payload"]["kind"]) for d in made] == [
        ("production", first, "promote"),
        ("production", second, "promote"),
        ("production", first, "rollback"),
    ]
    assert all(d["_statuses"][-1]["state"] == "success" for d in made)
    assert made[0]["ref"] == "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert made[0]["production_environment"] is True
    assert json.loads(promoted.out)["deployment"]["id"] == made[0]["id"]

    # GitHub failing after the alias moved: exit 3, and the registry says what happened.
    github_api.fake.inject("POST", r"/repos/[^/]+/[^/]+/deployments", "502")
    broken = mlgate("promote", model, "--version", second, "--to", "staging")
    assert broken.code == 3
    assert "but recording the GitHub deployment failed" in broken.err
    assert "the registry and its ledger are up to date" in broken.err
    assert server.aliases(model)["staging"] == second
    assert server.ledger(model).entries[-1].alias == "staging"


def test_the_promote_action_passes_its_inputs_to_the_command(server: Server, tmp_path: Path):
    from actions_harness import Runner, run_action

    model = "actioned-churn"
    first, second = server.copy_version(model, "1"), server.copy_version(model, "2")
    workspace, temp = tmp_path / "workspace", tmp_path / "runner-temp"
    workspace.mkdir()
    temp.mkdir()
    runner = Runner(
        workspace=workspace,
        temp=temp,
        env={
            **_clean_env(),
            "PATH": os.pathsep.join(
                p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))
            ),
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTOR": "octocat",
            "GITHUB_REPOSITORY": "acme/churn",
            "GITHUB_RUN_ID": "77",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_STEP_SUMMARY": str(temp / "summary.md"),
            "MLFLOW_TRACKING_URI": server.url,
            "RUNNER_TEMP": str(temp),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
        },
    )
    action = ROOT / "actions" / "promote"

    canary = run_action(
        runner,
        action,
        {
            "model": model,
            "version": second,
            "target": "canary",
            "canary-percent": "25",
            "reason": "canary from the Actions tab",
            "github-token": "",
        },
    )
    production = run_action(
        runner,
        action,
        {
            "model": model,
            "from-alias": "canary",
            "target": "production",
            "reason": "all good",
            "github-token": "",
        },
    )
    both = run_action(
        runner,
        action,
        {
            "model": model,
            "version": first,
            "from-alias": "canary",
            "target": "staging",
            "github-token": "",
        },
    )

    log = "\n".join(runner.logs)
    assert canary.outcome == "success", log
    assert canary.outputs["version"] == second
    assert canary.outputs["ledger-seq"] == "1"
    assert production.outcome == "success", log
    assert production.outputs["changed"] == "true"
    assert production.outputs["previous-version"] == ""
    assert both.outcome == "failure"  # version and from-alias together: re-checked, refused
    assert "not allowed with argument" in runner.logs[-1]
    book = server.ledger(model)
    assert [(e.alias, e.to_version, e.canary_percent, e.run_url) for e in book.entries] == [
        ("canary", second, 25, "https://github.com/acme/churn/actions/runs/77"),
        ("production", second, None, "https://github.com/acme/churn/actions/runs/77"),
    ]
    assert server.aliases(model) == {"production": second}
    assert "canary from the Actions tab" in book.entries[0].reason
    assert "production: unset → v" in Path(runner.env["GITHUB_STEP_SUMMARY"]).read_text()


def test_promotion_requires_the_checklist_boxes_the_config_names(
    server: Server, mlgate, github_api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from github_fake_deployments import add_deployment_routes
    from github_fake_reviews import merge_pull

    model = "checklisted-churn"
    version = server.copy_version(model, "1")
    repo = tmp_path / "repo"
    shutil.copytree(server.repo, repo, ignore=shutil.ignore_patterns(".git", ".mlgate"))
    config = repo / "mlgate.yaml"
    _edit(config, lambda c: c.setdefault("promotion", {}).update(require_checklist=["code"]))

    refused = mlgate(
        "promote", model, "--version", version, "--to", "staging", "--config", str(config)
    )
    assert refused.code == 1, refused.err
    assert "checklist box 'code' is not ticked" in refused.err
    assert "not looked up without GITHUB_TOKEN" in refused.err
    assert "staging" not in server.aliases(model)

    # The version's commit merged by a pull request that alice approved: the box is ticked.
    commit = server.client().get_model_version(model, version).tags["mlgate.git.commit"]
    merge_pull(github_api.fake, sha=commit, number=7, author="bob", reviews=[("alice", "APPROVED")])
    add_deployment_routes(github_api.fake)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_checklistTestToken0123456789abcdef")
    monkeypatch.setenv("GITHUB_API_URL", github_api.url)
    since = github_api.log_offset()
    promoted = mlgate(
        "promote", model, "--version", version, "--to", "staging", "--config", str(config), "--json"
    )
    assert promoted.code == 0, promoted.err
    boxes = {box["key"]: box for box in json.loads(promoted.out)["checklist"]}
    assert boxes["code"]["ticked"]
    assert "pull request #7 merged, approved by alice" in boxes["code"]["evidence"]
    # Honest gaps: no image was built, and production holds nothing to roll back to.
    assert not boxes["environment"]["ticked"]
    assert not boxes["rollback"]["ticked"]
    assert boxes["registry"]["evidence"] == f"version {version}"
    assert server.aliases(model)["staging"] == version
    assert github_api.violations(since) == []


def _blue_green_config(server: Server, tmp_path: Path) -> Path:
    """The example's config with `blue` and `green` among the promotion aliases."""
    repo = tmp_path / "blue-green-repo"
    shutil.copytree(server.repo, repo, ignore=shutil.ignore_patterns(".git", ".mlgate"))
    config = repo / "mlgate.yaml"
    _edit(
        config,
        lambda c: c.setdefault("promotion", {}).update(
            aliases=["staging", "canary", "production", "blue", "green"]
        ),
    )
    return config


def test_blue_green_swap_is_one_move_shown_in_lineage_and_undone_by_rollback(
    server: Server, mlgate, github_api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from github_fake_deployments import add_deployment_routes, deployments

    model = "bluegreen-churn"
    old, new = server.copy_version(model, "1"), server.copy_version(model, "2")
    config = str(_blue_green_config(server, tmp_path))
    assert mlgate("promote", model, "--version", old, "--to", "blue", "--config", config).code == 0
    unset = mlgate("promote", model, "--swap", "blue", "green", "--config", config)
    assert unset.code == 2
    assert "alias green is not set" in unset.err
    assert mlgate("promote", model, "--version", new, "--to", "green", "--config", config).code == 0

    add_deployment_routes(github_api.fake)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_blueGreenTestToken0123456789abcdef")
    monkeypatch.setenv("GITHUB_API_URL", github_api.url)
    monkeypatch.setenv("GITHUB_SHA", "6dcb09b5b57875f334f61aebed695e2e4193db5e")
    since = github_api.log_offset()
    swapped = mlgate(
        "promote", model, "--swap", "blue", "green", "--reason", "go live", "--config", config,
        "--json",
    )  # fmt: skip
    assert swapped.code == 0, swapped.err
    assert server.aliases(model) == {"blue": new, "green": old}
    result = json.loads(swapped.out)
    assert (result["entry"]["kind"], result["entry"]["partner"]) == ("swap", "green")
    book = server.ledger(model)
    assert [(e.kind, e.alias, e.from_version, e.to_version) for e in book.entries][-1] == (
        "swap",
        "blue",
        old,
        new,
    )
    assert book.open_claim() is None

    lineage = mlgate("lineage", f"{model}:{old}")
    assert lineage.code == 0, lineage.err
    assert f"swap green (v{new} → v{old}) by octocat, swapped with blue: go live" in lineage.out
    moved = json.loads(mlgate("lineage", f"{model}@blue", "--json").out)["promotions"]
    assert [(p["kind"], p["alias"], p["partner"]) for p in moved] == [
        ("promote", "green", None),
        ("swap", "blue", "green"),
    ]

    again = mlgate("promote", model, "--swap", "green", "blue", "--config", config)
    assert again.code == 0, again.err  # swapped back by hand: a second swap entry
    assert server.aliases(model) == {"blue": old, "green": new}
    rolled = mlgate(
        "rollback", model, "--alias", "green", "--reason", "errors up", "--config", config
    )
    assert server.aliases(model) == {"blue": new, "green": old}  # the hand swap undone
    same = mlgate("promote", model, "--version", new, "--to", "green", "--config", config)
    noop = mlgate("promote", model, "--swap", "blue", "green", "--config", config)

    assert rolled.code == 0, rolled.err
    assert "(swap rolled back, ledger entry 5)" in rolled.out
    book = server.ledger(model)
    assert [(e.kind, e.alias, e.partner) for e in book.entries[2:]] == [
        ("swap", "blue", "green"),
        ("swap", "green", "blue"),
        ("rollback", "green", "blue"),
        ("promote", "green", None),
    ]
    assert book.entries[4].reverts == 4
    assert same.code == 0, same.err
    assert noop.code == 0, noop.err
    assert f"both point at v{new}; nothing to swap" in noop.out

    # One GitHub deployment per alias each swap moved, naming the other alias.
    assert github_api.violations(since) == []
    made = [d for d in deployments(github_api.fake) if d["payload"].get("model") == model]
    assert [
        (d["environment"], d["payload"]["version"], d["payload"]["kind"]) for d in made[:6]
    ] == [
        ("blue", new, "swap"),
        ("green", old, "swap"),
        ("green", new, "swap"),
        ("blue", old, "swap"),
        ("green", old, "rollback"),
        ("blue", new, "rollback"),
    ]
    assert made[0]["payload"]["swapped_with"] == "green"
    assert made[0]["payload"]["ledger_seq"] == made[1]["payload"]["ledger_seq"] == 3
    assert [d["id"] for d in result["deployments"]] == [made[0]["id"], made[1]["id"]]


def test_a_promotion_racing_a_swap_loses_cleanly(server: Server, tmp_path: Path) -> None:
    model = "raced-bluegreen-churn"
    old, new = server.copy_version(model, "1"), server.copy_version(model, "2")
    third = server.copy_version(model, "1")
    config = str(_blue_green_config(server, tmp_path))
    client = server.client()
    env = {**_clean_env(), "MLFLOW_TRACKING_URI": server.url}
    for alias, version in (("blue", old), ("green", new)):
        done = subprocess.run(
            [sys.executable, "-m", "mlgate", "promote", model, "--version", version, "--to",
             alias, "--config", config],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    commands = (
        ["promote", model, "--swap", "blue", "green", "--config", config],
        ["promote", model, "--version", third, "--to", "green", "--config", config],
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _AT_THE_SAME_MOMENT, *args],
            env={**env, "GITHUB_ACTOR": f"user-{n}"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, args in enumerate(commands)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        outcomes.append((process.returncode, out, err))

    assert sorted(code for code, _, _ in outcomes) == [0, 2], outcomes
    [(_, _, lost_err)] = [o for o in outcomes if o[0] != 0]
    assert "race" in lost_err or "in progress" in lost_err or "changed since" in lost_err
    assert "nothing was moved" in lost_err
    book = server.ledger(model)
    assert book.open_claim() is None
    last = book.entries[-1]
    assert len(book.entries) == 3
    if last.kind == "swap":
        assert server.aliases(model) == {"blue": new, "green": old}
    else:
        assert (last.alias, last.to_version) == ("green", third)
        assert server.aliases(model) == {"blue": old, "green": third}
    assert client.get_registered_model(model).tags["mlgate.ledger.head"] == "3"


def test_a_swap_whose_second_alias_write_fails_is_put_back(
    server: Server, mlgate, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from faultproxy import Fault, FaultProxy

    model = "halfswap-churn"
    old, new = server.copy_version(model, "1"), server.copy_version(model, "2")
    config = str(_blue_green_config(server, tmp_path))
    assert mlgate("promote", model, "--version", old, "--to", "blue", "--config", config).code == 0
    assert mlgate("promote", model, "--version", new, "--to", "green", "--config", config).code == 0
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    with FaultProxy(server.url) as proxy:
        # blue's write goes through; green's lands on the server but the answer is lost.
        proxy.inject(Fault.delay(0), method="POST", path_contains="/alias", times=1)
        proxy.inject(Fault.lose_answer(503, b"unavailable"), method="POST", path_contains="/alias")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
        broken = mlgate("promote", model, "--swap", "blue", "green", "--config", config)
        alias_writes = proxy.count("POST", "/alias")

    assert broken.code == 3, broken.err
    assert "the swap was undone: blue is back on" in broken.err
    assert alias_writes == 4  # blue, green (landed), then both written back
    assert server.aliases(model) == {"blue": old, "green": new}
    book = server.ledger(model)
    assert [e.kind for e in book.entries] == ["promote", "promote"]
    assert book.open_claim() is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    assert mlgate("promote", model, "--swap", "blue", "green", "--config", config).code == 0
    assert server.aliases(model) == {"blue": new, "green": old}
