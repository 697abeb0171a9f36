"""Loading mlgate.yaml and its feature spec: what is valid, and how an error points at the fix.

Pure unit tests of `load_project`: small YAML files in tmp_path, no data, no training,
no MLflow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.config import Gate
from mlgate.errors import ConfigError
from mlgate.project import load_project

# The `training-config.yaml` of the seed, as written there (quotes and comments included).
SEED_CONFIG = """\
# training-config.yaml
version: 1.0
# Data sources
data:
  training_data_path: "s3://my-bucket/processed/train-v1.2.csv"
  validation_data_path: "s3://my-bucket/processed/validation-v1.2.csv"
  feature_spec: "configs/features.yaml"
# Model parameters
model:
  type: "GradientBoosting"
  params:
    n_estimators: 250
    learning_rate: 0.05
    max_depth: 5
# Execution environment
compute:
  cluster: "gpu-cluster-medium"
  docker_image: "my-registry/training-env:latest"
# Experiment tracking
tracking:
  experiment_name: "customer-churn-prediction"
  registry_name: "production-churn-model"
"""

# Eight lines, so that a section appended to it starts on line 9.
BASE_CONFIG = """\
version: 1.0
data:
  training_data_path: data/train.csv
  validation_data_path: data/validation.csv
  feature_spec: configs/features.yaml
model:
  type: GradientBoosting
  params: {n_estimators: 250, learning_rate: 0.05, max_depth: 5}
"""

# Ten lines; the line numbers below are what the error cases point at.
BASE_SPEC = """\
target: churned
positive_label: "yes"
task: classification
id_columns: [customer_id]
features:
  tenure_months: numeric
  plan: {type: categorical, values: [basic, plus, premium]}
sensitive_features:
  gender: categorical
  age: {type: numeric, bins: [18, 30, 45, 65, 120]}
"""

FULL_CONFIG = """\
version: 1.0
data:
  training_data_path: data/train.csv
  validation_data_path: data/validation.csv
  feature_spec: configs/features.yaml
model:
  type: GradientBoosting
  params: {n_estimators: 250, learning_rate: 0.05, max_depth: 5}
  seed: 7
validation:
  suite: expectations/churn.yml
  drift:
    features: [tenure_months, age]
evaluation:
  metrics: [roc_auc, accuracy, f1]
  gates:
    roc_auc: {min: 0.80}
    accuracy: {max_drop: 0.01}
    log_loss: {min: 0.1, max: 0.6}
fairness:
  sensitive_features: [gender, [gender, age]]
  thresholds: {demographic_parity_difference: 0.10, equalized_odds_difference: 0.15}
card:
  owners: [ml-team@example.com]
  intended_use: "Rank customers for a retention call."
  limitations: "Trained on synthetic data."
compute:
  cluster: gpu-cluster-medium
  docker_image: my-registry/training-env:latest
tracking:
  experiment_name: customer-churn-prediction
  registry_name: production-churn-model
  registration: never
promotion:
  aliases: [staging, canary, production]
  canary_percent: 5
"""

CONFIG = "mlgate.yaml"
SPEC = "configs/features.yaml"

# Nine levels of ten aliases each: a billion values once expanded.
ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n" for level in range(1, 9)
)


def write_repo(root: Path, files: dict[str, str | bytes | None] | None = None) -> Path:
    """A model repo with the base config and spec, overridden (None: left out) by `files`."""
    contents: dict[str, str | bytes | None] = {CONFIG: BASE_CONFIG, SPEC: BASE_SPEC}
    contents.update(files or {})
    for name, content in contents.items():
        if content is None:
            continue
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root / CONFIG


def test_seed_training_config_loads_unchanged(tmp_path: Path) -> None:
    config_path = write_repo(tmp_path, {CONFIG: SEED_CONFIG})

    project = load_project(config_path)

    config = project.config
    assert config.version == "1.0"
    assert config.data.training_data_path == "s3://my-bucket/processed/train-v1.2.csv"
    assert config.data.validation_data_path == "s3://my-bucket/processed/validation-v1.2.csv"
    assert config.data.feature_spec == "configs/features.yaml"
    assert config.model.type == "GradientBoosting"
    assert config.model.params == {"n_estimators": 250, "learning_rate": 0.05, "max_depth": 5}
    assert config.compute.cluster == "gpu-cluster-medium"
    assert config.compute.docker_image == "my-registry/training-env:latest"
    assert project.experiment_name == "customer-churn-prediction"
    assert project.registry_name == "production-churn-model"
    # URIs are kept as written, never resolved as local paths.
    uri = "s3://my-bucket/processed/train-v1.2.csv"
    assert project.location(config.data.training_data_path) == uri
    assert project.spec.target == "churned"


def test_config_with_every_section_is_valid(tmp_path: Path) -> None:
    config_path = write_repo(tmp_path, {CONFIG: FULL_CONFIG})

    config = load_project(config_path).config

    assert config.model.seed == 7
    assert config.validation.suite == "expectations/churn.yml"
    assert config.validation.drift.features == ["tenure_months", "age"]
    assert config.evaluation.metrics == ["roc_auc", "accuracy", "f1"]
    assert config.evaluation.gates == {
        "roc_auc": Gate(min=0.80),
        "accuracy": Gate(max_drop=0.01),
        "log_loss": Gate(min=0.1, max=0.6),
    }
    assert config.evaluation.gates["accuracy"].is_comparative
    assert not config.evaluation.gates["roc_auc"].is_comparative
    assert config.fairness.sensitive_features == ["gender", ["gender", "age"]]
    assert config.fairness.thresholds == {
        "demographic_parity_difference": 0.10,
        "equalized_odds_difference": 0.15,
    }
    assert config.card.owners == ["ml-team@example.com"]
    assert config.card.intended_use == "Rank customers for a retention call."
    assert config.tracking.registration == "never"
    assert config.promotion.aliases == ["staging", "canary", "production"]
    assert config.promotion.canary_percent == 5


def test_only_data_and_model_are_required(tmp_path: Path) -> None:
    project = load_project(write_repo(tmp_path))

    assert project.config.evaluation.gates == {}
    assert project.config.tracking.registration == "auto"
    # Without tracking names the model is named after its folder.
    assert project.registry_name == tmp_path.name
    assert project.experiment_name == tmp_path.name


def test_feature_spec_shorthand_and_roles(tmp_path: Path) -> None:
    spec = load_project(write_repo(tmp_path)).spec

    assert spec.features["tenure_months"].type == "numeric"
    assert spec.features["plan"].values == ["basic", "plus", "premium"]
    assert spec.sensitive_features["age"].bins == [18, 30, 45, 65, 120]
    assert spec.positive_label == "yes"
    # Sensitive features stay out of the model's inputs unless allowed.
    assert list(spec.model_inputs) == ["tenure_months", "plan"]


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    config_path = write_repo(repo)
    elsewhere = tmp_path / "elsewhere"
    # A broken spec at the same relative path from the working directory: it must not be read.
    write_repo(elsewhere, {SPEC: "target: [not, a, spec]\n"})
    monkeypatch.chdir(elsewhere)

    project = load_project(config_path)

    assert project.root == repo
    assert project.spec.target == "churned"
    assert project.location("data/train.csv") == repo / "data" / "train.csv"
    assert project.location("../shared/validation.csv") == tmp_path / "shared" / "validation.csv"
    assert project.location(str(tmp_path / "abs.csv")) == tmp_path / "abs.csv"
    assert project.state_dir == repo / ".mlgate"


def test_feature_spec_path_is_relative_to_the_config_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nested = BASE_CONFIG.replace("configs/features.yaml", "../specs/features.yaml")
    config_path = write_repo(tmp_path / "repo", {CONFIG: nested, SPEC: None})
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "features.yaml").write_text(BASE_SPEC, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "specs")

    project = load_project(config_path)

    assert project.spec_doc.path == tmp_path / "specs" / "features.yaml"


def with_config(extra: str) -> dict[str, str]:
    return {CONFIG: BASE_CONFIG + extra}


def replacing(old: str, new: str, *, in_spec: bool = False) -> dict[str, str]:
    base = BASE_SPEC if in_spec else BASE_CONFIG
    assert old in base, old
    return {SPEC if in_spec else CONFIG: base.replace(old, new)}


# (files to override, where the error points as the user reads it: `file:line: key path`,
# and the hint). No line: the error is about the whole file; no key path: about no one key.
BAD_CONFIGS = [
    pytest.param(
        with_config("trackng:\n  experiment_name: churn\n"),
        "mlgate.yaml:9: trackng",
        "did you mean 'tracking'?",
        id="unknown-top-level-key",
    ),
    pytest.param(
        with_config("  seeds: 3\n"),
        "mlgate.yaml:9: model.seeds",
        "did you mean 'seed'?",
        id="unknown-key-in-model",
    ),
    pytest.param(
        with_config("validation:\n  drift:\n    featurs: [age]\n"),
        "mlgate.yaml:11: validation.drift.featurs",
        "did you mean 'features'?",
        id="unknown-key-three-deep",
    ),
    pytest.param(
        with_config("evaluation:\n  gates:\n    roc_auc: {minimum: 0.8}\n"),
        "mlgate.yaml:11: evaluation.gates.roc_auc.minimum",
        "did you mean 'min'?",
        id="unknown-key-in-a-gate",
    ),
    pytest.param(
        replacing(
            "params: {n_estimators: 250, learning_rate: 0.05, max_depth: 5}",
            "params: [250, 0.05, 5]",
        ),
        "mlgate.yaml:8: model.params",
        "expected a mapping of keys to values, got a list",
        id="params-as-a-list",
    ),
    pytest.param(
        with_config("  seed: five\n"),
        "mlgate.yaml:9: model.seed",
        'expected an integer, got "five"',
        id="seed-not-an-integer",
    ),
    pytest.param(
        with_config("  seed: 1.5\n"),
        "mlgate.yaml:9: model.seed",
        "expected an integer, got 1.5",
        id="seed-a-fraction",
    ),
    pytest.param(
        replacing("training_data_path: data/train.csv", "training_data_path: 5"),
        "mlgate.yaml:3: data.training_data_path",
        "expected a string, got 5",
        id="data-path-a-number",
    ),
    pytest.param(
        with_config("card:\n  owners: ml-team@example.com\n"),
        "mlgate.yaml:10: card.owners",
        'expected a list, got "ml-team@example.com"',
        id="owners-not-a-list",
    ),
    pytest.param(
        with_config("evaluation:\n  metrics: [roc_auc, acuracy]\n"),
        "mlgate.yaml:10: evaluation.metrics[1]",
        "unknown metric 'acuracy' (did you mean 'accuracy'?)",
        id="unknown-metric",
    ),
    pytest.param(
        with_config("evaluation:\n  gates:\n    f1_score: {min: 0.5}\n"),
        "mlgate.yaml:11: evaluation.gates.f1_score",
        "unknown metric 'f1_score'",
        id="unknown-gate-metric",
    ),
    pytest.param(
        with_config("evaluation:\n  metrics: [roc_auc, rmse]\n"),
        "mlgate.yaml:10: evaluation.metrics[1]",
        "'rmse' does not apply to classification",
        id="metric-of-the-other-task",
    ),
    pytest.param(
        with_config("evaluation:\n  gates:\n    roc_auc: {relative: true}\n"),
        "mlgate.yaml:11: evaluation.gates.roc_auc",
        "a gate needs at least one of min, max, max_drop, min_gain",
        id="gate-without-a-bound",
    ),
    pytest.param(
        with_config("evaluation:\n  gates:\n    roc_auc: {min: 0.9, max: 0.8}\n"),
        "mlgate.yaml:11: evaluation.gates.roc_auc",
        "min 0.9 is above max 0.8",
        id="gate-min-above-max",
    ),
    pytest.param(
        with_config("evaluation:\n  gates:\n    accuracy: {max_drop: -0.01}\n"),
        "mlgate.yaml:11: evaluation.gates.accuracy.max_drop",
        "must be at least 0",
        id="gate-negative-max-drop",
    ),
    pytest.param(
        with_config("tracking:\n  registration: sometimes\n"),
        "mlgate.yaml:10: tracking.registration",
        "expected one of 'auto', 'always' or 'never', got \"sometimes\"",
        id="bad-enum-value",
    ),
    pytest.param(
        with_config("fairness:\n  policy: strict\n"),
        "mlgate.yaml:10: fairness.policy",
        "expected one of 'point' or 'confident'",
        id="bad-fairness-policy",
    ),
    pytest.param(
        replacing("version: 1.0", "version: 2.0"),
        "mlgate.yaml:1: version",
        "this mlgate reads version 1.x",
        id="unsupported-version",
    ),
    pytest.param(
        with_config("model:\n  type: RandomForest\n"),
        "mlgate.yaml:9: model",
        "key 'model' appears twice (lines 6 and 9); keep one",
        id="duplicate-top-level-key",
    ),
    pytest.param(
        replacing(
            "params: {n_estimators: 250, learning_rate: 0.05, max_depth: 5}",
            "params:\n    max_depth: 3\n    max_depth: 5",
        ),
        "mlgate.yaml:10: model.params.max_depth",
        "appears twice (lines 9 and 10)",
        id="duplicate-nested-key",
    ),
    pytest.param(
        with_config("compute:\n  cluster: gpu: medium\n"),
        "mlgate.yaml:10",
        "invalid YAML: mapping values are not allowed here",
        id="malformed-yaml",
    ),
    pytest.param(
        with_config("card:\n\towners: []\n"),
        "mlgate.yaml:10",
        "invalid YAML: found character '\\t'",
        id="tab-indentation",
    ),
    pytest.param(
        {CONFIG: ""},
        "mlgate.yaml",
        "expected a mapping of keys to values at the top, got empty",
        id="empty-config",
    ),
    pytest.param(
        {CONFIG: "- data\n- model\n"},
        "mlgate.yaml:1",
        "expected a mapping of keys to values at the top, got a list",
        id="config-is-a-list",
    ),
    pytest.param(
        {CONFIG: BASE_CONFIG.encode() + b"card:\n  owners: [J\xe9r\xf4me]\n"},
        "mlgate.yaml:10",
        "config is not UTF-8 text",
        id="config-not-utf8",
    ),
    pytest.param(
        {CONFIG: "version: 1.0\nmodel:\n  type: GradientBoosting\n"},
        "mlgate.yaml:1",
        "missing required key 'data'",
        id="missing-data-section",
    ),
    pytest.param(
        replacing("  type: GradientBoosting\n", ""),
        "mlgate.yaml:6: model",
        "missing required key 'type'",
        id="missing-model-type",
    ),
    pytest.param(
        with_config("tracking:\n  registry_name: team/churn\n"),
        "mlgate.yaml:10: tracking.registry_name",
        "no '/', ':' or '@'",
        id="registry-name-with-slash",
    ),
    pytest.param(
        with_config("tracking:\n  registry_name: churn@production\n"),
        "mlgate.yaml:10: tracking.registry_name",
        "'churn@production' is not a usable",
        id="registry-name-with-at",
    ),
    pytest.param(
        with_config("promotion:\n  aliases: [staging, latest]\n"),
        "mlgate.yaml:10: promotion.aliases[1]",
        "'latest' and 'v<number>' are reserved by MLflow",
        id="reserved-alias",
    ),
    pytest.param(
        with_config("fairness:\n  sensitive_features: [gendr]\n"),
        "mlgate.yaml:10: fairness.sensitive_features[0]",
        "'gendr' is not a sensitive feature in the feature spec (did you mean 'gender'?)",
        id="fairness-feature-not-declared",
    ),
    pytest.param(
        with_config("fairness:\n  thresholds: {demographic_parity_diff: 0.1}\n"),
        "mlgate.yaml:10: fairness.thresholds.demographic_parity_diff",
        "did you mean 'demographic_parity_difference'?",
        id="unknown-fairness-threshold",
    ),
    pytest.param(
        with_config("validation:\n  drift:\n    features: [tenure_month]\n"),
        "mlgate.yaml:11: validation.drift.features[0]",
        "did you mean 'tenure_months'?",
        id="drift-feature-not-declared",
    ),
    pytest.param(
        {SPEC: None},
        "mlgate.yaml:5: data.feature_spec",
        "feature spec configs/features.yaml not found",
        id="missing-feature-spec-file",
    ),
    pytest.param(
        replacing("feature_spec: configs/features.yaml", "feature_spec: s3://bucket/features.yaml"),
        "mlgate.yaml:5: data.feature_spec",
        "must be a file in the model repo, not a URI",
        id="feature-spec-is-a-uri",
    ),
    pytest.param(
        replacing(
            "  age: {type: numeric, bins: [18, 30, 45, 65, 120]}", "  age: numeric", in_spec=True
        ),
        "configs/features.yaml:10: sensitive_features.age",
        "needs 'bins' to form groups",
        id="numeric-sensitive-feature-without-bins",
    ),
    pytest.param(
        replacing("[18, 30, 45, 65, 120]", "[65, 18]", in_spec=True),
        "configs/features.yaml:10: sensitive_features.age",
        "'bins' must be at least two increasing edges",
        id="bins-not-increasing",
    ),
    pytest.param(
        replacing(
            "tenure_months: numeric", "tenure_months: {type: numeric, values: [1, 2]}", in_spec=True
        ),
        "configs/features.yaml:6: features.tenure_months",
        "'values' applies to categorical columns, not numeric",
        id="values-on-a-numeric-column",
    ),
    pytest.param(
        replacing("tenure_months: numeric", "tenure_months: numerc", in_spec=True),
        "configs/features.yaml:6: features.tenure_months",
        "expected one of 'numeric', 'integer'",
        id="unknown-column-type",
    ),
    pytest.param(
        replacing(
            "tenure_months: numeric", "tenure_months: {type: numeric, nullabel: true}", in_spec=True
        ),
        "configs/features.yaml:6: features.tenure_months.nullabel",
        "did you mean 'nullable'?",
        id="unknown-key-in-a-column",
    ),
    pytest.param(
        {SPEC: BASE_SPEC + "sensitive:\n  gender: categorical\n"},
        "configs/features.yaml:11: sensitive",
        "did you mean 'sensitive_features'?",
        id="unknown-key-in-the-spec",
    ),
    pytest.param(
        replacing("task: classification", "task: classify", in_spec=True),
        "configs/features.yaml:3: task",
        "expected one of 'classification' or 'regression'",
        id="unknown-task",
    ),
    pytest.param(
        replacing(
            "features:\n  tenure_months: numeric\n"
            "  plan: {type: categorical, values: [basic, plus, premium]}\n",
            "features: {}\n",
            in_spec=True,
        ),
        "configs/features.yaml:5: features",
        "must not be empty",
        id="no-features",
    ),
    pytest.param(
        {SPEC: b"target: churned\nfeatures:\n  \xff: numeric\n"},
        "configs/features.yaml:3",
        "feature spec is not UTF-8 text",
        id="spec-not-utf8",
    ),
    pytest.param(
        {SPEC: ""},
        "configs/features.yaml",
        "expected a mapping of keys to values at the top, got empty",
        id="empty-spec",
    ),
    pytest.param(
        {CONFIG: BASE_CONFIG + "evaluation:\n  gates:\n    roc_auc: {min: .nan}\n"},
        "mlgate.yaml:11: evaluation.gates.roc_auc.min",
        "expected a finite number, got nan",
        id="nan-gate-bound",
    ),
    pytest.param(
        {CONFIG: BASE_CONFIG + "evaluation:\n  gates:\n    log_loss: {max: 1.0e+400}\n"},
        "mlgate.yaml:11: evaluation.gates.log_loss.max",
        "expected a finite number, got inf",
        id="overflowing-gate-bound",
    ),
    pytest.param(
        {SPEC: BASE_SPEC.replace("[18, 30, 45, 65, 120]", "[18, .nan, 65]")},
        "configs/features.yaml:10: sensitive_features.age.bins[1]",
        "expected a finite number, got nan",
        id="nan-in-bins",
    ),
    pytest.param(
        {CONFIG: BASE_CONFIG.replace("learning_rate: 0.05", "learning_rate: -.inf")},
        "mlgate.yaml:8: model.params.learning_rate",
        "expected a finite number, got -inf",
        id="infinite-model-param",
    ),
]


@pytest.mark.parametrize(("files", "where", "hint"), BAD_CONFIGS)
def test_bad_config_names_file_line_key_and_fix(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str | bytes | None],
    where: str,
    hint: str,
) -> None:
    config_path = write_repo(tmp_path, files)
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError) as caught:
        load_project(config_path)

    message = str(caught.value)
    assert message.startswith(f"{where}: ")
    assert hint in message
    assert "\n" not in message


@pytest.mark.timeout(20)
def test_alias_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_path = write_repo(tmp_path, {CONFIG: ALIAS_BOMB})
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError) as caught:
        load_project(config_path)

    assert str(caught.value).startswith(f"{CONFIG}: ")
    assert "once aliases are expanded; a config this large is refused" in str(caught.value)


def test_column_in_two_roles_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = BASE_SPEC.replace("  plan:", "  gender: categorical\n  plan:")
    config_path = write_repo(tmp_path, {SPEC: spec})
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError) as caught:
        load_project(config_path)

    message = str(caught.value)
    assert message.startswith(f"{SPEC}:")
    assert (
        "sensitive_features.gender: column 'gender' is declared both as a feature and as a "
        "sensitive feature; give each column one role" in message
    )


@pytest.mark.parametrize(
    ("extra", "where", "hint"),
    [
        pytest.param(
            "  seed: yes\n", "model.seed", "expected an integer, got True", id="boolean-seed"
        ),
        pytest.param(
            "1: x\n",
            "mlgate.yaml:",
            'key 1 is read as a int, not a name; quote it: "1"',
            id="number-as-key",
        ),
        pytest.param(
            "version: one\n", "version", "expected a version like 1.0, got 'one'", id="version-word"
        ),
    ],
)
def test_lax_yaml_values_are_refused(tmp_path: Path, extra: str, where: str, hint: str) -> None:
    key = extra.split(":", 1)[0]
    base = BASE_CONFIG.replace("version: 1.0\n", "") if key == "version" else BASE_CONFIG
    config_path = write_repo(tmp_path, {CONFIG: base + extra})

    with pytest.raises(ConfigError) as caught:
        load_project(config_path)

    assert where in str(caught.value)
    assert hint in str(caught.value)


def test_allow_training_data_is_off_unless_set_and_takes_a_boolean(tmp_path: Path) -> None:
    assert load_project(write_repo(tmp_path / "a")).config.evaluation.allow_training_data is False

    allowed = write_repo(
        tmp_path / "b", {CONFIG: BASE_CONFIG + "evaluation:\n  allow_training_data: true\n"}
    )
    assert load_project(allowed).config.evaluation.allow_training_data is True

    lax = write_repo(
        tmp_path / "c", {CONFIG: BASE_CONFIG + "evaluation:\n  allow_training_data: yes please\n"}
    )
    with pytest.raises(
        ConfigError, match=r"evaluation\.allow_training_data: expected true or false"
    ):
        load_project(lax)
