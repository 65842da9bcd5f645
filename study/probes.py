"""Validation probes: validation engines cut short, so a model can be asked what it asks of a
test engine ("how many cycles are left?") on engines whose answer is known.

A validation engine ran to failure, so its last window always has RUL 0; predictions there say
nothing about the mid-life cycles the test engines stop at. NASA's test engines are cut at
random points; a probe cuts each validation engine at a fixed grid of remaining cycles
(``PROBE_RUL``), which covers the test set's range (RUL 7-145 on FD001) the same way for every
model and every run. The probes are built from training data only (the validation split of the
training engines); the test RUL never reaches them.

The grid is not part of the protocol hash: it decides which validation predictions a row
stores (for choosing an ensemble), not how any model is trained or scored on the test engines.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from study.protocol import EngineSet

#: Remaining cycles at which each validation engine is cut (engines too short for a cut skip it).
PROBE_RUL: tuple[int, ...] = (10, 30, 50, 70, 90, 110, 130)
#: How the probes were made, stored with every row's validation predictions.
PROBE_NAME = "rul-grid-" + "-".join(str(r) for r in PROBE_RUL)


@dataclass(frozen=True)
class Probes:
    """Cut validation engines (unlabelled, so an adapter predicts them like test engines) and
    the answers: the capped RUL at each cut."""

    engines: EngineSet
    units: np.ndarray   # the validation engine each probe was cut from
    cycles: np.ndarray  # how many cycles of it the probe keeps
    truth: np.ndarray   # capped RUL at the cut, from the training labels

    def ids(self) -> list[tuple[int, int]]:
        """(unit, cycles kept) per probe: how rows of different models are aligned."""
        return list(zip(self.units.tolist(), self.cycles.tolist()))


def validation_probes(valid: EngineSet, grid: tuple[int, ...] = PROBE_RUL) -> Probes:
    """Cut each validation engine so that ``r`` cycles remain after its last kept cycle, for
    each ``r`` in ``grid`` that leaves at least one cycle."""
    if valid.rul is None:
        raise ValueError("validation probes need labelled engines")
    sequences, conditions, units, cycles, truth = [], [], [], [], []
    for i, unit in enumerate(valid.units):
        length = len(valid.sequences[i])
        last_rul = valid.rul[i]
        for remaining in grid:
            keep = length - remaining
            if keep < 1:
                continue
            sequences.append(valid.sequences[i][:keep])
            conditions.append(valid.conditions[i][:keep])
            units.append(int(unit))
            cycles.append(keep)
            truth.append(float(last_rul[keep - 1]))
    # each probe is its own engine to the adapter (forecasting libraries key series by unit)
    probe_ids = np.asarray(units, dtype=int) * 1000 + np.asarray(cycles, dtype=int)
    engines = EngineSet(valid.subset, probe_ids, tuple(sequences), tuple(conditions),
                        valid.channels, valid.window, rul=None)
    return Probes(engines, np.asarray(units, dtype=int), np.asarray(cycles, dtype=int),
                  np.asarray(truth, dtype=float))
