"""The AutoGluon TimeSeries adapter's own conversions: a TimeSeriesDataFrame in, forecasts out."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from adapters.autogluon_timeseries import timeseries_forecasts_to_array, to_timeseries_frame


@pytest.mark.skipif(importlib.util.find_spec("autogluon") is None, reason="autogluon not installed")
def test_timeseries_frame_has_daily_timestamps_per_engine():
    frame = to_timeseries_frame([np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0])], [7, 3])
    assert list(frame.item_ids) == ["7", "3"] or sorted(frame.item_ids) == ["3", "7"]
    np.testing.assert_array_equal(frame.loc["7"]["target"].to_numpy(), [1, 2, 3])
    np.testing.assert_array_equal(frame.loc["3"]["target"].to_numpy(), [4, 5])
    stamps = frame.loc["7"].index
    assert (stamps[1] - stamps[0]).days == 1
    back = timeseries_forecasts_to_array(frame.rename(columns={"target": "mean"}).loc[["3"]], [3])
    np.testing.assert_array_equal(back, [[4, 5]])
