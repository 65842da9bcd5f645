"""XGBoost on window summary features: the strong, cheap baseline every deep model must beat."""
from __future__ import annotations

import numpy as np

from adapters.features import to_tabular
from study.contract.adapter import Adapter
from study.contract.search_space import Float, Int
from study.data.protocol import EngineSet


class XGBoostAdapter(Adapter):
    """Gradient-boosted trees on per-channel window statistics (last, mean, std, min, max,
    slope, tail mean, cycle), early-stopped on the engine-disjoint validation windows."""

    name = "xgboost"
    tags = {
        "library": "xgboost",
        "family": "GBDT",
        "formulation": "regression",
        "python_dependencies": ["xgboost"],
        "install_extra": "xgboost",
        "needs_weights": False,
    }
    default_params = {
        "n_estimators": 2000,
        "learning_rate": 0.02,
        "max_depth": 5,
        "subsample": 0.8,
        "colsample_bytree": 0.5,
        "min_child_weight": 5,
        "early_stopping_rounds": 100,
        "threads": None,  # None: the trial's share of the CPU (cores / parallel trials)
    }
    param_ranges = {"n_estimators": (1, None), "learning_rate": (0, 1), "max_depth": (0, None), "subsample": (0, 1),
                    "colsample_bytree": (0, 1), "min_child_weight": (0, None), "early_stopping_rounds": (1, None),
                    "threads": (1, None)}
    # default: XGBRegressor's own defaults (100 trees, learning rate 0.3, depth 6, no row or
    # column sampling, min_child_weight 1); early stopping on the validation engines stays, as
    # for every model that trains in rounds
    profiles = {"smoke": {"n_estimators": 60, "learning_rate": 0.2, "early_stopping_rounds": 10},
                "default": {"n_estimators": 100, "learning_rate": 0.3, "max_depth": 6, "subsample": 1.0,
                            "colsample_bytree": 1.0, "min_child_weight": 1}}
    # n_estimators is a ceiling: early stopping on the validation engines picks the rounds
    search_space = {"max_depth": Int(2, 10), "learning_rate": Float(0.005, 0.3, log=True),
                    "subsample": Float(0.5, 1.0), "colsample_bytree": Float(0.3, 1.0),
                    "min_child_weight": Int(1, 50, log=True), "n_estimators": Int(100, 4000, log=True)}

    def _fit(self, train: EngineSet, valid: EngineSet | None) -> None:
        import xgboost as xgb

        x, y, _ = to_tabular(train)
        params = {name: value for name, value in self.params.items() if name != "threads"}
        params["n_jobs"] = self.threads
        rounds = params.pop("early_stopping_rounds")
        eval_set = None
        if valid is not None and len(valid):
            xv, yv, _ = to_tabular(valid)
            eval_set = [(xv, yv)]
        else:
            rounds = None
        self.model_ = xgb.XGBRegressor(**params, random_state=self.seed, early_stopping_rounds=rounds,
                                       objective="reg:squarederror", tree_method="hist")
        self.model_.fit(x, y, eval_set=eval_set, verbose=False)
        self.info_ = {"best_iteration": int(getattr(self.model_, "best_iteration", params["n_estimators"]) or 0),
                      "n_features": x.shape[1], "n_train_windows": len(x)}

    def refit_params(self) -> dict:
        """The rounds early stopping kept (``best_iteration`` + 1) as a fixed count; without
        a validation set the refit has no early stopping. A fit that did not early-stop
        (no validation engines) selected nothing: the same parameters."""
        if not hasattr(self.model_, "best_iteration"):  # defined only when early stopping ran
            return dict(self.params)
        return {**self.params, "n_estimators": int(self.model_.best_iteration) + 1}

    def _predict(self, test: EngineSet) -> np.ndarray:
        x, _, _ = to_tabular(test, last_only=True)
        return self.model_.predict(x)
