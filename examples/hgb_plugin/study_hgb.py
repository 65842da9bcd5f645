"""scikit-learn's HistGradientBoostingRegressor in the C-MAPSS study: an example plugin."""
from __future__ import annotations

import numpy as np

from adapters.features import to_tabular
from study.contract.adapter import Adapter
from study.contract.search_space import Float, Int
from study.data.protocol import EngineSet


class HistGradientBoostingAdapter(Adapter):
    """Histogram gradient boosting on per-channel window statistics (adapters.features),
    early-stopped on the engine-disjoint validation windows, half the features per split."""

    name = "sklearn-hgb"
    tags = {"library": "scikit-learn", "family": "GBDT", "python_dependencies": ["sklearn"],
            "install_hint": "pip install scikit-learn"}  # the rest: Adapter.DEFAULT_TAGS (a plain regressor)
    default_params = {"max_iter": 1000, "learning_rate": 0.05, "max_leaf_nodes": 15,
                      "min_samples_leaf": 50, "l2_regularization": 1.0, "max_features": 0.5}
    profiles = {"smoke": {"max_iter": 40, "learning_rate": 0.2},
                "default": {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31,  # scikit-learn's own
                            "min_samples_leaf": 20, "l2_regularization": 0.0, "max_features": 1.0}}
    search_space = {"learning_rate": Float(0.01, 0.3, log=True), "max_leaf_nodes": Int(7, 63, log=True),
                    "min_samples_leaf": Int(10, 200, log=True)}

    def _fit(self, train: EngineSet, valid: EngineSet | None) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        x, y, _ = to_tabular(train)
        stop = valid is not None and len(valid) > 0
        held_out = dict(zip(("X_val", "y_val"), to_tabular(valid)[:2])) if stop else {}
        self.model_ = HistGradientBoostingRegressor(**self.params, early_stopping=stop, n_iter_no_change=30,
                                                    random_state=self.seed)
        self.model_.fit(x, y, **held_out)  # its OpenMP pool kept to the trial's CPU share by the base class
        self.info_ = {"n_iter": int(self.model_.n_iter_), "n_train_windows": len(x)}

    def _predict(self, test: EngineSet) -> np.ndarray:
        x, _, _ = to_tabular(test, last_only=True)
        return self.model_.predict(x)  # clipped at 0 by the base class
