"""sktime's MiniRocket regressor on windows given as sktime panels."""
from __future__ import annotations

import numpy as np

from adapters.features import subsample_indices, to_sktime_panel
from study.contract.adapter import Adapter
from study.contract.search_space import Int
from study.data.protocol import EngineSet
from study.data.scoring import rmse


class SktimeRocketAdapter(Adapter):
    """``RocketRegressor(rocket_transform="minirocket")``: random dilated convolution kernels
    summarised by proportion-of-positive-values features, then a ridge regression (sktime's
    own pipeline). Windows are sktime ``numpy3D`` panels ``[n, channels, time]``; the training
    windows are capped at ``max_windows`` (drawn with the seed) to bound the ~10k-column
    feature table on the large subsets."""

    name = "sktime-rocket"
    tags = {
        "library": "sktime",
        "family": "random convolution kernels (MiniRocket)",
        "formulation": "regression",
        "python_dependencies": ["sktime", "numba"],
        "import_modules": ["sktime.regression.kernel_based"],
        "install_extra": "sktime",
        "needs_weights": False,
        "conversions": 1,  # windows (n, time, channels) -> numpy3D (n, channels, time)
        "workarounds": [
            "RocketRegressor(rocket_transform='minirocket'): sktime 1.2.0 has no MiniRocketRegressor",
            "training windows subsampled (seeded) to max_windows: the kernel feature table is "
            "n x ~10k float columns, too large and slow for all FD002/FD004 windows",
            "first fit compiles numba kernels (~50 s once, cached afterwards)",
        ],
    }
    # threads None: the trial's CPU share (``context.threads``), as every adapter
    default_params = {"num_kernels": 10_000, "max_windows": 5000, "threads": None}
    param_ranges = {"num_kernels": (84, None), "max_windows": (1, None), "threads": (1, None)}  # MiniRocket: >= 84 kernels
    # default: sktime's own num_kernels (10,000); max_windows is ours (a memory bound, not a
    # library setting)
    profiles = {"smoke": {"num_kernels": 168, "max_windows": 300, "threads": 1}, "default": {}}
    # MiniRocket rounds num_kernels down to a multiple of 84; more windows cost time linearly
    search_space = {"num_kernels": Int(1_000, 20_000, log=True), "max_windows": Int(1_000, 20_000, log=True)}

    def _fit(self, train: EngineSet, valid: EngineSet | None) -> None:
        from sktime.regression.kernel_based import RocketRegressor

        x, y, _ = to_sktime_panel(train)
        keep = subsample_indices(len(x), self.params["max_windows"], self.seed)
        self.model_ = RocketRegressor(num_kernels=self.params["num_kernels"], rocket_transform="minirocket",
                                      n_jobs=self.threads, random_state=self.seed)
        self.context.progress(f"MiniRocket on {len(keep)} of {len(x)} windows")
        self.model_.fit(x[keep], y[keep])
        self.info_ = {"n_train_windows": int(len(keep)), "n_windows_available": int(len(x))}
        if valid is not None and len(valid):
            xv, yv, _ = to_sktime_panel(valid, last_only=True)
            self.info_["valid_rmse_last_window"] = rmse(yv, self.model_.predict(xv))

    def refit_params(self) -> dict:
        """Nothing is selected on the validation engines (they only give ``info_`` a number;
        the ridge picks its penalty on the training windows): the same parameters, more data."""
        return dict(self.params)

    def _predict(self, test: EngineSet) -> np.ndarray:
        x, _, _ = to_sktime_panel(test, last_only=True)
        return self.model_.predict(x)
