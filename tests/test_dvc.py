"""DVC-tracked data: fetched from the DVC remote when missing, checked against its pointer's
md5, and recorded (md5, remote, pointer commit) in validate.json, the card and lineage.

Real DVC repos made in tmp (git init, DVC's Python API for init/add/push): a local folder
as the remote for the quick tests, the moto S3 server for the run that trains and registers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import start_moto_server
from fastrepo import latest_run, make_fast

pytestmark = [
    # DVC's own calls in these tests (init, add, push) meet a notice from a library under it.
    pytest.mark.filterwarnings("ignore:_NoneStep.value will soon:DeprecationWarning"),
    # dvc-http leaves its aiohttp session unclosed (an https remote below): collected at
    # the end of each test (see _dvc_quiet), it says so.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*ClientSession:pytest.PytestUnraisableExceptionWarning"
    ),
]

MODEL = "production-churn-model"
TRAIN = "data/train.csv"


@pytest.fixture(autouse=True)
def _dvc_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """DVC's per-machine index cache in the test's own folder, not /var/tmp; its log lines
    kept from the streams pytest captures (DVC binds its handlers to them when imported);
    what a remote's filesystem left for the garbage collector collected here, not in
    another module's test."""
    import gc

    from mlgate._dvc import _quiet_dvc

    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site-cache"))
    with _quiet_dvc():
        yield
    gc.collect()


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _dvc_repo(root: Path, remote: str) -> None:
    """`root` as a git repo with DVC in it and `remote` as DVC's default remote."""
    from dvc.repo import Repo

    (root / ".gitignore").write_text(".mlgate/\n")
    _git(root, "init", "-q")
    with Repo.init(str(root)) as repo, repo.config.edit() as conf:
        conf["remote"]["storage"] = {"url": remote}
        conf["core"]["remote"] = "storage"


def _track(root: Path, *also: str, push: bool = True) -> str:
    """`dvc add data/train.csv` (and `also`; and push), committed; the train file's md5."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        for name in (TRAIN, *also):
            repo.add(str(root / name))
        if push:
            repo.push()
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "data tracked by DVC")
    return _md5(root / TRAIN)


def _forget(root: Path, *relative: str) -> None:
    """The workspace files and the local DVC cache gone: only the remote holds the data."""
    for name in relative:
        (root / name).unlink()
    shutil.rmtree(root / ".dvc" / "cache", ignore_errors=True)


def test_a_missing_file_is_fetched_from_the_dvc_remote_and_its_md5_recorded(
    churn_repo: Path, cli, tmp_path: Path
) -> None:
    remote = tmp_path / "dvc-remote"
    _dvc_repo(churn_repo, str(remote))
    # The drift reference, a data file the config names too, is fetched the same way.
    reference = "data/reference.csv"
    shutil.copyfile(churn_repo / TRAIN, churn_repo / reference)
    config = churn_repo / "mlgate.yaml"
    text = config.read_text().replace(
        "\nvalidation:\n", "\nvalidation:\n  drift: {reference: data/reference.csv}\n", 1
    )
    config.write_text(text)
    md5 = _track(churn_repo, reference)
    commit = _git(churn_repo, "log", "-1", "--format=%H", "--", f"{TRAIN}.dvc")
    _forget(churn_repo, TRAIN, reference)

    outcome = cli("validate", str(churn_repo), "--json", cwd=churn_repo)

    assert outcome.code == 0, outcome.err
    assert _md5(churn_repo / TRAIN) == md5  # fetched back into the workspace
    assert _md5(churn_repo / reference) == md5
    files = json.loads((latest_run(churn_repo) / "validate.json").read_text())["files"]
    assert files["training"]["dvc"] == {
        "pointer": f"{TRAIN}.dvc",
        "md5": md5,
        "remote": str(remote),
        "commit": commit,
    }
    assert "dvc" not in files["validation"]  # not tracked: the record keeps its old keys


def test_a_workspace_file_that_differs_from_its_pointer_is_exit_2_naming_both(
    churn_repo: Path, cli, tmp_path: Path
) -> None:
    _dvc_repo(churn_repo, str(tmp_path / "dvc-remote"))
    recorded = _track(churn_repo, push=False)
    train = churn_repo / TRAIN
    lines = train.read_text().splitlines(keepends=True)
    train.write_text("".join(lines[:-1]))  # a row dropped after `dvc add`

    outcome = cli("run", str(churn_repo), cwd=churn_repo)

    assert outcome.code == 2, outcome.err
    (line,) = [line for line in outcome.error_lines if "mlgate: error:" in line]
    assert line.startswith("mlgate: error: data/train.csv: ")
    assert f"that {TRAIN}.dvc records" in line
    assert recorded in line
    assert _md5(train) in line
    assert f"`dvc pull {TRAIN}`" in line
    assert f"`dvc add {TRAIN}`" in line
    assert "Traceback" not in outcome.err


def test_a_file_the_remote_lacks_is_exit_2_and_a_redacted_remote_is_recorded(
    churn_repo: Path, cli
) -> None:
    from mlgate import _dvc

    remote = "https://user:s3cret@dvc.example.com/store?token=abc"
    _dvc_repo(churn_repo, remote)
    md5 = _track(churn_repo, push=False)
    (churn_repo / f"{TRAIN}.dvc").write_text(  # changed since its commit
        (churn_repo / f"{TRAIN}.dvc").read_text() + "# reviewed\n"
    )

    tracked = _dvc.resolve(churn_repo / TRAIN)

    assert tracked is not None
    assert tracked.md5 == md5
    assert tracked.remote == "https://dvc.example.com/store?token=***"
    assert tracked.commit is None  # the pointer's last commit does not hold what is there now

    _forget(churn_repo, TRAIN)
    outcome = cli("validate", str(churn_repo), cwd=churn_repo)
    assert outcome.code == 2, outcome.err
    assert f"its md5 {md5} ({TRAIN}.dvc) is neither in the local DVC cache" in outcome.err
    assert "s3cret" not in outcome.err


def test_a_broken_pointer_is_exit_2_naming_the_data_file_and_the_pointer(
    churn_repo: Path, cli, tmp_path: Path
) -> None:
    _dvc_repo(churn_repo, str(tmp_path / "dvc-remote"))
    pointer = churn_repo / f"{TRAIN}.dvc"
    broken = {
        "outs: [\n": "DVC cannot read data/train.csv.dvc: unable to read",
        "- just a list\n": "DVC cannot read data/train.csv.dvc:",
        "outs:\n- path: other.csv\n  md5: abc\n": "csv: data/train.csv.dvc names it, but",
        "outs:\n- path: train.csv\n": "data/train.csv.dvc records no md5 for it; run `dvc add`",
    }
    for text, words in broken.items():
        pointer.write_text(text)
        outcome = cli("validate", str(churn_repo), cwd=churn_repo)
        assert outcome.code == 2, (text, outcome.err)
        (line,) = [line for line in outcome.error_lines if "mlgate: error:" in line]
        assert line.startswith("mlgate: error: data/train.csv: "), line
        assert words in line, (text, line)
        assert "Traceback" not in outcome.err


def test_a_remote_whose_dvc_plugin_is_missing_is_exit_2_naming_it(churn_repo: Path, cli) -> None:
    # dvc-gs is not among mlgate's extras: DVC cannot reach a gs:// remote here.
    if importlib.util.find_spec("dvc_gs") is not None:
        pytest.skip("dvc-gs is installed")
    _dvc_repo(churn_repo, "gs://dvc-bucket/store")
    _track(churn_repo, push=False)
    _forget(churn_repo, TRAIN)

    outcome = cli("validate", str(churn_repo), cwd=churn_repo)

    assert outcome.code == 2, outcome.err
    (line,) = [line for line in outcome.error_lines if "mlgate: error:" in line]
    assert "the DVC remote gs://dvc-bucket/store cannot be read here" in line
    assert "'dvc-gs'" in line
    assert "Traceback" not in outcome.err


def test_a_tracked_file_without_dvc_installed_is_exit_2_naming_the_key_and_the_extra(
    churn_repo: Path, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dvc_repo(churn_repo, str(tmp_path / "dvc-remote"))
    _track(churn_repo, push=False)
    monkeypatch.setitem(sys.modules, "dvc.repo", None)  # `from dvc.repo import ...` fails

    outcome = cli("run", str(churn_repo), cwd=churn_repo)

    assert outcome.code == 2, outcome.err
    assert "data.training_data_path" in outcome.err
    assert f"{TRAIN} is tracked by DVC (train.csv.dvc)" in outcome.err
    assert "pip install 'mlgate[dvc]'" in outcome.err
    assert "extras: true" in outcome.err


@pytest.mark.slow
def test_dvc_data_on_s3_is_fetched_trained_on_and_shown_by_lineage(
    churn_repo: Path, cli, s3_bucket, s3_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training file a `.dvc` pointer tracks and the validation file a `dvc.lock`
    stage outputs, both only in a DVC remote on S3 (moto), reached through the AWS
    settings mlgate honours for its own s3:// sources (AWS_ENDPOINT_URL_S3, ...)."""
    from dvc.repo import Repo

    make_fast(churn_repo)
    remote = f"s3://{s3_bucket.name}/dvcstore"
    _dvc_repo(churn_repo, remote)
    (churn_repo / "raw").mkdir()
    shutil.move(churn_repo / "data" / "validation.csv", churn_repo / "raw" / "validation.csv")
    monkeypatch.chdir(churn_repo)  # the stage's paths are relative to it
    with Repo(str(churn_repo)) as repo:
        repo.stage.add(
            name="holdout",
            cmd="cp raw/validation.csv data/validation.csv",
            deps=["raw/validation.csv"],
            outs=["data/validation.csv"],
        )
        repo.reproduce()
    md5 = {"training": _track(churn_repo), "validation": _md5(churn_repo / "data/validation.csv")}
    commits = {
        name: _git(churn_repo, "log", "-1", "--format=%H", "--", name)
        for name in (f"{TRAIN}.dvc", "dvc.lock")
    }
    stored = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name, Prefix="dvcstore/")
    assert len(stored["Contents"]) == 2  # both files are in the remote, nowhere else
    _forget(churn_repo, TRAIN, "data/validation.csv")

    outcome = cli("run", str(churn_repo), "--json", cwd=churn_repo)

    assert outcome.code == 0, outcome.err
    assert _md5(churn_repo / TRAIN) == md5["training"]
    run_dir = latest_run(churn_repo)
    files = json.loads((run_dir / "validate.json").read_text())["files"]
    assert files["training"]["dvc"] == {
        "pointer": f"{TRAIN}.dvc",
        "md5": md5["training"],
        "remote": remote,
        "commit": commits[f"{TRAIN}.dvc"],
    }
    assert files["validation"]["dvc"]["pointer"] == "dvc.lock"
    assert files["validation"]["dvc"]["md5"] == md5["validation"]
    assert files["validation"]["dvc"]["commit"] == commits["dvc.lock"]
    card = (run_dir / "model_card.md").read_text()
    assert f"| DVC md5 | `{md5['training']}` |" in card
    assert f"| DVC remote | `{remote}` |" in card

    lineage = cli("lineage", f"{MODEL}:1", "--config", "mlgate.yaml", cwd=churn_repo)
    assert lineage.code == 0, lineage.err
    assert f"    dvc md5: {md5['training']}\n" in lineage.out
    assert f"    dvc pointer: {TRAIN}.dvc (commit {commits[f'{TRAIN}.dvc']})\n" in lineage.out
    assert f"    dvc remote: {remote}\n" in lineage.out
    assert f"    dvc md5: {md5['validation']}\n" in lineage.out
    record = json.loads(
        cli("lineage", f"{MODEL}:1", "--config", "mlgate.yaml", "--json", cwd=churn_repo).out
    )
    assert record["data"]["training"]["dvc_md5"] == md5["training"]
    assert record["data"]["validation"]["dvc_pointer"] == "dvc.lock"

    # Fetched again into an empty workspace: the same bytes, so every stage is reused.
    _forget(churn_repo, TRAIN, "data/validation.csv")
    again = cli("run", str(churn_repo), "--json", cwd=churn_repo)
    assert again.code == 0, again.err
    stages = json.loads(again.out)["stages"]
    assert [stage["cache"]["reused"] for stage in stages] == [True] * len(stages)


@pytest.mark.slow
def test_a_remote_that_refuses_access_is_exit_2_and_one_that_is_down_exit_3(
    churn_repo: Path, cli, tmp_path: Path, s3_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DVC remote on an S3 server that checks credentials (moto asking for them from the
    first request) refuses the fetch: the user's to fix. A server that is gone: a service's."""
    _dvc_repo(churn_repo, "s3://dvc-bucket/store")
    _track(churn_repo, push=False)
    _forget(churn_repo, TRAIN)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # s3_env's credentials, this test's server

    with start_moto_server(tmp_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        refused = cli("validate", str(churn_repo), cwd=churn_repo)
    down = cli("validate", str(churn_repo), cwd=churn_repo)  # the same endpoint, now closed

    assert refused.code == 2, refused.err
    assert "the DVC remote s3://dvc-bucket/store refused to give it" in refused.err
    assert "(403)" in refused.err
    assert down.code == 3, down.err
    assert "from the DVC remote s3://dvc-bucket/store failed" in down.err
