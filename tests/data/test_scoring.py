"""Scoring against hand-computed values, and the bootstrap interval against independent computations."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from study.data.scoring import bootstrap_rmse_ci, nasa_score, rmse, score_predictions


def test_nasa_score_penalises_late_more_than_early():
    # d = -13 -> e^1 - 1 ; d = +10 -> e^1 - 1 ; d = 0 -> 0
    assert nasa_score([20, 10, 5], [7, 20, 5]) == pytest.approx(2 * (np.e - 1))
    assert nasa_score([50], [60]) > nasa_score([50], [40])


def test_rmse_by_hand():
    assert rmse([0, 0, 0, 0], [1, -1, 1, -1]) == pytest.approx(1.0)


def test_capped_and_raw_truth_columns():
    truth = np.array([200.0, 100.0, 10.0])
    pred = np.array([125.0, 100.0, 10.0])
    scores = score_predictions(truth, pred, max_rul=125)
    assert scores["rmse"] == 0.0 and scores["score"] == 0.0 and scores["mae"] == 0.0
    assert scores["rmse_raw"] == pytest.approx(np.sqrt(75**2 / 3))
    assert scores["score_mean"] == 0.0


def test_bootstrap_interval_brackets_the_point_estimate():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 125, 100)
    pred = truth + rng.normal(0, 10, 100)
    low, high = bootstrap_rmse_ci(truth, pred)
    assert low < rmse(truth, pred) < high
    assert high - low < 5


def _normal_approximation_halfwidth(truth: np.ndarray, pred: np.ndarray, level: float) -> float:
    """Delta method: RMSE = sqrt(mean(sq)), so se(RMSE) = se(mean(sq)) / (2 RMSE)."""
    sq = (pred - truth) ** 2
    se = sq.std(ddof=1) / np.sqrt(len(sq)) / (2 * np.sqrt(sq.mean()))
    return float(stats.norm.ppf(0.5 + level / 2) * se)


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_bootstrap_interval_has_the_width_of_the_sampling_error_over_engines(level):
    """On 2000 engines the percentile interval must match the normal approximation; an
    interval over the wrong axis (or the wrong quantiles) is several times off."""
    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 125, 2000)
    pred = truth + rng.normal(0, 12, 2000)
    low, high = bootstrap_rmse_ci(truth, pred, level=level)
    expected = _normal_approximation_halfwidth(truth, pred, level)
    assert (high - low) / 2 == pytest.approx(expected, rel=0.15)
    assert (low + high) / 2 == pytest.approx(rmse(truth, pred), abs=0.25 * expected)


def test_bootstrap_interval_agrees_with_a_brute_force_loop_over_resampled_engines():
    """The same percentile bootstrap, written as a plain loop with its own random draws
    (20,000 resamples each: the two intervals' widths agree to about 1 %)."""
    rng = np.random.default_rng(7)
    truth = rng.uniform(0, 125, 100)
    pred = truth + rng.standard_t(5, 100) * 15  # heavier tails than normal: no normal shortcut
    loop_rng = np.random.default_rng(123)
    boot = [rmse(truth[pick], pred[pick]) for pick in loop_rng.integers(0, len(truth), (20_000, len(truth)))]
    expected = np.quantile(boot, [0.025, 0.975])
    low, high = bootstrap_rmse_ci(truth, pred, n_boot=20_000)
    np.testing.assert_allclose([low, high], expected, rtol=0.01)
    assert (high - low) == pytest.approx(expected[1] - expected[0], rel=0.04)


def test_bootstrap_resamples_every_engine():
    """One engine carries all the error: resamples that include it give a positive RMSE."""
    for position in (0, 2, 4):
        pred = np.zeros(5)
        pred[position] = 10.0
        low, high = bootstrap_rmse_ci(np.zeros(5), pred)
        assert low == 0.0 and high > 5.0


def test_the_scored_interval_is_the_capped_truths_interval():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 300, 400)
    pred = np.minimum(raw, 125) + rng.normal(0, 10, 400)
    scores = score_predictions(raw, pred, max_rul=125)
    assert scores["rmse_ci_low"] < scores["rmse"] < scores["rmse_ci_high"]
    assert (scores["rmse_ci_low"], scores["rmse_ci_high"]) == pytest.approx(
        bootstrap_rmse_ci(np.minimum(raw, 125), pred))
    assert scores["rmse_raw"] > scores["rmse_ci_high"]  # the raw truth is far off the capped one


def test_every_metric_of_a_trial_by_hand():
    raw = np.array([10.0, 20.0, 200.0])
    pred = np.array([20.0, 7.0, 125.0])  # late by 10, early by 13, exact on the capped truth 125
    scores = score_predictions(raw, pred, max_rul=125)
    assert scores["score"] == pytest.approx(2 * (np.e - 1))
    assert scores["score_mean"] == pytest.approx(2 * (np.e - 1) / 3)
    assert scores["rmse"] == pytest.approx(np.sqrt((100 + 169) / 3))
    assert scores["rmse_raw"] == pytest.approx(np.sqrt((100 + 169 + 75 ** 2) / 3))
    assert scores["mae"] == pytest.approx(23 / 3)
    assert score_predictions(raw, pred, max_rul=125) == scores  # the interval is seeded: a rerun repeats it
    assert scores["rmse_ci_low"] <= scores["rmse"] <= scores["rmse_ci_high"]


def test_the_nasa_score_of_one_engine_by_hand():
    from study.data.scoring import nasa_score_terms

    terms = nasa_score_terms([100, 100, 100, 100, 100], [74, 120, 100, 87, 100.5])  # d = -26, +20, 0, -13, +0.5
    np.testing.assert_allclose(terms, [np.expm1(2), np.expm1(2), 0.0, np.expm1(1), np.expm1(0.05)])
