"""Scoring against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

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
