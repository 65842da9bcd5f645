"""Validation predictions are results: cut validation engines, predicted like test engines."""
from __future__ import annotations

import json

import numpy as np
import pytest

from study.data.validation import CUTS_PER_ENGINE, cut_engines
from study.execution.trial import TrialSpec, run_trial


def test_cut_engines_look_like_test_engines_and_their_truth_is_the_training_label(synthetic_prepared):
    prepared, _ = synthetic_prepared
    valid = prepared.valid
    cut = cut_engines(valid)
    assert cut.engines.rul is None  # unlabelled, as test engines are
    assert len(cut.engines) == len(cut.units) == len(cut.cycles) == len(cut.truth)
    assert len(cut.engines) > len(valid)  # several cuts per engine
    for seq, unit, cycle, truth in zip(cut.engines.sequences, cut.units, cut.cycles, cut.truth):
        i = int(np.flatnonzero(valid.units == unit)[0])
        length = len(valid.sequences[i])
        assert min(valid.window, length - 1) <= cycle <= length - 1  # never at failure, at least a window
        np.testing.assert_array_equal(seq, valid.sequences[i][:cycle])
        assert min(truth, 125) == pytest.approx(float(valid.rul[i][cycle - 1]))  # the capped training label
    per_engine = np.bincount(np.searchsorted(valid.units, cut.units))
    assert per_engine.max() <= CUTS_PER_ENGINE
    again = cut_engines(valid)  # a fixed rule: the same cuts for every model, seed and call
    np.testing.assert_array_equal(again.cycles, cut.cycles)


def test_an_ok_row_stores_the_adapters_own_predictions_for_the_cut_validation_engines(synthetic_prepared):
    from adapters.xgboost import XGBoostAdapter

    prepared, truth = synthetic_prepared
    params = XGBoostAdapter.params_for("smoke")
    row = run_trial(TrialSpec("xgboost", "FD001", 0, params, key="k", threads=1), prepared, truth, 125)
    assert row["status"] == "ok"
    cut = cut_engines(prepared.valid)
    assert row["valid_units"] == cut.units.tolist() and row["valid_cycles"] == cut.cycles.tolist()
    np.testing.assert_allclose(row["valid_y_true"], np.minimum(cut.truth, 125))
    refit = XGBoostAdapter(seed=0, **params)
    refit.context.threads = 1
    refit.fit(prepared.train, prepared.valid)
    np.testing.assert_allclose(row["valid_y_pred"], refit.predict(cut.engines), rtol=1e-6)
    err = np.asarray(row["valid_y_pred"]) - np.asarray(row["valid_y_true"])
    assert row["valid_rmse"] == pytest.approx(float(np.sqrt(np.mean(err ** 2))))
    json.dumps(row)  # plain JSON values
    quiet = run_trial(TrialSpec("xgboost", "FD001", 0, params, key="k", threads=1, predict_valid=False),
                      prepared, truth, 125)
    assert "valid_y_pred" not in quiet and quiet["y_pred"] == row["y_pred"]


def test_rows_written_before_validation_predictions_still_make_every_table(tmp_path):
    from pathlib import Path

    from study.records.selection import current_rows
    from study.records.store import ResultStore
    from study.records.tables import write_tables

    committed = Path(__file__).resolve().parents[2] / "reports" / "study"
    if not (committed / "trials.jsonl").is_file():
        pytest.skip("no committed study")
    rows = [r for r in ResultStore(committed).rows() if "valid_y_pred" not in r]  # the hand-tuned study's
    assert len(rows) > 100
    table = write_tables(tmp_path, current_rows(rows))  # tables take selected rows: one per trial key
    assert len(table) and (tmp_path / "predictions.csv").is_file()
