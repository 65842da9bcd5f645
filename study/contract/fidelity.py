"""Multi-fidelity evaluation: a fit reports its validation score at rungs (epochs) and stops
early when it is not among the best at a rung, or when its CPU budget would run out.

The rule is asynchronous successive halving (ASHA: Li et al., "A System for Massively
Parallel Hyperparameter Tuning", MLSys 2020) in the form of Optuna's
``SuccessiveHalvingPruner``: a configuration continues past a rung only if its score there is
among the best ``1 / REDUCTION_FACTOR`` of the scores every earlier configuration reached at
that rung (and, while fewer than ``REDUCTION_FACTOR`` competitors exist, only if it is the
best). The decision has to be taken inside the fit's own worker process, so the tuner
computes each rung's threshold from its journal before the fit starts and ships them in a
``RungPlan``; the worker never reads the journal. That keeps a resumed tuning deterministic:
the thresholds depend on the journal's finished evaluations only.

The score at a rung is the RMSE on the fold's validation engines cut as test engines are
(``study.data.validation``), of the weights the fit would keep if it stopped there: exactly the
value an evaluation stopped at that rung would have. Only validation engines of the training
file are read.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from study.data.protocol import EngineSet
from study.data.scoring import rmse
from study.data.validation import cut_engines

#: Keep the best third at each rung (Optuna's and Hyperband's default).
REDUCTION_FACTOR = 3
#: The first rung (epochs): early enough to stop a poor network cheaply, late enough that the
#: learning-rate warm-up of a one-cycle schedule has begun to show.
MIN_RESOURCE = 3
PRUNED = "pruned"
BUDGET = "budget"


def rung_steps(max_resource: int, min_resource: int = MIN_RESOURCE, eta: int = REDUCTION_FACTOR) -> tuple[int, ...]:
    """The rungs below ``max_resource``: min, min x eta, min x eta^2, ... (the fit's own end,
    ``max_resource``, is the top of the ladder and not a rung)."""
    steps, step = [], max(1, int(min_resource))
    while step < max_resource:
        steps.append(step)
        step *= eta
    return tuple(steps)


def promotion_threshold(competing: Sequence[float], eta: int = REDUCTION_FACTOR) -> float | None:
    """The worst score that still continues past a rung, given the scores earlier
    configurations reached there (None: no competitor yet, everything continues).

    Optuna's rule with the candidate counted among ``n`` competitors: it continues if its score
    is at most the ``max(0, n // eta - 1)``-th smallest; that is, at most this threshold."""
    values = sorted(float(v) for v in competing if v is not None and np.isfinite(v))
    if not values:
        return None
    return values[max(0, (len(values) + 1) // eta - 1)]


@dataclass(frozen=True)
class RungPlan:
    """What a fit is told before it starts: where to report, what to beat, what it may spend."""

    rungs: tuple[int, ...] = ()
    thresholds: tuple[float | None, ...] = ()  # one per rung; None: continues whatever its score
    cpu_limit_s: float | None = None  # CPU seconds this fit may use (None: no limit)
    max_rul: float = 125.0  # the truth cap of the score


@dataclass
class RungMonitor:
    """Runs inside the fit's process: scores the kept weights at each rung, and says when to
    stop. An adapter calls ``after_step`` once per step (epoch) and stops when it returns a
    reason; what was reached is in ``record()``, which the trial puts into its row."""

    plan: RungPlan
    valid: EngineSet
    started_cpu: float = field(default_factory=time.process_time)
    values: list[list[float]] = field(default_factory=list)  # [step, score, CPU seconds at that step]
    stop: str | None = None

    def __post_init__(self) -> None:
        cut = cut_engines(self.valid)
        self.engines = cut.engines
        self.truth = np.minimum(cut.truth, self.plan.max_rul)

    def cpu_used(self) -> float:
        return time.process_time() - self.started_cpu

    def after_step(self, step: int, predict: Callable[[EngineSet], np.ndarray], last_step: int) -> str | None:
        """After step ``step`` of ``last_step``: at a rung, score ``predict`` (the weights a stop
        now would keep) on the cut validation engines, and stop if the score is above the
        rung's threshold or if the CPU budget cannot reach the next rung (or the end). Between
        rungs, stop only when the CPU budget is spent."""
        used = self.cpu_used()
        limit = self.plan.cpu_limit_s
        if step not in self.plan.rungs:
            if limit is not None and used >= limit and step < last_step:
                self.stop = f"{BUDGET}: CPU budget of {limit:.0f} s spent at step {step}"
            return self.stop
        index = self.plan.rungs.index(step)
        score = rmse(self.truth, np.clip(np.asarray(predict(self.engines), dtype=float), 0.0, None))
        self.values.append([int(step), float(score), round(used, 3)])
        threshold = self.plan.thresholds[index] if index < len(self.plan.thresholds) else None
        if threshold is not None and score > threshold:
            self.stop = f"{PRUNED} at step {step}: {score:.3f} > {threshold:.3f}"
        elif limit is not None:
            target = self.plan.rungs[index + 1] if index + 1 < len(self.plan.rungs) else last_step
            needed = used / step * (target - step)
            if target > step and used + needed > limit:
                self.stop = f"{BUDGET}: step {target} would need about {used + needed:.1f} of {limit:.1f} CPU s"
        return self.stop

    def record(self) -> dict[str, Any]:
        """The row's account of the fit's rungs: scores reached and why it stopped (None: it
        ran to its own end)."""
        return {"values": self.values, "stop": self.stop, "rungs": list(self.plan.rungs),
                "thresholds": list(self.plan.thresholds), "cpu_limit_s": self.plan.cpu_limit_s}


def process_cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and of its finished children: what an
    evaluation is charged, whatever else the machine is doing."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
