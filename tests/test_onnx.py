"""`export.onnx`: the trained pipeline as ONNX, checked against scikit-learn, registered
beside it; and the ONNX serving image's request handling (without Docker).

The slow tests run the real `mlgate` command on the churn example (a classifier with
categorical features), on a 3-class dataset (scikit-learn's wine data, whose column names
skl2onnx has to rename), on a regressor, on a team's estimator skl2onnx does not know,
and with onnxruntime made impossible to import. The Docker test of the ONNX image is in
test_build_image.py, beside the scikit-learn image it is compared with.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlgate import _onnx
from mlgate.config import Config
from mlgate.serving import context, plan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn"
IMAGE_DIR = ROOT / "src" / "mlgate" / "serving" / "image"

# A team's estimator: scikit-learn can fit and score it, skl2onnx has no converter for it.
TEAM_MODULE = """\
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class MajorityOfNeighbours(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.X_, self.codes_ = np.asarray(X, dtype=float), codes
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=float)
        nearest = np.argsort(((X[:, None, :] - self.X_[None]) ** 2).sum(-1), axis=1)[:, :5]
        votes = self.codes_[nearest]
        return np.stack([(votes == k).mean(1) for k in range(len(self.classes_))], axis=1)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


def build():
    return MajorityOfNeighbours()
"""

# Imported before anything else in the child process: onnxruntime cannot be imported,
# as on a machine where the mlgate[onnx] extra is not installed.
BLOCK_ONNXRUNTIME = """\
import sys


class _NoOnnxRuntime:
    def find_spec(self, name, path=None, target=None):
        if name == "onnxruntime" or name.startswith("onnxruntime."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoOnnxRuntime())
"""


def mlgate(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "MLFLOW_", "AWS_", "PYTEST_", "MLGATE_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "mlgate", *args],
        cwd=repo,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


def latest(repo: Path) -> Path:
    runs = repo / ".mlgate" / "runs"
    return runs / (runs / "LATEST").read_text().strip()


def train_json(repo: Path) -> dict[str, Any]:
    return json.loads((latest(repo) / "train.json").read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_repo(
    root: Path,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    target: str,
    features: dict[str, Any],
    model: dict[str, Any],
    export: dict[str, Any],
) -> Path:
    root.mkdir(parents=True)
    train.to_csv(root / "train.csv", index=False)
    validation.to_csv(root / "validation.csv", index=False)
    (root / "features.yaml").write_text(
        yaml.safe_dump({"target": target, "features": features}, sort_keys=False)
    )
    config = {
        "version": "1.0",
        "data": {
            "training_data_path": "train.csv",
            "validation_data_path": "validation.csv",
            "feature_spec": "features.yaml",
        },
        "model": model,
        "validation": {"drift": {"enabled": False}},
        "evaluation": {"bootstrap": {"n": 50}},
        "tracking": {"registry_name": "onnx-test-model", "experiment_name": "onnx-test"},
        "export": export,
    }
    (root / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def wine_repo(root: Path, export: dict[str, Any]) -> Path:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["cultivar"] = frame.pop("target").map(lambda k: f"class_{k}")
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    features = {name: "numeric" for name in shuffled.columns if name != "cultivar"}
    assert "od280/od315_of_diluted_wines" in features  # skl2onnx renames this input
    return write_repo(
        root,
        shuffled.iloc[:128],
        shuffled.iloc[128:],
        "cultivar",
        features,
        {"type": "GradientBoosting", "params": {"n_estimators": 40, "max_depth": 2}},
        export,
    )


def small_repo(root: Path, model: dict[str, Any]) -> Path:
    rng = np.random.default_rng(5)
    rows = 300
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows).round(3),
            "x2": rng.uniform(0, 10, size=rows).round(3),
            "plan": rng.choice(["basic", "plus", "premium"], size=rows),
        }
    )
    signal = frame.x1 - 0.3 * (frame.x2 - 5) + (frame.plan == "premium")
    frame["churned"] = np.where(signal + rng.logistic(scale=0.5, size=rows) > 0, "yes", "no")
    frame.loc[frame.index[::9], "plan"] = None  # a category of its own for the encoder
    features = {
        "x1": "numeric",
        "x2": "numeric",
        "plan": {"type": "categorical", "nullable": True},
    }
    return write_repo(
        root, frame.iloc[:220], frame.iloc[220:], "churned", features, model, {"onnx": True}
    )


# --- the churn example -------------------------------------------------------------------


@pytest.mark.slow
def test_the_churn_example_exports_onnx_that_agrees_and_registers_it_beside_sklearn(
    tmp_path: Path,
) -> None:
    import joblib
    import onnxruntime

    repo = tmp_path / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    with (repo / "mlgate.yaml").open("a", encoding="utf-8") as config:
        config.write("export: {onnx: true, onnx_tolerance: 1e-5}\n")

    done = mlgate(repo, "run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"ONNX parity on 1,000 validation rows \(max \|Δ\| \S+ ≤ 1e-05\)", done.stdout)
    record = train_json(repo)
    onnx = record["onnx"]
    assert record["verdict"] == "passed"
    assert onnx["passed"] is True
    assert onnx["rows"] == 1000
    assert onnx["labels_differing"] == 0
    assert 0 <= onnx["max_abs_diff"] <= 1e-5
    assert onnx["worst_class"] in ("no", "yes")
    run = latest(repo)
    assert onnx["sha256"] == sha256(run / "model.onnx")

    # Checked again here, independently of the record: every validation row, both classes.
    validation = pd.read_csv(repo / "data" / "validation.csv")
    pipeline = joblib.load(run / "model.joblib")
    session = onnxruntime.InferenceSession(
        str(run / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    columns = record["feature_columns"]
    labels, probabilities = session.run(None, _onnx.feeds(validation[columns], session))
    assert list(labels.ravel()) == list(pipeline.predict(validation[columns]))
    assert np.abs(probabilities - pipeline.predict_proba(validation[columns])).max() <= 1e-5

    # The registered version holds both flavours; MLflow's own onnx loader reads it.
    uri = f"sqlite:///{repo / '.mlgate' / 'mlflow.db'}"
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import mlflow, mlflow.onnx, sys, yaml\n"
            f"mlflow.set_tracking_uri({uri!r})\n"
            "model = mlflow.onnx.load_model('models:/production-churn-model/1')\n"
            "path = mlflow.artifacts.download_artifacts('models:/production-churn-model/1')\n"
            "meta = yaml.safe_load(open(path + '/MLmodel'))\n"
            "print(sorted(meta['flavors']), [i.name for i in model.graph.input])",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    flavors, inputs = loaded.stdout.strip().split("] [")
    assert flavors == "['onnx', 'python_function', 'sklearn'"
    assert "'plan'" in inputs
    assert "'tenure_months'" in inputs

    # Nothing changed: the train stage is reused, model.onnx with it.
    again = mlgate(repo, "run")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    reused = train_json(repo)
    assert reused["cache"]["reused"] is True
    assert sha256(latest(repo) / "model.onnx") == onnx["sha256"]


# --- a 3-class model, a regressor ---------------------------------------------------------


@pytest.mark.slow
def test_a_three_class_model_agrees_and_a_tolerance_it_misses_fails_naming_row_and_class(
    tmp_path: Path,
) -> None:
    repo = wine_repo(tmp_path / "wine", {"onnx": True})
    done = mlgate(repo, "train")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    onnx = train_json(repo)["onnx"]
    assert onnx["passed"] is True
    assert onnx["rows"] == 50
    assert onnx["labels_differing"] == 0
    assert onnx["max_abs_diff"] <= 1e-5
    assert onnx["worst_class"] in ("class_0", "class_1", "class_2")
    assert (latest(repo) / "model.onnx").is_file()

    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    config["export"]["onnx_tolerance"] = 1e-12  # tighter than float arithmetic can meet
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    missed = mlgate(repo, "train")
    assert missed.returncode == 1, missed.stdout[-3000:] + missed.stderr[-3000:]
    record = train_json(repo)
    assert record["verdict"] == "failed"
    reason = record["onnx"]["reason"]
    worst = record["onnx"]["max_abs_diff"]
    assert re.fullmatch(
        r"ONNX probabilities differ from scikit-learn's by up to \S+ \(class 'class_[012]' "
        r"on validation row \d+\), above export.onnx_tolerance 1e-12",
        reason,
    ), reason
    assert f"row {record['onnx']['worst_row']})" in reason
    assert f"{worst:.3g}" in reason
    assert reason in missed.stdout  # the stage's line says why
    assert not (latest(repo) / "model.onnx").exists()  # never left to be served


@pytest.mark.slow
def test_a_regressor_exports_with_doubles_and_agrees_to_the_last_digits(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame.loc[frame.index[::17], "bmi"] = np.nan  # imputed, in ONNX as in scikit-learn
    features = {name: "numeric" for name in frame.columns if name != "target"}
    features["bmi"] = {"type": "numeric", "nullable": True}
    repo = write_repo(
        tmp_path / "diabetes",
        frame.iloc[:330],
        frame.iloc[330:],
        "target",
        features,
        {"type": "Ridge"},
        {"onnx": True, "onnx_tolerance": 1e-9},
    )
    done = mlgate(repo, "train")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    onnx = train_json(repo)["onnx"]
    assert onnx["passed"] is True
    assert onnx["numeric_type"] == "double"
    assert onnx["max_abs_diff"] <= 1e-9
    assert "labels_differing" not in onnx
    assert "worst_class" not in onnx


@pytest.mark.slow
def test_a_missing_category_is_fed_as_scikit_learn_encodes_it(tmp_path: Path) -> None:
    """Training saw rows without a plan: the encoder has a category for them, which ONNX
    must meet too (it did not when missing text was fed as an unknown category)."""
    repo = small_repo(tmp_path / "missing", {"type": "LogisticRegression"})
    assert pd.read_csv(repo / "validation.csv")["plan"].isna().any()
    done = mlgate(repo, "train")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    onnx = train_json(repo)["onnx"]
    assert onnx["passed"] is True, onnx
    assert onnx["numeric_type"] == "double"
    assert onnx["max_abs_diff"] <= 1e-12


# --- what cannot be exported ---------------------------------------------------------------


@pytest.mark.slow
def test_a_model_skl2onnx_cannot_convert_fails_the_train_stage_and_is_not_registered(
    tmp_path: Path,
) -> None:
    repo = small_repo(tmp_path / "team", {"type": "team_model:build"})
    (repo / "team_model.py").write_text(TEAM_MODULE)
    done = mlgate(repo, "run")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    record = train_json(repo)
    assert record["verdict"] == "failed"
    assert record["onnx"]["passed"] is False
    assert record["onnx"]["rows"] == 0
    reason = record["onnx"]["reason"]
    assert reason.startswith("skl2onnx cannot convert this pipeline: ")
    assert "MajorityOfNeighbours" in reason
    assert f"ONNX export failed: {reason}" in done.stdout
    register = json.loads((latest(repo) / "register.json").read_text())
    assert register["verdict"] == "skipped"
    assert register["version"] is None
    assert not (latest(repo) / "model.onnx").exists()


@pytest.mark.slow
def test_without_the_onnx_packages_export_is_exit_2_naming_the_key_and_the_extra(
    tmp_path: Path,
) -> None:
    repo = small_repo(tmp_path / "plain", {"type": "LogisticRegression"})
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_ONNXRUNTIME)
    done = mlgate(repo, "train", PYTHONPATH=str(blocker))
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "mlgate: error: export.onnx: needs skl2onnx, onnxruntime, onnx, and onnxruntime "
        "cannot be imported (ModuleNotFoundError): pip install 'mlgate[onnx]'"
    )
    assert "Traceback" not in done.stderr
    stopped = json.loads((latest(repo) / "stopped.json").read_text())
    assert stopped["stage"] == "train"
    assert stopped["exit_code"] == 2


# --- the parity verdict, from figures ------------------------------------------------------


@pytest.mark.parametrize(
    ("got", "labels", "reason"),
    [
        pytest.param([[0.9, 0.1], [0.2, 0.8]], ["no", "yes"], None, id="equal"),
        pytest.param(
            [[0.9, 0.1], [0.2003, 0.7997]],
            ["no", "yes"],
            "ONNX probabilities differ from scikit-learn's by up to 0.0003 (class 'no' on "
            "validation row 2), above export.onnx_tolerance 1e-05",
            id="a-probability-off",
        ),
        pytest.param(
            [[0.9, 0.1], [0.2, 0.8]],
            ["no", "no"],
            "ONNX labels differ from scikit-learn's on 1 of 2 validation rows (first: row 2, "
            "'no' instead of 'yes')",
            id="a-label-off",
        ),
    ],
)
def test_parity_names_the_worst_row_and_class(
    got: list[list[float]], labels: list[str], reason: str | None
) -> None:
    class Pipeline:
        classes_ = np.array(["no", "yes"], dtype=object)

        def predict(self, frame: Any) -> Any:
            return np.array(["no", "yes"], dtype=object)

        def predict_proba(self, frame: Any) -> Any:
            return np.array([[0.9, 0.1], [0.2, 0.8]])

    class Session:
        def get_inputs(self) -> list[Any]:
            return []

        def get_modelmeta(self) -> Any:
            return type("Meta", (), {"custom_metadata_map": {}})()

        def run(self, names: Any, feeds: Any) -> list[Any]:
            return [np.array(labels, dtype=object), np.array(got, dtype=np.float32)]

    record = _onnx._parity(Pipeline(), Session(), pd.DataFrame(index=[0, 1]), True, 1e-5)
    assert record.reason == reason
    assert record.passed is (reason is None)


# --- config ------------------------------------------------------------------------------------


BASE = {
    "data": {"training_data_path": "a", "validation_data_path": "b", "feature_spec": "c"},
    "model": {"type": "GradientBoosting"},
}


def test_export_is_off_by_default_and_the_tolerance_reads_as_written() -> None:
    assert Config.model_validate(BASE).export.onnx is False
    assert Config.model_validate(BASE).export.onnx_tolerance == 1e-5
    written = yaml.safe_load("export: {onnx: true, onnx_tolerance: 1e-4}")  # YAML: text
    assert written["export"]["onnx_tolerance"] == "1e-4"
    assert Config.model_validate({**BASE, **written}).export.onnx_tolerance == 1e-4


@pytest.mark.parametrize(
    ("section", "found"),
    [
        pytest.param({"export": {"onnx": "yes"}}, "export.onnx", id="not-a-boolean"),
        pytest.param({"export": {"onnx_tolerance": 0}}, "export.onnx_tolerance", id="zero"),
        pytest.param({"export": {"onnx_tolerance": "small"}}, "onnx_tolerance", id="text"),
        pytest.param({"export": {"tflite": True}}, "export.tflite", id="unknown-format"),
        pytest.param({"serving": {"flavor": "tensorrt"}}, "serving.flavor", id="flavor"),
    ],
)
def test_bad_export_and_flavor_settings_are_refused(section: dict[str, Any], found: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as refused:
        Config.model_validate({**BASE, **section})
    assert found in str(refused.value).replace("\n", ".")


# --- the ONNX image, without Docker ------------------------------------------------------------


def test_the_onnx_image_needs_onnxruntime_numpy_and_the_server_only() -> None:
    pins = "mlflow==3.17.2\nnumpy==2.4.6\npandas==3.1.1\nscikit-learn==1.9.1\n"
    assert plan.onnx_requirements(pins, "1.32.0") == [
        "onnxruntime==1.32.0",
        "uvicorn==0.54.0",
        "prometheus-client==0.26.0",
        "numpy==2.4.6",
    ]
    with_log = plan.onnx_requirements(pins, None, "s3://b/p/", prediction_log=True)
    assert with_log[0] == "onnxruntime"
    assert "pandas==3.1.1" in with_log
    assert any(line.startswith("boto3==") for line in with_log)
    assert plan.image_names("churn", "3", None, "onnx").reference == "mlgate/churn:v3-onnx"
    assert plan.image_names("churn", "3", None).reference == "mlgate/churn:v3"


def test_a_version_without_model_onnx_is_refused_naming_the_key(tmp_path: Path) -> None:
    from mlgate.errors import InputError

    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn: {pickled_model: model.pkl}\n")
    with pytest.raises(InputError) as refused:
        context.read_onnx(tmp_path, "churn v3", "serving.flavor")
    assert refused.value.exit_code == 2
    assert str(refused.value).startswith(
        "churn v3 has no model.onnx (no onnx flavour in its MLmodel), so serving.flavor onnx "
        "cannot serve it"
    )
    (tmp_path / "MLmodel").write_text(
        "flavors:\n  onnx: {data: model.onnx, onnxruntime_version: 1.32.0}\n"
    )
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")
    assert context.read_onnx(tmp_path, "churn v3", "--flavor") == "1.32.0"


@pytest.fixture(scope="module")
def image_module() -> Any:
    sys.path.insert(0, str(IMAGE_DIR))
    try:
        import onnx_model

        yield onnx_model
    finally:
        sys.path.remove(str(IMAGE_DIR))
        sys.modules.pop("onnx_model", None)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(
            {"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [None, "y"]]}},
            "application/json",
            id="dataframe_split",
        ),
        pytest.param(
            {"dataframe_records": [{"a": 1, "b": "x"}, {"b": "y"}]},
            "application/json",
            id="dataframe_records",
        ),
        pytest.param(
            {"inputs": {"a": [1, None], "b": ["x", "y"]}}, "application/json", id="inputs"
        ),
        pytest.param(
            {"instances": [{"a": 1, "b": "x"}, {"a": None, "b": "y"}]},
            "application/json",
            id="instances",
        ),
        pytest.param("a,b\n1,x\n,y\n", "text/csv; charset=utf-8", id="csv"),
    ],
)
def test_the_onnx_server_reads_every_request_format_of_mlflow(
    image_module: Any, body: Any, content_type: str
) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    data, _ = image_module.parse(raw, content_type)
    assert [image_module._missing(v) for v in data["a"]] == [False, True]
    assert float(data["a"][0]) == 1.0
    assert data["b"] == ["x", "y"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "expected"),
    [
        pytest.param(b"[1, 2]", "application/json", 400, "Received a list", id="a-list"),
        pytest.param(b"{", "application/json", 400, "valid JSON", id="not-json"),
        pytest.param(b'{"rows": []}', "application/json", 400, "exactly one", id="no-format"),
        pytest.param(b"a,b", "text/plain", 415, "content types", id="content-type"),
        pytest.param(
            b'{"inputs": {"b": ["x"]}}', "application/json", 400, "missing column", id="column"
        ),
        pytest.param(
            b'{"inputs": {"a": ["many"], "b": ["x"]}}',
            "application/json",
            400,
            "column 'a' must be numeric",
            id="not-a-number",
        ),
    ],
)
def test_bad_requests_are_answered_as_mlflow_answers_them(
    image_module: Any, body: bytes, content_type: str, status: int, expected: str
) -> None:
    class Model:
        def predict(self, data: dict[str, list[Any]], params: Any = None) -> Any:
            missing = [name for name in ("a", "b") if name not in data]
            if missing:
                raise image_module.BadRequest(f"missing column(s) {missing}")
            return image_module._array(data["a"], "tensor(double)", "a")

    answered, content, text = image_module.invocations(Model(), body, content_type)
    assert answered == status
    assert content == ("text/plain" if status == 415 else "application/json")
    assert expected in text.decode()
    if status == 400:
        assert set(json.loads(text)) == {"error_code", "message"}
