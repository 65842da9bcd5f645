"""A plugin registered under an entry-point name that differs from its class's name."""
import numpy as np

from study.contract.adapter import Adapter


class RenamedAdapter(Adapter):
    name = "class-name"
    tags = {"library": "none", "family": "constant", "formulation": "regression",
            "python_dependencies": [], "needs_weights": False}

    def _fit(self, train, valid):
        pass

    def _predict(self, test):
        return np.full(len(test), 50.0)
