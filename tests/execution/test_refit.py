"""Refit (``Protocol.refit``, ``--refit``): after selection on the validation engines, the final
model is refit on training + validation engines with the selected count; off, nothing changes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from study.data.protocol import EngineSet, Protocol, join_engines
from study.data.validation import cut_engines
from study.execution.trial import TrialSpec, run_trial

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).parents[1] / "fake_plugin"


def _row(model: str, prepared, truth, refit: bool, **params) -> dict:
    from study.contract.registry import get_adapter

    spec = TrialSpec(model, "FD001", 0, {**get_adapter(model).params_for("smoke"), **params}, key="k", threads=1,
                     refit=refit)
    row = run_trial(spec, prepared, truth, 125)
    assert row["status"] == "ok", row.get("reason")
    return row


@pytest.fixture(scope="module")
def xgboost_rows(synthetic_prepared):
    """One xgboost trial without and one with refit (smoke settings, synthetic data)."""
    prepared, truth = synthetic_prepared
    return {refit: _row("xgboost", prepared, truth, refit) for refit in (False, True)}


def test_xgboost_is_refit_on_train_and_validation_engines_with_the_kept_rounds(synthetic_prepared, xgboost_rows):
    from adapters.xgboost import XGBoostAdapter

    prepared, _ = synthetic_prepared
    row = xgboost_rows[True]
    kept = row["info"]["best_iteration"] + 1  # the selection fit's early-stopped rounds
    assert kept < row["params"]["n_estimators"]  # early stopping did select something here
    assert row["refit"] is True and row["refit_reason"] is None
    assert row["refit_params"] == {**row["params"], "n_estimators": kept}
    assert row["n_refit_engines"] == len(prepared.train) + len(prepared.valid)
    assert row["refit_info"]["n_train_windows"] == len(prepared.train.windows()[1]) + len(prepared.valid.windows()[1])
    # its test predictions are those of that model, fitted on every training engine without validation
    by_hand = XGBoostAdapter(seed=0, **row["refit_params"])
    by_hand.context.threads = 1
    by_hand.fit(join_engines(prepared.train, prepared.valid), None)
    assert by_hand.model_.get_booster().num_boosted_rounds() == kept
    np.testing.assert_allclose(row["y_pred"], by_hand.predict(prepared.test), rtol=1e-6)
    assert row["y_pred"] != xgboost_rows[False]["y_pred"]
    assert row["fit_seconds"] == pytest.approx(row["selection_fit_seconds"] + row["refit_fit_seconds"])


def test_validation_predictions_come_from_the_selection_fit_which_never_saw_those_engines(synthetic_prepared,
                                                                                          xgboost_rows):
    from adapters.xgboost import XGBoostAdapter

    prepared, _ = synthetic_prepared
    refit_row, plain_row = xgboost_rows[True], xgboost_rows[False]
    assert refit_row["valid_y_pred"] == plain_row["valid_y_pred"]
    assert refit_row["valid_rmse"] == plain_row["valid_rmse"] and refit_row["info"] == plain_row["info"]
    # the refit model, which trained on the validation engines, would predict them differently
    refit_model = XGBoostAdapter(seed=0, **refit_row["refit_params"])
    refit_model.context.threads = 1
    refit_model.fit(join_engines(prepared.train, prepared.valid), None)
    assert not np.allclose(refit_model.predict(cut_engines(prepared.valid).engines), refit_row["valid_y_pred"])


def test_refit_off_is_todays_trial_and_todays_protocol(synthetic_prepared, xgboost_rows):
    from adapters.xgboost import XGBoostAdapter

    prepared, _ = synthetic_prepared
    row = xgboost_rows[False]
    assert row["refit"] is False and not any(name.startswith("refit_") for name in row)
    plain = XGBoostAdapter(seed=0, **row["params"])
    plain.context.threads = 1
    plain.fit(prepared.train, prepared.valid)
    np.testing.assert_allclose(row["y_pred"], plain.predict(prepared.test), rtol=1e-6)
    # the committed study's protocol: same card settings, same hash, so the same resume keys
    committed = json.loads((ROOT / "reports/study/run.json").read_text())
    assert "refit" not in Protocol().as_dict() and Protocol(refit=False).hash() == committed["protocol_hash"]
    assert Protocol(refit=True).hash() != committed["protocol_hash"]  # refit rows never resume plain ones
    assert Protocol(refit=True).as_dict()["refit"] is True
    assert Protocol(refit=True).selection_hash() == Protocol().selection_hash() == committed["protocol_hash"]


def test_the_card_states_the_setting():
    assert "no refit" in Protocol().card()
    on = Protocol(refit=True).card()
    assert "refit on the training + validation engines" in on and "no refit" not in on
    assert Protocol(refit=True).hash() in on


def test_a_network_is_refit_for_the_kept_epoch_without_early_stopping(synthetic_prepared, one_torch_thread):
    pytest.importorskip("torch")
    prepared, truth = synthetic_prepared
    row = _row("lstm", prepared, truth, True, epochs=4, patience=10, windows_per_epoch=128, batch_size=64)
    kept = row["info"]["best_epoch"]
    assert row["refit_params"] == {**row["params"], "epochs": kept}
    assert row["refit_info"]["epochs_run"] == row["refit_info"]["best_epoch"] == kept  # no validation, no stop
    assert row["refit_info"]["n_valid_windows"] == 0 and row["refit_info"]["best_valid_rmse"] is None
    assert row["refit_info"]["n_train_windows"] == len(prepared.train.windows()[1]) + len(prepared.valid.windows()[1])


def test_network_refit_params_take_the_kept_epoch_and_the_ensembles_mean():
    from adapters.lstm import LSTMAdapter

    net = LSTMAdapter(seed=0, epochs=40, windows_per_epoch=999)
    net.info_ = {"n_valid_windows": 10, "best_epoch": 7}
    assert net.refit_params() == {**net.params, "epochs": 7} and net.refit_params()["windows_per_epoch"] == 999
    net.info_ = {"n_valid_windows": 10, "best_epoch": [3, 6, 7]}
    assert net.refit_params()["epochs"] == 5
    net.info_ = {"n_valid_windows": 0, "best_epoch": 40}  # selected nothing: same parameters
    assert net.refit_params() == net.params


def test_an_adapter_that_cannot_be_refit_keeps_its_selection_fit_and_the_row_says_so(synthetic_prepared,
                                                                                      monkeypatch):
    from study.contract.registry import get_adapter

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    prepared, truth = synthetic_prepared
    spec = dict(model="test-constant", subset="FD001", seed=0, params={"offset": 0.0, "delay": 0.0}, key="k")
    assert get_adapter("test-constant")().refit_params() is None  # the base class's default
    plain, refit = (run_trial(TrialSpec(**spec, refit=on), prepared, truth, 125) for on in (False, True))
    assert refit["status"] == "ok" and refit["y_pred"] == plain["y_pred"]
    assert refit["refit"] is True and refit["refit_params"] is None and "cannot be refit" in refit["refit_reason"]
    assert refit["refit_fit_seconds"] is None and refit["fit_seconds"] == refit["selection_fit_seconds"]


def test_joined_engines_keep_distinct_ids_in_order():
    def engines(units):
        return EngineSet("FD001", np.array(units), tuple(np.full((3, 1), u, np.float32) for u in units),
                         tuple(np.zeros(3, int) for _ in units), ("s2",), 2,
                         tuple(np.arange(2, -1, -1, dtype=np.float32) + u for u in units))

    joined = join_engines(engines([1, 4, 9]), engines([2, 7]))
    assert joined.units.tolist() == [1, 2, 4, 7, 9]
    assert [float(s[0, 0]) for s in joined.sequences] == [1, 2, 4, 7, 9]
    assert [float(r[-1]) for r in joined.rul] == [1, 2, 4, 7, 9]
    with pytest.raises(ValueError, match=r"\[4\]"):
        join_engines(engines([1, 4]), engines([4, 7]))


@pytest.mark.slow
def test_run_refit_records_the_setting_everywhere_and_uses_a_tuning_made_without_it(tmp_path):
    """``--refit`` on the command line: the card, the hash and every row say so, and a tuning
    (made without refit, under the same protocol otherwise) is accepted."""
    from study.data.synthetic import write_synthetic
    from study.records.store import ResultStore
    from study.run import main

    data = write_synthetic(tmp_path / "data", subsets=("FD001",), n_train=15)
    tuning = tmp_path / "tuning"
    tuning.mkdir()
    (tuning / "tune.json").write_text("{}")
    best = {"n_estimators": 40, "learning_rate": 0.2, "early_stopping_rounds": 5}
    (tuning / "xgboost-FD001.json").write_text(json.dumps({
        "model": "xgboost", "subset": "FD001", "best_params": best, "study_id": "s1", "budget_s": 60,
        "spent_seconds": 50, "n_evaluations": 3, "best_valid_rmse": 20.0,
        "settings": {"folds": 2, "protocol_hash": Protocol().hash()}}))
    out = tmp_path / "run"
    common = ["--profile", "smoke", "--models", "xgboost", "--subsets", "FD001", "--seeds", "1", "--data-dir",
              str(data), "--offline", "--allow-unverified-data", "--executor", "inline", "--no-report",
              "--tuned", str(tuning)]
    assert main([*common, "--out", str(out), "--refit"]) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["protocol"]["refit"] is True and info["protocol_hash"] == Protocol(refit=True).hash()
    assert "refit on the training + validation engines" in info["protocol_card"]
    (row,) = ResultStore(out).rows()
    assert row["status"] == "ok" and row["refit"] is True and row["protocol_hash"] == Protocol(refit=True).hash()
    assert row["tuning"]["study_id"] == "s1" and row["refit_params"]["n_estimators"] <= best["n_estimators"]
    # without --refit: another key (so neither run resumes the other's trials), no refit in the card
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    (plain,) = ResultStore(tmp_path / "plain").rows()
    assert plain["refit"] is False and plain["key"] != row["key"] and plain["protocol_hash"] == Protocol().hash()
    assert "no refit" in json.loads((tmp_path / "plain" / "run.json").read_text())["protocol_card"]


def test_minirocket_selects_nothing_on_validation_so_it_refits_with_its_own_parameters():
    from adapters.sktime_rocket import SktimeRocketAdapter

    rocket = SktimeRocketAdapter(seed=0, num_kernels=168)
    assert rocket.refit_params() == rocket.params and rocket.refit_params() is not rocket.params
