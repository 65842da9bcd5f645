"""The one row type (study/records/rows.py): every row stands alone, old rows still read, and each row
has a variant the tables group by."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from study.contract.registry import get_adapter
from study.data.scoring import score_predictions
from study.execution.executors import failed_row
from study.execution.trial import TrialSpec, run_trial
from study.records.leaderboard import leaderboard
from study.records.rows import METRIC_FIELDS, Field, TrialRow, resolve_label, split_label, trial_row, variant
from study.records.store import ResultStore, row_problem

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).parents[1] / "fake_plugin"
#: What a row needs to say what it measured and how, read on its own.
STANDALONE = (Field.KEY, Field.CONFIG, Field.MODEL, Field.SUBSET, Field.SEED, Field.PARAMS, Field.PROFILE,
              Field.PROTOCOL_HASH, Field.DATA_FINGERPRINT, Field.VERSIONS, Field.MACHINE, Field.STARTED_AT,
              Field.STATUS)


@pytest.fixture
def constant(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    return get_adapter("test-constant")


def _spec(**extra) -> TrialSpec:
    return TrialSpec("test-constant", "FD001", 0, {"offset": 0.0, "delay": 0.0}, key="k0", config="c0",
                     profile="standard", **extra)


def test_every_new_row_stands_alone_whatever_its_outcome(constant, monkeypatch, synthetic_prepared):
    prepared, truth = synthetic_prepared
    ok = run_trial(_spec(), prepared, truth, 125)
    monkeypatch.setattr(constant, "_fit", lambda self, train, valid: 1 / 0)
    failed = run_trial(_spec(), prepared, truth, 125)
    crashed = failed_row(_spec(), prepared, "worker process crashed", 3.0)
    assert (ok[Field.STATUS], failed[Field.STATUS], crashed[Field.STATUS]) == ("ok", "failed", "failed")
    for row in (ok, failed, crashed):
        missing = [name for name in STANDALONE if row.get(name) in (None, "", {})]
        assert not missing, f"a {row[Field.STATUS]} row lacks {missing}"
        assert row[Field.PROTOCOL_HASH] == prepared.protocol_hash and row[Field.PROFILE] == "standard"
        assert "numpy" in row[Field.VERSIONS] and "python" in row[Field.MACHINE]
        assert row_problem(json.loads(json.dumps(row))) is None
    assert ok[Field.FIT_SECONDS] >= 0 and ok[Field.WALL_SECONDS] >= ok[Field.FIT_SECONDS]


def test_the_row_constructor_refuses_a_field_it_does_not_define(synthetic_prepared):
    prepared, _ = synthetic_prepared
    with pytest.raises(ValueError, match="rmse_typo"):
        trial_row(_spec(), prepared, {}, "ok", rmse_typo=1.0)
    with pytest.raises(ValueError, match="status"):
        trial_row(_spec(), prepared, {}, "done")


def test_field_names_are_the_row_type_and_the_metrics_are_what_scoring_gives():
    names = {value for name, value in vars(Field).items() if name.isupper()}
    assert names - set(METRIC_FIELDS) == set(TrialRow.__annotations__) | {Field.VARIANT, Field.SHARED, Field.PREDICTIONS_OF}
    assert tuple(score_predictions(np.array([10.0, 200.0]), np.array([12.0, 120.0]), 125)) == METRIC_FIELDS


@pytest.mark.parametrize("row, expected", [
    ({"profile": "standard", "tuning": {"folder": "t"}}, "tuned"),
    ({"profile": "default"}, "default"),
    ({"profile": "standard"}, "hand-tuned"),
    ({"profile": "smoke"}, "smoke"),
    ({}, "hand-tuned"),
])
def test_variant_says_which_kind_of_configuration_a_row_ran(row, expected):
    assert variant(row) == expected


def test_the_committed_rows_still_read_validate_and_have_a_variant():
    for path in (ROOT / "reports/study/trials.jsonl", ROOT / "reports/ensemble_fd001/trials.jsonl"):
        rows = ResultStore(path.parent, warn=pytest.fail).rows(migrate=False)  # shared arrays put back
        assert len(rows) == len(path.read_text().splitlines()) and all(row_problem(row) is None for row in rows)
        expected = {"default", "tuned", "hand-tuned"} if path.parent.name == "study" else {"hand-tuned"}
        budget_points = {"tuned-10m", "tuned-30m", "tuned-60m"}  # the budget curves, scored pair by pair
        found = {variant(row) for row in rows}
        assert expected <= found <= expected | budget_points


def test_the_leaderboard_shows_default_tuned_and_hand_tuned_rows_of_a_model_side_by_side():
    def row(seed: int, rmse: float, **identity) -> dict:
        return {"key": f"{identity}-{seed}", "model": "m", "subset": "FD001", "seed": seed, "status": "ok",
                "rmse": rmse, "units": [1], "y_true": [1.0], "y_pred": [1.0], **identity}

    rows = [row(0, 20.0, profile="default"), row(1, 22.0, profile="default"), row(0, 15.0, profile="standard"),
            row(0, 12.0, profile="default", tuning={"folder": "t"})]
    board = leaderboard(rows).set_index(Field.VARIANT)
    assert board[Field.RMSE].to_dict() == {"tuned": 12.0, "hand-tuned": 15.0, "default": 21.0}
    assert board.loc["default", "n_seeds"] == 2


def test_two_runs_are_labelled_alike_where_either_holds_several_variants_of_a_model():
    from study.records.rows import comparable_labels

    def row(model, **identity):
        return {"model": model, "subset": "FD001", "seed": 0, **identity}

    study = [row("lstm", profile="default"), row("lstm", profile="default", tuning={"study_id": "s"}),
             row("xgboost", profile="default")]
    new = [row("lstm", profile="default", tuning={"study_id": "t"}), row("xgboost", profile="standard")]
    first, second = comparable_labels(study, new)
    assert [r["model"] for r in first] == ["lstm (default)", "lstm (tuned)", "xgboost"]
    assert [r["model"] for r in second] == ["lstm (tuned)", "xgboost"]  # meets the study's tuned LSTM
    assert comparable_labels(new, new) == (new, new)  # nothing to tell apart: names as they are


def test_a_label_splits_into_model_and_variant():
    assert split_label("darts-tft (hand-tuned)") == ("darts-tft", "hand-tuned") and split_label("lstm") == ("lstm", "")


def test_a_model_name_means_its_only_row_else_its_tuned_else_its_default_variant():
    assert resolve_label("lstm", {"lstm", "xgboost"}) == "lstm"
    assert resolve_label("lstm", {"lstm (default)", "lstm (tuned)"}) == "lstm (tuned)"
    assert resolve_label("lstm", {"lstm (default)", "lstm (hand-tuned)"}) == "lstm (default)"
    assert resolve_label("lstm@default", {"lstm (default)", "lstm (tuned)"}) == "lstm (default)"
    assert resolve_label("mamba", {"lstm"}) == "mamba"  # unknown: the caller refuses it


def test_a_copied_row_says_what_it_copies_and_when():
    import time
    from types import SimpleNamespace

    from study.records.rows import copied_row

    source = {"key": "k0", "model": "mamba", "subset": "FD004", "seed": 0, "status": "ok", "rmse": 18.9,
              "started_at": "2026-11-30T16:00:00+0000", "profile": "default"}
    spec = SimpleNamespace(key="k1", config="c1", profile="default", tuning={"study_id": "s", "budget_point_s": 600.0},
                           same_as="k0")
    before = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    row = copied_row(source, spec)
    assert row["copied_from"] == "k0" and row["key"] == "k1" and row["rmse"] == 18.9
    assert row["started_at"] == source["started_at"] and row["copied_at"] >= before
