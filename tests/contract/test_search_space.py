"""Search spaces in the adapter contract: real parameter names, defaults inside, Optuna round trip."""
from __future__ import annotations

import pytest

from study.contract.registry import all_adapters
from study.contract.search_space import Categorical, Float, Int, check_space, decode, describe, suggest
from study.core.errors import StudyError
from study.data.cmapss import SUBSETS

BUILTIN = {name: cls for name, cls in all_adapters().items() if cls.__module__.startswith("adapters.")}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_space_names_real_parameters_and_holds_the_defaults(name):
    cls = BUILTIN[name]
    assert cls.search_space, f"{name} declares no search space"
    check_space(cls.search_space, cls.default_params, name)
    for dim in cls.search_space.values():
        assert isinstance(dim, (Float, Int, Categorical))
    for subset in SUBSETS:
        # the tuner starts from the out-of-the-box configuration: it must lie inside the space
        params = cls.params_for("default", subset)
        outside = {k: params[k] for k, dim in cls.search_space.items() if not dim.contains(params[k])}
        assert not outside, f"{name} {subset}: defaults outside the search space: {outside}"
    if cls.budget_param is not None:
        assert cls.budget_param in cls.default_params and cls.budget_param not in cls.search_space



@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_value_the_tuner_may_try_is_a_valid_value(name):
    """A search space never reaches outside the adapter's ``param_ranges``: a tuned
    configuration must be accepted by --set and the adapter alike."""
    cls = BUILTIN[name]
    for param, dim in cls.search_space.items():
        corners = list(dim.choices) if isinstance(dim, Categorical) else [dim.low, dim.high]
        for value in corners:
            assert not cls.param_problems({param: value}), f"{name}.{param}={value!r}: {cls.param_problems({param: value})}"

def test_the_issues_parameters_are_searched():
    wanted = {
        "lstm": {"lr", "hidden_size", "num_layers", "dropout", "weight_decay", "history_factor", "batch_size", "epochs"},
        "transformer": {"lr", "d_model", "n_layers", "dropout", "weight_decay", "history_factor", "batch_size",
                        "epochs"},
        "mamba": {"lr", "d_model", "n_layers", "dropout", "weight_decay", "history_factor", "batch_size", "epochs"},
        "xgboost": {"max_depth", "learning_rate", "subsample", "colsample_bytree", "min_child_weight"},
        "sktime-rocket": {"num_kernels", "max_windows"},
        "darts-tft": {"hidden_size", "input_chunk_length", "dropout", "learning_rate", "threshold_shift"},
        "autogluon-tabular": {"presets"},
        "autogluon-timeseries": {"hyperparameters"},
        "chronos": {"pooling", "alphas"},
    }
    for name, params in wanted.items():
        assert params <= set(BUILTIN[name].search_space), name


def test_a_space_naming_an_unknown_parameter_is_refused():
    with pytest.raises(StudyError, match="depht"):
        check_space({"depht": Int(1, 3)}, {"depth": 2}, "my-model")
    with pytest.raises(ValueError):
        Float(1.0, 1.0)
    with pytest.raises(ValueError):
        Float(0.0, 1.0, log=True)
    with pytest.raises(ValueError):
        Categorical(("only",))


def test_suggestions_stay_in_range_and_structured_choices_round_trip_through_optuna():
    optuna = pytest.importorskip("optuna")
    space = {"rate": Float(1e-3, 1e-1, log=True), "depth": Int(1, 4),
             "models": Categorical(({"A": {}}, {"A": {}, "B": {}})), "grid": Categorical(([1.0, 2.0], [3.0]))}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(12):
        trial = study.ask()
        params = suggest(trial, space)
        assert all(space[k].contains(v) for k, v in params.items())
        assert decode(space, trial.params) == params
        study.tell(trial, 0.0)
    assert {str(p["models"]) for p in (decode(space, t.params) for t in study.trials)} == {
        "{'A': {}}", "{'A': {}, 'B': {}}"}
    assert describe(space)["depth"] == "1 to 4" and "(log)" in describe(space)["rate"]


def test_int_and_float_membership_are_strict_about_types():
    assert Int(1, 3).contains(2) and not Int(1, 3).contains(2.5) and not Int(1, 3).contains(True)
    assert Float(0.0, 1.0).contains(1) and not Float(0.0, 1.0).contains(1.5)
    assert Categorical((1.0, 2.0)).contains(2) and Categorical(([1, 2], [3])).contains((1, 2))


def test_chronos_mean_plus_last_pooling_doubles_the_embedding(tiny_chronos_dir, synthetic_prepared):
    from adapters.chronos import ChronosEmbeddingAdapter

    prepared, _ = synthetic_prepared
    widths = {}
    for pooling in ("mean", "mean+last"):
        params = {**ChronosEmbeddingAdapter.test_params(), "model": str(tiny_chronos_dir), "pooling": pooling}
        adapter = ChronosEmbeddingAdapter(seed=0, **params).fit(prepared.train, prepared.valid)
        assert adapter.predict(prepared.test).shape == (len(prepared.test),)
        widths[pooling] = adapter.info_["n_features"]
    d_model, channels = 8, prepared.train.n_channels
    assert widths == {"mean": channels * (d_model + 2), "mean+last": channels * (2 * d_model + 2)}
