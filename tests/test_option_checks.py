"""Every option of every command is checked before any work: a bad one exits 2 with a message
naming it (or the file it points at), never a failed row, a silent default or a traceback."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from study.contract.search_space import Float, Int
from study.data.scoring import score_predictions
from study.records.store import ResultStore
from study.tuning.tuner import TuneConfig, tune

QUIET = Console(file=open(os.devnull, "w"))
SMALL_XGB = {"xgboost": {"n_estimators": Int(20, 80), "learning_rate": Float(0.05, 0.4, log=True),
                         "max_depth": Int(2, 6)}}


@pytest.fixture(scope="module")
def tuning(data_dir, tmp_path_factory) -> Path:
    """A real tuning folder (xgboost on FD001, one small evaluation): the cases below damage copies of it."""
    out = tmp_path_factory.mktemp("tuning")
    tune(TuneConfig(out=out, models=["xgboost"], subsets=["FD001"], profile="smoke", data_dir=data_dir, offline=True,
                    allow_unverified_data=True, executor="inline", max_evaluations=1, folds=2, threads=1,
                    space_overrides=SMALL_XGB, budget_s=3600), QUIET)
    return out


def _tuned_run(data_dir: Path, tuned: Path, out: Path, capsys, subsets: str = "FD001") -> tuple[int, str]:
    """``python -m study.run --tuned`` on the synthetic data: its exit status and its output."""
    from study.run import main

    code = main(["--profile", "smoke", "--models", "xgboost", "--subsets", subsets, "--seeds", "1",
                 "--data-dir", str(data_dir), "--offline", "--allow-unverified-data", "--executor", "inline",
                 "--no-report", "--tuned", str(tuned), "--out", str(out)])
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())  # one line: rich may wrap long paths


def _damaged(tuning: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the tuning folder and its xgboost/FD001 summary, to damage."""
    copy = shutil.copytree(tuning, tmp_path / "tuning")
    return copy, copy / "xgboost-FD001.json"


def _assert_refused(code: int, message: str, named: Path, out: Path, *expected: str) -> None:
    assert code == 2, message
    assert str(named) in message and "Unexpected" not in message
    for text in expected:
        assert text in message, message
    assert not (out / "trials.jsonl").exists()  # refused before any trial ran


def test_the_undamaged_tuning_runs(data_dir, tuning, tmp_path, capsys):
    """The control: the folder the cases below damage runs (so each refusal is the damage's)."""
    code, message = _tuned_run(data_dir, tuning, tmp_path / "run", capsys)
    assert code == 0, message
    assert [r["status"] for r in ResultStore(tmp_path / "run").rows()] == ["ok"]


@pytest.mark.parametrize("damage, expected", [
    (lambda text: "{\"model\": \"xgboost\", ", "is not valid JSON"),
    (lambda text: "", "is empty"),
    (lambda text: "  \n", "is empty"),
    (lambda text: "[1, 2]", "holds a JSON list"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "best_params"}), "lacks best_params"),
    (lambda text: json.dumps({**json.loads(text), "settings": {"folds": 2}}), "lacks settings.protocol_hash"),
    (lambda text: json.dumps({**json.loads(text), "settings": 3}), "settings that are not an object"),
    (lambda text: json.dumps({**json.loads(text), "best_params": [5, 0.1]}), "best_params that are not an object"),
], ids=["malformed", "empty", "blank", "not-an-object", "no-best-params", "no-protocol-hash", "settings-a-number",
        "best-params-a-list"])
def test_a_malformed_or_wrong_shaped_tuned_file_is_refused_naming_it(data_dir, tuning, tmp_path, capsys, damage,
                                                                     expected):
    folder, path = _damaged(tuning, tmp_path)
    path.write_text(damage(path.read_text()))
    code, message = _tuned_run(data_dir, folder, tmp_path / "run", capsys)
    _assert_refused(code, message, path, tmp_path / "run", expected)


@pytest.mark.parametrize("change, expected", [
    ({"depth": 3}, "xgboost has no parameter depth; valid:"),
    ({"max_depth": -1}, "max_depth must be >= 0, got -1"),
    ({"subsample": 1.5}, "subsample must be between 0 and 1, got 1.5"),
    ({"learning_rate": "fast"}, "learning_rate must be a number between 0 and 1, got 'fast'"),
    ({"n_estimators": None}, "n_estimators must be a number >= 1, got None"),
], ids=["unknown", "below-range", "above-range", "a-string", "null"])
def test_tuned_parameters_are_checked_as_set_overrides_are(data_dir, tuning, tmp_path, capsys, change, expected):
    folder, path = _damaged(tuning, tmp_path)
    summary = json.loads(path.read_text())
    path.write_text(json.dumps({**summary, "best_params": {**summary["best_params"], **change}}))
    code, message = _tuned_run(data_dir, folder, tmp_path / "run", capsys)
    _assert_refused(code, message, path, tmp_path / "run", expected, "Tune this pair again")


def test_a_tuned_file_holding_another_subsets_tuning_is_refused(data_dir, tuning, tmp_path, capsys):
    """An FD001 tuning saved as FD003's must not run as FD003's configuration."""
    folder, path = _damaged(tuning, tmp_path)
    moved = path.rename(folder / "xgboost-FD003.json")
    code, message = _tuned_run(data_dir, folder, tmp_path / "run", capsys, subsets="FD003")
    _assert_refused(code, message, moved, tmp_path / "run", "holds the tuning of xgboost/FD001")


def test_a_tuned_file_holding_another_models_tuning_is_refused(data_dir, tuning, tmp_path, capsys):
    """An xgboost tuning copied to lstm's name would otherwise be read as a second xgboost
    configuration, and whichever file sorts last would silently win."""
    folder, path = _damaged(tuning, tmp_path)
    copy = folder / "lstm-FD001.json"
    copy.write_text(json.dumps({**json.loads(path.read_text()), "best_params": {"max_depth": 2}}))
    code, message = _tuned_run(data_dir, folder, tmp_path / "run", capsys)
    _assert_refused(code, message, copy, tmp_path / "run", "holds the tuning of xgboost/FD001")


# ----- study.tune ---------------------------------------------------------------------------
def _tune_cli(data_dir: Path, out: Path, capsys, *args: str) -> tuple[int, str]:
    from study.tuning.tuner import main

    defaults = {"--models": "xgboost", "--subsets": "FD001", "--profile": "smoke", "--max-evaluations": "1",
                "--folds": "2", "--threads": "1", "--executor": "inline", "--data-dir": str(data_dir),
                "--out": str(out)}
    given = dict(zip(args[::2], args[1::2]))
    argv = [*(item for pair in {**defaults, **given}.items() for item in pair), "--offline", "--allow-unverified-data"]
    code = main(argv)
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


@pytest.mark.parametrize("args, expected", [
    (("--seed", "-5"), "--seed must be 0 or more (got -5)"),
    (("--models", ""), "--models is empty"),
    (("--models", " , "), "--models is empty"),
    (("--subsets", ""), "--subsets is empty"),
    (("--models", "xgboost,xgboost"), "--models names xgboost more than once"),
    (("--folds", "0"), "--folds must be at least 1 (got 0)"),
], ids=["negative-seed", "empty-models", "blank-models", "empty-subsets", "repeated-model", "no-folds"])
def test_the_tuner_refuses_bad_options_before_writing_anything(data_dir, tmp_path, capsys, args, expected):
    out = tmp_path / "tuning"
    code, message = _tune_cli(data_dir, out, capsys, *args)
    assert code == 2 and expected in message, message
    assert "Unexpected" not in message and not out.exists()


# ----- study.ensemble -----------------------------------------------------------------------
def _ensemble_run(folder: Path) -> Path:
    """A run folder with three scored models that have cut validation predictions (one seed)."""
    rng = np.random.default_rng(0)
    valid_truth, test_truth = rng.uniform(0, 125, 40), rng.uniform(5, 140, 20)
    store = ResultStore(folder)
    for model, bias in (("early", -6.0), ("late", 6.0), ("noisy", 0.0)):
        valid = valid_truth + bias + rng.normal(0, 3, 40)
        test = np.minimum(test_truth, 125) + bias + rng.normal(0, 3, 20)
        store.append({"key": f"{model}-0", "config": f"{model}-cfg", "model": model, "subset": "FD001", "seed": 0,
                      "status": "ok", "protocol_hash": "p", "data_fingerprint": "d", "family": "F",
                      "formulation": "regression", "fit_seconds": 1.0, "predict_seconds": 0.1,
                      "n_test_engines": 20, **score_predictions(test_truth, test, 125),
                      "units": list(range(1, 21)), "y_true": test_truth.tolist(), "y_pred": test.tolist(),
                      "valid_units": list(range(40)), "valid_cycles": [50] * 40,
                      "valid_y_true": valid_truth.tolist(), "valid_y_pred": valid.tolist()})
    (folder / "run.json").write_text(json.dumps({"protocol_hash": "p", "protocol": {"max_rul": 125}}))
    return folder


@pytest.mark.parametrize("members, expected", [
    ("early,lat", "--members names lat, which"),
    ("", "--members is empty"),
    (" , ", "--members is empty"),
    ("early,early", "--members names early more than once"),
], ids=["misspelled", "empty", "blank", "repeated"])
def test_the_ensemble_refuses_members_the_run_does_not_have(tmp_path, capsys, members, expected):
    from study.analysis.ensemble import main

    run = _ensemble_run(tmp_path)
    before = (run / "trials.jsonl").read_text()
    code = main([str(run), "--members", members])
    message = " ".join(capsys.readouterr().err.split())
    assert code == 2 and expected in message, message
    if "names lat" in expected:
        assert "models in this run: early, late, noisy" in message
    assert (run / "trials.jsonl").read_text() == before  # nothing appended


def test_the_ensemble_of_named_members_still_runs(tmp_path, capsys):
    from study.analysis.ensemble import main

    run = _ensemble_run(tmp_path)
    assert main([str(run), "--members", " early , late", "--method", "greedy"]) == 0
    added = [r for r in ResultStore(run).rows() if r["model"] == "ensemble"]
    assert len(added) == 1 and added[0]["params"]["members"] == ["early", "late"]
