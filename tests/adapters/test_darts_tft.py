"""The Darts TFT adapter's own conversions: engine series in, forecasts out."""
from __future__ import annotations

import numpy as np
import pytest

from adapters.darts_tft import darts_forecasts_to_array, to_darts_series


def test_darts_series_keep_engine_order_and_values():
    pytest.importorskip("darts")
    series = to_darts_series([np.array([1.0, 2.0, 3.0]), np.array([5.0])], min_length=2)
    assert [len(s) for s in series] == [3, 2]
    np.testing.assert_array_equal(series[0].values()[:, 0], [1, 2, 3])
    np.testing.assert_array_equal(series[1].values()[:, 0], [5, 5])
    np.testing.assert_array_equal(darts_forecasts_to_array(series[:1] * 2), [[1, 2, 3], [1, 2, 3]])


@pytest.mark.slow
def test_the_tuners_rung_monitor_sees_each_epoch_and_can_stop_the_tft_without_changing_its_training():
    """The TFT's fidelity is its epochs: a watched fit reports each rung's score on the cut
    validation engines and stops at a rung when told; watching alone changes nothing it learns
    (the same predictions as an unwatched fit, seed for seed)."""
    pytest.importorskip("darts")
    from adapters.darts_tft import DartsTFTAdapter
    from study.contract.adapter import TrialContext
    from study.contract.check_kit import synthetic_data
    from study.contract.fidelity import RungMonitor, RungPlan

    _, prepared = synthetic_data()["original"]
    params = {**DartsTFTAdapter.check_params(None), "n_epochs": 6}

    def fit(monitor):
        model = DartsTFTAdapter(seed=0, context=TrialContext(monitor=monitor), **params)
        return model.fit(prepared.train, prepared.valid).predict(prepared.test)

    watched = RungMonitor(RungPlan(rungs=(2, 4)), prepared.valid)
    np.testing.assert_array_equal(fit(watched), fit(None))
    assert [step for step, _score, _cpu in watched.record()["values"]] == [2, 4] and watched.stop is None
    stopped = RungMonitor(RungPlan(rungs=(2, 4), thresholds=(-1.0, None)), prepared.valid)
    assert np.all(np.isfinite(fit(stopped)))  # a fit stopped at a rung still predicts
    assert [step for step, _score, _cpu in stopped.record()["values"]] == [2] and "pruned at step 2" in stopped.stop
    assert DartsTFTAdapter.fidelity_param in DartsTFTAdapter.default_params
