"""The evaluate stage on the bundled example, against a registered champion (no mocks).

One champion is trained and registered per module (the example's own config, behind
the `production` alias on the embedded MLflow store); each test writes its own config
beside it in the same model repo, so every candidate meets that same champion.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from conftest import EXAMPLE, ISOLATED_ENV
from mlgate.cli import main
from mlgate.report.sections.evaluate import evaluation_sections, mermaid_chart
from mlgate.results import EvaluateResult

pytestmark = pytest.mark.slow

MODEL = "production-churn-model"
CLASSIFICATION_PLOTS = {
    "roc",
    "precision_recall",
    "calibration",
    "confusion_matrix",
    "feature_importance",
}


def _config(repo: Path, name: str, change) -> Path:
    data = yaml.safe_load((repo / "mlgate.yaml").read_text())
    change(data)
    path = repo / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _client(repo: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{repo / '.mlgate' / 'mlflow.db'}")


@pytest.fixture(scope="module")
def champion_repo(tmp_path_factory: pytest.TempPathFactory):
    """The example, run once and registered; version 1 then promoted to `production`.

    Its comparative gate meets no champion on that first run (checked below).
    """
    repo = tmp_path_factory.mktemp("evaluation") / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))

    def first_model(config: dict[str, Any]) -> None:
        config["evaluation"]["gates"]["roc_auc"]["max_drop"] = 0.01
        config["tracking"]["registration"] = "always"

    _config(repo, "mlgate.yaml", first_model)
    run_dir = repo / "first-run"
    with pytest.MonkeyPatch.context() as patch:
        for name in ISOLATED_ENV:
            patch.delenv(name, raising=False)
        code = main(["run", str(repo / "mlgate.yaml"), "--run-dir", str(run_dir)])
        assert code == 0
        _client(repo).set_registered_model_alias(MODEL, "production", "1")
    return repo


def _run(cli, repo: Path, config: Path, run_dir: Path) -> tuple[int, dict[str, Any]]:
    result = cli("run", str(config), "--run-dir", str(run_dir), cwd=repo)
    assert result.code in (0, 1), result.err
    return result.code, json.loads((run_dir / "evaluate.json").read_text())


def _gate(evaluate: dict[str, Any], metric: str, bound: str) -> dict[str, Any]:
    [gate] = [g for g in evaluate["gates"] if (g["metric"], g["bound"]) == (metric, bound)]
    return gate


def _comparative_only(gates: dict[str, Any]):
    def change(config: dict[str, Any]) -> None:
        config["evaluation"]["gates"] = gates
        config["tracking"]["registration"] = "never"

    return change


def test_the_first_model_meets_no_champion(champion_repo: Path) -> None:
    evaluate = json.loads((champion_repo / "first-run" / "evaluate.json").read_text())

    assert evaluate["champion"] is None
    assert evaluate["champion_status"] == "none"
    assert "no champion yet" in evaluate["champion_note"]
    assert evaluate["comparison"] == {}
    assert evaluate["mcnemar"] is None
    drop = _gate(evaluate, "roc_auc", "max_drop")
    assert drop["verdict"] == "passed"
    assert "no champion yet" in drop["message"]
    assert _gate(evaluate, "roc_auc", "min")["verdict"] == "passed"  # absolute gates apply
    low, high = evaluate["intervals"]["roc_auc"].values()
    assert low < evaluate["metrics"]["roc_auc"] < high


def test_no_version_behind_the_alias_skips_mlflow(champion_repo: Path, tmp_path: Path) -> None:
    """The store exists and holds a version, but none is behind this alias: evaluate knows
    that without MLflow (it reads the store directly) and never starts it."""
    import os
    import subprocess
    import sys

    def no_alias(config: dict[str, Any]) -> None:
        config["evaluation"]["champion_alias"] = "nobody-here"

    config = _config(champion_repo, "no-alias.yaml", no_alias)
    run_dir = tmp_path / "run"
    shutil.copytree(champion_repo / "first-run", run_dir)
    probe = (
        "import json, sys\n"
        "from mlgate.cli import main\n"
        f"code = main(['evaluate', {str(config)!r}, '--run-dir', {str(run_dir)!r}])\n"
        "print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow')]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_ENV}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=champion_repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    code, mlflow_modules = json.loads(done.stdout.splitlines()[-1])
    assert code == 0, done.stderr
    assert mlflow_modules == []
    evaluate = json.loads((run_dir / "evaluate.json").read_text())
    assert evaluate["champion_status"] == "none"
    assert "no version behind alias 'nobody-here'" in evaluate["champion_note"]


def test_a_truly_worse_candidate_fails_with_the_interval(champion_repo, cli, tmp_path) -> None:
    def weak(config: dict[str, Any]) -> None:
        _comparative_only({"roc_auc": {"max_drop": 0.01}, "accuracy": {"max_drop": 0.01}})(config)
        config["model"]["params"] = {"n_estimators": 5, "max_depth": 1}

    config = _config(champion_repo, "weak.yaml", weak)

    code, evaluate = _run(cli, champion_repo, config, tmp_path / "run")

    assert code == 1
    assert evaluate["verdict"] == "failed"
    assert evaluate["champion"]["version"] == "1"
    assert evaluate["champion"]["alias"] == "production"
    drop = _gate(evaluate, "roc_auc", "max_drop")
    assert drop["verdict"] == "failed"
    assert re.fullmatch(
        r"roc_auc 0\.\d{3} vs champion 0\.\d{3}: −0\.\d{3} \[−0\.\d{3}, −0\.\d{3}\], "
        r"past the 0\.01 allowed drop across the whole 95% interval",
        drop["message"],
    ), drop["message"]
    assert drop["low"] <= drop["difference"] <= drop["high"] < -0.01
    assert drop["noise_aware"] is True
    accuracy = _gate(evaluate, "accuracy", "max_drop")
    assert accuracy["verdict"] == "failed"
    assert "McNemar p = " in accuracy["message"]
    assert evaluate["mcnemar"]["p_value"] < 0.001
    assert (
        evaluate["mcnemar"]["champion_only_correct"] > evaluate["mcnemar"]["candidate_only_correct"]
    )
    assert drop["message"] in evaluate["summary"]
    register = json.loads((tmp_path / "run" / "register.json").read_text())
    assert register["verdict"] == "skipped"


def test_the_same_config_with_another_seed_passes(champion_repo, cli, tmp_path) -> None:
    def reseeded(config: dict[str, Any]) -> None:
        _comparative_only({"roc_auc": {"max_drop": 0.01}, "accuracy": {"max_drop": 0.01}})(config)
        config["model"]["seed"] = 7

    config = _config(champion_repo, "reseeded.yaml", reseeded)

    code, evaluate = _run(cli, champion_repo, config, tmp_path / "run")

    assert code == 0, evaluate["summary"]
    for metric in ("roc_auc", "accuracy"):
        gate = _gate(evaluate, metric, "max_drop")
        assert gate["verdict"] == "passed"
        assert "vs champion" in gate["message"]
        assert gate["low"] <= gate["difference"] <= gate["high"]
        # Equal up to noise: a tiny difference, and an interval narrower than the bound.
        assert abs(gate["difference"]) < 0.01
        assert gate["high"] - gate["low"] < 0.02
    assert set(evaluate["comparison"]) == {"roc_auc", "accuracy", "f1"}


@pytest.mark.parametrize(
    ("noise_aware", "code", "words"),
    [
        pytest.param(True, 0, "within noise of the 0.005 allowed drop", id="noise-aware"),
        pytest.param(
            False,
            1,
            "past the 0.005 allowed drop (judged on the point estimate",
            id="point-estimate",
        ),
    ],
)
def test_a_drop_within_noise_passes_only_when_noise_aware(
    champion_repo, cli, tmp_path, noise_aware: bool, code: int, words: str
) -> None:
    """A random forest scores 0.9 points of accuracy below the champion on these rows,
    past a 0.005 allowed drop, but the interval reaches above it: noise can explain it."""

    def forest(config: dict[str, Any]) -> None:
        _comparative_only({"accuracy": {"max_drop": 0.005}})(config)
        config["model"] = {
            "type": "RandomForest",
            "params": {"n_estimators": 200, "min_samples_leaf": 5},
            "seed": 7,
        }
        config["evaluation"]["noise_aware"] = noise_aware

    config = _config(champion_repo, f"forest-{noise_aware}.yaml", forest)

    result, evaluate = _run(cli, champion_repo, config, tmp_path / "run")

    gate = _gate(evaluate, "accuracy", "max_drop")
    assert result == code, gate["message"]
    assert words in gate["message"]
    assert gate["difference"] < -0.005 < gate["high"]
    assert evaluate["noise_aware"] is noise_aware


def test_plots_are_images_and_logged_to_the_mlflow_run(champion_repo, cli, tmp_path) -> None:
    config = _config(champion_repo, "plotted.yaml", lambda c: c["model"].update(seed=11))
    run_dir = tmp_path / "run"

    code, evaluate = _run(cli, champion_repo, config, run_dir)

    assert code == 0
    files = evaluate["plots"]["files"]
    assert set(files) == CLASSIFICATION_PLOTS
    for relative in files.values():
        with Image.open(run_dir / relative) as image:
            image.load()
            assert image.format == "PNG"
            assert image.width > 300
    assert evaluate["importance"]["method"] == "model"
    ranked = [item["name"] for item in evaluate["importance"]["features"]]
    assert sorted(ranked) == sorted(
        yaml.safe_load((champion_repo / "configs" / "features.yaml").read_text())["features"]
    )

    run_id = json.loads((run_dir / "register.json").read_text())["mlflow_run_id"]
    client = _client(champion_repo)
    logged = {Path(item.path).name for item in client.list_artifacts(run_id, "mlgate/plots")}
    assert logged == {Path(relative).name for relative in files.values()}
    local = client.download_artifacts(run_id, "mlgate/plots/roc.png", str(tmp_path / "back"))
    with Image.open(local) as image, Image.open(run_dir / files["roc"]) as original:
        assert image.size == original.size
        assert image.tobytes() == original.tobytes()


def test_the_report_sections_show_the_comparison(champion_repo, cli, tmp_path) -> None:
    def weak(config: dict[str, Any]) -> None:
        _comparative_only({"roc_auc": {"max_drop": 0.01}})(config)
        config["model"]["params"] = {"n_estimators": 20, "max_depth": 1}

    config = _config(champion_repo, "weak-report.yaml", weak)
    _, evaluate = _run(cli, champion_repo, config, tmp_path / "run")

    sections = {
        section.key: section for section in evaluation_sections(EvaluateResult.from_json(evaluate))
    }

    body = sections["evaluation"].body
    assert "❌" in body
    assert "version 1 behind alias `production`" in body
    assert "| `roc_auc` |" in body
    assert "95% interval of difference" in body
    assert "McNemar's test on accuracy" in body
    roc = evaluate["comparison"]["roc_auc"]
    assert f"{roc['candidate']:.3f}" in body
    assert f"{roc['champion']:.3f}" in body
    chart = sections["chart"].body
    assert chart.startswith("```mermaid\nxychart-beta\n")
    assert f"{evaluate['metrics']['roc_auc']:.4f}" in chart
    assert f"{roc['champion']:.4f}" in chart
    details = sections["evaluation-details"]
    assert details.folded
    assert "`plots/roc.png`" in details.body


# --- pure pieces ------------------------------------------------------------------------


def _result(fields: dict[str, Any]) -> EvaluateResult:
    """An evaluate result with `fields`, the rest filled with plain defaults."""
    result: dict[str, Any] = {
        "verdict": "passed",
        "summary": "",
        "task": "classification",
        "rows": 1000,
        "metrics": {},
        "intervals": {},
        "confidence": 0.95,
        "noise_aware": True,
        "bootstrap": {"n": 1000, "seed": 0, "confidence": 0.95, "seconds": 0.1},
        "champion": None,
        "champion_status": "none",
        "champion_note": "no champion yet",
        "comparison": {},
        "mcnemar": None,
        "gates": [],
        "importance": None,
        "plots": {"files": {}, "skipped": {}},
        **fields,
    }
    if result["champion"] is not None:
        champion = {"alias": "production", "run_id": None, "unavailable": {}}
        result["champion"] = {**champion, **result["champion"]}
    result["bootstrap"] = {"confidence": 0.95, "seconds": 0.1, **result["bootstrap"]}
    gate = {"limit": 0.0, "value": None}
    result["gates"] = [{**gate, **given} for given in result["gates"]]
    return EvaluateResult.from_json(result)


def test_mermaid_chart_leaves_out_unbounded_metrics() -> None:
    chart = mermaid_chart(
        _result(
            {
                "metrics": {"roc_auc": 0.86, "log_loss": 1.7, "accuracy": 0.81},
                "champion": {
                    "version": "3",
                    "metrics": {"roc_auc": 0.85, "log_loss": 1.2, "accuracy": 0.8},
                },
            }
        )
    )

    assert chart == (
        "```mermaid\n"
        "xychart-beta\n"
        '    title "Candidate (bars) vs champion v3 (line)"\n'
        '    x-axis ["roc_auc", "accuracy"]\n'
        '    y-axis "score" 0.7 --> 1\n'
        "    bar [0.8600, 0.8100]\n"
        "    line [0.8500, 0.8000]\n"
        "```\n"
    )
    assert mermaid_chart(_result({"metrics": {"rmse": 3.2}, "champion": None})) is None


def test_sections_escape_what_came_from_data() -> None:
    evaluate = {
        "metrics": {"accuracy": 0.8},
        "intervals": {"accuracy": {"low": 0.78, "high": 0.82}},
        "gates": [
            {
                "metric": "accuracy",
                "bound": "min",
                "verdict": "passed",
                "message": "accuracy 0.8 >= min 0.75 | <b>",
            }
        ],
        "champion": None,
        "champion_note": "no champion yet (no version behind alias 'production' of <x>)",
        "bootstrap": {"n": 1000, "seed": 0},
        "confidence": 0.95,
        "rows": 1000,
        "importance": {
            "method": "permutation",
            "source": "accuracy, 5 shuffles",
            "features": [{"name": "a|b", "importance": 0.1, "std": 0.01}],
        },
        "plots": {"files": {}, "skipped": {"roc": "the model gives no probabilities"}},
    }

    text = "\n".join(section.render() for section in evaluation_sections(_result(evaluate)))

    assert "<b>" not in text
    assert "<x>" not in text
    assert "&lt;x&gt;" in text
    assert "a\\|b" in text  # a pipe would split the table cell
    assert "No roc plot: the model gives no probabilities." in text
    assert "Champion" not in text  # no champion columns without a champion


def test_an_unknown_metric_exits_2_with_the_known_ones(churn_repo: Path, cli) -> None:
    config = churn_repo / "mlgate.yaml"
    config.write_text(config.read_text().replace("[roc_auc, accuracy, f1]", "[roc_auc, auc_pr]"))

    result = cli("evaluate", cwd=churn_repo)

    assert result.code == 2
    [line] = result.error_lines
    assert "evaluation.metrics[1]: unknown metric 'auc_pr'" in line
    assert (
        "known metrics: accuracy, balanced_accuracy, precision, recall, f1, roc_auc, pr_auc, "
        in line
    )
    assert "mae, rmse, r2, mape" in line


def test_a_champion_without_probabilities_has_no_score_figures() -> None:
    import numpy as np

    from mlgate._metrics import Predictions
    from mlgate._training import Task
    from mlgate.stages.evaluate import _champion_metrics

    task = Task("classification", inferred=True, classes=("no", "yes"), positive_label="yes")
    truth = np.array(["no", "yes", "yes", "no"], dtype=object)
    said = np.array(["no", "yes", "no", "no"], dtype=object)

    figures, unavailable = _champion_metrics(
        ["accuracy", "roc_auc"], Predictions(truth, said, None, ("no", "yes")), task
    )

    assert figures == {"accuracy": 0.75, "roc_auc": None}
    assert unavailable["roc_auc"].startswith("roc_auc needs predicted probabilities")


def test_an_unreachable_registry_fails_a_comparative_gate_with_exit_3(
    churn_repo: Path, cli, monkeypatch
) -> None:
    """Without the champion a comparative gate cannot be judged: a service error, not a pass.
    (With absolute gates only, evaluate goes on without the comparison: tests/test_cli.py.)"""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    _config(churn_repo, "mlgate.yaml", _comparative_only({"roc_auc": {"max_drop": 0.01}}))
    run_dir = churn_repo / "run"
    assert cli("train", "--run-dir", str(run_dir), cwd=churn_repo).code == 0

    result = cli("evaluate", "--run-dir", str(run_dir), cwd=churn_repo)

    assert result.code == 3
    [line] = result.error_lines
    assert line.startswith("mlgate: error: MLflow at http://127.0.0.1:9 failed to read alias")
    assert not (run_dir / "evaluate.json").exists()
