"""The fairness gate's pure core: verdicts, groups, bootstrap intervals, report sections.

Fast: no training, no MLflow. Intervals are checked against Fairlearn's own
`MetricFrame(n_boot=..., ci_quantiles=..., random_state=...)` and, for the
composite equalized odds, against Fairlearn's disparity function on each resample
drawn as Fairlearn draws it.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as fl
from sklearn import metrics as skm

from mlgate import _markdown as md
from mlgate.fairness import bootstrap, measure
from mlgate.fairness.groups import (
    GROUP_JOIN,
    JudgedFeature,
    bin_labels,
    column_groups,
    declared_order,
    feature_groups,
    judged_features,
)
from mlgate.fairness.tags import tags
from mlgate.fairness.verdicts import CheckVerdict, format_limit, judge
from mlgate.featurespec import SensitiveColumn
from mlgate.report.sections.fairness import sections
from mlgate.results import FairnessResult, to_json

# --- verdicts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "value", "interval", "threshold", "policy", "mode", "verdict", "message"),
    [
        pytest.param(
            "demographic_parity_difference",
            0.153,
            (0.118, 0.187),
            0.10,
            "point",
            "block",
            CheckVerdict.FAILED,
            "gender: demographic_parity_difference 0.153 [0.118, 0.187] > 0.10 by 0.053",
            id="point-difference-past",
        ),
        pytest.param(
            "demographic_parity_difference",
            0.08,
            (0.05, 0.12),
            0.10,
            "point",
            "block",
            CheckVerdict.PASSED,
            "gender: demographic_parity_difference 0.080 [0.050, 0.120] <= 0.10",
            id="point-difference-within-though-interval-straddles",
        ),
        pytest.param(
            "demographic_parity_ratio",
            0.70,
            (0.62, 0.78),
            0.8,
            "point",
            "block",
            CheckVerdict.FAILED,
            "gender: demographic_parity_ratio 0.700 [0.620, 0.780] < 0.80 by 0.100",
            id="point-ratio-below-minimum",
        ),
        pytest.param(
            "demographic_parity_difference",
            0.12,
            (0.08, 0.16),
            0.10,
            "confident",
            "block",
            CheckVerdict.WARNED,
            "gender: demographic_parity_difference 0.120 [0.080, 0.160] straddles 0.10; "
            "more data would settle it",
            id="confident-straddles",
        ),
        pytest.param(
            "demographic_parity_difference",
            0.153,
            (0.118, 0.187),
            0.10,
            "confident",
            "block",
            CheckVerdict.FAILED,
            "gender: demographic_parity_difference 0.153 [0.118, 0.187] > 0.10 by 0.053 "
            "(whole interval)",
            id="confident-wholly-past",
        ),
        pytest.param(
            "equalized_odds_ratio",
            0.9,
            (0.85, 0.95),
            0.8,
            "confident",
            "block",
            CheckVerdict.PASSED,
            "gender: equalized_odds_ratio 0.900 [0.850, 0.950] >= 0.80",
            id="confident-ratio-wholly-within",
        ),
        pytest.param(
            "equalized_odds_ratio",
            0.75,
            (0.70, 0.79),
            0.8,
            "confident",
            "block",
            CheckVerdict.FAILED,
            "gender: equalized_odds_ratio 0.750 [0.700, 0.790] < 0.80 by 0.050 (whole interval)",
            id="confident-ratio-wholly-below",
        ),
        pytest.param(
            "demographic_parity_difference",
            0.153,
            (0.118, 0.187),
            0.10,
            "point",
            "warn",
            CheckVerdict.WARNED,
            "gender: demographic_parity_difference 0.153 [0.118, 0.187] > 0.10 by 0.053 "
            "(mode warn: not blocking)",
            id="mode-warn-does-not-block",
        ),
        pytest.param(
            "accuracy_difference",
            0.04,
            None,
            None,
            "point",
            "block",
            CheckVerdict.REPORTED,
            "gender: accuracy_difference 0.040",
            id="no-threshold-is-reported",
        ),
        pytest.param(
            "equal_opportunity_difference",
            None,
            None,
            0.1,
            "point",
            "block",
            CheckVerdict.NOT_JUDGED,
            "gender: equal_opportunity_difference not judged: undefined",
            id="undefined-is-not-judged",
        ),
    ],
)
def test_verdicts(metric, value, interval, threshold, policy, mode, verdict, message) -> None:
    check = judge("gender", metric, value, interval, threshold, policy=policy, mode=mode)

    assert check.verdict is verdict
    assert check.message == message


@pytest.mark.parametrize(
    ("limit", "shown"),
    [
        pytest.param(0.1, "0.10", id="two-decimals"),
        pytest.param(0.8, "0.80", id="ratio"),
        pytest.param(0.125, "0.125", id="three-decimals"),
        pytest.param(0.0, "0.00", id="zero"),
    ],
)
def test_thresholds_read_as_written(limit: float, shown: str) -> None:
    assert format_limit(limit) == shown


def test_champion_change_is_candidate_minus_champion() -> None:
    check = judge(
        "gender", "demographic_parity_difference", 0.15, None, 0.1, policy="point", mode="block",
        champion=0.03,
    )  # fmt: skip

    assert to_json(check)["change"] == pytest.approx(0.12)
    assert to_json(check)["champion"] == 0.03


# --- groups -------------------------------------------------------------------------------


AGE = SensitiveColumn(type="numeric", bins=[18, 30, 45, 65, 120])
GENDER = SensitiveColumn(type="categorical", values=["female", "male"])


def test_bins_are_half_open_and_the_last_is_closed() -> None:
    ages = [18, 29.9, 30, 64, 65, 120, 17, 121, None]

    labels = column_groups(pd.Series(ages, dtype=float), AGE).tolist()

    assert labels == [
        "[18, 30)",
        "[18, 30)",
        "[30, 45)",
        "[45, 65)",
        "[65, 120]",
        "[65, 120]",
        "(outside bins)",
        "(outside bins)",
        "(missing)",
    ]
    assert bin_labels([0, 0.5, 1]) == ["[0, 0.5)", "[0.5, 1]"]


def test_intersections_join_their_parts_in_spec_order() -> None:
    declared = {"gender": GENDER, "age": AGE}
    frame = pd.DataFrame({"gender": ["male", "female", None], "age": [70, 20, 40]})
    [gender, intersection] = judged_features(["gender", ["gender", "age"]], declared)

    labels = feature_groups(frame, intersection, declared)

    assert intersection.name == "gender & age"
    assert gender == JudgedFeature("gender", ("gender",), 0)
    assert labels.tolist() == [
        f"male{GROUP_JOIN}[65, 120]",
        f"female{GROUP_JOIN}[18, 30)",
        f"(missing){GROUP_JOIN}[30, 45)",
    ]
    assert declared_order(intersection, declared)[:2] == [
        f"female{GROUP_JOIN}[18, 30)",
        f"female{GROUP_JOIN}[30, 45)",
    ]


def test_every_declared_sensitive_feature_is_judged_by_default() -> None:
    declared = {"gender": GENDER, "age": AGE}

    assert [f.name for f in judged_features(None, declared)] == ["gender", "age"]
    assert judged_features([], declared) == []


# --- figures against Fairlearn --------------------------------------------------------------


def _classification(seed: int, rows: int = 600) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    rng = np.random.default_rng(seed)
    groups = pd.Series(rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.35, 0.15]), name="g")
    lift = groups.map({"a": 0.0, "b": 0.15, "c": -0.1}).to_numpy()
    y_true = (rng.random(rows) < 0.35).astype(int)
    y_pred = (rng.random(rows) < 0.3 + lift + 0.3 * y_true).astype(int)
    return y_true, y_pred, groups


def _fairlearn_resamples(frame: pd.DataFrame, n_boot: int, seed: int) -> list[pd.DataFrame]:
    """Resamples as fairlearn.metrics._bootstrap draws them (one seed per sample)."""
    seeds = np.random.default_rng(seed=seed).integers(
        low=0, high=np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32
    )
    return [frame.sample(frac=1, replace=True, random_state=s, ignore_index=True) for s in seeds]


@pytest.mark.slow  # a bootstrap of its own beside mlgate's, twice
@pytest.mark.parametrize(
    ("seed", "per_chunk"),
    [
        pytest.param(1, None, id="seed-1"),
        # Resamples drawn and counted 7 at a time (6 chunks, the last of 5): the same figures.
        pytest.param(7, 7, id="seed-7-in-chunks"),
    ],
)
def test_disparities_and_intervals_equal_fairlearn(
    seed: int, per_chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    y_true, y_pred, groups = _classification(seed)
    if per_chunk is not None:
        monkeypatch.setattr(bootstrap, "_CELLS_PER_CHUNK", len(y_true) * per_chunk)
    names = [*measure.DEFAULT_DISPARITIES["classification"], "accuracy_ratio"]
    names.append("precision_difference")
    n_boot, confidence = 40, 0.9

    found = measure.disparities(
        y_true, y_pred, groups, names, n_boot=n_boot, confidence=confidence, seed=seed
    )

    assert found["demographic_parity_difference"].value == pytest.approx(
        fl.demographic_parity_difference(y_true, y_pred, sensitive_features=groups), abs=1e-12
    )
    assert found["demographic_parity_ratio"].value == pytest.approx(
        fl.demographic_parity_ratio(y_true, y_pred, sensitive_features=groups), abs=1e-12
    )
    assert found["equalized_odds_difference"].value == pytest.approx(
        fl.equalized_odds_difference(y_true, y_pred, sensitive_features=groups), abs=1e-12
    )
    assert found["equalized_odds_ratio"].value == pytest.approx(
        fl.equalized_odds_ratio(y_true, y_pred, sensitive_features=groups), abs=1e-12
    )
    assert found["equal_opportunity_difference"].value == pytest.approx(
        fl.equal_opportunity_difference(y_true, y_pred, sensitive_features=groups), abs=1e-12
    )
    quantiles = [(1 - confidence) / 2, 1 - (1 - confidence) / 2]
    frame = fl.MetricFrame(
        metrics={
            "selection_rate": fl.selection_rate,
            "true_positive_rate": fl.true_positive_rate,
            "accuracy": skm.accuracy_score,
            "precision": partial(skm.precision_score, zero_division=0.0),
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
        n_boot=n_boot,
        ci_quantiles=quantiles,
        random_state=seed,
    )
    expected = {
        "demographic_parity_difference": ("difference", "selection_rate"),
        "demographic_parity_ratio": ("ratio", "selection_rate"),
        "equal_opportunity_difference": ("difference", "true_positive_rate"),
        "accuracy_ratio": ("ratio", "accuracy"),
        "precision_difference": ("difference", "precision"),
    }
    for name, (aggregate, metric) in expected.items():
        bounds = frame.difference_ci() if aggregate == "difference" else frame.ratio_ci()
        assert found[name].interval == pytest.approx(
            (bounds[0][metric], bounds[1][metric]), abs=1e-12
        ), name
        assert found[name].value == pytest.approx(
            (frame.difference() if aggregate == "difference" else frame.ratio())[metric],
            abs=1e-12,
        )
    # Composite: the worse of TPR and FPR on each of Fairlearn's resamples.
    data = pd.DataFrame({"y_true": y_true, "y_pred": y_pred, "g": groups})
    for name, function in (
        ("equalized_odds_difference", fl.equalized_odds_difference),
        ("equalized_odds_ratio", fl.equalized_odds_ratio),
    ):
        per_sample = [
            function(s["y_true"], s["y_pred"], sensitive_features=s["g"])
            for s in _fairlearn_resamples(data, n_boot, seed)
        ]
        assert found[name].interval == pytest.approx(
            tuple(np.quantile(per_sample, quantiles)), abs=1e-12
        ), name


def test_regression_spreads_equal_fairlearn() -> None:
    rng = np.random.default_rng(3)
    groups = pd.Series(rng.choice(["x", "y"], size=300), name="g")
    y_true = rng.normal(10, 2, 300)
    y_pred = y_true + rng.normal(0, 1, 300) + (groups == "y").to_numpy() * 0.5
    names = [*measure.DEFAULT_DISPARITIES["regression"], "mean_squared_error_ratio"]

    found = measure.disparities(
        y_true, y_pred, groups, names, n_boot=30, confidence=0.95, seed=5, kind="regression"
    )

    frame = fl.MetricFrame(
        metrics={
            "mean_prediction": fl.mean_prediction,
            "mean_absolute_error": skm.mean_absolute_error,
            "mean_squared_error": skm.mean_squared_error,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
        n_boot=30,
        ci_quantiles=[0.025, 0.975],
        random_state=5,
    )
    difference, ratio = frame.difference_ci(), frame.ratio_ci()
    for name, bounds, metric in (
        ("mean_prediction_difference", difference, "mean_prediction"),
        ("mean_absolute_error_difference", difference, "mean_absolute_error"),
        ("mean_squared_error_ratio", ratio, "mean_squared_error"),
    ):
        assert found[name].interval == pytest.approx((bounds[0][metric], bounds[1][metric]))
    assert found["mean_prediction_difference"].value == pytest.approx(
        frame.difference()["mean_prediction"]
    )


def test_group_table_equals_fairlearn_by_group() -> None:
    y_true, y_pred, groups = _classification(11)

    table = measure.group_table(y_true, y_pred, groups, "classification")

    for group in ("a", "b", "c"):
        rows = (groups == group).to_numpy()
        t, p = y_true[rows], y_pred[rows]
        assert table[group]["count"] == rows.sum()
        assert table[group]["selection_rate"] == pytest.approx(fl.selection_rate(t, p))
        assert table[group]["true_positive_rate"] == pytest.approx(fl.true_positive_rate(t, p))
        assert table[group]["false_positive_rate"] == pytest.approx(fl.false_positive_rate(t, p))
        assert table[group]["precision"] == pytest.approx(skm.precision_score(t, p))
        assert table[group]["recall"] == pytest.approx(skm.recall_score(t, p))
        assert table[group]["accuracy"] == pytest.approx(skm.accuracy_score(t, p))


# --- report -------------------------------------------------------------------------------


def _result(group: str = "female") -> FairnessResult:
    check = judge(
        "gender", "demographic_parity_difference", 0.153, (0.118, 0.187), 0.1,
        policy="point", mode="block", champion=0.031,
    )  # fmt: skip
    return FairnessResult.from_json(
        {
            "stage": "fairness",
            "verdict": "failed",
            "summary": check.message,
            "task": "classification",
            "rows": 1000,
            "policy": "point",
            "mode": "block",
            "min_group_size": 30,
            "n_boot": 500,
            "confidence": 0.95,
            "seed": 0,
            "champion": {"alias": "production", "version": "3"},
            "warnings": [f"gender: group '{group}' has 3 rows, fewer than 30"],
            "chart": "fairness.png",
            "features": [
                {
                    "name": "gender",
                    "columns": ["gender"],
                    "groups": [
                        {
                            "group": group,
                            "count": 3,
                            "too_small": True,
                            "metrics": {"count": 3.0, "selection_rate": 0.5},
                        },
                        {
                            "group": "male",
                            "count": 997,
                            "too_small": False,
                            "metrics": {"count": 997.0, "selection_rate": 0.25},
                        },
                    ],
                    "excluded_groups": [group],
                    "checks": [to_json(check)],
                }
            ],
        }
    )


def test_sections_show_groups_interval_threshold_verdict_and_champion() -> None:
    feature, details = sections(_result())

    assert feature.key == "fairness"
    assert feature.title == "Fairness · gender"
    assert feature.priority == md.ESSENTIAL  # a failed check is never dropped for space
    assert "| champion v3 | change | verdict |" in feature.body
    [row] = [line for line in feature.body.splitlines() if line.startswith("| `demographic")]
    assert row == (
        "| `demographic_parity_difference` | 0.153 | 0.118 – 0.187 | ≤ 0.10 | 0.031 | +0.122 "
        "| ❌ failed |"
    )
    assert "| female | 3 | 0.500 | too small to judge |" in feature.body
    assert "- gender: group 'female' has 3 rows, fewer than 30" in feature.body
    assert details.folded
    assert details.priority == md.DETAIL
    assert "Policy `point`: the point estimate decides" in details.body


def test_sections_escape_group_names_from_data() -> None:
    feature, details = sections(_result(group="<img src=x> | @team"))

    for body in (feature.body, details.body):
        assert "<img" not in body
        assert "&lt;img src=x&gt; \\| @\u200bteam" in body


def test_tags_carry_verdict_and_judged_figures() -> None:
    found = tags(_result())

    assert found["mlgate.gate.fairness"] == "failed"
    assert '"metric":"demographic_parity_difference","value":0.153' in found["mlgate.fairness"]


def test_every_threshold_the_config_accepts_is_computed_for_its_task() -> None:
    from mlgate._catalogue import fairness_threshold_names
    from mlgate.fairness.thresholds import applicable_thresholds

    y_true, y_pred, groups = _classification(5, rows=200)
    by_task = {kind: applicable_thresholds(kind) for kind in ("classification", "regression")}
    data = {
        "classification": (y_true, y_pred),
        "regression": (y_true.astype(float) * 3, y_pred.astype(float) * 2 + 1),
    }

    for name in fairness_threshold_names():
        [kind] = [kind for kind, names in by_task.items() if name in names]
        truth, prediction = data[kind]
        [found] = measure.disparities(
            truth, prediction, groups, [name], n_boot=5, confidence=0.9, seed=0, kind=kind
        ).values()
        assert found.value is not None, name
        assert found.interval is not None, name


def test_chart_is_a_png_even_with_math_characters_in_group_names(tmp_path) -> None:
    from mlgate.fairness.chart import write_chart

    result = _result(group=r"price $\frac$")  # invalid mathtext if not escaped
    path = tmp_path / "fairness.png"

    assert write_chart(result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not write_chart(result.replace(features=()), tmp_path / "none.png")


# --- tasks the gate does not judge ------------------------------------------------------------


def test_multiclass_targets_are_skipped_or_refused_when_thresholds_ask(churn_repo) -> None:
    import yaml

    from mlgate._training import Task
    from mlgate.errors import ConfigError
    from mlgate.project import load_project
    from mlgate.results import Verdict
    from mlgate.rundir import RunDir
    from mlgate.stages._session import Session
    from mlgate.stages.fairness import run_fairness

    three_classes = Task("classification", inferred=False, classes=("a", "b", "c"))
    config = churn_repo / "mlgate.yaml"
    session = Session(load_project(config), RunDir(churn_repo / "run"), task=three_classes)

    with pytest.raises(ConfigError, match=r"fairness\.thresholds: .* this target has 3 classes"):
        run_fairness(session)

    document = yaml.safe_load(config.read_text())
    document["fairness"].pop("thresholds")
    config.write_text(yaml.safe_dump(document))
    session = Session(load_project(config), RunDir(churn_repo / "run"), task=three_classes)
    result = run_fairness(session)

    assert result.verdict is Verdict.SKIPPED
    assert result.summary == (
        "not judged: the fairness gate judges binary classification and regression, "
        "and this target has 3 classes"
    )
