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
