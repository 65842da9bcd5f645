"""Conversions from prepared engine sets into each library's own format, in one place.

Each function is pure and tested once; adapters call these instead of reshaping data
themselves, so every library sees exactly the same windows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from study.protocol import EngineSet


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


def to_tabular(engines: EngineSet, last_only: bool = False) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Window features as a table: (features, target or NaN, engine index per row)."""
    if last_only:
        x = engines.last_windows()
        y = engines.last_rul() if engines.rul is not None else np.full(len(engines), np.nan, np.float32)
        groups = np.arange(len(engines))
    else:
        x, y, groups = engines.windows()
    return window_features(x, engines.channels, window_end_cycles(engines, last_only)), y, groups
