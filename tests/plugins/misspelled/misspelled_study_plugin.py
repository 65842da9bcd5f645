"""A plugin whose entry point misspells its class (MispeledAdapter for MisspelledAdapter)."""
from __future__ import annotations

import numpy as np

from study.contract.adapter import Adapter


class MisspelledAdapter(Adapter):
    """Predicts zero; only its registration matters."""

    name = "test-misspelled"
    tags = {"library": "none", "family": "baseline"}

    def _fit(self, train, valid):
        pass

    def _predict(self, test):
        return np.zeros(len(test))
