"""`mlgate monitor` on real data: scikit-learn's bundled breast-cancer table (no network),
split into the training data of a registered, promoted version and production windows.

A shifted window drifts with the very figures `mlgate validate` gives for the same two
tables; the unshifted window is ok; labelled rows the model gets wrong are degraded;
the serving image's prediction log on S3 (moto) is read newest first up to the window;
config mistakes are one line and exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlgate.results.monitor import MonitorResult

MODEL = "breast-cancer-monitor"
TARGET = "diagnosis"
LABELS = {0: "malignant", 1: "benign"}  # scikit-learn's coding of the target
ID = "patient_id"
# Features moved in the shifted window (scaled), the rest left as they are.
SHIFTED = ("mean_radius", "mean_texture", "worst_area", "mean_concavity")


def _table() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    frame = frame.rename(columns={"target": TARGET})
    frame[TARGET] = frame[TARGET].map(LABELS)
    frame.insert(0, ID, [f"p{i:04d}" for i in range(len(frame.index))])
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


def _write_repo(repo: Path, reference: pd.DataFrame, holdout: pd.DataFrame) -> None:
    (repo / "data").mkdir(parents=True)
    reference.to_csv(repo / "data" / "train.csv", index=False)
    holdout.to_csv(repo / "data" / "validation.csv", index=False)
    features = [c for c in reference.columns if c not in (ID, TARGET)]
    spec = {
        "target": TARGET,
        "task": "classification",
        "positive_label": "malignant",
        "id_columns": [ID],
        "features": {name: {"type": "numeric"} for name in features},
    }
    (repo / "features.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    config = {
        "version": 1.0,
        "data": {
            "training_data_path": "data/train.csv",
            "validation_data_path": "data/validation.csv",
            "feature_spec": "features.yaml",
        },
        "model": {"type": "LogisticRegression", "params": {"max_iter": 2000}},
        "validation": {"drift": {"reference": "training", "min_rows": 100}},
        "evaluation": {
            "metrics": ["roc_auc", "accuracy"],
            "gates": {"roc_auc": {"min": 0.8}, "accuracy": {"min": 0.8}},
            "bootstrap": {"n": 200},
        },
        "tracking": {"registry_name": MODEL, "experiment_name": "bc-monitor"},
        "monitoring": {"data": "production/window.csv", "max_drop": 0.02},
    }
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _mlgate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_"))}
    return subprocess.run(
        [sys.executable, "-m", "mlgate", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A repo whose version 1 (trained on `reference`) is behind `production`."""
    table = _table()
    reference, holdout = table.iloc[:300].reset_index(drop=True), table.iloc[300:]
    repo = tmp_path_factory.mktemp("monitor") / "bc"
    _write_repo(repo, reference, holdout.reset_index(drop=True))
    trained = _mlgate(repo, "run")
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    promoted = _mlgate(
        repo, "promote", MODEL, "--version", "1", "--to", "production", "--force", "--reason",
        "monitor test", "--config", str(repo / "mlgate.yaml"),
    )  # fmt: skip
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    return {"repo": repo, "reference": reference, "holdout": holdout.reset_index(drop=True)}


def _shifted(frame: pd.DataFrame) -> pd.DataFrame:
    moved = frame.copy()
    for name in SHIFTED:
        moved[name] = moved[name] * 1.35
    return moved


def _monitor(cli, repo: Path, *args: str):
    result = cli("monitor", str(repo), "--json", *args)
    document = json.loads(result.out) if result.out.strip() else None
    return result, document


def _without_role(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "role"}


@pytest.mark.slow
def test_a_shifted_window_drifts_with_the_validate_stage_figures_and_an_unshifted_one_is_ok(
    deployed: dict, cli, tmp_path: Path
) -> None:
    repo, holdout = deployed["repo"], deployed["holdout"]
    production = repo / "production"
    production.mkdir(exist_ok=True)
    # The feature inputs only: a window without labels judges drift, not performance.
    _shifted(holdout).drop(columns=[TARGET]).to_csv(production / "window.csv", index=False)

    drifted, document = _monitor(cli, repo)

    assert drifted.code == 1, drifted.err
    result = MonitorResult.from_json(document["monitor"])
    assert result.verdict == "drift"
    assert result.version == "1"
    assert result.alias == "production"
    assert {item.feature for item in result.drifted} >= set(SHIFTED)
    assert result.reference.recorded
    assert result.reference.uri == str((repo / "data" / "train.csv").resolve())
    assert result.window.rows == len(holdout.index)
    assert result.concept.note == "no labels"
    assert any(reason.startswith("feature mean_radius: PSI") for reason in result.reasons)
    run_dir = Path(document["run_dir"])
    assert json.loads((run_dir / "monitor.json").read_text()) == document["monitor"]
    assert "✗ drift" in (run_dir / "monitor.md").read_text()
    # One MLflow run for the check, tagged with the version, a figure per feature.
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / '.mlgate' / 'mlflow.db'}")
    assert result.mlflow_run_id is not None
    logged = client.get_run(result.mlflow_run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.tags["mlgate.monitor.model"] == MODEL
    assert logged.data.tags["mlgate.monitor.version"] == "1"
    assert logged.data.tags["mlgate.monitor.verdict"] == "drift"
    radius = next(item for item in result.features if item.feature == "mean_radius")
    assert logged.data.metrics["psi.mean_radius"] == pytest.approx(radius.psi)

    # The validate stage on the same two tables (training file vs. this window).
    twin = tmp_path / "twin"
    shutil.copytree(repo, twin, ignore=shutil.ignore_patterns(".mlgate"))
    with_labels = _shifted(holdout)
    with_labels.to_csv(twin / "data" / "validation.csv", index=False)
    validated = _mlgate(twin, "validate")
    assert validated.returncode == 1, validated.stdout + validated.stderr  # drift fails it
    validate = json.loads(next((twin / ".mlgate" / "runs").glob("*/validate.json")).read_text())
    expected = [_without_role(r) for r in validate["drift"]["features"]]
    assert [r["role"] for r in validate["drift"]["features"]] == ["validation"] * len(expected)
    assert [_without_role(r) for r in document["monitor"]["features"]] == expected

    # The same rows, unshifted: no drift (and the labels they carry hold up).
    holdout.to_csv(production / "window.csv", index=False)
    steady, document = _monitor(cli, repo)
    assert steady.code == 0, steady.err
    result = MonitorResult.from_json(document["monitor"])
    assert result.verdict == "ok", result.reasons
    assert result.reasons == ()
    assert result.concept.label_source == "column"
    assert [check.degraded for check in result.concept.metrics] == [False, False]


@pytest.mark.slow
def test_labelled_rows_the_model_gets_wrong_are_degraded_from_the_column_or_feedback(
    deployed: dict, cli
) -> None:
    repo, holdout = deployed["repo"], deployed["holdout"]
    production = repo / "production"
    production.mkdir(exist_ok=True)
    wrong = holdout.copy()
    flipped = np.random.default_rng(0).random(len(wrong.index)) < 0.4
    other = {"malignant": "benign", "benign": "malignant"}
    wrong.loc[flipped, TARGET] = wrong.loc[flipped, TARGET].map(other)
    wrong.to_csv(production / "window.csv", index=False)

    degraded, document = _monitor(cli, repo)

    assert degraded.code == 1, degraded.err
    result = MonitorResult.from_json(document["monitor"])
    assert result.verdict == "degraded"
    assert result.features
    assert not result.drifted
    checks = {check.metric: check for check in result.concept.metrics}
    assert set(checks) == {"roc_auc", "accuracy"}
    accuracy = checks["accuracy"]
    assert accuracy.degraded
    assert accuracy.recorded is not None
    assert accuracy.recorded > 0.9
    assert accuracy.limit == pytest.approx(accuracy.recorded - 0.02)
    assert accuracy.interval is not None
    assert accuracy.interval.high < accuracy.limit
    assert any(reason.startswith("accuracy ") for reason in result.reasons)

    # The labels arriving later, in a feedback file joined on the id column.
    holdout.drop(columns=[TARGET]).to_csv(production / "window.csv", index=False)
    wrong[[ID, TARGET]].to_csv(production / "feedback.csv", index=False)
    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    config["monitoring"].update(feedback="production/feedback.csv", id_columns=[ID])
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        joined, document = _monitor(cli, repo)
    finally:
        del config["monitoring"]["feedback"], config["monitoring"]["id_columns"]
        (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert joined.code == 1, joined.err
    result = MonitorResult.from_json(document["monitor"])
    assert result.verdict == "degraded"
    assert result.concept.label_source == "feedback"
    assert result.concept.labelled_rows == len(holdout.index)


def _log_batch(frame: pd.DataFrame, stamp: str, version: str = "1") -> bytes:
    lines = []
    for row in frame.drop(columns=[ID, TARGET]).to_dict(orient="records"):
        lines.append(
            json.dumps(
                {
                    "timestamp": f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:00:00Z",
                    "model": MODEL,
                    "version": version,
                    "inputs": row,
                    "prediction": 0,
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.slow
def test_the_prediction_log_on_s3_is_read_newest_first_up_to_the_window(
    deployed: dict, cli, s3_env: str, s3_bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, holdout = deployed["repo"], deployed["holdout"]
    batches = [holdout.iloc[i * 65 : (i + 1) * 65] for i in range(4)]
    keys = [f"log/2026/12/0{day}/2026120{day}T0{day}0000Z-ab{day}.jsonl" for day in (1, 2, 3, 4)]
    # Written newest first, so LastModified says the opposite of the times in the keys.
    for key, batch, shifted in reversed(list(zip(keys, batches, (0, 0, 1, 1), strict=True))):
        s3_bucket.put(key, _log_batch(_shifted(batch) if shifted else batch, key.split("/")[-1]))
    s3_bucket.put("log/README.txt", b"not data")
    other = _log_batch(batches[0], "20261205T000000Z").replace(MODEL.encode(), b"another-model")
    s3_bucket.put("elsewhere/20261205T000000Z-cd.jsonl", other)
    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    original = dict(config["monitoring"])
    config["monitoring"].update(data=f"s3://{s3_bucket.name}/log/", window=130)
    config["validation"]["drift"]["min_rows"] = 50
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        outcome, document = _monitor(cli, repo)
        config["monitoring"]["data"] = f"s3://{s3_bucket.name}/elsewhere/"
        (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        nothing = cli("monitor", str(repo))
    finally:
        config["monitoring"] = original
        config["validation"]["drift"]["min_rows"] = 100
        (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    assert outcome.code == 1, outcome.err
    result = MonitorResult.from_json(document["monitor"])
    assert result.window.files_read == tuple(s3_bucket.uri(key) for key in reversed(keys[2:]))
    assert result.window.files_found == 4
    assert result.window.rows == 130
    assert result.window.prediction_log
    assert result.window.first_timestamp == "2026-12-03T03:00:00Z"
    assert result.window.last_timestamp == "2026-12-04T04:00:00Z"
    assert result.verdict == "drift"
    assert {item.feature for item in result.drifted} >= set(SHIFTED)
    assert result.prediction is not None
    assert result.prediction.source == "logged"
    # A log holding only another model's lines: nothing to check is an input problem.
    assert nothing.code == 2, nothing.err
    assert len(nothing.error_lines) == 1
    assert "monitoring.data: no production rows in the window" in nothing.err


@pytest.fixture
def unregistered(tmp_path: Path) -> Path:
    table = _table()
    repo = tmp_path / "bc"
    _write_repo(repo, table.iloc[:300], table.iloc[300:])
    return repo


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param("windw", 5, "unknown key (did you mean 'window'?)", id="typo"),
        pytest.param("window", "3 days", "'3 days' is not a time span", id="bad-span"),
        pytest.param("window", 0, "a window of rows must be at least 1", id="zero-rows"),
        pytest.param("max_drop", {"acuracy": 0.1}, "unknown metric 'acuracy'", id="metric"),
        pytest.param("retrain", True, "retrain: true needs retrain_workflow", id="retrain"),
        pytest.param("data", None, "monitoring.data is not set", id="no-data"),
        pytest.param("data", "nowhere/*.csv", "no readable data file", id="nothing-found"),
    ],
)
def test_bad_monitoring_config_is_one_line_and_exit_2(
    unregistered: Path, cli, key: str, value, message: str
) -> None:
    config = yaml.safe_load((unregistered / "mlgate.yaml").read_text())
    config["monitoring"][key] = value
    (unregistered / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    result = cli("monitor", str(unregistered))

    assert result.code == 2
    assert len(result.error_lines) == 1, result.err
    assert message in result.err
    assert "mlgate.yaml" in result.err
    assert not (unregistered / ".mlgate" / "monitor").exists()


# --- the pure core and the window, without a model ---------------------------------------


@pytest.mark.parametrize(
    ("metric", "low", "high", "recorded", "degraded"),
    [
        pytest.param("accuracy", 0.80, 0.86, 0.90, True, id="whole-interval-below"),
        pytest.param("accuracy", 0.80, 0.89, 0.90, False, id="interval-reaches-the-limit"),
        pytest.param("accuracy", 0.91, 0.95, 0.90, False, id="better"),
        pytest.param("log_loss", 0.40, 0.50, 0.30, True, id="lower-is-better-wholly-above"),
        pytest.param("log_loss", 0.25, 0.50, 0.30, False, id="lower-is-better-straddles"),
    ],
)
def test_a_metric_is_degraded_only_when_its_whole_interval_is_past_the_limit(
    metric: str, low: float, high: float, recorded: float, degraded: bool
) -> None:
    from mlgate.monitoring.concept import judge
    from mlgate.results.evaluate import Interval

    check = judge(metric, (low + high) / 2, Interval(low, high), recorded, 0.01)

    assert check.degraded is degraded
    assert check.limit == pytest.approx(recorded + (0.01 if metric == "log_loss" else -0.01))


def test_no_interval_or_no_recorded_figure_is_never_degraded() -> None:
    from mlgate.monitoring.concept import judge
    from mlgate.results.evaluate import Interval

    assert judge("accuracy", 0.5, None, 0.9, 0.0).note == (
        "no interval (too few defined bootstrap draws)"
    )
    assert not judge("accuracy", 0.5, None, 0.9, 0.0).degraded
    unrecorded = judge("accuracy", 0.5, Interval(0.4, 0.6), None, 0.0)
    assert not unrecorded.degraded
    assert unrecorded.note == "no figure recorded at registration"


def _project(repo: Path, **monitoring):
    from mlgate.project import find_config, load_project

    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    config["monitoring"] = monitoring
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return load_project(find_config(str(repo)))


def _read(project):
    from mlgate.monitoring.window import find_sources, read_window

    settings = project.config.monitoring
    return read_window(
        project,
        find_sources(project, settings.data),
        rows=settings.window_rows,
        seconds=settings.window_seconds,
        timestamp_column=settings.timestamp_column,
    )


def test_files_are_read_newest_first_by_the_time_in_their_names_up_to_the_rows(
    unregistered: Path,
) -> None:
    table = _table()
    folder = unregistered / "production"
    folder.mkdir()
    names = ["a-20261201T000000Z.csv", "b-20261202T000000Z.csv", "c-20261203T000000Z.parquet"]
    for index, name in enumerate(reversed(names)):  # modification times the other way round
        part = table.iloc[index * 100 : (index + 1) * 100]
        if name.endswith(".csv"):
            part.to_csv(folder / name, index=False)
        else:
            part.to_parquet(folder / name, index=False)
        os.utime(folder / name, (1_000_000 + index, 1_000_000 + index))
    (folder / "notes.txt").write_text("not data")
    project = _project(unregistered, data="production/", window=150)

    window = _read(project)

    assert [Path(name).name for name in window.files_read] == [names[2], names[1]]
    assert window.files_found == 3
    assert len(window.frame.index) == 150
    # The newest 150 rows, oldest first: the last 50 of file b (table rows 100-199), then
    # the newest file's 100 (rows 0-99).
    expected = list(table.iloc[150:200][ID]) + list(table.iloc[0:100][ID])
    assert list(window.frame[ID]) == expected
    assert not window.prediction_log


def test_a_time_span_keeps_the_rows_within_it_of_the_newest(unregistered: Path) -> None:
    table = _table().iloc[:48].copy()
    table["seen_at"] = pd.date_range("2026-12-01T00:00:00Z", periods=48, freq="h").strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    (unregistered / "production").mkdir()
    table.sample(frac=1.0, random_state=0).to_csv(
        unregistered / "production" / "all.csv", index=False
    )

    window = _read(
        _project(unregistered, data="production/all.csv", window="12h", timestamp_column="seen_at")
    )

    assert list(window.frame["seen_at"]) == list(table["seen_at"].iloc[-13:])
    assert window.timestamps is not None
    assert str(window.timestamps.iloc[0]) == "2026-12-02 11:00:00+00:00"


def test_a_time_span_without_times_is_a_config_error(unregistered: Path) -> None:
    from mlgate.errors import ConfigError

    (unregistered / "production").mkdir()
    _table().iloc[:10].to_csv(unregistered / "production" / "plain.csv", index=False)
    project = _project(unregistered, data="production/plain.csv", window="24h")

    with pytest.raises(ConfigError, match="a time span needs times"):
        _read(project)


def test_the_prediction_log_is_recognised_and_only_this_models_rows_kept(
    unregistered: Path,
) -> None:
    table = _table()
    day = unregistered / "log" / "2026" / "12" / "03"
    day.mkdir(parents=True)
    mine = _log_batch(table.iloc[:30], "20261203T080000Z", version="4")
    other = json.loads(_log_batch(table.iloc[30:31], "20261203T080000Z").splitlines()[0])
    other["model"] = "someone-else"
    (day / "20261203T080000Z-0a1b.jsonl").write_bytes(mine + json.dumps(other).encode() + b"\n")
    project = _project(unregistered, data="log/", window="1h")

    window = _read(project)

    assert window.prediction_log
    assert len(window.frame.index) == 30
    assert window.frame["mean_radius"].tolist() == table["mean_radius"].iloc[:30].tolist()
    assert window.predictions is not None
    assert set(window.predictions) == {0}
    assert window.versions is not None
    assert set(window.versions) == {"4"}


@pytest.mark.slow
def test_training_data_on_s3_is_read_back_by_its_recorded_version(
    tmp_path: Path, cli, s3_env: str, s3_bucket
) -> None:
    table = _table()
    reference, holdout = table.iloc[:300], table.iloc[300:]
    repo = tmp_path / "bc"
    _write_repo(repo, reference, holdout)
    trained_on = s3_bucket.put("data/train.csv", reference.to_csv(index=False).encode())
    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    config["data"]["training_data_path"] = s3_bucket.uri("data/train.csv")
    config["evaluation"]["bootstrap"] = {"n": 50}
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert _mlgate(repo, "run").returncode == 0
    promoted = _mlgate(
        repo, "promote", MODEL, "--version", "1", "--to", "production", "--force", "--reason",
        "monitor test", "--config", str(repo / "mlgate.yaml"),
    )  # fmt: skip
    assert promoted.returncode == 0, promoted.stderr
    # The key now holds other data: the check must still compare with what v1 saw.
    s3_bucket.put("data/train.csv", _shifted(reference).to_csv(index=False).encode())
    (repo / "production").mkdir()
    holdout.drop(columns=[TARGET]).to_csv(repo / "production" / "window.csv", index=False)

    outcome, document = _monitor(cli, repo)

    assert outcome.code == 0, outcome.err
    result = MonitorResult.from_json(document["monitor"])
    assert result.verdict == "ok", result.reasons
    assert result.reference.recorded
    assert result.reference.uri == s3_bucket.uri("data/train.csv")
    assert result.reference.version_id == trained_on
    assert result.reference.note is None


def test_an_unreachable_s3_endpoint_is_exit_3_in_one_line(
    unregistered: Path, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    config = yaml.safe_load((unregistered / "mlgate.yaml").read_text())
    config["monitoring"]["data"] = "s3://serving-logs/churn/"
    (unregistered / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    result = cli("monitor", str(unregistered))

    assert result.code == 3, result.err
    assert len(result.error_lines) == 1, result.err
    assert "s3://serving-logs/churn/" in result.err
    assert "unreachable" in result.err


@pytest.mark.slow
def test_a_changed_training_file_falls_back_with_a_note(deployed: dict, cli) -> None:
    repo, holdout = deployed["repo"], deployed["holdout"]
    training = repo / "data" / "train.csv"
    original = training.read_bytes()
    (repo / "production").mkdir(exist_ok=True)
    holdout.to_csv(repo / "production" / "window.csv", index=False)
    training.write_bytes(original + original.splitlines(keepends=True)[1])  # one more row
    try:
        outcome, document = _monitor(cli, repo)
    finally:
        training.write_bytes(original)

    assert outcome.code in (0, 1), outcome.err
    reference = MonitorResult.from_json(document["monitor"]).reference
    assert not reference.recorded
    assert reference.rows == 301
    assert reference.note is not None
    assert "the file has changed since the version was trained on it" in reference.note
    assert "## Data" in (Path(document["run_dir"]) / "monitor.md").read_text()
