"""The leaderboard's numbers from trial rows: every column, the ranking, the predictions table."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from study.records.leaderboard import LEADERBOARD_COLUMNS, leaderboard, predictions_frame, ranks
from study.records.selection import configs_from, current_rows, study_rows
from study.records.store import trial_key


def _row(model: str, subset: str, seed: int, status: str = "ok", rmse: float = 10.0, **extra) -> dict:
    row = {"key": trial_key(model, {}, subset, seed, "p", "d"), "model": model, "subset": subset, "seed": seed,
           "status": status, "family": f"{model}-family", "formulation": "regression", "reason": None,
           "protocol_hash": "p", "data_fingerprint": "d"}
    if status == "ok":
        row.update(rmse=rmse, rmse_raw=rmse + 1, score=rmse * 10, score_mean=rmse / 10, mae=rmse - 2,
                   rmse_ci_low=rmse - 3, rmse_ci_high=rmse + 3, fit_seconds=rmse * 2, predict_seconds=rmse / 2,
                   n_test_engines=3, n_parameters=None, units=[1, 2, 3], y_true=[30.0, 20.0, 10.0],
                   y_pred=[rmse, rmse + 1, rmse + 2])
    return {**row, **extra}


def test_every_metric_is_the_mean_over_the_successful_seeds():
    rows = [_row("a", "FD001", 0, rmse=10.0, n_parameters=None), _row("a", "FD001", 1, rmse=16.0, n_parameters=500),
            _row("a", "FD001", 2, status="failed", reason="out of memory")]
    line = leaderboard(rows).iloc[0]
    expected = {"rmse": 13.0, "rmse_raw": 14.0, "score": 130.0, "score_mean": 1.3, "mae": 11.0, "rmse_ci_low": 10.0,
                "rmse_ci_high": 16.0, "fit_seconds": 26.0, "predict_seconds": 6.5, "rmse_std": math.sqrt(18.0)}
    assert {name: line[name] for name in expected} == pytest.approx(expected)
    assert (line["n_seeds"], line["n_test_engines"], line["n_parameters"]) == (2, 3, 500)
    assert (line["family"], line["formulation"]) == ("a-family", "regression")
    assert line["status"] == "ok (1 of 3 seeds failed)" and line["reason"] == "out of memory"
    assert list(leaderboard(rows).columns) == LEADERBOARD_COLUMNS


def test_one_seed_has_no_spread_and_all_ok_says_ok():
    line = leaderboard([_row("a", "FD001", 0, rmse=12.0, n_parameters=77)]).iloc[0]
    assert (line["status"], line["n_seeds"], line["rmse_std"], line["n_parameters"]) == ("ok", 1, 0.0, 77)
    assert line["reason"] is None or pd.isna(line["reason"])


def test_without_a_successful_seed_the_worst_status_and_every_reason_show():
    rows = [_row("a", "FD001", 0, status="skipped", reason="no GPU"),
            _row("a", "FD001", 1, status="failed", reason="boom"),
            _row("a", "FD001", 2, status="failed", reason="boom")]
    line = leaderboard(rows).iloc[0]
    assert line["status"] == "failed" and line["reason"] == "boom; no GPU" and line["n_seeds"] == 0
    assert all(pd.isna(line[name]) for name in ("rmse", "rmse_std", "n_test_engines", "n_parameters"))
    only_skipped = leaderboard([_row("b", "FD001", 0, status="skipped", reason="needs weights")]).iloc[0]
    assert only_skipped["status"] == "skipped" and only_skipped["reason"] == "needs weights"


def test_lines_are_ordered_by_subset_then_rmse_with_failures_last():
    rows = [_row("slow", "FD002", 0, rmse=30.0), _row("good", "FD002", 0, rmse=20.0),
            _row("zeta", "FD001", 0, status="failed", reason="x"), _row("fine", "FD001", 0, rmse=15.0),
            _row("broken", "FD001", 0, status="failed", reason="x"), _row("best", "FD001", 0, rmse=11.0),
            _row("tied-b", "FD002", 0, rmse=25.0), _row("tied-a", "FD002", 0, rmse=25.0)]
    table = leaderboard(rows)
    assert list(zip(table["subset"], table["model"])) == [  # ties (and failures) by model name
        ("FD001", "best"), ("FD001", "fine"), ("FD001", "broken"), ("FD001", "zeta"),
        ("FD002", "good"), ("FD002", "tied-a"), ("FD002", "tied-b"), ("FD002", "slow")]
    assert list(table.index) == list(range(8))


def test_no_rows_give_an_empty_table_with_every_column():
    assert leaderboard([]).empty and list(leaderboard([]).columns) == LEADERBOARD_COLUMNS
    assert predictions_frame([]).empty
    assert list(predictions_frame([_row("a", "FD001", 0, status="failed")]).columns) == [
        "model", "variant", "subset", "seed", "unit", "y_true", "y_pred"]
    assert ranks(leaderboard([])).empty and list(ranks(leaderboard([])).columns) == ["model", "average_rank"]


def test_the_predictions_table_has_every_successful_seed_and_engine_in_order():
    rows = [_row("b", "FD001", 1, rmse=5.0), _row("a", "FD001", 0, status="failed"), _row("b", "FD001", 0, rmse=7.0),
            _row("a", "FD001", 1, rmse=9.0)]
    frame = predictions_frame(rows)
    assert list(frame.columns) == ["model", "variant", "subset", "seed", "unit", "y_true", "y_pred"]
    assert list(zip(frame["model"], frame["seed"], frame["unit"])) == [
        ("a", 1, 1), ("a", 1, 2), ("a", 1, 3), ("b", 0, 1), ("b", 0, 2), ("b", 0, 3), ("b", 1, 1), ("b", 1, 2), ("b", 1, 3)]
    assert list(frame["y_true"][:3]) == [30.0, 20.0, 10.0] and list(frame["y_pred"][:3]) == [9.0, 10.0, 11.0]
    assert set(frame["subset"]) == {"FD001"}
    assert frame.index.is_unique, "one index label per row: .loc and column assignment must not mix seeds"


def test_the_average_rank_ranks_models_within_each_subset():
    rows = [_row("a", "FD001", 0, rmse=10.0), _row("b", "FD001", 0, rmse=12.0), _row("c", "FD001", 0, rmse=12.0),
            _row("a", "FD002", 0, rmse=30.0), _row("b", "FD002", 0, rmse=20.0), _row("c", "FD002", 0, rmse=40.0),
            _row("d", "FD001", 0, rmse=1.0)]  # d has no FD002 result: not ranked
    result = ranks(leaderboard(rows)).set_index("model")
    assert list(result.index) == ["a", "b", "c"]
    assert result.loc["a", "FD001"] == 1 and result.loc["b", "FD001"] == 2.5  # a tie shares the average rank
    assert result["average_rank"].to_dict() == pytest.approx({"a": 1.5, "b": 1.75, "c": 2.75})


def test_current_rows_keep_the_last_row_of_each_trial():
    first, second = _row("a", "FD001", 0, rmse=10.0), _row("a", "FD001", 1, rmse=11.0)
    rerun = {**first, "rmse": 9.0}
    assert current_rows([first, second, rerun]) == [second, rerun]
    assert leaderboard(current_rows([first, second, rerun])).iloc[0]["rmse"] == pytest.approx(10.0)


def test_the_leaderboard_refuses_two_rows_of_one_trial_instead_of_picking_one():
    """Which of a rerun's rows counts is the selection's decision: given both, the leaderboard
    and the predictions table refuse (silently keeping one, either one, would hide it)."""
    first, second = _row("a", "FD001", 0, rmse=10.0), _row("a", "FD001", 1, rmse=11.0)
    rerun = {**first, "rmse": 9.0}
    with pytest.raises(ValueError, match="comes twice"):
        leaderboard([first, second, rerun])
    with pytest.raises(ValueError, match="comes twice"):
        predictions_frame([rerun, first])


def test_each_subset_shows_its_own_newest_data_and_a_named_fingerprint_wins():
    old = _row("a", "FD001", 0, rmse=10.0, data_fingerprint="old")
    new = _row("a", "FD001", 1, rmse=20.0, data_fingerprint="new")
    other = _row("a", "FD002", 0, rmse=30.0, data_fingerprint="other")
    assert [r["rmse"] for r in study_rows([old, new, other])] == [20.0, 30.0]
    assert [r["rmse"] for r in study_rows([old, new, other], fingerprints={"FD001": "old"})] == [10.0, 30.0]
    assert study_rows([]) == []


def test_a_model_name_with_a_slash_keeps_its_configurations():
    assert configs_from({"configs": {"org/model/FD001": ["c1", "c2"]}}) == {("org/model", "FD001"): ["c1", "c2"]}
    assert configs_from({}) == {}


def test_a_hand_edited_run_json_keeps_only_lists_of_configurations():
    edited = {"configs": {"a/FD001": 5, "b/FD001": "c1", "c/FD001": ["c2", 3, None], "d/FD001": None}}
    assert configs_from(edited) == {("c", "FD001"): ["c2"]}
    assert configs_from({"configs": ["a/FD001"]}) == {}


def test_the_leaderboards_mean_is_the_mean_of_the_predictions_tables_rmse():
    """The two tables a reader compares are built from the same rows."""
    rows = [_row("a", "FD001", seed, rmse=float(seed)) for seed in range(3)]
    for row in rows:
        truth, pred = np.array(row["y_true"]), np.array(row["y_pred"])
        row["rmse"] = float(np.sqrt(np.mean((pred - truth) ** 2)))
    frame = predictions_frame(rows)
    per_seed = frame.groupby("seed").apply(lambda g: np.sqrt(np.mean((g.y_pred - g.y_true) ** 2)), include_groups=False)
    assert leaderboard(rows).iloc[0]["rmse"] == pytest.approx(per_seed.mean())


def test_rows_without_family_or_formulation_still_make_a_line():
    row = _row("a", "FD001", 0)
    del row["family"], row["formulation"]
    line = leaderboard([row]).iloc[0]
    assert line["rmse"] == 10.0 and line["family"] is None and line["formulation"] is None


def test_a_row_written_before_a_metric_existed_still_makes_a_line():
    """Rows of an older version may lack a metric or the engine count: the line shows what they have."""
    row = _row("a", "FD001", 0, rmse=12.0)
    del row["rmse_ci_low"], row["rmse_ci_high"], row["n_test_engines"]
    line = leaderboard([row]).iloc[0]
    assert (line["rmse"], line["mae"], line["n_test_engines"]) == (12.0, 10.0, 3)  # counted from its units
    assert pd.isna(line["rmse_ci_low"]) and pd.isna(line["rmse_ci_high"])


def test_run_json_remembers_the_last_twenty_configurations_per_pair_newest_last():
    from study.records.selection import remember_configs

    asked: dict = {}
    for i in range(25):
        asked = remember_configs(asked, {"a/FD001": f"c{i}"})
    assert asked["a/FD001"] == [f"c{i}" for i in range(5, 25)]
    assert remember_configs(asked, {"a/FD001": "c7"}, keep=3)["a/FD001"] == ["c23", "c24", "c7"]


def test_predictions_name_each_rows_variant():
    """A model's default, tuned and hand-tuned predictions are told apart in predictions.csv."""
    rows = [_row("a", "FD001", 0), {**_row("a", "FD001", 0), "key": "a/FD001/0/tuned", "tuning": {"study_id": "s"}}]
    frame = predictions_frame(rows)
    assert sorted(frame["variant"].unique()) == ["hand-tuned", "tuned"]
    assert frame.groupby("variant").size().tolist() == [len(rows[0]["units"])] * 2
