"""The equal-budget tuner: no test labels, budgets recorded and enforced, exact resume, Ray == local."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from study.contract.search_space import Float, Int
from study.data.cmapss import files_of
from study.tuning.folds import load_training, make_folds, validation_blocks
from study.tuning.tuner import TuneConfig, journal_path, journal_summary, load_pair_study, tune

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).parents[1] / "fake_plugin"
QUIET = Console(file=open(os.devnull, "w"))
#: a small XGBoost space: real fits, a second or so per fold on synthetic data
SMALL_XGB = {"xgboost": {"n_estimators": Int(20, 80), "learning_rate": Float(0.05, 0.4, log=True),
                         "max_depth": Int(2, 6)}}



def _config(out: Path, data: Path, **kw) -> TuneConfig:
    defaults = dict(models=["xgboost"], subsets=["FD001"], profile="smoke", data_dir=data, offline=True,
                    allow_unverified_data=True, executor="inline", max_evaluations=3, folds=2, threads=1,
                    space_overrides=SMALL_XGB, budget_s=3600)
    return TuneConfig(out=out, **{**defaults, **kw})


def test_folds_are_engine_disjoint_and_the_first_is_the_studys_validation_split(data_dir):
    from study.data.cmapss import load_subset
    from study.data.protocol import Protocol, prepare

    protocol = Protocol()
    training = load_training(data_dir, "FD001", allow_unverified=True)
    blocks = validation_blocks(training.frame["unit"].unique(), protocol)
    assert len(blocks) == 5 and not set(np.concatenate(blocks)) ^ set(range(1, 16))
    folds = make_folds(training, protocol, 3)
    study_split = prepare(load_subset(data_dir, "FD001", allow_unverified=True), protocol)[0]
    np.testing.assert_array_equal(folds[0][0].valid.units, study_split.valid.units)
    np.testing.assert_array_equal(folds[0][0].train.sequences[0], study_split.train.sequences[0])
    for fold, truth in folds:
        assert not set(fold.train.units) & set(fold.valid.units)
        assert fold.test.rul is None and len(truth) == len(fold.test)
    assert not set(folds[0][0].valid.units) & set(folds[1][0].valid.units)


@pytest.mark.slow
def test_the_tuner_never_reads_test_files_or_labels(data_dir, tmp_path):
    baseline = tune(_config(tmp_path / "a", data_dir), QUIET)
    perturbed = tmp_path / "perturbed"
    shutil.copytree(data_dir, perturbed)
    _, test_name, rul_name = files_of("FD001")
    rul = np.loadtxt(perturbed / rul_name)
    np.savetxt(perturbed / rul_name, rul[::-1] + 17, fmt="%d")
    test_rows = np.loadtxt(perturbed / test_name)
    test_rows[:, 5:] += 3.0
    np.savetxt(perturbed / test_name, test_rows, fmt="%.4f")
    again = tune(_config(tmp_path / "b", perturbed), QUIET)
    assert journal_summary(tmp_path / "a", "xgboost", "FD001") == journal_summary(tmp_path / "b", "xgboost", "FD001")
    assert again[0]["best_params"] == baseline[0]["best_params"]
    # structurally: without any test or RUL file the tuning is the same
    for name in (test_name, rul_name):
        (perturbed / name).unlink()
    tune(_config(tmp_path / "c", perturbed), QUIET)
    assert journal_summary(tmp_path / "c", "xgboost", "FD001") == journal_summary(tmp_path / "a", "xgboost", "FD001")


@pytest.mark.slow
def test_the_budget_is_recorded_and_no_evaluation_starts_after_it_is_spent(data_dir, tmp_path):
    summary = tune(_config(tmp_path, data_dir, max_evaluations=None, budget_s=2.0), QUIET)[0]
    assert summary["budget_s"] == 2.0 and summary["settings"]["budget_s"] == 2.0
    stored = json.loads((tmp_path / "xgboost-FD001.json").read_text())
    assert stored["study_id"] == summary["study_id"] and stored["n_evaluations"] == summary["n_evaluations"]
    charged = [t.user_attrs["charged_seconds"] for t in _trials(tmp_path, "xgboost")]
    assert summary["n_evaluations"] == len(charged) >= 1
    assert summary["spent_seconds"] == pytest.approx(sum(charged))
    trials = _trials(tmp_path, "xgboost")
    typical = np.median([t.user_attrs["charged_seconds"] for t in trials if t.state.name == "COMPLETE"])
    # it stopped because the budget was spent, or because what was left would not pay for an evaluation
    assert summary["spent_seconds"] >= 2.0 or 2.0 - summary["spent_seconds"] < typical
    assert sum(charged[:-1]) < 2.0  # and the last evaluation started while some budget was left
    assert all(t.user_attrs["wall_seconds"] > 0 for t in trials)  # the wall clock is recorded beside
    # the budget is part of the study: resuming with another one is refused
    from study.core.errors import StudyError

    with pytest.raises(StudyError, match="budget_s"):
        tune(_config(tmp_path, data_dir, max_evaluations=None, budget_s=5.0), QUIET)


@pytest.mark.slow
def test_no_evaluation_starts_that_the_budget_left_cannot_pay_for(data_dir, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    space = {"test-constant": {"offset": Float(-10.0, 10.0)}}
    summary = tune(_config(tmp_path, data_dir, models=["test-constant"], space_overrides=space, budget_s=0.5,
                           max_evaluations=None, profile="standard"), QUIET)[0]
    # test-constant's default work is 0: fits cost almost no CPU, so many evaluations fit in 0.5 s
    assert summary["n_evaluations"] >= 2 and summary["n_complete"] == summary["n_evaluations"]
    # each fit burns 0.25-0.3 CPU seconds: the first (the defaults, 0.25) always runs; a second
    # starts only while the budget left pays for a typical evaluation
    costly = {"test-constant": {"offset": Float(-10.0, 10.0), "work": Float(0.25, 0.3)}}
    one = tune(_config(tmp_path / "one", data_dir, models=["test-constant"], space_overrides=costly, budget_s=0.4,
                       max_evaluations=None, profile="standard", folds=1), QUIET)[0]
    assert one["n_evaluations"] == one["n_complete"] == 1 and one["best_evaluation"] == 0
    two = tune(_config(tmp_path / "two", data_dir, models=["test-constant"], space_overrides=costly, budget_s=0.7,
                       max_evaluations=None, profile="standard", folds=1), QUIET)[0]
    assert two["n_evaluations"] == two["n_complete"] == 2 and two["spent_seconds"] <= 0.7
    # one evaluation costing more than the whole budget: it still completes, and is the only one
    over = tune(_config(tmp_path / "over", data_dir, models=["test-constant"], space_overrides=costly, budget_s=0.1,
                        max_evaluations=None, profile="standard", folds=1), QUIET)[0]
    assert over["n_evaluations"] == over["n_complete"] == 1 and over["spent_seconds"] > 0.1


@pytest.mark.slow
def test_the_budget_charges_cpu_seconds_so_a_busy_machine_shortchanges_nobody(data_dir, tmp_path, monkeypatch):
    """A fold that waits (here: sleeps, as a process does while other work holds the cores)
    is charged the CPU it used, not the wall clock that passed."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    space = {"test-constant": {"offset": Float(-10.0, 10.0), "delay": Float(0.3, 0.31)}}
    summary = tune(_config(tmp_path, data_dir, models=["test-constant"], space_overrides=space, budget_s=0.5,
                           max_evaluations=3, profile="standard", folds=2), QUIET)[0]
    trials = _trials(tmp_path, "test-constant")
    assert summary["n_evaluations"] == 3  # 1.8 s of wall clock, far more than the budget
    for trial in trials:
        assert trial.user_attrs["wall_seconds"] >= 0.6 and trial.user_attrs["charged_seconds"] < 0.3
        assert len(trial.user_attrs["fold_cpu_seconds"]) == 2


@pytest.mark.slow
def test_a_budget_that_ends_mid_evaluation_stops_it_at_its_last_rung_and_the_search_learns_from_it(
        data_dir, tmp_path, monkeypatch):
    """test-epochs trains epochs of 0.1 CPU s (a rung at epoch 3). With 0.7 s, the first
    evaluation (the defaults: 2 epochs, 0.2 s) completes; the second (9 epochs) starts with
    0.5 s left, reaches its rung (0.3 s), cannot reach its end (0.9 s) and stops there: pruned,
    its rung score kept for the search, never the incumbent, nothing run to waste."""
    from study.contract.search_space import Categorical

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    space = {"test-epochs": {"epochs": Categorical((2, 9))}}
    summary = tune(_config(tmp_path, data_dir, models=["test-epochs"], space_overrides=space, budget_s=0.7,
                           max_evaluations=None, profile="default", folds=1), QUIET)[0]
    trials = _trials(tmp_path, "test-epochs")
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED"]
    assert "budget" in trials[1].user_attrs["reason"] and list(trials[1].intermediate_values) == [3]
    assert summary["best_evaluation"] == 0 and summary["n_pruned"] == 1
    assert summary["spent_seconds"] < 0.7


@pytest.mark.slow
def test_successive_halving_stops_a_configuration_worse_than_the_best_third_at_a_rung(
        data_dir, tmp_path, monkeypatch):
    """Each evaluation's score at a rung is compared with what earlier ones scored at the same
    fold and rung; it goes on only within the best third (the best, while fewer than three
    competitors exist). A pruned evaluation runs no later fold."""
    from study.contract.fidelity import promotion_threshold
    from study.tuning.tuner import FOLD_STEPS

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    space = {"test-epochs": {"offset": Float(-40.0, 40.0)}}
    tune(_config(tmp_path, data_dir, models=["test-epochs"], space_overrides=space, max_evaluations=10,
                 profile="smoke", folds=2), QUIET)
    trials = _trials(tmp_path, "test-epochs")
    states = [t.state.name for t in trials]
    assert "PRUNED" in states and "COMPLETE" in states[1:]
    for i, trial in enumerate(trials):
        for k in range(2):
            step = k * FOLD_STEPS + 3
            if step not in trial.intermediate_values:
                continue
            threshold = promotion_threshold([t.intermediate_values[step] for t in trials[:i]
                                             if step in t.intermediate_values])
            stopped = trial.state.name == "PRUNED" and f"fold {k}" in trial.user_attrs["reason"]
            assert stopped == (threshold is not None and trial.intermediate_values[step] > threshold)
        if trial.state.name == "PRUNED" and "fold 0" in trial.user_attrs["reason"]:
            assert len(trial.user_attrs["fold_rmse"]) == 1  # fold 1 never ran


def _trials(out: Path, model: str) -> list:
    return load_pair_study(journal_path(out, model, "FD001"), model, "FD001").get_trials()


def _tune_script(out: Path, data: Path, evaluations: int, model: str = "test-constant") -> str:
    return (
        "from pathlib import Path\n"
        "from study.contract.search_space import Float\n"
        "from study.tuning.tuner import TuneConfig, tune\n"
        f"tune(TuneConfig(out=Path({str(out)!r}), models=[{model!r}], subsets=['FD001'], profile='smoke',"
        f" data_dir=Path({str(data)!r}), offline=True, allow_unverified_data=True, executor='inline', threads=1,"
        f" max_evaluations={evaluations}, folds=2, budget_s=3600,"
        f" space_overrides={{{model!r}: {{'offset': Float(-30.0, 30.0), 'delay': Float(0.15, 0.2)}}}}))\n")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["test-constant", "test-epochs"])
def test_sigkill_of_a_running_tuner_then_resume_loses_and_repeats_nothing(data_dir, tmp_path, model):
    """Also with rungs (test-epochs): the thresholds come from the journal, so a resumed
    tuning prunes exactly what an uninterrupted one does."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(PLUGIN_DIR)])}
    evaluations = 4
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run([sys.executable, "-c", _tune_script(whole, data_dir, evaluations, model)], env=env, check=True,
                   cwd=ROOT, capture_output=True, timeout=120)
    proc = subprocess.Popen([sys.executable, "-c", _tune_script(killed, data_dir, evaluations, model)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = journal_path(killed, model, "FD001")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # kill while evaluation 2 is in flight
        trials = journal_summary(killed, model, "FD001") if journal.is_file() else []
        done = sum(t["state"] in ("COMPLETE", "PRUNED") for t in trials)
        if done >= 2 and trials[-1]["state"] == "RUNNING" or proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = journal_summary(killed, model, "FD001")
    assert before[-1]["state"] == "RUNNING", before
    assert sum(t["state"] in ("COMPLETE", "PRUNED") for t in before) >= 2
    subprocess.run([sys.executable, "-c", _tune_script(killed, data_dir, evaluations, model)], env=env, check=True,
                   cwd=ROOT, capture_output=True, timeout=120)
    after = journal_summary(killed, model, "FD001")
    uninterrupted = journal_summary(whole, model, "FD001")
    kept = [{k: t[k] for k in ("params", "value", "fold_rmse")} for t in after if not t["interrupted"]]
    assert kept == [{k: t[k] for k in ("params", "value", "fold_rmse")} for t in uninterrupted]
    assert [t["interrupted"] for t in after].count(True) == 1  # only the one in flight was rerun
    assert after[:2] == before[:2]  # finished evaluations kept as they were
    best = [json.loads((folder / f"{model}-FD001.json").read_text()) for folder in (whole, killed)]
    assert best[0]["best_params"] == best[1]["best_params"] and best[1]["n_interrupted"] == 1
    assert best[1]["n_evaluations"] == evaluations


@pytest.mark.slow
def test_ray_and_local_executors_give_the_same_tuning(data_dir, tmp_path):
    pytest.importorskip("ray")
    local = tune(_config(tmp_path / "local", data_dir, executor="local", workers=2, max_evaluations=3), QUIET)
    ray = tune(_config(tmp_path / "ray", data_dir, executor="ray", workers=2, max_evaluations=3), QUIET)
    assert journal_summary(tmp_path / "local", "xgboost", "FD001") == journal_summary(tmp_path / "ray", "xgboost",
                                                                                     "FD001")
    assert local[0]["best_params"] == ray[0]["best_params"] and local[0]["n_evaluations"] == 3


def test_an_adapter_without_a_search_space_is_evaluated_once_and_says_so(data_dir, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    summary = tune(_config(tmp_path, data_dir, models=["test-constant"], space_overrides={}, profile="standard",
                           max_evaluations=None), QUIET)[0]
    assert summary["tuned_over_nothing"] and summary["n_evaluations"] == 1
    assert summary["best_params"] == {"offset": 0.0, "delay": 0.0, "work": 0.0}


@pytest.mark.slow
def test_a_categorical_space_is_searched_as_a_grid_starting_from_the_defaults(data_dir, tmp_path, monkeypatch):
    from study.contract.search_space import Categorical

    space = {"xgboost": {"max_depth": Categorical((2, 3, 5)), "n_estimators": Categorical((20, 60))}}
    summary = tune(_config(tmp_path, data_dir, space_overrides=space, max_evaluations=None), QUIET)[0]
    trials = journal_summary(tmp_path, "xgboost", "FD001")
    seen = [(t["params"]["max_depth"], t["params"]["n_estimators"]) for t in trials]
    assert seen[0] == (5, 60)  # xgboost's defaults (smoke profile) first
    assert sorted(seen) == sorted((d, n) for d in (2, 3, 5) for n in (20, 60))  # each point once
    assert summary["n_evaluations"] == 6


@pytest.mark.slow
def test_a_tuned_run_uses_each_pairs_selected_configuration_and_links_its_rows_to_the_tuning(data_dir, tmp_path):
    from study.core.errors import StudyError
    from study.execution.runner import RunConfig, run_study
    from study.records.store import ResultStore

    summary = tune(_config(tmp_path / "tuning", data_dir), QUIET)[0]
    run = dict(out=tmp_path / "run", profile="smoke", subsets=["FD001"], seeds=1, data_dir=data_dir, offline=True,
               allow_unverified_data=True, executor="inline", tuned_dir=tmp_path / "tuning")
    run_study(RunConfig(models=["xgboost"], **run), QUIET)
    rows = ResultStore(tmp_path / "run").rows()
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    for row in rows:
        assert row["params"] == summary["best_params"]
        assert row["tuning"]["study_id"] == summary["study_id"]
        assert row["tuning"]["n_evaluations"] == 3 and row["tuning"]["budget_s"] == 3600
        assert row["tuning"]["best_valid_rmse"] == summary["best_valid_rmse"]
    with pytest.raises(StudyError, match="lstm/FD001"):
        run_study(RunConfig(models=["lstm"], **{**run, "out": tmp_path / "other"}), QUIET)
    assert RunConfig(**run).resolved().models == ["xgboost"]  # no --models: the models tuned there
    with pytest.raises(StudyError, match="no model has a tuned configuration for every subset"):
        RunConfig(**{**run, "subsets": ["FD001", "FD002"]}).resolved()


@pytest.mark.slow
def test_a_budget_point_runs_the_incumbent_a_shorter_tuning_would_have_chosen(data_dir, tmp_path):
    """--tuned-budget 600 runs the summary's incumbent at 600 CPU s as the variant tuned-10m;
    another budget point that chose the same configuration is a copy, not a second run."""
    from study.core.errors import StudyError
    from study.execution.runner import RunConfig, run_study
    from study.records.rows import variant
    from study.records.store import ResultStore

    summary = tune(_config(tmp_path / "tuning", data_dir), QUIET)[0]
    assert set(summary["incumbents"]) == {"600", "1800", "3600"}
    run = dict(out=tmp_path / "run", profile="smoke", subsets=["FD001"], seeds=1, data_dir=data_dir, offline=True,
               allow_unverified_data=True, executor="inline", tuned_dir=tmp_path / "tuning", models=["xgboost"])
    for point in (600, 3600):
        run_study(RunConfig(tuned_budget_s=point, **run), QUIET)
    rows = {variant(row): row for row in ResultStore(tmp_path / "run").rows()}
    assert sorted(rows) == ["tuned-10m", "tuned-60m"]
    assert rows["tuned-10m"]["params"] == summary["incumbents"]["600"]["params"]
    assert rows["tuned-10m"]["tuning"]["best_valid_rmse"] == summary["incumbents"]["600"]["valid_rmse"]
    assert rows["tuned-10m"]["key"] != rows["tuned-60m"]["key"]
    assert rows["tuned-60m"].get("copied_from") == rows["tuned-10m"]["key"]  # same incumbent: not run twice
    assert rows["tuned-60m"]["copied_at"] >= rows["tuned-10m"]["started_at"]  # when the copy became its test row
    from study.publishing.report import write_report

    report = write_report(tmp_path / "run").read_text()  # the budget curves and their figure
    assert "## Budget curves" in report and "fig_budget_curves.png" in report
    assert "| model (mean test RMSE over 1 subset) | 10 min | 60 min |" in report
    assert (tmp_path / "run" / "fig_budget_curves.png").is_file()
    assert "fig_tuning_traces.png" in report and (tmp_path / "run" / "fig_tuning_traces.png").is_file()
    for bad, message in (({"tuned_budget_s": 7200}, "at most the tuning's budget"),
                         ({"tuned_budget_s": 900}, "no incumbent at that budget"),
                         ({"tuned_budget_s": 600, "tuned_dir": None}, "give the tuning with --tuned")):
        with pytest.raises(StudyError, match=message):
            RunConfig(**{**run, **bad}).resolved()


@pytest.mark.slow
def test_a_tuned_configuration_equal_to_the_default_is_a_row_of_its_own_but_not_run_twice(data_dir, tmp_path,
                                                                                          monkeypatch):
    """A budget that buys only the first evaluation selects the out-of-the-box configuration:
    the tuned run then copies the default run's rows (same model, parameters, data and seed)
    under its own key with its tuning link, in either order, and runs nothing."""
    from study.execution.runner import RunConfig, run_study
    from study.records.rows import variant
    from study.records.store import ResultStore

    summary = tune(_config(tmp_path / "tuning", data_dir, max_evaluations=1), QUIET)[0]
    assert summary["best_evaluation"] == 0
    run = dict(profile="smoke", subsets=["FD001"], seeds=1, data_dir=data_dir, offline=True, models=["xgboost"],
               allow_unverified_data=True, executor="inline")
    for first, second in (({}, {"tuned_dir": tmp_path / "tuning"}), ({"tuned_dir": tmp_path / "tuning"}, {})):
        out = tmp_path / f"run-{len(first)}"
        run_study(RunConfig(out=out, **run, **first), QUIET)
        from study.execution import executors

        monkeypatch.setattr(executors, "run_trial", lambda *a, **k: pytest.fail("a shared computation was run again"))
        run_study(RunConfig(out=out, **run, **second), QUIET)
        monkeypatch.undo()
        rows = ResultStore(out).rows()
        assert len(rows) == 2 and {variant(r) for r in rows} == {"smoke", "tuned"}
        original, copy = rows
        assert copy["copied_from"] == original["key"] and copy["key"] != original["key"]
        assert copy["y_pred"] == original["y_pred"] and copy["seed"] == original["seed"]
        tuned = next(r for r in rows if variant(r) == "tuned")
        assert tuned["tuning"]["study_id"] == summary["study_id"] and tuned["same_as"] == (
            next(r for r in rows if variant(r) == "smoke")["same_as"])  # one computation, two variants
        run_study(RunConfig(out=out, **run, **second), QUIET)  # again: reused, nothing copied twice
        assert len(ResultStore(out).rows()) == 2


def test_a_model_that_cannot_run_here_is_skipped_after_one_evaluation(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from study.contract.search_space import Categorical

    space = {"chronos": {"pooling": Categorical(("mean", "mean+last"))}}
    summary = tune(_config(tmp_path, data_dir, models=["chronos"], space_overrides=space,
                           max_evaluations=None), QUIET)
    if not summary:
        pytest.skip("chronos-forecasting not installed")
    assert summary[0]["stopped"].startswith("skipped") and summary[0]["n_evaluations"] == 0
    assert summary[0]["spent_seconds"] == 0.0 and summary[0]["best_params"] is None
    # not counted: once the weights are there, a rerun starts with the same first evaluation
    again = tune(_config(tmp_path, data_dir, models=["chronos"], space_overrides=space, max_evaluations=None), QUIET)
    trials = journal_summary(tmp_path, "chronos", "FD001")
    assert again[0]["n_evaluations"] == 0 and trials[1]["params"] == trials[0]["params"] == {"pooling": "mean"}


def test_the_best_evaluations_out_of_fold_predictions_are_kept(data_dir, tmp_path):
    summary = tune(_config(tmp_path, data_dir), QUIET)[0]
    oof = json.loads((tmp_path / summary["oof_predictions"]).read_text())
    assert oof["evaluation"] == summary["best_evaluation"] and len(oof["folds"]) == 2
    rmse = [float(np.sqrt(np.mean((np.array(f["y_pred"]) - np.array(f["y_true"])) ** 2))) for f in oof["folds"]]
    np.testing.assert_allclose(rmse, summary["best_fold_rmse"])
    training = load_training(data_dir, "FD001", allow_unverified=True)
    from study.data.protocol import Protocol

    folds = make_folds(training, Protocol(), 2)
    for fold, (prepared, _) in zip(oof["folds"], folds):
        assert set(fold["units"]) == set(prepared.valid.units.tolist())  # out of fold: held-out engines only


@pytest.mark.slow
def test_a_tuner_killed_while_asking_resumes_as_if_never_interrupted(data_dir, tmp_path, monkeypatch):
    """Optuna stores each suggestion as it is made: a kill between two suggestions leaves a
    running trial with some of its parameters. It must be asked afresh, not rerun with those."""
    import study.tuning.tuner as tuner

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    space = {"test-constant": {"offset": Float(-30.0, 30.0), "delay": Float(0.0, 0.01)}}

    def config(out: Path) -> TuneConfig:
        return _config(out, data_dir, models=["test-constant"], space_overrides=space, profile="standard",
                       max_evaluations=4)

    tune(config(tmp_path / "whole"), QUIET)

    class Killed(BaseException):
        pass

    real, asked = tuner.suggest, []

    def killed_while_asking(trial, dims):
        asked.append(trial.number)
        if len(asked) == 3:  # the third evaluation: one parameter stored, then the kill
            trial.suggest_float("delay", 0.0, 0.01)
            raise Killed
        return real(trial, dims)

    monkeypatch.setattr(tuner, "suggest", killed_while_asking)
    with pytest.raises(Killed):
        tune(config(tmp_path / "killed"), QUIET)
    monkeypatch.setattr(tuner, "suggest", real)
    tune(config(tmp_path / "killed"), QUIET)
    after = journal_summary(tmp_path / "killed", "test-constant", "FD001")
    whole = journal_summary(tmp_path / "whole", "test-constant", "FD001")
    assert [t["params"] for t in after if not t["interrupted"]] == [t["params"] for t in whole]
    assert [t["value"] for t in after if not t["interrupted"]] == [t["value"] for t in whole]


@pytest.mark.slow
def test_the_tuner_cli_refuses_bad_options_and_a_folder_another_tuner_writes(data_dir, tmp_path):
    from study.core.lock import run_folder_lock
    from study.tuning.tuner import main

    assert main(["--models", "xgboost", "--subsets", "FD009", "--out", str(tmp_path / "t")]) == 2
    assert not (tmp_path / "t").exists()  # refused before anything was written
    out = tmp_path / "busy"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with run_folder_lock(out, command="python -m study.tune (the first tuner)"):
        second = subprocess.run([sys.executable, "-m", "study.tune", "--models", "xgboost", "--subsets", "FD001",
                                 "--data-dir", str(data_dir), "--offline", "--allow-unverified-data",
                                 "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and "the first tuner" in second.stdout + second.stderr
    assert not list(out.glob("journals/*"))


@pytest.mark.slow
def test_the_tuning_summary_shows_each_pairs_default_and_best_validation_rmse(data_dir, tmp_path):
    from study.tuning.summary import main as summary_main
    from study.tuning.summary import tuning_table

    summary = tune(_config(tmp_path, data_dir, max_evaluations=4), QUIET)[0]
    trials = journal_summary(tmp_path, "xgboost", "FD001")
    line = tuning_table(tmp_path).set_index(["model", "subset"]).loc[("xgboost", "FD001")]
    assert line["evaluations"] == summary["n_evaluations"] == 4
    assert line["default_valid_rmse"] == trials[0]["value"]  # the first evaluation: the defaults
    assert line["best_valid_rmse"] == summary["best_valid_rmse"] == min(t["value"] for t in trials)
    assert line["gain"] == pytest.approx(trials[0]["value"] - summary["best_valid_rmse"])
    assert line["best_evaluation"] == summary["best_evaluation"]
    assert line["budget_s"] == 3600 and 0 < line["spent_s"] <= summary["spent_seconds"] + 0.1
    assert line["median_load"] >= 0
    assert summary_main([str(tmp_path / "nowhere")]) == 2  # not a tuning folder: a user error


@pytest.mark.slow
def test_a_configuration_tuned_by_an_earlier_version_runs_under_todays_parameter_names(data_dir, tmp_path):
    """The committed tuning ran before the CPU share had one name: its XGBoost configurations
    say ``n_jobs``; a tuned run must still accept them (as ``threads``), not refuse them."""
    from study.execution.runner import RunConfig, run_study
    from study.records.store import ResultStore
    from study.records.tuned_configs import load_tuned

    summary = tune(_config(tmp_path / "tuning", data_dir), QUIET)[0]
    path = tmp_path / "tuning" / "xgboost-FD001.json"
    old = json.loads(path.read_text())
    old["best_params"] = {**{k: v for k, v in old["best_params"].items() if k != "threads"}, "n_jobs": None}
    path.write_text(json.dumps(old))
    params = load_tuned(tmp_path / "tuning")[("xgboost", "FD001")].params
    assert "n_jobs" not in params and params["threads"] is None
    assert {k: v for k, v in params.items() if k != "threads"} == \
        {k: v for k, v in summary["best_params"].items() if k != "threads"}
    run_study(RunConfig(out=tmp_path / "run", profile="smoke", subsets=["FD001"], seeds=1, data_dir=data_dir,
                        offline=True, allow_unverified_data=True, executor="inline", tuned_dir=tmp_path / "tuning",
                        models=["xgboost"]), QUIET)
    assert [r["status"] for r in ResultStore(tmp_path / "run").rows()] == ["ok"]


def test_fold_fits_are_jobs_carrying_evaluation_and_fold_with_the_real_subset(data_dir, tmp_path, monkeypatch):
    """The tuner's fold fits reach the executor as jobs whose labels say (evaluation, fold) and
    whose spec names the real subset (nothing encoded into ``subset`` and parsed back); each
    evaluation's fold RMSEs in the journal are its own jobs' results."""
    from study.execution import executors
    from study.tuning import tuner

    seen: list[tuple[executors.Job, dict]] = []
    made = executors.make_executor

    def recording(*args, **kwargs):
        inner = made(*args, **kwargs)
        run = inner.run

        def run_recorded(jobs, prepared, max_rul, root, on_result, on_progress):
            def on(job, row):
                seen.append((job, row))
                on_result(job, row)
            run(jobs, prepared, max_rul, root, on, on_progress)

        inner.run = run_recorded
        return inner

    monkeypatch.setattr(tuner, "make_executor", recording)
    tune(_config(tmp_path / "t", data_dir, max_evaluations=2), QUIET)
    assert {job.spec.subset for job, _ in seen} == {"FD001"}
    labels = sorted((job.labels["evaluation"], job.labels["fold"]) for job, _ in seen)
    assert labels == [(0, 0), (0, 1), (1, 0), (1, 1)]
    study = load_pair_study(journal_path(tmp_path / "t", "xgboost", "FD001"), "xgboost", "FD001")
    for trial in study.get_trials():
        mine = sorted((job.labels["fold"], row["rmse"]) for job, row in seen if job.labels["evaluation"] == trial.number)
        assert trial.user_attrs["fold_rmse"] == [rmse for _, rmse in mine]
