"""Executors and resilience: isolation of crashing/hanging trials, Ray, kill-and-resume, MLflow."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from study.execution.runner import RunConfig, run_study
from study.records.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).parents[1] / "fake_plugin"
QUIET = Console(file=open(os.devnull, "w"))


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))


def _config(out, data, **kw):
    return RunConfig(out=out, profile="smoke", data_dir=data, offline=True, **kw)


@pytest.mark.slow
def test_crashing_and_hanging_trials_become_failed_rows_and_the_rest_succeed(plugin, cmapss_dir, tmp_path):
    table = run_study(_config(tmp_path, cmapss_dir, models=["test-crashes", "test-sleeps", "test-constant"],
                              subsets=["FD001"], time_limit_s=20), QUIET).set_index("model")
    assert table.loc["test-crashes", "status"] == "failed"
    assert "SIGABRT" in table.loc["test-crashes", "reason"]
    assert table.loc["test-sleeps", "status"] == "failed"
    assert "time limit of 20 s" in table.loc["test-sleeps", "reason"]
    assert table.loc["test-constant", "status"] == "ok"
    assert len(ResultStore(tmp_path).rows()) == 3


@pytest.mark.slow
def test_ray_executor_gives_the_same_leaderboard_as_the_local_one(cmapss_dir, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    grid = dict(models=["xgboost"], subsets=["FD001"], seeds=2)
    local = run_study(_config(tmp_path / "local", cmapss_dir, **grid), QUIET)
    ray_table = run_study(_config(tmp_path / "ray", cmapss_dir, executor="ray", **grid), QUIET)
    cols = ["model", "subset", "status", "rmse", "rmse_std", "score", "mae", "n_seeds"]
    pd.testing.assert_frame_equal(local[cols], ray_table[cols])


def _cli(out: Path, data: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "study.run", "--profile", "smoke", "--models",
                             "test-constant,xgboost", "--subsets", "FD001,FD003", "--seeds", "2", "--data-dir",
                             str(data), "--offline", "--no-report", "--out", str(out),
                             "--set", "test-constant.delay=1.5", *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(cmapss_dir, tmp_path):
    killed = tmp_path / "killed"
    proc = _cli(killed, cmapss_dir)
    store = ResultStore(killed)
    deadline = time.monotonic() + 240
    while len(store.rows()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker, mid-trial
    proc.wait()
    n_before = len(store.rows())
    assert 2 <= n_before < 8

    resumed = _cli(killed, cmapss_dir)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert f"{n_before} reused" in out
    clean = _cli(tmp_path / "clean", cmapss_dir)
    clean_out, _ = clean.communicate(timeout=600)
    assert clean.returncode == 0, clean_out

    rows = store.rows()
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8  # nothing torn, nothing duplicated
    preds = pd.read_csv(killed / "predictions.csv")
    pd.testing.assert_frame_equal(preds, pd.read_csv(tmp_path / "clean" / "predictions.csv"))
    cols = ["model", "subset", "rmse", "rmse_std", "score", "n_seeds"]
    pd.testing.assert_frame_equal(pd.read_csv(killed / "leaderboard.csv")[cols],
                                  pd.read_csv(tmp_path / "clean" / "leaderboard.csv")[cols])


@pytest.mark.slow
def test_mlflow_sink_logs_each_trial_to_a_local_file_store(cmapss_dir, tmp_path):
    mlflow = pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install -e '.[mlflow]'")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # a file-backed store (MLflow 3 retired ./mlruns folders)
    run_study(_config(tmp_path / "run", cmapss_dir, models=["xgboost"], subsets=["FD001"], seeds=2,
                      mlflow_uri=uri, executor="inline"), QUIET)
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["cmapss-study"])
    assert len(runs) == 2
    rows = {r["seed"]: r for r in ResultStore(tmp_path / "run").rows()}
    for _, run in runs.iterrows():
        seed = int(run["params.seed"])
        assert run["metrics.rmse"] == pytest.approx(rows[seed]["rmse"])
        assert run["tags.status"] == "ok" and run["params.protocol_hash"] == rows[seed]["protocol_hash"]


def test_unknown_executor_lists_valid_ones(cmapss_dir, tmp_path):
    from study.core.errors import StudyError
    from study.execution.executors import make_executor

    with pytest.raises(StudyError, match="local, inline, ray"):
        make_executor("slurm")


def test_variants_of_a_model_keep_their_artifacts_apart():
    from study.execution.executors import artifacts_name
    from study.execution.trial import TrialSpec

    names = {artifacts_name(TrialSpec("m", "FD001", 0, {}, profile=profile, tuning=tuning))
             for profile, tuning in (("standard", None), ("default", None), ("default", {"study_id": "s"}))}
    assert names == {"m-FD001-seed0", "m-default-FD001-seed0", "m-tuned-FD001-seed0"}


WORKDIR_PLUGIN = Path(__file__).parents[1] / "plugins" / "workdir"


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["inline", "local"])
def test_each_trial_runs_in_its_artifacts_folder(executor, synthetic_dir, tmp_path, monkeypatch):
    """A library's stray files (catboost_info/...) land with the trial, not where the study was
    started; the driver's directory is restored; a folder the trial left empty is removed."""
    monkeypatch.syspath_prepend(str(WORKDIR_PLUGIN))
    from workdir_study_plugin import STRAY

    launch = tmp_path / "launch"
    launch.mkdir()
    monkeypatch.chdir(launch)
    config = RunConfig(out=Path("run"), profile="smoke", models=["test-stray-file", "test-chatty"],
                       subsets=["FD001"], seeds=1, data_dir=synthetic_dir, offline=True,
                       allow_unverified_data=True, executor=executor)  # a relative --out, as users type it
    table = run_study(config, QUIET).set_index("model")
    sys.modules.pop("workdir_study_plugin", None)
    assert set(table["status"]) == {"ok"}
    assert os.getcwd() == str(launch)
    assert not (launch / STRAY).exists()
    artifacts = launch / "run" / "artifacts"
    assert (artifacts / "test-stray-file-smoke-FD001-seed0" / STRAY).is_file()
    assert not (artifacts / "test-chatty-smoke-FD001-seed0").exists()


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_a_jobs_labels_and_data_come_back_with_its_result(executor, synthetic_dir, plugin, tmp_path):
    """Two jobs of one trial spec on different data (as the tuner's fold fits are) come back
    each with its own labels and its own data's result, from a worker process too; job ids
    must be unique."""
    from study.data.cmapss import load_subset
    from study.data.protocol import Protocol, prepare
    from study.execution.executors import Job, make_executor
    from study.execution.trial import TrialSpec

    prepared = {f"fold{k}": prepare(load_subset(synthetic_dir, subset, allow_unverified=True), Protocol())
                for k, subset in enumerate(["FD001", "FD002"])}
    truths = {name: [float(v) for v in truth] for name, (_, truth) in prepared.items()}
    assert truths["fold0"] != truths["fold1"]  # so a mix-up would show
    spec = TrialSpec("test-constant", "FD001", 0, {"offset": 0.0, "delay": 0.0, "work": 0.0}, key="k", threads=1,
                     time_limit_s=60)
    jobs = [Job(id=f"e{e}-f{k}", spec=spec, data=f"fold{k}", folder=f"e{e}-f{k}", labels={"evaluation": e, "fold": k})
            for e in (3, 4) for k in (1, 0)]
    results = []
    runner = make_executor(executor, workers=2)
    try:
        runner.run(jobs, prepared, 125.0, tmp_path, lambda job, row: results.append((job, row)), lambda *_: None)
        with pytest.raises(ValueError, match="unique"):
            runner.run([jobs[0], jobs[0]], prepared, 125.0, tmp_path, lambda *_: None, lambda *_: None)
    finally:
        runner.close()
    assert sorted((job.labels["evaluation"], job.labels["fold"]) for job, _ in results) == [(3, 0), (3, 1), (4, 0),
                                                                                          (4, 1)]
    for job, row in results:
        assert row["status"] == "ok", row.get("reason")
        assert row["y_true"] == truths[f"fold{job.labels['fold']}"] and row["subset"] == "FD001"
