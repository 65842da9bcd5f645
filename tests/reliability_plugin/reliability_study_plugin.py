"""Adapters for the reliability tests (tests/test_reliability.py), registered by entry point."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from study.contract.adapter import Adapter


class SpawningAdapter(Adapter):
    """Starts a child process of its own (as AutoGluon or joblib do), records its pid, then hangs."""

    name = "test-spawns-child"
    tags = {"library": "none", "family": "baseline", "formulation": "regression",
            "python_dependencies": [], "needs_weights": False}
    default_params = {"pid_file": ""}

    def _fit(self, train, valid):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(self.params["pid_file"]).write_text(f"{child.pid}\n")
        time.sleep(600)

    def _predict(self, test):
        return np.zeros(len(test))


class RangedAdapter(Adapter):
    """Declares the valid range of its parameters; predicts a constant."""

    name = "test-ranged"
    tags = SpawningAdapter.tags
    default_params = {"n_trees": 10, "rate": 0.5, "workers": None}
    param_ranges = {"n_trees": (1, None), "rate": (0, 1), "workers": (1, None)}

    def _fit(self, train, valid):
        self.mean_ = float(train.windows()[1].mean())

    def _predict(self, test):
        return np.full(len(test), self.mean_)
