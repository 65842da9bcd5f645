"""The runner's profiles, above all ``default``: what every model gives out of the box, and
where the tuner starts.

It must hold none of the settings this project chose by hand on validation engines (the
equal-budget comparison would otherwise start our networks from that effort), and every
adapter must run in it within its CPU share. Every profile's settings are in the adapters'
ranges, and ``--help`` describes each profile.
"""
from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from study.contract.registry import all_adapters, get_adapter
from study.data.cmapss import SUBSETS

ROOT = Path(__file__).resolve().parents[2]
NETWORKS = ("lstm", "transformer", "mamba")


@pytest.mark.parametrize("name", sorted(all_adapters()))
def test_every_adapter_declares_a_valid_default_profile(name):
    cls = get_adapter(name)
    assert "default" in cls.profiles, f"{name} has no 'default' profile (its out-of-the-box settings)"
    for subset in SUBSETS:
        params = cls.params_for("default", subset)
        assert cls.param_problems(params) == []  # (inside the search space: tests/contract/test_search_space.py)


@pytest.mark.parametrize("name", NETWORKS)
def test_our_networks_default_profile_has_none_of_the_hand_chosen_settings(name):
    from adapters._torch import PLAIN_TRAINER_PARAMS, TRAINER_PARAMS

    cls = get_adapter(name)
    hand_chosen = {k for k in PLAIN_TRAINER_PARAMS if PLAIN_TRAINER_PARAMS[k] != TRAINER_PARAMS.get(k)}
    assert {"lr", "batch_size", "history_factor", "cycle_channel", "patience"} <= hand_chosen
    for subset in SUBSETS:  # subset_params (hand-chosen per subset) must not leak into it
        params = cls.params_for("default", subset)
        assert {k: params[k] for k in PLAIN_TRAINER_PARAMS} == PLAIN_TRAINER_PARAMS, subset
    assert cls.params_for("standard", "FD001") != cls.params_for("default", "FD001")


def test_the_trainers_own_defaults_are_the_plain_defaults():
    from adapters._torch import PLAIN_TRAINER_PARAMS
    from adapters._torch.trainer import TrainConfig

    config = TrainConfig()
    assert {k: getattr(config, k) for k in PLAIN_TRAINER_PARAMS if hasattr(config, k)} == \
        {k: v for k, v in PLAIN_TRAINER_PARAMS.items() if hasattr(config, k)}


def test_xgboost_default_profile_is_the_librarys_defaults():
    import xgboost as xgb

    params = get_adapter("xgboost").params_for("default", "FD001")
    library = xgb.XGBRegressor().get_xgb_params()  # what the library reports as its defaults
    documented = {"learning_rate": 0.3, "max_depth": 6, "subsample": 1.0, "colsample_bytree": 1.0,
                  "min_child_weight": 1}
    for key, value in documented.items():
        assert params[key] == value
        assert library.get(key) in (None, value)  # None: the library's built-in default
    assert params["n_estimators"] == 100


def test_minirocket_uses_the_trials_cpu_share(monkeypatch, synthetic_prepared):
    """MiniRocket once hard-coded two jobs: on a one-thread share it took both cores."""
    seen = {}

    class Recorder:
        def __init__(self, **kwargs):
            seen.update(kwargs)

        def fit(self, x, y):
            self.mean_ = float(np.mean(y))
            return self

        def predict(self, x):
            return np.full(len(x), self.mean_)

    fake = types.ModuleType("sktime.regression.kernel_based")
    fake.RocketRegressor = Recorder
    monkeypatch.setitem(sys.modules, "sktime.regression.kernel_based", fake)
    prepared, _ = synthetic_prepared
    train, valid = prepared.train, prepared.valid
    for share in (1, 3):
        adapter = get_adapter("sktime-rocket")(seed=0, **get_adapter("sktime-rocket").params_for("default"))
        adapter.context.threads = share
        adapter.fit(train, valid)
        assert seen["n_jobs"] == share


@pytest.mark.slow
def test_the_profiles_descriptions_are_in_the_help():
    from study.contract.profiles import PROFILES

    result = subprocess.run([sys.executable, "-m", "study.run", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    text = " ".join(result.stdout.split())
    assert all(profile.description in text for profile in PROFILES.values())


def test_every_adapters_own_settings_are_in_its_ranges():
    from study.contract.registry import all_adapters

    for name, cls in all_adapters().items():
        assert set(cls.param_ranges) <= set(cls.default_params), name
        for profile in ("standard", "smoke"):
            for subset in ("FD001", "FD002", "FD003", "FD004"):
                assert cls.param_problems(cls.params_for(profile, subset)) == [], (name, profile, subset)
