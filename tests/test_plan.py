"""`mlgate plan`: the files each model depends on, and the models a change touches.

The dependency finder is tested on small repositories written here; the selection on
real git history: a copy of examples/monorepo committed, then changed commit by commit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from act_harness import git
from mlgate.monorepo import ModelFiles, matrix, model_files, plan_all, select, table
from mlgate.monorepo.depends import FILE_KEYS, dvc_lock_outputs
from mlgate.monorepo.discover import find_configs
from mlgate.monorepo.plan import safe_names

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "monorepo"

BASE_CONFIG = """\
data:
  training_data_path: data/train.csv
  validation_data_path: data/validation.csv
  feature_spec: configs/features.yaml
model:
  type: {model_type}
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def depends(root: Path, files: dict[str, str], config: str = "m/mlgate.yaml") -> ModelFiles:
    write(root, files)
    locks = dvc_lock_outputs(root, [name for name in files if name.endswith("dvc.lock")])
    return model_files(root, root / config, dvc_locks=locks)


def config(model_type: str = "GradientBoosting", extra: str = "") -> str:
    return BASE_CONFIG.format(model_type=model_type) + extra


# --- the dependency finder ------------------------------------------------------------------

OWN = {
    "m/mlgate.yaml",
    "m/data/train.csv",
    "m/data/validation.csv",
    "m/configs/features.yaml",
}


@pytest.mark.parametrize(
    ("files", "present", "absent"),
    [
        pytest.param(
            {"m/mlgate.yaml": config(), "m/model.py": "x = 1\n", "m/README.md": ""},
            OWN,
            {"m/model.py", "m/README.md"},
            id="short-name-needs-only-its-config-and-files",
        ),
        pytest.param(
            {
                "m/mlgate.yaml": config("model:build"),
                "m/model.py": "import os\nimport sklearn\nfrom common.features import f\n",
                "common/__init__.py": "",
                "common/features.py": "from . import helpers\nfrom .deep import inner\n",
                "common/helpers.py": "import json\n",
                "common/deep/__init__.py": "",
                "common/deep/inner.py": "from ..helpers import x\n",
                "common/unused.py": "",
            },
            {
                "m/model.py",
                "common/__init__.py",
                "common/features.py",
                "common/helpers.py",
                "common/deep/__init__.py",
                "common/deep/inner.py",
            },
            {"common/unused.py"},
            id="factory-and-what-it-imports-transitively-from-the-repository-root",
        ),
        pytest.param(
            {
                "m/mlgate.yaml": config("model:build", "  code_paths: [../libs/shared]\n"),
                "m/model.py": "import shared.core\n",
                "libs/shared/__init__.py": "",
                "libs/shared/core.py": "import importlib\nimportlib.import_module('shared.x')\n",
                "libs/shared/x.py": "",
                "libs/other.py": "",
            },
            {"libs/shared/__init__.py", "libs/shared/core.py", "libs/shared/x.py"},
            {"libs/other.py"},
            id="code-paths-folder-is-on-the-search-path-and-counts-whole",
        ),
        pytest.param(
            {
                "m/mlgate.yaml": config("teampkg.models.Classifier"),
                "m/teampkg/__init__.py": "",
                "m/teampkg/models.py": "from teampkg import base\n",
                "m/teampkg/base.py": "import teampkg.models\n",  # a cycle ends
                "m/teampkg/spare.py": "",
            },
            {"m/teampkg/__init__.py", "m/teampkg/models.py", "m/teampkg/base.py"},
            {"m/teampkg/spare.py"},
            id="class-path-in-the-model-folder-with-an-import-cycle",
        ),
        pytest.param(
            {
                "m/mlgate.yaml": config("model:build"),
                "m/model.py": "import common\n",
                "m/common.py": "",  # the model's folder comes first on sys.path
                "common/__init__.py": "",
            },
            {"m/common.py"},
            {"common/__init__.py"},
            id="the-model-folder-shadows-the-repository-root",
        ),
        pytest.param(
            {
                "m/mlgate.yaml": config(
                    extra="validation:\n  suite: schema.py:schema\n  drift: {reference: training}\n"
                    "card: {template: card.md.j2}\nserving: {template: Dockerfile.j2}\n"
                ),
                "m/schema.py": "from checks import rules\n",
                "m/checks/__init__.py": "",
                "m/checks/rules.py": "",
            },
            {
                "m/schema.py",
                "m/checks/__init__.py",
                "m/checks/rules.py",
                "m/card.md.j2",
                "m/Dockerfile.j2",
            },
            {"m/training"},
            id="pandera-schema-templates-and-a-drift-keyword",
        ),
        pytest.param(
            {
                "m/mlgate.yaml": config().replace("data/train.csv", "s3://bucket/train.csv"),
                "m/dvc.lock": "schema: '2.0'\nstages:\n  prep:\n    cmd: x\n    outs:\n"
                "    - path: data/validation.csv\n      md5: abc\n",
                "other/dvc.lock": "stages:\n  prep:\n    outs:\n    - path: data/train.csv\n",
            },
            {
                "m/data/validation.csv",
                "m/data/validation.csv.dvc",
                "m/data.dvc",
                "m/dvc.lock",
            },
            {"m/data/train.csv.dvc", "other/dvc.lock", "s3://bucket/train.csv"},
            id="dvc-pointers-and-the-dvc-lock-that-lists-the-data-not-an-s3-uri",
        ),
    ],
)
def test_a_model_depends_on_what_its_config_names_and_its_code_imports(
    tmp_path: Path, files: dict[str, str], present: set[str], absent: set[str]
) -> None:
    found = depends(tmp_path, files)
    every = found.files | found.folders
    assert present <= every, present - every
    assert not absent & every, absent & every


def test_a_code_path_folder_selects_for_any_file_under_it(tmp_path: Path) -> None:
    found = depends(
        tmp_path,
        {
            "m/mlgate.yaml": config("model:build", "  code_paths: [../libs]\n"),
            "m/model.py": "",
            "libs/data.txt": "",
        },
    )
    assert found.folders == {"libs"}
    assert found.touched_by(["libs/data.txt", "libsx/a.py", "README.md"]) == ("libs/data.txt",)


def test_a_config_that_is_not_yaml_depends_on_its_whole_folder(tmp_path: Path) -> None:
    found = depends(tmp_path, {"m/mlgate.yaml": "data: [unclosed\n"})
    assert found.folders == {"m"}
    assert found.touched_by(["m/anything.csv"]) == ("m/anything.csv",)
    assert "not a YAML mapping" in found.notes[0]


def test_every_config_key_that_names_a_repository_file_is_followed() -> None:
    from mlgate._repopaths import REPO_PATHS

    assert set(REPO_PATHS) <= set(FILE_KEYS)


def test_configs_are_found_outside_run_and_git_folders() -> None:
    files = [
        "a/mlgate.yaml",
        "mlgate.yaml",
        "a/.mlgate/runs/x/mlgate.yaml",
        ".git/mlgate.yaml",
        "b/mlgate.yml",
        "b/c/mlgate.yaml",
    ]
    assert find_configs(files) == ["a/mlgate.yaml", "b/c/mlgate.yaml", "mlgate.yaml"]
    assert find_configs(files, ["b"]) == ["b/c/mlgate.yaml"]
    assert find_configs(files, ["a/mlgate.yaml"]) == ["a/mlgate.yaml"]


# --- selection and its shapes ---------------------------------------------------------------


def _model(config: str, model: str, *files: str) -> ModelFiles:
    return ModelFiles(config=config, model=model, files=frozenset({config, *files}))


def test_names_are_safe_unique_and_stable_whatever_is_selected() -> None:
    models = [
        _model("mlgate.yaml", "root model"),
        _model("a b/mlgate.yaml", "x"),
        _model("a-b/mlgate.yaml", "y"),
        _model("teams/fraud/mlgate.yaml", "fraud", "teams/fraud/spec.yaml"),
    ]
    names = safe_names(models)
    assert names == {
        "a b/mlgate.yaml": "a-b",
        "a-b/mlgate.yaml": "a-b-2",
        "mlgate.yaml": "root-model",
        "teams/fraud/mlgate.yaml": "teams-fraud",
    }
    plan = select(models, ["teams/fraud/spec.yaml", "docs/index.md"])
    assert matrix(plan) == {
        "include": [{"model": "fraud", "config": "teams/fraud/mlgate.yaml", "name": "teams-fraud"}]
    }
    assert table(plan).splitlines() == [
        "model  config                   why",
        "fraud  teams/fraud/mlgate.yaml  teams/fraud/spec.yaml",
        "1 of 4 models touched by the 2 changed files",
    ]
    everything = plan_all(models, "no --base given")
    assert [s.name for s in everything.selected] == sorted(names.values())
    assert table(everything).endswith("every model is planned (4 models found): no --base given")
    assert matrix(select(models, [])) == {"include": []}


# --- on real git history --------------------------------------------------------------------


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    """examples/monorepo as a git repository on main, one commit."""
    repo = tmp_path / "models"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "two models")
    return repo


def outputs(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT's `name<<DELIMITER` entries."""
    found = re.findall(r"(?ms)^([\w-]+)<<(\S+)\n(.*?)\n\2$", path.read_text(encoding="utf-8"))
    return {name: value for name, _, value in found}


def planned(cli, repo: Path, base: str, *more: str) -> list[str]:
    result = cli("plan", "--base", base, "--json", *more, cwd=repo)
    assert result.code == 0, result.err
    return [entry["model"] for entry in json.loads(result.out)["include"]]


def test_a_change_plans_the_models_it_touches_on_real_history(
    monorepo: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    start = git(monorepo, "rev-parse", "HEAD")

    spec = monorepo / "monthly" / "configs" / "features.yaml"
    spec.write_text(spec.read_text().replace("max: 72", "max: 80"), encoding="utf-8")
    spec_change = commit(monorepo, "monthly: tenure up to 80 months")
    assert planned(cli, monorepo, start) == ["churn-monthly"]

    shared = monorepo / "common" / "features.py"
    shared.write_text(shared.read_text() + "\n# shared tweak\n", encoding="utf-8")
    shared_change = commit(monorepo, "shared features")
    assert planned(cli, monorepo, spec_change) == ["churn-annual", "churn-monthly"]

    (monorepo / "README.md").write_text("# Our models\n", encoding="utf-8")
    (monorepo / "annual" / "README.md").write_text("notes\n", encoding="utf-8")
    readme_change = commit(monorepo, "docs")
    assert planned(cli, monorepo, shared_change) == []

    # In Actions: the same matrix on one line as `matrix`, and `count`, for the next job.
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    result = cli("plan", "--base", spec_change, "--json", cwd=monorepo)
    assert result.code == 0, result.err
    written = outputs(output)
    assert written["count"] == "2"
    assert "\n" not in written["matrix"]
    assert json.loads(written["matrix"]) == json.loads(result.out)
    assert json.loads(result.out) == {
        "include": [
            {"model": "churn-annual", "config": "annual/mlgate.yaml", "name": "annual"},
            {"model": "churn-monthly", "config": "monthly/mlgate.yaml", "name": "monthly"},
        ]
    }
    assert "| churn-annual | `annual/mlgate.yaml` | common/features.py |" in (
        tmp_path / "summary.md"
    ).read_text(encoding="utf-8")

    output.write_text("", encoding="utf-8")
    assert planned(cli, monorepo, readme_change) == []
    assert outputs(output) == {"matrix": '{"include":[]}', "count": "0"}

    # The table says why: the changed files that selected each model.
    table_out = cli("plan", "--base", start, cwd=monorepo).out
    assert re.search(r"churn-monthly +monthly/mlgate.yaml +common/features.py, monthly/", table_out)


def test_what_a_change_can_be(monorepo: Path, cli) -> None:
    start = git(monorepo, "rev-parse", "HEAD")
    # A DVC pointer added beside a data file selects its model.
    (monorepo / "annual" / "data" / "train.csv.dvc").write_text("outs: []\n", encoding="utf-8")
    pointer = commit(monorepo, "track annual data with DVC")
    assert planned(cli, monorepo, start) == ["churn-annual"]
    # A deleted config is not planned, even though its files changed with it.
    shutil.rmtree(monorepo / "monthly")
    commit(monorepo, "retire the monthly model")
    assert planned(cli, monorepo, pointer) == []
    # Uncommitted work counts only when asked for.
    (monorepo / "annual" / "model.py").write_text("# wip\n", encoding="utf-8")
    assert planned(cli, monorepo, "HEAD") == []
    assert planned(cli, monorepo, "HEAD", "--include-uncommitted") == ["churn-annual"]
    # PATHS narrow the search.
    assert planned(cli, monorepo, start, "annual") == ["churn-annual"]


def test_a_branch_is_compared_with_where_it_left_its_base(monorepo: Path, cli) -> None:
    start = git(monorepo, "rev-parse", "HEAD")
    git(monorepo, "checkout", "-q", "-b", "feature")
    spec = monorepo / "annual" / "configs" / "features.yaml"
    spec.write_text(spec.read_text() + "# annual only\n", encoding="utf-8")
    commit(monorepo, "annual spec")
    # main moves on meanwhile: a shared change the branch does not have.
    git(monorepo, "checkout", "-q", "main")
    shared = monorepo / "common" / "features.py"
    shared.write_text(shared.read_text() + "# later on main\n", encoding="utf-8")
    commit(monorepo, "shared change on main")
    git(monorepo, "checkout", "-q", "feature")
    # The pull request's own change only (a plain diff with main would plan both models).
    assert planned(cli, monorepo, "main") == ["churn-annual"]
    assert git(monorepo, "merge-base", "main", "HEAD") == start


@pytest.mark.parametrize(
    ("base", "why"),
    [
        pytest.param(None, "no --base given", id="no-base"),
        pytest.param("", "no --base given", id="empty-base-as-a-push-without-before"),
        pytest.param("0" * 40, "null commit", id="null-sha-of-a-new-branch"),
        pytest.param("1" * 40, "is not in this clone", id="sha-not-fetched-after-a-force-push"),
    ],
)
def test_without_a_base_commit_every_model_is_planned_and_it_says_so(
    monorepo: Path, cli, base: str | None, why: str
) -> None:
    args = ["plan", "--json"] + ([] if base is None else ["--base", base])
    result = cli(*args, cwd=monorepo)
    assert result.code == 0, result.err
    assert len(json.loads(result.out)["include"]) == 2
    assert why in result.err


def test_a_base_that_is_no_ref_or_no_config_is_exit_2_in_one_line(
    monorepo: Path, cli, tmp_path: Path
) -> None:
    bad = cli("plan", "--base", "origin/mian", cwd=monorepo)
    assert bad.code == 2
    assert bad.error_lines == [
        "mlgate: error: --base origin/mian: not a commit of this repository; give a branch, "
        "tag or commit SHA (fetch it first in a shallow clone)"
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    none = cli("plan", cwd=empty)
    assert none.code == 2
    assert len(none.error_lines) == 1
    assert "no mlgate.yaml found under" in none.err


# --- the reusable workflow ------------------------------------------------------------------


def _load_yaml(path: Path):
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_monorepo_workflow_plans_then_runs_model_ci_once_per_planned_model() -> None:
    workflow = _load_yaml(ROOT / ".github" / "workflows" / "monorepo-ci.yml")
    plan_job, model_job = workflow["jobs"]["plan"], workflow["jobs"]["model"]
    checkout = plan_job["steps"][0]
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    assert plan_job["permissions"] == {"contents": "read"}
    base = plan_job["steps"][-1]["env"]["MLGATE_BASE"]
    assert "github.event.pull_request.base.sha" in base
    assert "github.event.before" in base
    assert model_job["needs"] == "plan"
    assert model_job["if"] == "${{ needs.plan.outputs.count != '0' }}"
    assert model_job["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert model_job["uses"] == "$/.github/workflows/model-ci.yml"
    called = _load_yaml(ROOT / ".github" / "workflows" / "model-ci.yml")[True]["workflow_call"]
    assert set(model_job["with"]) <= set(called["inputs"])
    assert set(model_job["secrets"]) == set(called["secrets"])
    # One comment, artifact and concurrency group per model: the comment's marker names the
    # model, the fork-report artifact the matrix name, model-ci's group the config.
    assert model_job["with"]["config"] == "${{ matrix.config }}"
    assert model_job["with"]["report-artifact"] == "mlgate-report-${{ matrix.name }}"
    pipeline = _load_yaml(ROOT / ".github" / "workflows" / "model-ci.yml")["jobs"]["pipeline"]
    assert "inputs.config" in pipeline["concurrency"]["group"]
    from mlgate.report import marker

    assert marker("churn-annual") != marker("churn-monthly")


def test_the_plan_steps_script_writes_the_matrix(monorepo: Path, tmp_path: Path) -> None:
    """The plan step's own `run:` script, with the `env:` it declares (paths split on spaces)."""
    import sys

    workflow = _load_yaml(ROOT / ".github" / "workflows" / "monorepo-ci.yml")
    step = workflow["jobs"]["plan"]["steps"][-1]
    start = git(monorepo, "rev-parse", "HEAD")
    shared = monorepo / "common" / "features.py"
    shared.write_text(shared.read_text() + "# tweak\n", encoding="utf-8")
    commit(monorepo, "shared")
    output = tmp_path / "output"
    env = {
        **os.environ,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "MLGATE_PYTHON": sys.executable,
        "MLGATE_PATHS": "monthly annual/mlgate.yaml",
        "MLGATE_BASE": start,
    }
    env.pop("GITHUB_STEP_SUMMARY", None)
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=monorepo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    written = outputs(output)
    assert written["count"] == "2"
    assert [e["name"] for e in json.loads(written["matrix"])["include"]] == ["annual", "monthly"]
    env.update(MLGATE_PATHS="", MLGATE_BASE="")
    output.write_text("", encoding="utf-8")
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=monorepo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert outputs(output)["count"] == "2"
    assert "no --base given" in done.stdout


# --- model.code_paths: how a factory reaches the shared module ------------------------------


@pytest.mark.parametrize(
    ("model_type", "code_paths", "message"),
    [
        pytest.param(
            "model:build",
            "[../nowhere]",
            "model.code_paths[0]: ../nowhere not found",
            id="missing",
        ),
        pytest.param(
            "model:build",
            "[../../outside]",
            "model.code_paths[0]: ../../outside resolves outside the repository",
            id="outside-the-repository",
        ),
        pytest.param(
            "LogisticRegression",
            "[../common]",
            "model.code_paths: only a package.module:factory model.type imports",
            id="without-a-factory-it-would-do-nothing",
        ),
    ],
)
def test_a_code_path_that_cannot_be_honoured_is_a_config_error(
    monorepo: Path, cli, model_type: str, code_paths: str, message: str
) -> None:
    (monorepo.parent / "outside").mkdir()
    config = monorepo / "monthly" / "mlgate.yaml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("type: model:build", f"type: {model_type}")
    text = text.replace("code_paths: [../common]", f"code_paths: {code_paths}")
    text = text.replace("params: {C: 0.5}", "params: {}")
    config.write_text(text, encoding="utf-8")
    result = cli("validate", str(config), cwd=monorepo)
    assert result.code == 2, result.err
    assert len(result.error_lines) == 1
    assert message in result.err


@pytest.mark.slow
def test_an_example_model_runs_and_ships_the_shared_module(tmp_path: Path) -> None:
    """The example's monthly model runs as it is; the registered model carries common/ with
    it and loads in a fresh interpreter from outside the repository."""
    import sys

    repo = tmp_path / "models"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    mlgate = [sys.executable, "-m", "mlgate"]
    done = subprocess.run(
        [*mlgate, "run", "monthly", "--json"], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shipped = sorted((repo / "monthly" / ".mlgate").rglob("code/common/features.py"))
    assert shipped, "common/features.py was not logged with the model"
    model_dir = shipped[0].parents[2]
    load = (
        "import mlflow.pyfunc, pandas, sys; "
        f"m = mlflow.pyfunc.load_model({str(model_dir)!r}); "
        f"rows = pandas.read_csv({str(repo / 'monthly' / 'data' / 'validation.csv')!r}).head(3); "
        "print(len(m.predict(rows.drop(columns=['churned']))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", load], cwd=tmp_path, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip().endswith("3")


def test_each_repository_gets_its_own_shared_module_in_one_process(tmp_path: Path) -> None:
    """Two repositories, each with its own common/: the second factory must not get the
    first's module, cached in sys.modules under the same name."""
    from mlgate._estimators import choose_estimator
    from mlgate.project import find_config, load_project

    built = {}
    for name, scaler in (("one", "StandardScaler"), ("two", "MinMaxScaler")):
        repo = tmp_path / name
        shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
        shared = repo / "common" / "features.py"
        shared.write_text(shared.read_text().replace("StandardScaler", scaler), encoding="utf-8")
        git(repo, "init", "-q")
        project = load_project(find_config(str(repo / "monthly")))
        choice = choose_estimator(project, "classification")
        built[name] = type(choice.estimator.steps[0][1]).__name__
        assert choice.code_paths == ("model.py", "../common")
    assert built == {"one": "StandardScaler", "two": "MinMaxScaler"}


def test_a_change_to_the_shared_module_retrains_each_model_that_ships_it(tmp_path: Path) -> None:
    """The train stage's cache key holds model.code_paths' files: a reused model built with
    the old common/ would be registered as if built from the new one."""
    from mlgate._reuse import _model_code
    from mlgate.project import find_config, load_project

    repo = tmp_path / "models"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    projects = [load_project(find_config(str(repo / name))) for name in ("annual", "monthly")]
    before = [_model_code(project) for project in projects]
    shared = repo / "common" / "features.py"
    shared.write_text(shared.read_text(encoding="utf-8") + "\n# tuned\n", encoding="utf-8")
    after = [_model_code(project) for project in projects]
    assert all(old != new for old, new in zip(before, after, strict=True))
    (repo / "README.md").write_text("docs only\n", encoding="utf-8")
    assert [_model_code(project) for project in projects] == after
