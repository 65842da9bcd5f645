"""The cross-family ensemble: weights from validation engines only, scored once on test."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from study.analysis.ensemble import combine, ensemble_rows, greedy_weights, nnls_weights
from study.execution.runner import RunConfig, run_study
from study.records.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).parents[1] / "fake_plugin"
QUIET = Console(file=open(os.devnull, "w"))


# ----- weights -------------------------------------------------------------------------------
def test_greedy_selection_picks_a_perfect_member_alone_and_mixes_opposite_biases():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 125, 200)
    noisy = truth + rng.normal(0, 10, 200)
    np.testing.assert_allclose(greedy_weights(np.stack([noisy, truth]), truth), [0, 1])
    early, late = truth - 8, truth + 8
    weights = greedy_weights(np.stack([early, late, noisy]), truth)
    assert weights.sum() == pytest.approx(1) and weights[0] == pytest.approx(0.5, abs=0.05)
    assert weights[1] == pytest.approx(0.5, abs=0.05) and weights[2] <= 0.1


def test_nnls_recovers_a_known_non_negative_mixture():
    rng = np.random.default_rng(1)
    a, b, c = rng.uniform(0, 100, (3, 300))
    np.testing.assert_allclose(nnls_weights(np.stack([a, b, c]), 0.3 * a + 0.7 * b), [0.3, 0.7, 0], atol=1e-8)


# ----- rows ----------------------------------------------------------------------------------
def _row(model: str, seed: int, valid_pred, test_pred, test_truth, valid_truth) -> dict:
    n_valid, n_test = len(valid_truth), len(test_truth)
    return {"key": f"{model}-{seed}", "config": f"{model}-cfg", "model": model, "subset": "FD001", "seed": seed,
            "status": "ok", "protocol_hash": "p", "data_fingerprint": "d", "fit_seconds": 2.0,
            "predict_seconds": 0.5, "units": list(range(1, n_test + 1)), "y_true": list(test_truth),
            "y_pred": list(test_pred), "valid_units": list(range(n_valid)), "valid_cycles": [50] * n_valid,
            "valid_y_true": list(valid_truth), "valid_y_pred": list(valid_pred)}


@pytest.fixture
def members():
    rng = np.random.default_rng(2)
    valid_truth, test_truth = rng.uniform(0, 125, 80), rng.uniform(5, 140, 40)
    capped = np.minimum(test_truth, 125)
    return [_row("early", 0, valid_truth - 6, capped - 6, test_truth, valid_truth),
            _row("late", 0, valid_truth + 6, capped + 6, test_truth, valid_truth),
            _row("noisy", 0, valid_truth + rng.normal(0, 15, 80), capped + rng.normal(0, 15, 40), test_truth,
                 valid_truth)]


@pytest.mark.parametrize("method", ["greedy", "nnls"])
def test_ensemble_weights_never_see_test_labels_or_test_predictions(members, method):
    row = combine(members, method, 125)
    perturbed = copy.deepcopy(members)
    for r in perturbed:  # a different RUL_FD00x.txt, and test predictions in another order of quality
        r["y_true"] = list(np.asarray(r["y_true"]) * 0.5 + 3)
    perturbed[2]["y_pred"] = list(np.asarray(perturbed[0]["y_true"]))
    again = combine(perturbed, method, 125)
    assert again["info"]["weights"] == row["info"]["weights"] and again["key"] == row["key"]
    # ... but they are a function of the validation predictions
    changed = copy.deepcopy(members)
    changed[0]["valid_y_pred"] = list(np.asarray(changed[0]["valid_y_true"]) + 30)  # early is now far off
    assert combine(changed, method, 125)["info"]["weights"] != row["info"]["weights"]


def test_an_ensemble_row_is_a_scored_row_with_the_members_cost(members):
    row = combine(members, "greedy", 125)
    assert row["model"] == "ensemble" and row["status"] == "ok" and row["seed"] == 0
    assert set(row["info"]["weights"]) == {"early", "late"}  # opposite biases cancel; the noisy one is not needed
    assert row["rmse"] < min(np.sqrt(np.mean((np.asarray(m["y_pred"]) - np.minimum(m["y_true"], 125)) ** 2))
                             for m in members)
    assert row["fit_seconds"] == 6.0 and row["n_test_engines"] == 40
    assert row["info"]["valid_rmse"] < min(row["info"]["member_valid_rmse"].values())


def test_ensembles_combine_the_same_seed_only_and_need_two_members(members):
    seed1 = [dict(m, seed=1, key=m["key"] + "-1") for m in members[:1]]
    rows = ensemble_rows(members + seed1, methods=["greedy"])
    assert [(r["model"], r["seed"]) for r in rows] == [("ensemble", 0)]  # seed 1 has a single member
    assert set(rows[0]["info"]["member_keys"].values()) == {m["key"] for m in members}


def test_each_variant_is_combined_with_itself_only(members):
    """A run may hold a model's default and tuned rows side by side: the tuned members make
    the tuned ensemble, the out-of-the-box ones the default ensemble, never a mixture."""
    from study.records.rows import variant

    tuned = [dict(m, key=m["key"] + "-t", config=m["config"] + "-t", tuning={"study_id": f"s-{m['model']}"})
             for m in members]
    default = [dict(m, profile="default") for m in members]
    rows = ensemble_rows(default + tuned, methods=["greedy"])
    assert sorted(variant(r) for r in rows) == ["default", "tuned"]
    by_variant = {variant(r): r for r in rows}
    assert set(by_variant["tuned"]["info"]["member_keys"].values()) == {m["key"] for m in tuned}
    assert set(by_variant["default"]["info"]["member_keys"].values()) == {m["key"] for m in default}
    assert by_variant["tuned"]["tuning"] == {"members": {m["model"]: f"s-{m['model']}" for m in members}}


def test_an_ensemble_of_budget_point_members_is_of_their_budget_variant(members):
    """The members a 10-, 30- or 60-minute tuning chose make that budget's ensemble
    (``tuned-10m``...), a variant of its own beside the race's ``tuned``, never mixed with it."""
    from study.records.rows import variant

    def at(point: float | None) -> list[dict]:
        link = {"study_id": "s"} if point is None else {"study_id": "s", "budget_point_s": point}
        return [dict(m, key=f"{m['key']}-{point}", config=f"{m['config']}-{point}", tuning=link) for m in members]

    rows = ensemble_rows(at(None) + at(600.0) + at(3600.0), methods=["greedy", "nnls"])
    assert sorted(variant(r) for r in rows) == sorted(["tuned", "tuned-10m", "tuned-60m"] * 2)
    by_variant = {variant(r): r for r in rows if r["model"] == "ensemble"}
    assert set(by_variant["tuned-10m"]["info"]["member_keys"].values()) == {f"{m['key']}-600.0" for m in members}
    assert by_variant["tuned-60m"]["tuning"]["budget_point_s"] == 3600.0
    assert "budget_point_s" not in by_variant["tuned"]["tuning"]


def test_mismatched_validation_cuts_are_refused(members):
    from study.core.errors import StudyError

    members[1]["valid_y_true"] = list(np.asarray(members[1]["valid_y_true"]) + 1)
    with pytest.raises(StudyError, match="cut validation engines do not match"):
        combine(members, "greedy", 125)


# ----- end to end ----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_run_stores_validation_predictions_and_the_ensemble_command_adds_rows_once(synthetic_dir, tmp_path,
                                                                               monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    config = RunConfig(out=tmp_path, profile="smoke", subsets=["FD001"], models=["xgboost", "test-constant"],
                       seeds=2, data_dir=synthetic_dir, offline=True, allow_unverified_data=True, executor="inline")
    run_study(config, QUIET)
    rows = ResultStore(tmp_path).rows()
    assert all(len(r["valid_y_pred"]) == len(r["valid_units"]) == len(r["valid_y_true"]) > 0 for r in rows)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), str(ROOT)])}
    cli = [sys.executable, "-m", "study.ensemble", str(tmp_path)]
    first = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    ensembles = board[board["model"].isin(["ensemble", "ensemble-nnls"])]
    assert list(ensembles["n_seeds"]) == [2, 2] and (ensembles["status"] == "ok").all()
    n_rows = len(ResultStore(tmp_path).rows())
    second = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0 and len(ResultStore(tmp_path).rows()) == n_rows  # resumed: nothing appended
    stored = ResultStore(tmp_path).rows()
    assert {r["model"] for r in stored} == {"xgboost", "test-constant", "ensemble", "ensemble-nnls"}


@pytest.mark.slow
def test_the_report_shows_each_ensemble_against_the_best_single_model(synthetic_dir, tmp_path, monkeypatch):
    from study.analysis.ensemble import add_ensembles
    from study.publishing.report import write_report

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    config = RunConfig(out=tmp_path, profile="smoke", subsets=["FD001"], models=["xgboost", "test-constant"],
                       seeds=2, data_dir=synthetic_dir, offline=True, allow_unverified_data=True, executor="inline")
    run_study(config, QUIET)
    add_ensembles(tmp_path, methods=["greedy"])
    report = write_report(tmp_path).read_text()
    section = report.split("## Ensembles")[1].split("\n## ")[0]
    line = next(l for l in section.splitlines() if l.startswith("| FD001 | ensemble |"))
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    best = board.drop(index="ensemble")["rmse"].idxmin()
    assert f"| {best} | {board.loc[best, 'rmse']:.2f} |" in line
    assert ("lower" in line or "higher" in line or "not distinguishable" in line) and "(2 seeds)" not in line


@pytest.mark.slow
def test_the_ensemble_command_refuses_a_run_folder_another_command_writes(synthetic_dir, tmp_path, monkeypatch):
    from study.analysis.ensemble import main
    from study.core.lock import run_folder_lock

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    config = RunConfig(out=tmp_path, profile="smoke", subsets=["FD001"], models=["xgboost", "test-constant"],
                       seeds=1, data_dir=synthetic_dir, offline=True, allow_unverified_data=True, executor="inline")
    run_study(config, QUIET)
    before = (tmp_path / "trials.jsonl").read_text()
    with run_folder_lock(tmp_path, command="python -m study.run (another writer)"):
        # re-entrant in one process: check the refusal from a second process, as a user would meet it
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), str(ROOT)])}
        busy = subprocess.run([sys.executable, "-m", "study.ensemble", str(tmp_path)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert busy.returncode == 1 and "another writer" in busy.stderr + busy.stdout
    assert (tmp_path / "trials.jsonl").read_text() == before
    assert main([str(tmp_path / "missing")]) == 2


def test_a_variants_ensemble_is_set_against_the_best_single_model_of_its_own_variant(members):
    """In a run with default and tuned rows, the tuned ensemble's "best single model" is the best
    tuned one, even where an out-of-the-box model scored lower."""
    from study.data.scoring import score_predictions
    from study.publishing.report import ensemble_table
    from study.records.leaderboard import leaderboard, predictions_frame
    from study.records.rows import distinct_models

    def scored(row: dict, shift: float = 0.0) -> dict:
        pred = np.array(row["y_pred"]) - shift
        return {**row, "y_pred": pred.tolist(), "family": "F", "n_test_engines": len(pred),
                **score_predictions(np.array(row["y_true"]), pred, 125)}

    tuned = [scored(dict(m, key=m["key"] + "-t", tuning={"study_id": "s"})) for m in members]
    default = [scored(dict(m, profile="default"), shift=6.0 if m["model"] == "late" else 0.0) for m in members]
    rows = tuned + default + ensemble_rows(tuned + default, methods=["greedy"])
    labelled = distinct_models(rows)
    board = leaderboard(labelled)
    table = ensemble_table(labelled, board, predictions_frame(labelled), 125)
    line = next(l for l in table.splitlines() if l.startswith("| FD001 | ensemble (tuned) |"))
    best_tuned = board[board["variant"] == "tuned"].query("model != 'ensemble (tuned)'").sort_values("rmse").iloc[0]
    assert board[board["model"] == "late (default)"]["rmse"].iloc[0] < best_tuned["rmse"]  # a better default exists
    assert f"| {best_tuned['model']} | {best_tuned['rmse']:.2f} |" in line


def test_a_subset_that_lacks_a_member_its_variant_has_elsewhere_waits(members):
    """Scored pair by pair, a budget variant holds some families on one subset before the
    others: its ensemble there waits until the same members exist, and says so."""
    other = [dict(m, subset="FD002", key=m["key"] + "-2", config=m["config"] + "-2") for m in members[:2]]
    said: list[str] = []
    rows = ensemble_rows(members + other, methods=["greedy"], notify=said.append)
    assert [(r["subset"], r["model"]) for r in rows] == [(members[0]["subset"], "ensemble")]
    assert len(said) == 1 and said[0].startswith("FD002") and members[2]["model"] in said[0]
    chosen = ensemble_rows(members + other, methods=["greedy"], members=[m["model"] for m in members[:2]])
    assert sorted(r["subset"] for r in chosen) == sorted([members[0]["subset"], "FD002"])  # --members: both combine


def test_an_ensembles_predictions_are_stored_and_scored_at_float32_like_a_trials(members):
    from study.data.scoring import rmse
    from study.execution.trial import float32_precision

    row = combine(members, "nnls", 125)
    for name in ("y_pred", "valid_y_pred"):
        values = np.asarray(row[name])
        assert np.array_equal(float32_precision(values), values)  # already the float32 decimals
    assert row["rmse"] == rmse(np.minimum(row["y_true"], 125), np.asarray(row["y_pred"]))
    assert max(len(repr(v)) for v in row["y_pred"]) <= 12  # "123.45678", not 17 digits
