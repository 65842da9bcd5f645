"""Conversions from prepared engine sets into each library's format, checked on hand-made engines."""
from __future__ import annotations


import numpy as np
import pytest

from adapters.features import (HealthIndicator, fit_health_indicator, pad_front, ruls_from_forecasts,
                               subsample_indices, to_sktime_panel, to_tabular)
from study.data.protocol import EngineSet


def _engines(labelled: bool = True) -> EngineSet:
    """Three engines (lengths 5, 3, 4; two channels) with values that encode (engine, cycle, channel)."""
    lengths = (5, 3, 4)
    seqs = tuple(np.array([[100 * e + t, -(100 * e + t)] for t in range(n)], dtype=np.float32)
                 for e, n in enumerate(lengths))
    conds = tuple(np.zeros(n, dtype=int) for n in lengths)
    rul = tuple(np.arange(n - 1, -1, -1, dtype=np.float32) for n in lengths) if labelled else None
    return EngineSet("FD001", np.array([7, 3, 9]), seqs, conds, ("a", "b"), window=4, rul=rul)


def test_sktime_panel_is_instances_channels_time_in_engine_order():
    x, y, groups = to_sktime_panel(_engines())
    # windows per engine: 5 -> 2, 3 (padded to 4) -> 1, 4 -> 1
    assert x.shape == (4, 2, 4) and x.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(groups, [0, 0, 1, 2])
    np.testing.assert_array_equal(x[0, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(x[1, 1], [-1, -2, -3, -4])
    np.testing.assert_array_equal(x[2, 0], [100, 100, 101, 102])  # front-padded short engine
    np.testing.assert_array_equal(y, [1, 0, 0, 0])


def test_sktime_panel_of_test_engines_uses_no_labels():
    x, y, groups = to_sktime_panel(_engines(labelled=False), last_only=True)
    assert x.shape == (3, 2, 4)
    assert np.isnan(y).all()
    np.testing.assert_array_equal(x[:, 0, -1], [4, 102, 203])
    np.testing.assert_array_equal(groups, [0, 1, 2])


def test_tabular_features_unchanged_by_new_conversions():
    features, y, groups = to_tabular(_engines(), last_only=True)
    assert list(features["a_last"]) == [4, 102, 203]
    np.testing.assert_array_equal(y, [0, 0, 0])


def test_subsample_indices_is_seeded_sorted_and_capped():
    a, b = subsample_indices(100, 10, seed=1), subsample_indices(100, 10, seed=1)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 10 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, subsample_indices(100, 10, seed=2))
    np.testing.assert_array_equal(subsample_indices(5, None, 0), np.arange(5))
    np.testing.assert_array_equal(subsample_indices(5, 10, 0), np.arange(5))


def test_health_indicator_recovers_a_linear_rul_signal():
    rng = np.random.default_rng(0)
    seqs, ruls = [], []
    for n in (150, 180, 200):
        rul = np.minimum(np.arange(n - 1, -1, -1), 125).astype(np.float32)
        health = rul / 125
        seqs.append(np.stack([2 * health + 1, -health, rng.normal(size=n)], axis=1).astype(np.float32))
        ruls.append(rul)
    train = EngineSet("FD001", np.arange(3), tuple(seqs), tuple(np.zeros(len(s), int) for s in seqs),
                      ("a", "b", "c"), window=30, rul=tuple(ruls))
    hi = fit_health_indicator(train, ridge=1e-8)
    assert hi.cap == 125
    series = hi.transform(train)
    assert [len(s) for s in series] == [150, 180, 200] and series[0].dtype == np.float32
    np.testing.assert_allclose(series[0], ruls[0] / 125, atol=1e-3)
    assert abs(hi.threshold) < 1e-3  # HI at the last cycle: failure


def test_health_indicator_needs_labels_but_transforms_test_engines_without_them():
    with pytest.raises(ValueError, match="labelled"):
        fit_health_indicator(_engines(labelled=False))
    hi = HealthIndicator(np.array([1.0, 0.0], np.float32), 0.5, 0.0, 125.0)
    series = hi.transform(_engines(labelled=False))
    np.testing.assert_allclose(series[1], [100.5, 101.5, 102.5])


def test_pad_front_repeats_the_first_value():
    np.testing.assert_array_equal(pad_front(np.array([3.0, 4.0]), 4), [3, 3, 3, 4])
    np.testing.assert_array_equal(pad_front(np.array([3.0, 4.0]), 1), [3, 4])


def test_rul_is_the_interpolated_first_crossing_of_the_threshold():
    forecasts = np.array([
        [0.9, 0.7, 0.5, 0.3, 0.1, -0.1],  # crosses 0.2 between steps 4 and 5: 4.5
        [0.1, 0.0, 0.0, 0.0, 0.0, 0.0],   # already below at step 1: 1
        [0.9, 0.9, 0.9, 0.9, 0.9, 0.9],   # never crosses: the horizon
        [0.9, 0.2, 0.9, 0.1, 0.0, 0.0],   # first crossing counts (touching counts): step 2
    ])
    np.testing.assert_allclose(ruls_from_forecasts(forecasts, threshold=0.2, cap=125), [4.5, 1, 6, 2])
    np.testing.assert_allclose(ruls_from_forecasts(forecasts, threshold=0.2, cap=3), [3, 1, 3, 2])
    with pytest.raises(ValueError):
        ruls_from_forecasts(np.zeros(3), 0.0, 10)
