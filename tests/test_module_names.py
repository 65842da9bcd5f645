"""Module names match model names, and a module named after its library does not hide it."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from study.contract.registry import _builtin

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module, model", [("xgboost", "xgboost"), ("chronos", "chronos")])
def test_a_models_module_is_named_after_the_model(module, model):
    by_module = {reg.target.split(":")[0]: reg.name for reg in _builtin()}
    assert by_module[f"adapters.{module}"] == model


@pytest.mark.slow
def test_adapters_xgboost_does_not_shadow_the_xgboost_library():
    pytest.importorskip("xgboost")
    code = ("import adapters.xgboost, xgboost, sys; "
            "assert xgboost.__name__ == 'xgboost' and hasattr(xgboost, 'XGBRegressor'), xgboost; "
            "assert sys.modules['adapters.xgboost'] is not xgboost")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    adapter = importlib.import_module("adapters.xgboost").XGBoostAdapter
    assert adapter.name == "xgboost"


@pytest.mark.slow
def test_the_profiles_descriptions_are_in_the_help():
    from study.contract.profiles import PROFILES

    result = subprocess.run([sys.executable, "-m", "study.run", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    text = " ".join(result.stdout.split())
    assert all(profile.description in text for profile in PROFILES.values())


def test_no_builtin_adapter_declares_tags_nothing_reads():
    for reg in _builtin():
        assert reg.loaded, reg.error
        assert not {"needs_gpu", "input_format"} & set(reg.cls.tags), reg.name
