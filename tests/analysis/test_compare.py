"""Paired comparison against a baseline: the point estimate is the leaderboard's difference,
the interval is paired by engine, and engines, seeds and capping line up."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import json
import subprocess
import sys
from pathlib import Path

from study.analysis.compare import compare_runs, compare_to_baseline, comparison_table, paired_rmse_difference, verdict
from study.data.scoring import rmse
from study.records.leaderboard import leaderboard
from study.records.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]


def _long(model: str, preds: np.ndarray, truth: np.ndarray, subset: str = "FD001", units=None) -> pd.DataFrame:
    """predictions_frame-shaped rows for one model: ``preds`` is (seeds, engines)."""
    units = np.arange(1, preds.shape[1] + 1) if units is None else np.asarray(units)
    return pd.DataFrame([{"model": model, "subset": subset, "seed": s, "unit": int(u), "y_true": float(t),
                          "y_pred": float(p)} for s, row in enumerate(preds) for u, t, p in zip(units, truth, row)])


def test_the_point_estimate_is_the_difference_of_the_mean_over_seeds_rmse():
    rng = np.random.default_rng(1)
    truth = rng.uniform(0, 125, 50)
    model = truth + rng.normal(0, [[8], [10], [12]], (3, 50))   # three seeds
    base = truth + rng.normal(0, [[14], [15]], (2, 50))          # two seeds: counts may differ
    result = paired_rmse_difference(truth, model, base, n_boot=200)
    expected = np.mean([rmse(truth, m) for m in model]) - np.mean([rmse(truth, b) for b in base])
    assert result["difference"] == pytest.approx(expected, abs=1e-12)
    assert result["ci_low"] < result["difference"] < result["ci_high"] < 0
    assert result["share_lower"] == 1.0


def test_identical_models_differ_by_exactly_zero():
    truth = np.linspace(0, 125, 40)
    preds = truth[None] + np.sin(np.arange(40))[None] * 10
    result = paired_rmse_difference(truth, preds, preds.copy(), n_boot=100)
    assert result["difference"] == result["ci_low"] == result["ci_high"] == 0.0
    assert verdict(result["ci_low"], result["ci_high"]) == "not distinguishable"


def test_pairing_resolves_a_small_consistent_gain_that_separate_intervals_cannot():
    """Both models miss the same hard engines badly; one is 1 cycle closer on every engine.
    Resampling the two models' engines independently would drown that in the shared error."""
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 125, 100)
    shared = rng.normal(0, 20, 100)
    base = truth + shared
    better = truth + shared - np.sign(shared) * 1.0
    result = paired_rmse_difference(truth, better[None], base[None])
    assert result["ci_high"] < 0 and verdict(result["ci_low"], result["ci_high"]) == "lower"
    idx = np.random.default_rng(5).integers(0, 100, (1000, 100))
    own = lambda p: np.sqrt(((p - truth)[idx] ** 2).mean(axis=1))  # noqa: E731
    unpaired_low = np.quantile(own(base), 0.025)
    assert np.quantile(own(better), 0.975) > unpaired_low  # unpaired intervals overlap


def test_compare_to_baseline_caps_the_truth_matches_the_leaderboard_and_aligns_engines():
    rng = np.random.default_rng(2)
    truth = np.r_[rng.uniform(5, 120, 30), [180.0, 250.0]]          # two engines above the cap
    base = np.minimum(truth, 125)[None] + rng.normal(0, 15, (2, 32))
    good = np.minimum(truth, 125)[None] + rng.normal(0, 5, (3, 32))
    order = rng.permutation(32)                                       # rows arrive in another order
    preds = pd.concat([_long("lstm", base, truth),
                       _long("good", good[:, order], truth[order], units=np.arange(1, 33)[order]),
                       _long("good", good, truth, subset="FD003")])  # no baseline on FD003
    table = compare_to_baseline(preds, "lstm", max_rul=125, n_boot=300)
    assert list(table["subset"]) == ["FD001"] and table["n_engines"].iloc[0] == 32
    rows = [{"key": f"{m}{s}", "model": m, "subset": "FD001", "seed": s, "status": "ok", "family": "x", "formulation": "regression",
             "rmse": rmse(np.minimum(truth, 125), p), "n_test_engines": 32,
             **dict.fromkeys(["rmse_raw", "score", "score_mean", "mae", "rmse_ci_low", "rmse_ci_high",
                              "fit_seconds", "predict_seconds"], 0.0)}
            for m, matrix in (("lstm", base), ("good", good)) for s, p in enumerate(matrix)]
    board = leaderboard(rows).set_index("model")["rmse"]
    assert table["difference"].iloc[0] == pytest.approx(board["good"] - board["lstm"], abs=1e-9)
    assert table["verdict"].iloc[0] == "lower"
    markdown = comparison_table(table)
    assert markdown.startswith("| model | FD001 |") and "| good | -" in markdown and " lower |" in markdown

    assert compare_to_baseline(preds, "absent", max_rul=125).empty
    with pytest.raises(ValueError, match="different RUL truths"):
        compare_to_baseline(pd.concat([_long("lstm", base, truth), _long("good", good, truth + 1)]), "lstm",
                            max_rul=125)
    with pytest.raises(ValueError, match="different test engines"):
        compare_to_baseline(pd.concat([_long("lstm", base, truth), _long("good", good[:, :31], truth[:31])]),
                            "lstm", max_rul=125)


def _run_folder(path: Path, frame: pd.DataFrame, protocol_hash: str = "p1", profile: str = "standard") -> Path:
    """A run folder whose trial rows carry ``frame``'s predictions (one row per model/subset/seed)."""
    store = ResultStore(path)
    for (model, subset, seed), part in frame.groupby(["model", "subset", "seed"]):
        store.append({"key": f"{model}-{subset}-{seed}", "model": model, "subset": subset, "seed": int(seed),
                      "status": "ok", "params": {}, "protocol_hash": protocol_hash, "data_fingerprint": "d",
                      "units": part["unit"].tolist(), "y_true": part["y_true"].tolist(),
                      "y_pred": part["y_pred"].tolist()})
    (path / "run.json").write_text(json.dumps({"protocol_hash": protocol_hash, "protocol": {"max_rul": 125},
                                               "config": {"profile": profile}}))
    return path


@pytest.mark.slow
def test_compare_runs_pairs_the_same_model_across_two_runs(tmp_path):
    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 125, 60)
    single = pd.concat([_long("net", truth + rng.normal(0, 12, (3, 60)), truth),
                        _long("other", truth + rng.normal(0, 12, (1, 60)), truth)])
    averaged = pd.concat([_long("net", truth + rng.normal(0, 6, (3, 60)), truth),
                          _long("net", truth + rng.normal(0, 6, (3, 60)), truth, subset="FD003")])
    table = compare_runs(averaged, single, max_rul=125, n_boot=300)
    assert table[["subset", "model"]].values.tolist() == [["FD001", "net"]]  # only what both runs have
    net = single[single["model"] == "net"]
    expected = (np.mean([rmse(truth, g["y_pred"]) for _, g in averaged[averaged["subset"] == "FD001"].groupby("seed")])
                - np.mean([rmse(truth, g["y_pred"]) for _, g in net.groupby("seed")]))
    assert table["difference"].iloc[0] == pytest.approx(expected) and table["verdict"].iloc[0] == "lower"

    new, old = _run_folder(tmp_path / "new", averaged), _run_folder(tmp_path / "old", single, "p2", "smoke")
    result = subprocess.run([sys.executable, "-m", "study.compare", str(new), "--against", str(old)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "different protocols (p1 and p2)" in result.stdout
    assert "different profiles (standard and smoke)" in result.stdout
    assert f"| FD001 | net | 60 | {expected:.2f} |" in result.stdout and "| lower | 3 vs 3 |" in result.stdout
    empty = _run_folder(tmp_path / "empty", single[single["model"] == "other"])
    result = subprocess.run([sys.executable, "-m", "study.compare", str(new), "--against", str(empty)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "share no (model, subset)" in result.stderr


def _compare_run(folder: Path, truth: np.ndarray, seed: int) -> Path:
    """A run folder with one model's predictions of ``truth`` (two seeds)."""
    rng = np.random.default_rng(seed)
    store = ResultStore(folder)
    for s in range(2):
        store.append({"key": f"net-FD001-{s}", "model": "net", "subset": "FD001", "seed": s, "status": "ok",
                      "params": {}, "protocol_hash": "p", "data_fingerprint": "d", "units": list(range(1, 31)),
                      "y_true": truth.tolist(), "y_pred": (truth + rng.normal(0, 8, 30)).tolist()})
    (folder / "run.json").write_text(json.dumps({"protocol_hash": "p", "protocol": {"max_rul": 125},
                                                 "config": {"profile": "standard"}}))
    return folder


def test_compare_refuses_two_runs_scored_against_different_truths(tmp_path, capsys):
    from study.analysis.compare import main

    truth = np.random.default_rng(1).uniform(0, 125, 30)
    new, same, other = (_compare_run(tmp_path / "new", truth, 2), _compare_run(tmp_path / "same", truth, 3),
                        _compare_run(tmp_path / "other", truth + 5, 4))
    assert main([str(new), "--against", str(same)]) == 0  # the control: same test engines and truth
    capsys.readouterr()
    assert main([str(new), "--against", str(other)]) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert f"{new} and --against {other} cannot be compared" in message, message
    assert "net on FD001 in the two runs were scored against different RUL truths" in message
    assert "Unexpected" not in message
