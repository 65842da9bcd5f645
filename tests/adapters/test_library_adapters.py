"""Library adapters (sktime, Darts, AutoGluon, Chronos) on synthetic data with their tiny settings."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from study.contract.adapter import AdapterUnavailable
from study.contract.registry import get_adapter

LIBRARY_ADAPTERS = ["sktime-rocket", "darts-tft", "autogluon-timeseries", "autogluon-tabular"]
FORECASTERS = ("darts-tft", "autogluon-timeseries")  # forecast a health indicator, then a threshold


def _skip_if_missing(name: str) -> type:
    cls = get_adapter(name)
    reason = cls.unavailable_reason()
    if reason:
        pytest.skip(f"{name}: {reason}")
    return cls


@pytest.fixture(autouse=True)
def offline_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty cache: nothing to find


@pytest.mark.slow
@pytest.mark.parametrize("name", LIBRARY_ADAPTERS)
def test_library_adapter_fits_and_predicts_on_synthetic_data(name, synthetic_prepared, tmp_path):
    """One fit per adapter: finite predictions in range, AutoGluon's leaderboard in the artifacts
    folder, and for the forecasters a health indicator computed from the test sensors alone
    (the test set carries no labels to read)."""
    cls = _skip_if_missing(name)
    prepared, _ = synthetic_prepared
    adapter = cls(seed=0, **cls.test_params())
    adapter.context.artifacts_dir = tmp_path / "artifacts"
    pred = adapter.fit(prepared.train, prepared.valid).predict(prepared.test)
    assert pred.shape == (len(prepared.test),)
    assert np.all(np.isfinite(pred)) and np.all(pred >= 0) and np.all(pred <= 125)
    if name.startswith("autogluon"):
        assert list((tmp_path / "artifacts").glob("*leaderboard.csv")), "AutoGluon's leaderboard was not written"
    assert cls.tags["formulation"] == ("forecast-threshold" if name in FORECASTERS else "regression")
    assert cls.tags["workarounds"] and isinstance(cls.tags["conversions"], int)
    if name in FORECASTERS:
        assert prepared.test.rul is None
        series = adapter.hi_.transform(prepared.test)
        assert [len(s) for s in series] == [len(s) for s in prepared.test.sequences]


@pytest.mark.slow
def test_chronos_embeds_with_a_tiny_local_model(tiny_chronos_dir, synthetic_prepared):
    cls = _skip_if_missing("chronos")
    prepared, _ = synthetic_prepared
    adapter = cls(seed=0, **{**cls.test_params(), "model": str(tiny_chronos_dir)})
    pred = adapter.fit(prepared.train, prepared.valid).predict(prepared.test)
    assert pred.shape == (len(prepared.test),) and np.all(np.isfinite(pred))
    # per channel: d_model (8) pooled embedding values + loc + scale
    assert adapter.info_["n_features"] == prepared.train.n_channels * (8 + 2)
    windows = prepared.test.last_windows()
    features = adapter._embed(windows)
    assert features.shape == (len(windows), prepared.train.n_channels * 10) and features.dtype == np.float32
    # loc and scale of channel 0 are the window's own mean and std (Chronos-Bolt's instance norm)
    np.testing.assert_allclose(features[:, 8], windows[:, :, 0].mean(axis=1), rtol=1e-4, atol=1e-5)
    again = cls(seed=0, **{**cls.test_params(), "model": str(tiny_chronos_dir)})
    np.testing.assert_array_equal(again.fit(prepared.train, prepared.valid).predict(prepared.test), pred)


@pytest.mark.slow
def test_chronos_without_weights_is_a_skipped_row_with_instructions(synthetic_prepared):
    cls = _skip_if_missing("chronos")
    from study.execution.trial import TrialSpec, run_trial

    prepared, truth = synthetic_prepared
    spec = TrialSpec("chronos", "FD001", 0, {**cls.test_params(), "model": "amazon/chronos-bolt-small"}, key="k")
    row = run_trial(spec, prepared, truth, 125)
    assert row["status"] == "skipped"
    assert "amazon/chronos-bolt-small" in row["reason"]
    assert "huggingface-cli download" in row["reason"] and "--chronos-model" in row["reason"]


@pytest.mark.slow
def test_chronos_rejects_a_folder_that_is_not_a_model(tmp_path, synthetic_prepared):
    cls = _skip_if_missing("chronos")
    prepared, _ = synthetic_prepared
    with pytest.raises(AdapterUnavailable, match="config.json"):
        cls(seed=0, **{**cls.test_params(), "model": str(tmp_path)}).fit(prepared.train, prepared.valid)


@pytest.mark.slow
def test_darts_fit_keeps_lightnings_info_lines_out_of_the_console(synthetic_prepared, capfd, caplog):
    cls = _skip_if_missing("darts-tft")
    prepared, _ = synthetic_prepared
    caplog.set_level(logging.INFO)
    cls(seed=0, **cls.test_params()).fit(prepared.train, prepared.valid).predict(prepared.test)
    captured = capfd.readouterr()
    shown = captured.out + captured.err + caplog.text
    assert "GPU available" not in shown and "litmodels" not in shown
    assert logging.getLogger("lightning.pytorch").level != logging.WARNING  # restored afterwards


@pytest.mark.slow
def test_autogluon_tabulars_bagged_presets_fit_without_ever_seeing_the_validation_engines(synthetic_prepared):
    """The tuner searches good and high quality too, and scores them on the validation engines.
    Given those engines, a bagged preset either refused them ("Learner is already fit") or,
    with use_bag_holdout, refit on them: the engines it was scored on were in its training
    data (validation RMSE 6.4 against 12.2 unbagged on FD001). A bagged preset must fit, and
    AutoGluon must never be handed the validation engines; an unbagged one holds them out."""
    cls = get_adapter("autogluon-tabular")
    prepared, _ = synthetic_prepared
    adapter = cls(seed=0, **{**cls.test_params(), "presets": "good_quality", "time_limit": 180})
    adapter.fit(prepared.train, prepared.valid)
    assert "BAG" in adapter.info_["best_model"]  # it really bagged
    assert np.isfinite(adapter.predict(prepared.test)).all()
    assert adapter.predictor_._trainer.load_data()[2] is None  # no validation data of any kind reached it
    held_out = cls(seed=0, **{**cls.test_params(), "time_limit": 30})  # medium quality: not bagged
    held_out.fit(prepared.train, prepared.valid)
    assert len(held_out.predictor_._trainer.load_data()[2]) > 0  # the validation engines, held out
