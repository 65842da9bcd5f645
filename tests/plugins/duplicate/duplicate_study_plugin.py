"""A plugin that claims the name of a built-in adapter."""
import numpy as np

from study.contract.adapter import Adapter


class AnotherXGBoost(Adapter):
    name = "xgboost"
    tags = {"library": "none", "family": "constant", "formulation": "regression",
            "python_dependencies": [], "needs_weights": False}

    def _fit(self, train, valid):
        pass

    def _predict(self, test):
        return np.full(len(test), 50.0)
