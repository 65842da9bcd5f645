"""Validation engines seen the way test engines are: cut short, one prediction per cut.

A training engine runs to failure, so its last window always has RUL 0: scoring "the last
window of each validation engine" would score nothing. NASA built the test engines by
cutting run-to-failure trajectories some time before failure; this module does the same to
the engine-disjoint validation engines, with a fixed, documented rule that reads nothing
but the training file:

- each validation engine is cut ``CUTS_PER_ENGINE`` times, once in each of that many equal
  slices of its cycles ``[min(window, T - 1), T - 1]`` (stratified, so early, middle and late
  life are all represented), drawn with ``CUT_SEED`` and the engine's id, never with a
  model's seed; every model, seed and trial therefore sees the same cut engines;
- a cut engine keeps cycles ``1..c``; its truth is the cycles left, ``T - c`` plus the
  protocol's RUL at the last cycle (as raw as ``RUL_FD00x.txt``), capped for scoring.

The adapter predicts them with its own ``predict``, exactly as it predicts test engines, so
validation and test predictions are comparable and any later step (tuning, ensembles) can
use them without refitting.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from study.data.protocol import EngineSet

CUTS_PER_ENGINE = 5
CUT_SEED = 0


@dataclass(frozen=True, eq=False)
class CutEngines:
    """Validation engines cut short: an unlabelled engine set (test-like) and its truth."""

    engines: EngineSet          # one engine per cut, labels removed (rul is None), as on test
    units: np.ndarray           # the validation engine each cut comes from
    cycles: np.ndarray          # the cycle each cut ends at (1-based)
    truth: np.ndarray           # raw cycles left after the cut (uncapped, like RUL_FD00x.txt)


def cut_points(length: int, window: int, cuts: int, rng: np.random.Generator) -> np.ndarray:
    """``cuts`` distinct cycles in ``[min(window, length - 1), length - 1]``, one per equal slice."""
    low, high = max(1, min(window, length - 1)), max(1, length - 1)
    edges = np.linspace(low, high + 1, cuts + 1)
    points = {int(np.clip(np.floor(rng.uniform(a, b)), low, high)) for a, b in zip(edges[:-1], edges[1:])}
    return np.array(sorted(points), dtype=int)


def cut_engines(valid: EngineSet, cuts: int = CUTS_PER_ENGINE, seed: int = CUT_SEED) -> CutEngines:
    """The validation engines cut as test engines are (see the module docstring)."""
    if valid.rul is None:
        raise ValueError("cut_engines needs labelled (training or validation) engines")
    sequences, conditions, units, cycles, truth = [], [], [], [], []
    for i, unit in enumerate(valid.units):
        seq, rul = valid.sequences[i], valid.rul[i]
        rng = np.random.default_rng([seed, int(unit)])
        for c in cut_points(len(seq), valid.window, cuts, rng):
            sequences.append(seq[:c])
            conditions.append(valid.conditions[i][:c])
            units.append(int(unit))
            cycles.append(int(c))
            truth.append(float(len(seq) - c) + float(rul[-1]))
    engines = EngineSet(valid.subset, np.arange(1, len(sequences) + 1), tuple(sequences), tuple(conditions),
                        valid.channels, valid.window, rul=None)
    return CutEngines(engines, np.array(units, dtype=int), np.array(cycles, dtype=int),
                      np.array(truth, dtype=float))
