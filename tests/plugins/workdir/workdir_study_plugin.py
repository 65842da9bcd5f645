"""Adapters for the executor and runner tests: one leaves a stray file in its working
directory, as catboost (catboost_info/) or Lightning (lightning_logs/) do; one reports its
progress every epoch, as our networks do. Tags name only what differs from the defaults."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from study.contract.adapter import Adapter

STRAY = "stray_library_file.txt"


class StrayFileAdapter(Adapter):
    """Writes ``STRAY`` into the current directory while fitting; predicts the training mean."""

    name = "test-stray-file"
    tags = {"library": "none", "family": "baseline", "seed_independent": True}

    def _fit(self, train, valid):
        Path(STRAY).write_text("written by a library into the working directory\n")
        self.mean_ = float(train.windows()[1].mean())

    def _predict(self, test):
        return np.full(len(test), self.mean_)


class ChattyAdapter(StrayFileAdapter):
    """Reports ``epochs`` progress messages, as a network's trainer does after each epoch."""

    name = "test-chatty"
    default_params = {"epochs": 3}

    def _fit(self, train, valid):
        for epoch in range(1, self.params["epochs"] + 1):
            self.context.progress(f"epoch {epoch}/{self.params['epochs']}")
        self.mean_ = float(train.windows()[1].mean())
