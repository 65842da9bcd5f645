"""A tiny synthetic C-MAPSS-format data set, for tests that need no real data.

Each engine degrades exponentially from a random start; sensors respond linearly to the
health state plus noise, and the multi-condition subsets draw one of six operating points
per cycle (shifting sensor levels), so the per-condition normalisation has work to do.
The files do not match NASA's checksums: load them with ``allow_unverified=True``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from study.data.cmapss import OPERATING_CONDITIONS, SUBSETS, files_of

_CONDITIONS = np.array([[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100],
                        [25, 0.62, 60], [35, 0.84, 100], [42, 0.84, 100]], dtype=float)


def _engine(rng: np.random.Generator, life: int, n_conditions: int) -> np.ndarray:
    cycles = np.arange(1, life + 1)
    onset = rng.uniform(0.3, 0.6) * life
    health = np.where(cycles > onset, np.expm1((cycles - onset) / (life - onset) * 2.0), 0.0)
    cond = rng.integers(0, n_conditions, size=life) if n_conditions > 1 else np.zeros(life, int)
    settings = _CONDITIONS[cond] + rng.normal(0, 0.001, size=(life, 3))
    weights = np.linspace(-1.0, 1.0, 21)
    sensors = (500 + 10 * np.arange(21) + cond[:, None] * 7.0
               + health[:, None] * weights * 5 + rng.normal(0, 0.3, size=(life, 21)))
    return np.column_stack([cycles, settings, sensors])


def write_synthetic(folder: Path, n_train: int = 12, n_test: int = 8, seed: int = 0,
                    subsets: tuple[str, ...] = SUBSETS, min_life: int = 60, max_life: int = 140) -> Path:
    """Write train/test/RUL files for the given subsets into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for subset in subsets:
        n_cond = OPERATING_CONDITIONS[subset]
        train_rows, test_rows, truth = [], [], []
        for unit in range(1, n_train + 1):
            rows = _engine(rng, int(rng.integers(min_life, max_life)), n_cond)
            train_rows.append(np.column_stack([np.full(len(rows), unit), rows]))
        for unit in range(1, n_test + 1):
            rows = _engine(rng, int(rng.integers(min_life, max_life)), n_cond)
            cut = int(rng.integers(len(rows) // 3, len(rows) - 1))
            test_rows.append(np.column_stack([np.full(cut, unit), rows[:cut]]))
            truth.append(len(rows) - cut)
        train_name, test_name, rul_name = files_of(subset)
        fmt = ["%d", "%d"] + ["%.4f"] * 24
        np.savetxt(folder / train_name, np.vstack(train_rows), fmt=fmt)
        np.savetxt(folder / test_name, np.vstack(test_rows), fmt=fmt)
        np.savetxt(folder / rul_name, np.array(truth), fmt="%d")
    return folder
