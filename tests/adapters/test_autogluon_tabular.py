"""The trial seed reaches every model AutoGluon Tabular fits, whichever preset the tuner picks
(the contract kit's seeds-differ check sees it only for the one LightGBM of the check settings)."""
from __future__ import annotations

import pytest

pytest.importorskip("autogluon.tabular")

from autogluon.tabular.configs.hyperparameter_configs import get_hyperparameter_config  # noqa: E402
from autogluon.tabular.configs.presets_configs import tabular_presets_alias, tabular_presets_dict  # noqa: E402
from autogluon.tabular.registry import ag_model_registry  # noqa: E402

from adapters.autogluon_tabular import AutoGluonTabularAdapter, seeded_hyperparameters  # noqa: E402


def _model_configs(hyperparameters: dict) -> list[tuple[str, dict]]:
    out = []
    for model, configs in hyperparameters.items():
        for config in configs if isinstance(configs, list) else [configs]:
            out.append((model, config))
    return out


@pytest.mark.parametrize("presets", [*AutoGluonTabularAdapter.search_space["presets"].choices, "medium"])
def test_every_model_of_every_searched_preset_is_given_the_trial_seed(presets):
    seeded = seeded_hyperparameters(None, presets, seed=7)
    unseeded = {}
    for model, config in _model_configs(seeded):
        seed_name = ag_model_registry.key_to_cls(model).seed_name
        if seed_name is not None:
            assert config[seed_name] == 7, f"{presets}: {model} is not seeded: {config}"
        unseeded.setdefault(model, []).append({k: v for k, v in config.items() if k != seed_name})
    # otherwise the very models and settings AutoGluon fits for this preset by default
    name = tabular_presets_dict[tabular_presets_alias.get(presets, presets)].get("hyperparameters", "default")
    expected = {model: c if isinstance(c, list) else [c] for model, c in get_hyperparameter_config(name).items()}
    assert unseeded == expected


def test_given_hyperparameters_keep_their_settings_and_an_explicit_seed():
    given = {"GBM": [{"num_leaves": 15}, {"seed": 3}], "CAT": {}, "XGB": {"seed": 9}, "KNN": {}}
    seeded = seeded_hyperparameters(given, "medium_quality", seed=5)
    assert seeded == {"GBM": [{"seed": 5, "num_leaves": 15}, {"seed": 3}], "CAT": {"random_seed": 5},
                      "XGB": {"seed": 9}, "KNN": {}}
    assert given["GBM"][0] == {"num_leaves": 15}, "the adapter's parameters must not be changed in place"
    assert seeded_hyperparameters({1: {"XGB": {}}}, "medium_quality", seed=2) == {1: {"XGB": {"seed": 2}}}
