"""A third-party package as the tests see it: adapters registered only through an entry point."""
from __future__ import annotations

import os
import time

import numpy as np

from study.adapter import Adapter


class ConstantAdapter(Adapter):
    """Predicts the training engines' mean final-window RUL (a sanity floor)."""

    name = "test-constant"
    tags = {"library": "none", "family": "baseline", "formulation": "regression",
            "python_dependencies": [], "needs_weights": False}
    default_params = {"offset": 0.0, "delay": 0.0}

    def _fit(self, train, valid):
        time.sleep(self.params["delay"])  # stands in for training time in the kill-and-resume test
        self.mean_ = float(train.windows()[1].mean()) + self.params["offset"]

    def _predict(self, test):
        return np.full(len(test), self.mean_)


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
