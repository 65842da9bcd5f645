"""The XGBoost adapter (adapters/xgboost.py): its seed reaches the library, and the module does
not hide the library it is named after."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_xgboost_honours_its_seed(synthetic_prepared):
    from study.contract.registry import get_adapter

    cls = get_adapter("xgboost")
    if cls.unavailable_reason():
        pytest.skip(cls.unavailable_reason())
    prepared, _ = synthetic_prepared
    preds = [cls(seed=seed, **cls.test_params()).fit(prepared.train, prepared.valid).predict(prepared.test)
             for seed in (5, 6)]
    assert not np.allclose(*preds)


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
