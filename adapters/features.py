"""Library-neutral features of prepared engine sets, for any adapter (ours or a plugin's).

Each function is pure and tested once: labelled windows and their summary statistics, the
scikit-learn/sktime array shapes, subsampling, and the health indicator that turns a
forecaster's output into RUL. Adapters call these instead of reshaping data themselves, so
every library sees exactly the same windows; a library's own formats (Darts ``TimeSeries``,
AutoGluon's ``TimeSeriesDataFrame``) live in that library's adapter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from study.data.protocol import EngineSet


def window_end_cycles(engines: EngineSet, last_only: bool = False) -> np.ndarray:
    """The cycle number (1-based, within its engine) at the end of each window.

    It is an input, not a label: a test engine's observed length is part of its record.
    """
    if last_only:
        return np.array([len(s) for s in engines.sequences], dtype=np.float32)
    ends = [np.arange(max(len(s), engines.window) - engines.window + 1) + min(len(s), engines.window)
            for s in engines.sequences]
    return np.concatenate(ends).astype(np.float32)


def window_features(windows: np.ndarray, channels: tuple[str, ...], cycles: np.ndarray) -> pd.DataFrame:
    """Summary features per channel of each window (last, mean, std, min, max, slope, and
    the mean of the last quarter), plus the cycle at the window's end."""
    n, length, _ = windows.shape
    t = np.arange(length, dtype=np.float32)
    t_centered = (t - t.mean()) / max(((t - t.mean()) ** 2).sum(), 1e-9)
    tail = max(1, length // 4)
    blocks = {
        "last": windows[:, -1, :],
        "mean": windows.mean(axis=1),
        "std": windows.std(axis=1),
        "min": windows.min(axis=1),
        "max": windows.max(axis=1),
        "slope": np.einsum("t,ntc->nc", t_centered, windows),
        "tailmean": windows[:, -tail:, :].mean(axis=1),
    }
    columns = {f"{ch}_{stat}": values[:, j] for stat, values in blocks.items() for j, ch in enumerate(channels)}
    columns["cycle"] = cycles
    return pd.DataFrame(columns, index=pd.RangeIndex(n)).astype(np.float32)


def labelled_windows(engines: EngineSet, last_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All windows (or each engine's last): X (n, window, channels), target (NaN on test
    engines) and the engine index of each window."""
    if not last_only:
        return engines.windows()
    y = engines.last_rul() if engines.rul is not None else np.full(len(engines), np.nan, np.float32)
    return engines.last_windows(), y, np.arange(len(engines))


def to_tabular(engines: EngineSet, last_only: bool = False) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Window features as a table: (features, target or NaN, engine index per row)."""
    x, y, groups = labelled_windows(engines, last_only)
    return window_features(x, engines.channels, window_end_cycles(engines, last_only)), y, groups


# ----- sktime ------------------------------------------------------------------------

def to_sktime_panel(engines: EngineSet, last_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows as an sktime ``numpy3D`` panel ``(instances, channels, time)``: (X, target or
    NaN, engine index per instance)."""
    x, y, groups = labelled_windows(engines, last_only)
    return np.ascontiguousarray(x.transpose(0, 2, 1)), y, groups


def subsample_indices(n: int, cap: int | None, seed: int) -> np.ndarray:
    """At most ``cap`` of ``range(n)``, drawn without replacement with ``seed``, sorted
    (all of them when ``cap`` is None or not smaller than ``n``)."""
    if cap is None or cap >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


# ----- health indicator (forecast-threshold formulation) -----------------------------

@dataclass(frozen=True)
class HealthIndicator:
    """A scalar health indicator: a linear map from the normalised channels to capped-RUL /
    cap, fitted on training engines only. 1 is healthy, ``threshold`` is the level
    training engines reach at their last cycle (failure)."""

    weights: np.ndarray  # (channels,)
    bias: float
    threshold: float
    cap: float

    def transform(self, engines: EngineSet) -> list[np.ndarray]:
        """One HI series per engine (float32, one value per cycle), engine order kept. Reads
        the sensors only, never labels."""
        return [(seq @ self.weights + self.bias).astype(np.float32) for seq in engines.sequences]


def fit_health_indicator(train: EngineSet, ridge: float = 1e-3) -> HealthIndicator:
    """Least squares (slightly ridged) from channels to capped RUL / cap on every training
    cycle; the failure threshold is the mean HI at the training engines' last cycles."""
    if train.rul is None:
        raise ValueError("the health indicator is fitted on labelled (training) engines only")
    x = np.concatenate(train.sequences).astype(np.float64)
    rul = np.concatenate(train.rul).astype(np.float64)
    cap = float(rul.max())
    target = rul / cap
    x_mean, t_mean = x.mean(axis=0), target.mean()
    xc = x - x_mean
    weights = np.linalg.solve(xc.T @ xc + ridge * len(x) * np.eye(x.shape[1]), xc.T @ (target - t_mean))
    bias = float(t_mean - x_mean @ weights)
    threshold = float(np.mean([seq[-1] @ weights + bias for seq in train.sequences]))
    return HealthIndicator(weights.astype(np.float32), bias, threshold, cap)


def pad_front(series: np.ndarray, min_length: int) -> np.ndarray:
    """A series front-padded to ``min_length`` by repeating its first value (the protocol's
    short-engine policy)."""
    short = min_length - len(series)
    return np.concatenate([np.repeat(series[:1], short, axis=0), series]) if short > 0 else series


def ruls_from_forecasts(forecasts: np.ndarray, threshold: float, cap: float) -> np.ndarray:
    """RUL per forecast row = steps until the forecast HI first falls to ``threshold``.

    Row ``i`` holds the HI at steps 1..H after the last observed cycle. A first crossing
    between steps k-1 and k is located by linear interpolation (k - 1 + fraction); a
    crossing at step 1 gives 1. No crossing within the horizon gives H. Capped at ``cap``.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] == 0:
        raise ValueError(f"forecasts must be (series, horizon) with horizon >= 1, got {f.shape}")
    n, horizon = f.shape
    below = f <= threshold
    crossed = below.any(axis=1)
    k = np.where(crossed, below.argmax(axis=1) + 1, horizon).astype(np.float64)  # 1-based step
    rul = k.copy()
    rows = np.flatnonzero(crossed & (k >= 2))
    if len(rows):
        step = k[rows].astype(int)
        before, after = f[rows, step - 2], f[rows, step - 1]
        rul[rows] = step - 1 + (before - threshold) / np.maximum(before - after, 1e-12)
    return np.minimum(rul, cap)
