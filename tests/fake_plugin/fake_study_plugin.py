"""A third-party package as the tests see it: adapters registered only through an entry point."""
from __future__ import annotations

import os
import time

import numpy as np

from study.contract.adapter import Adapter


class ConstantAdapter(Adapter):
    """Predicts the training engines' mean final-window RUL (a sanity floor)."""

    name = "test-constant"
    tags = {"library": "none", "family": "baseline", "formulation": "regression",
            "python_dependencies": [], "needs_weights": False}
    default_params = {"offset": 0.0, "delay": 0.0, "work": 0.0}

    def _fit(self, train, valid):
        time.sleep(self.params["delay"])  # stands in for training time in the kill-and-resume test
        burn_cpu(self.params["work"])  # stands in for training's CPU in the budget tests
        self.mean_ = float(train.windows()[1].mean()) + self.params["offset"]

    def _predict(self, test):
        return np.full(len(test), self.mean_)


def burn_cpu(seconds: float) -> None:
    """Keep one core busy for ``seconds`` of this process's CPU time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(range(1000))


class EpochsAdapter(ConstantAdapter):
    """Trains for ``epochs`` steps of ``work`` CPU seconds each, its error shrinking as
    ``offset / epoch``: a model with a natural fidelity, for the rung tests. It reports to the
    tuner's rung monitor after every epoch, as our networks do, and stops when told."""

    name = "test-epochs"
    default_params = {"offset": 0.0, "delay": 0.0, "work": 0.1, "epochs": 9}
    # smoke: free epochs; default: a start too short to reach a rung (nothing to compete with)
    profiles = {"smoke": {"work": 0.0}, "default": {"epochs": 2}}
    fidelity_param = "epochs"

    def _fit(self, train, valid):
        time.sleep(self.params["delay"])
        base = float(train.windows()[1].mean())
        self.epochs_run_ = 0
        for epoch in range(1, self.params["epochs"] + 1):
            burn_cpu(self.params["work"])
            self.mean_ = base + self.params["offset"] / epoch
            self.epochs_run_ = epoch
            monitor = self.context.monitor
            if monitor is not None and monitor.after_step(epoch, self._predict, self.params["epochs"]):
                break
        self.info_ = {"epochs_run": self.epochs_run_}



class RaisingAdapter(ConstantAdapter):
    """Raises inside fit, like a library with a bug."""

    name = "test-raises"

    def _fit(self, train, valid):
        raise RuntimeError("deliberate failure for the tests")


class CrashingAdapter(ConstantAdapter):
    """Kills its own process, like a segfaulting native library."""

    name = "test-crashes"

    def _fit(self, train, valid):
        os.abort()


class SleepingAdapter(ConstantAdapter):
    """Hangs in fit, like a library stuck in a deadlock."""

    name = "test-sleeps"

    def _fit(self, train, valid):
        time.sleep(600)


class MissingDependencyAdapter(ConstantAdapter):
    """Needs a package that is not installed: its trials are skipped."""

    name = "test-needs-missing-package"
    tags = {**ConstantAdapter.tags, "python_dependencies": ["package_that_is_not_installed_anywhere"]}
