"""Adapter discovery: built-ins by module, third parties by entry point."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from study.adapter import Adapter, AdapterError
from study.registry import all_adapters, get_adapter

PLUGIN_DIR = Path(__file__).parent / "fake_plugin"


@pytest.fixture
def plugin_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    yield
    sys.modules.pop("fake_study_plugin", None)


def test_builtin_adapters_are_found_without_registration():
    assert "xgboost" in all_adapters()


def test_unknown_adapter_name_lists_valid_names():
    with pytest.raises(AdapterError) as info:
        get_adapter("no-such-model")
    assert "xgboost" in str(info.value)


def test_entry_point_adapter_from_another_package_is_registered(plugin_on_path):
    cls = get_adapter("test-constant")
    assert issubclass(cls, Adapter) and cls.__module__ == "fake_study_plugin"


def test_unknown_parameter_lists_valid_parameters():
    with pytest.raises(AdapterError, match="max_depth"):
        get_adapter("xgboost")(depth=3)


def test_every_adapter_declares_the_required_tags():
    for name, cls in all_adapters().items():
        assert cls.name == name
        assert cls.tags.get("formulation") in ("regression", "embedding+head", "forecast-threshold"), name
        for tag in ("library", "family", "python_dependencies", "needs_gpu", "needs_weights"):
            assert tag in cls.tags, f"{name} lacks tag {tag}"


def test_profile_and_subset_overrides_name_only_known_parameters():
    for name, cls in all_adapters().items():
        for kind, table in (("profile", cls.profiles), ("subset", cls.subset_params)):
            for key, overrides in table.items():
                unknown = set(overrides) - set(cls.default_params)
                assert not unknown, f"{name}: {kind} {key} overrides unknown parameter(s) {unknown}"


def test_params_for_applies_subset_overrides_under_the_profile():
    class Tiny(Adapter):
        name = "tiny"
        default_params = {"depth": 3, "history": 2.0}
        profiles = {"smoke": {"depth": 1}}
        subset_params = {"FD001": {"history": 3.0, "depth": 5}}

        def _fit(self, train, valid): ...

        def _predict(self, test): ...

    assert Tiny.params_for("standard") == {"depth": 3, "history": 2.0}
    assert Tiny.params_for("standard", "FD002") == {"depth": 3, "history": 2.0}
    assert Tiny.params_for("standard", "FD001") == {"depth": 5, "history": 3.0}
    assert Tiny.params_for("smoke", "FD001") == {"depth": 1, "history": 3.0}  # a smoke run stays tiny


def test_a_dependency_inside_a_missing_package_makes_the_adapter_unavailable(plugin_on_path, monkeypatch):
    """``find_spec("autogluon.tabular")`` raises when ``autogluon`` itself is missing; that
    must read as "not installed" (a skipped trial), not crash the listing or the study."""
    cls = get_adapter("test-needs-missing-package")
    monkeypatch.setitem(cls.tags, "python_dependencies", ["package_that_is_not_installed_anywhere.tabular"])
    assert "needs package_that_is_not_installed_anywhere.tabular, not installed" in cls.unavailable_reason()
