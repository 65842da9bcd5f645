"""The cross-cutting work the adapter base class does once for every adapter: the trial
context passed in, the CPU share (``threads``) applied to every library, predictions clipped
at 0, and resume keys that the thread setting does not change."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from study.contract.adapter import Adapter, AdapterError, TrialContext
from study.contract.registry import _builtin, get_adapter

BUILTIN = sorted(reg.name for reg in _builtin() if reg.loaded)
RELIABILITY_PLUGIN = Path(__file__).parents[1] / "reliability_plugin"  # test-ranged, among others


class Negative(Adapter):
    name = "test-negative"
    tags = {"library": "none", "family": "test", "formulation": "regression"}
    default_params = {"threads": None}

    def _fit(self, train, valid):
        self.seen_threads_ = self.threads

    def _predict(self, test):
        return np.linspace(-5.0, 5.0, len(test))


def test_the_context_is_passed_in_and_a_context_set_later_still_counts(synthetic_prepared):
    prepared, _ = synthetic_prepared
    adapter = Negative(seed=0, context=TrialContext(threads=3))
    assert adapter.context.threads == 3 and adapter.fit(prepared.train).seen_threads_ == 3
    later = Negative(seed=0)
    later.context = TrialContext(threads=2)  # a plugin may assign the context after construction
    assert later.fit(prepared.train).seen_threads_ == 2
    assert Negative(seed=0).threads == 1  # outside the runner: one thread
    assert Negative(seed=0, context=TrialContext(threads=4), threads=2).threads == 2  # the parameter only lowers it
    assert Negative(seed=0, context=TrialContext(threads=2), threads=8).threads == 2


def test_predictions_are_clipped_at_zero_once_in_the_base_class(synthetic_prepared):
    prepared, _ = synthetic_prepared
    pred = Negative(seed=0).fit(prepared.train).predict(prepared.test)
    assert pred.min() == 0.0 and pred.max() == pytest.approx(5.0)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_adapter_fits_and_predicts_within_its_cpu_share(name, monkeypatch, synthetic_prepared):
    """Whatever the library does inside ``_fit``/``_predict``, the thread pools it finds
    (OpenMP/BLAS through threadpoolctl, torch's intra-op pool) are no larger than the share."""
    from threadpoolctl import threadpool_info

    cls = get_adapter(name)
    seen: list[int] = []

    def record(*_args):
        pools = [pool["num_threads"] for pool in threadpool_info()]
        if "torch" in sys.modules:
            pools.append(sys.modules["torch"].get_num_threads())
        seen.append(max(pools, default=1))
        return np.full(len(_args[-1]), 10.0) if len(_args) == 2 else None

    monkeypatch.setattr(cls, "_fit", lambda self, train, valid: record(train, valid, None))
    monkeypatch.setattr(cls, "_predict", lambda self, test: record(self, test))
    prepared, _ = synthetic_prepared
    adapter = cls(seed=0, context=TrialContext(threads=1), **cls.test_params())
    adapter.fit(prepared.train, prepared.valid).predict(prepared.test)
    assert seen and max(seen) == 1, f"{name} ran with {max(seen)} threads on a one-thread share"


def _fake_module(monkeypatch, name: str, **attributes) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    monkeypatch.setitem(sys.modules, name, module)


@pytest.mark.parametrize("share", [1, 3])
def test_xgboost_and_minirocket_hand_their_library_the_share(share, monkeypatch, synthetic_prepared):
    received = {}

    class Recorder:
        best_iteration = 1

        def __init__(self, **kwargs):
            received[type(self).__qualname__] = kwargs["n_jobs"]

        def fit(self, x, y, **_):
            return self

        def predict(self, x):
            return np.full(len(x), 10.0)

    xgb_recorder = type("XGBRegressor", (Recorder,), {})
    rocket_recorder = type("RocketRegressor", (Recorder,), {})
    _fake_module(monkeypatch, "xgboost", XGBRegressor=xgb_recorder)
    _fake_module(monkeypatch, "sktime.regression.kernel_based", RocketRegressor=rocket_recorder)
    prepared, _ = synthetic_prepared
    for name in ("xgboost", "sktime-rocket"):
        cls = get_adapter(name)
        cls(seed=0, context=TrialContext(threads=share), **cls.params_for("standard")).fit(prepared.train, prepared.valid)
    assert received == {"XGBRegressor": share, "RocketRegressor": share}


def test_autogluon_gets_no_more_cpus_than_the_share(monkeypatch, synthetic_prepared):
    received = {}

    class Predictor:
        model_best = "fake"

        def __init__(self, **_):
            pass

        def fit(self, train, **kwargs):
            received["num_cpus"] = kwargs["num_cpus"]
            return self

        def leaderboard(self, silent=True):
            return pd.DataFrame({"model": ["fake"], "score_val": [-1.0]})

    _fake_module(monkeypatch, "autogluon.tabular", TabularPredictor=Predictor)
    # the presets' definitions (bagged? which models?) are AutoGluon's own, not faked here
    monkeypatch.setattr("adapters.autogluon_tabular.bagged_preset", lambda presets: False)
    monkeypatch.setattr("adapters.autogluon_tabular.seeded_hyperparameters", lambda given, presets, seed: {})
    prepared, _ = synthetic_prepared
    tabular = get_adapter("autogluon-tabular")
    tabular(seed=0, context=TrialContext(threads=1)).fit(prepared.train, prepared.valid)
    assert received["num_cpus"] == 1
    timeseries = get_adapter("autogluon-timeseries")(seed=0, context=TrialContext(threads=1))
    models = timeseries._hyperparameters()  # AutoGluon hands LightGBM every core unless told
    assert all(args["model_hyperparameters"]["num_threads"] == 1 for name, args in models.items()
               if name in ("DirectTabular", "RecursiveTabular"))


@pytest.mark.slow
def test_our_networks_train_on_the_share(monkeypatch, synthetic_prepared, one_torch_thread):
    torch = pytest.importorskip("torch")
    import adapters._torch.trainer as trainer

    seen = []
    real = trainer.train_regressor

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_regressor", spy)
    torch.set_num_threads(2)
    prepared, _ = synthetic_prepared
    lstm = get_adapter("lstm")
    lstm(seed=0, context=TrialContext(threads=1), **lstm.test_params()).fit(prepared.train, prepared.valid)
    assert seen == [1]


def test_the_committed_library_trials_are_what_todays_settings_would_reuse(tmp_path):
    """With the CPU share out of the key, the committed study's XGBoost, MiniRocket and
    AutoGluon TimeSeries trials have the keys today's code plans, so they are reused, not
    rerun; the networks are checked in test_runner.py."""
    import json
    from pathlib import Path

    from study.execution.runner import RunConfig, plan_trials
    from study.records.store import ResultStore

    root = Path(__file__).resolve().parents[2]
    info = json.loads((root / "reports/study/run.json").read_text())
    rows = ResultStore(root / "reports/study").rows()
    models = ["autogluon-timeseries", "sktime-rocket", "xgboost"]
    committed = [r for r in rows if r["model"] in models and r["protocol_hash"] == info["protocol_hash"]]
    prepared = {r["subset"]: (types.SimpleNamespace(protocol_hash=info["protocol_hash"],
                                                    data_fingerprint=r["data_fingerprint"]),) for r in committed}
    config = RunConfig(out=tmp_path, models=models, subsets=sorted(prepared), seeds=3).resolved()
    planned = {spec.key for spec in plan_trials(config, prepared, threads=1, time_limit_s=None)}
    assert len(planned) == 36 and planned <= {r["key"] for r in committed}


def test_tags_a_plugin_leaves_out_come_from_the_base_class():
    """A plain regressor names its library and family only; the base class supplies the rest."""
    from study.contract.check_kit import _check_name_and_tags

    class Plain(Negative):
        name = "test-plain"
        tags = {"library": "none", "family": "test"}

    class Weighted(Plain):
        name = "test-weighted"
        tags = {"library": "none", "family": "test", "needs_weights": True, "python_dependencies": ["torch"]}

    class Inherits(Plain):
        name = "test-inherits"

    assert Plain.tags == {**Adapter.DEFAULT_TAGS, "library": "none", "family": "test"}
    assert Plain.tags["needs_weights"] is False and Plain.tags["formulation"] == "regression"
    assert Weighted.tags["needs_weights"] is True and Weighted.tags["python_dependencies"] == ["torch"]
    assert Weighted.tags["seed_independent"] is False and Inherits.tags == Plain.tags
    Plain.tags["python_dependencies"].append("mutated")  # each class has its own copy of the defaults
    assert Adapter.DEFAULT_TAGS["python_dependencies"] == [] and Inherits.tags["python_dependencies"] == []
    _check_name_and_tags(Inherits)  # the check kit's tag rule passes
    for name in BUILTIN:  # the built-ins keep what they declare
        tags = get_adapter(name).tags
        assert {"library", "family", "formulation", "python_dependencies", "needs_weights"} <= set(tags), name


def test_adapters_check_their_ranges_when_built_and_none_means_automatic(monkeypatch):
    monkeypatch.syspath_prepend(str(RELIABILITY_PLUGIN))
    ranged = get_adapter("test-ranged")
    with pytest.raises(AdapterError, match="n_trees must be >= 1, got 0"):
        ranged(n_trees=0)
    assert ranged(workers=None, n_trees=1, rate=1.0).params["rate"] == 1.0  # inclusive bounds
    xgb = get_adapter("xgboost")
    with pytest.raises(AdapterError, match="n_estimators"):
        xgb(n_estimators=-1)
