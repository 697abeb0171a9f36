"""The paired bootstrap and McNemar's test, against scikit-learn and scipy on seeded data."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from scipy import stats

from mlgate._catalogue import CLASSIFICATION_METRICS, REGRESSION_METRICS
from mlgate._comparison import (
    EXACT_MCNEMAR_BELOW,
    bootstrap,
    draws,
    mcnemar,
    weighted_metric,
)
from mlgate._metrics import Predictions, compute_metrics
from mlgate._training import Task

ROWS = 400


def _classification(classes: tuple[str, ...], seed: int, *, skill: float = 1.0) -> Predictions:
    """Scores rounded to one decimal (so ties occur), leaning towards the true class."""
    rng = np.random.default_rng(seed)
    y_true = np.array(rng.choice(classes, ROWS), dtype=object)
    raw = rng.dirichlet(np.ones(len(classes)), ROWS)
    truth = np.column_stack([y_true == label for label in classes]).astype(float)
    scores = np.round(raw + skill * truth, 1) + 0.01
    scores = scores / scores.sum(axis=1, keepdims=True)
    y_pred = np.array([classes[i] for i in scores.argmax(axis=1)], dtype=object)
    return Predictions(y_true, y_pred, scores, classes)


def _task(classes: tuple[str, ...]) -> Task:
    positive = "yes" if len(classes) == 2 else None
    return Task("classification", inferred=True, classes=classes, positive_label=positive)


def _regression(seed: int, noise: float = 1.0) -> Predictions:
    rng = np.random.default_rng(seed)
    y_true = rng.normal(10, 3, ROWS)
    return Predictions(y_true, y_true + rng.normal(0, noise, ROWS), None, ())


CASES: dict[str, Any] = {
    "binary": (_task(("no", "yes")), lambda seed: _classification(("no", "yes"), seed)),
    "three-classes": (
        _task(("a", "b", "c")),
        lambda seed: _classification(("a", "b", "c"), seed),
    ),
    "regression": (Task("regression", inferred=True), _regression),
}
METRICS = {
    "binary": CLASSIFICATION_METRICS,
    "three-classes": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}


def _every_case_and_metric():
    for case, names in METRICS.items():
        for name in names:
            yield pytest.param(case, name, id=f"{case}-{name}")


def _rows(p: Predictions, index: np.ndarray) -> Predictions:
    scores = None if p.scores is None else np.asarray(p.scores)[index]
    return Predictions(np.asarray(p.y_true)[index], np.asarray(p.y_pred)[index], scores, p.classes)


# --- the weighted metrics are the catalogue's metrics -----------------------------------


@pytest.mark.parametrize(("case", "name"), list(_every_case_and_metric()))
def test_unit_weights_give_the_point_figure(case: str, name: str) -> None:
    task, make = CASES[case]
    predictions = make(1)

    [weighted] = weighted_metric(name, predictions, task, np.ones((1, ROWS)))

    assert weighted == pytest.approx(compute_metrics([name], predictions, task)[name], abs=1e-12)


@pytest.mark.parametrize(("case", "name"), list(_every_case_and_metric()))
def test_a_draw_scores_like_the_rows_it_drew(case: str, name: str) -> None:
    """A draw's row counts mean "these rows, this often": the same as scoring them repeated."""
    task, make = CASES[case]
    predictions = make(2)
    counts = next(draws(ROWS, 3, seed=5))

    weighted = weighted_metric(name, predictions, task, counts)

    for row, figure in zip(counts, weighted, strict=True):
        repeated = _rows(predictions, np.repeat(np.arange(ROWS), row.astype(int)))
        assert figure == pytest.approx(compute_metrics([name], repeated, task)[name], abs=1e-12)


def test_draws_are_seeded_and_each_draws_every_row_count() -> None:
    first = np.concatenate(list(draws(50, 120, seed=3)))
    again = np.concatenate(list(draws(50, 120, seed=3)))
    other = np.concatenate(list(draws(50, 120, seed=4)))

    assert first.shape == (120, 50)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert set(first.sum(axis=1)) == {50.0}


# --- intervals --------------------------------------------------------------------------


def test_identical_models_differ_by_exactly_zero() -> None:
    task, make = CASES["binary"]
    predictions = make(3)
    metrics = compute_metrics(["roc_auc", "accuracy"], predictions, task)

    drawn = bootstrap(
        ["roc_auc", "accuracy"],
        task,
        predictions,
        metrics,
        champion=predictions,
        champion_metrics=metrics,
        n=200,
        confidence=0.95,
        seed=0,
    )

    for name in ("roc_auc", "accuracy"):
        difference = drawn.differences[name]
        assert (difference.interval.low, difference.interval.high) == (0.0, 0.0)
        assert difference.difference == 0.0
        low, high = drawn.candidate[name].low, drawn.candidate[name].high
        assert low < metrics[name] < high


def test_a_clearly_weaker_model_has_an_interval_below_zero() -> None:
    task = _task(("no", "yes"))
    strong = _classification(("no", "yes"), 4, skill=1.0)
    weak = _classification(("no", "yes"), 4, skill=0.2)  # same rows and labels, less skill
    names = ["roc_auc", "accuracy", "log_loss"]
    ours, theirs = compute_metrics(names, weak, task), compute_metrics(names, strong, task)

    drawn = bootstrap(
        names,
        task,
        weak,
        ours,
        champion=strong,
        champion_metrics=theirs,
        n=500,
        confidence=0.95,
        seed=1,
    )

    for name in ("roc_auc", "accuracy"):
        difference = drawn.differences[name]
        assert difference.interval.low <= difference.difference <= difference.interval.high
        assert difference.interval.high < 0, name
    # Log loss is lower-is-better: the weaker model's difference is above zero.
    assert drawn.differences["log_loss"].interval.low > 0
    assert drawn.differences["log_loss"].lower_is_better


def test_the_paired_interval_is_narrower_than_the_candidates_own() -> None:
    """Both models see the same draws, so shared hard rows cancel out of the difference."""
    task = _task(("no", "yes"))
    champion = _classification(("no", "yes"), 6, skill=1.0)
    candidate = _classification(("no", "yes"), 6, skill=0.95)
    names = ["roc_auc"]

    drawn = bootstrap(
        names,
        task,
        candidate,
        compute_metrics(names, candidate, task),
        champion=champion,
        champion_metrics=compute_metrics(names, champion, task),
        n=400,
        confidence=0.95,
        seed=2,
    )

    own = drawn.candidate["roc_auc"]
    paired = drawn.differences["roc_auc"].interval
    assert paired.high - paired.low < (own.high - own.low) / 2


def test_same_seed_same_intervals_other_seed_others() -> None:
    task, make = CASES["regression"]
    candidate, champion = make(7), _regression(7, noise=1.2)
    names = ["rmse", "r2"]

    def run(seed: int) -> Any:
        return bootstrap(
            names,
            task,
            candidate,
            compute_metrics(names, candidate, task),
            champion=champion,
            champion_metrics=compute_metrics(names, champion, task),
            n=100,
            confidence=0.9,
            seed=seed,
        )

    assert run(11) == run(11)
    assert run(11).differences["rmse"].interval != run(12).differences["rmse"].interval


def test_a_champion_without_a_figure_gets_no_difference() -> None:
    task, make = CASES["binary"]
    predictions = make(8)
    metrics = compute_metrics(["accuracy", "roc_auc"], predictions, task)
    no_scores = Predictions(predictions.y_true, predictions.y_pred, None, predictions.classes)

    drawn = bootstrap(
        ["accuracy", "roc_auc"],
        task,
        predictions,
        metrics,
        champion=no_scores,
        champion_metrics={"accuracy": metrics["accuracy"], "roc_auc": None},
        n=60,
        confidence=0.95,
        seed=0,
    )

    assert set(drawn.differences) == {"accuracy"}
    assert set(drawn.candidate) == {"accuracy", "roc_auc"}


def test_a_thousand_draws_of_a_thousand_rows_cover_every_metric() -> None:
    """The evaluate stage's default size; its time is printed for the record (`-s`), not
    asserted: a timed assertion flakes on a busy machine (the benchmarks measure speed)."""
    global ROWS
    saved, ROWS = ROWS, 1000
    try:
        task = _task(("no", "yes"))
        candidate = _classification(("no", "yes"), 9)
        champion = _classification(("no", "yes"), 9, skill=0.9)
    finally:
        ROWS = saved
    names = list(CLASSIFICATION_METRICS)
    started = time.perf_counter()
    drawn = bootstrap(
        names,
        task,
        candidate,
        compute_metrics(names, candidate, task),
        champion=champion,
        champion_metrics=compute_metrics(names, champion, task),
        n=1000,
        confidence=0.95,
        seed=0,
    )
    seconds = time.perf_counter() - started
    print(f"bootstrap: 9 metrics x 2 models x 1000 draws x 1000 rows in {seconds:.2f}s")
    assert set(drawn.differences) == set(names)


# --- McNemar's test ---------------------------------------------------------------------


def _pairs(only_candidate: int, only_champion: int, both: int = 50) -> tuple[list, list, list]:
    """Rows where only the candidate is right, only the champion, and both."""
    truth = ["y"] * (only_candidate + only_champion + both)
    candidate = ["y"] * only_candidate + ["n"] * only_champion + ["y"] * both
    champion = ["n"] * only_candidate + ["y"] * only_champion + ["y"] * both
    return truth, candidate, champion


def test_mcnemar_is_exact_for_few_discordant_rows() -> None:
    result = mcnemar(*_pairs(2, 9))

    assert (result.candidate_only_correct, result.champion_only_correct) == (2, 9)
    assert result.method == "exact binomial"
    assert result.statistic is None
    assert result.p_value == pytest.approx(stats.binomtest(2, 11, 0.5).pvalue)


def test_mcnemar_uses_the_corrected_chi_square_for_many() -> None:
    result = mcnemar(*_pairs(30, 55))

    assert EXACT_MCNEMAR_BELOW <= 30 + 55
    assert result.method == "chi-square with continuity correction"
    assert result.statistic == pytest.approx((abs(30 - 55) - 1) ** 2 / 85)
    assert result.p_value == pytest.approx(stats.chi2.sf((25 - 1) ** 2 / 85, 1))
    assert result.p_value < 0.05


def test_mcnemar_with_no_disagreement_is_p_one() -> None:
    result = mcnemar(*_pairs(0, 0))
    assert result.p_value == 1.0
    assert (result.candidate_only_correct, result.champion_only_correct) == (0, 0)
