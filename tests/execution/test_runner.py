"""End to end: ``python -m study.run`` on real data, resuming, failures, and user errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from study.contract.registry import get_adapter
from study.execution.runner import RunConfig, plan_trials, run_study
from study.records import migration
from study.records.selection import row_config
from study.records.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).parents[1] / "fake_plugin"
QUIET = Console(file=open(os.devnull, "w"))


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study.run", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def smoke_run(cmapss_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    result = _cli("--profile", "smoke", "--models", "xgboost", "--subsets", "FD001,FD004", "--seeds", "2",
                  "--data-dir", str(cmapss_dir), "--out", str(out), "--offline", "--no-report")
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result


@pytest.mark.slow
def test_smoke_run_writes_every_output_with_the_promised_columns(smoke_run, cmapss_dir):
    out, result = smoke_run
    table = pd.read_csv(out / "leaderboard.csv")
    for col in ("model", "subset", "status", "rmse", "rmse_std", "rmse_raw", "score", "score_mean", "mae",
                "n_seeds", "fit_seconds", "predict_seconds", "n_test_engines"):
        assert col in table.columns
    assert list(table["subset"]) == ["FD001", "FD004"] and set(table["status"]) == {"ok"}
    assert list(table["n_test_engines"]) == [100, 248] and list(table["n_seeds"]) == [2, 2]
    assert table["rmse"].between(5, 40).all()
    preds = pd.read_csv(out / "predictions.csv")
    assert list(preds.columns) == ["model", "variant", "subset", "seed", "unit", "y_true", "y_pred"]
    assert len(preds) == 2 * (100 + 248)
    truth = pd.read_csv(cmapss_dir / "RUL_FD004.txt", header=None, sep=r"\s+")[0]
    first_seed = preds[(preds.subset == "FD004") & (preds.seed == 0)]
    assert list(first_seed["y_true"]) == list(truth)  # raw, uncapped truth
    run = json.loads((out / "run.json").read_text())
    assert run["protocol_hash"] and "Labels" in run["protocol_card"] and run["data_verified"] is True
    assert run["data_checksums"]["FD001"]["train_FD001.txt"].startswith("963b5e22")
    assert "numpy" in run["versions"] and run["machine"]["cpu_count"]
    rows = ResultStore(out).rows()
    assert len(rows) == 4 and all(r["protocol_hash"] == run["protocol_hash"] for r in rows)
    assert "Leaderboard" in result.stdout
    assert "…" not in result.stdout  # piped output is not cut to 80 columns


@pytest.mark.slow
def test_rerun_reuses_finished_trials_and_force_reruns_them(smoke_run, cmapss_dir):
    out, _ = smoke_run
    args = ["--profile", "smoke", "--models", "xgboost", "--subsets", "FD001,FD004", "--seeds", "2",
            "--data-dir", str(cmapss_dir), "--out", str(out), "--offline", "--no-report"]
    again = _cli(*args)
    assert again.returncode == 0 and "4 reused" in again.stdout
    assert len(ResultStore(out).rows()) == 4
    forced = _cli(*args, "--subsets", "FD001", "--seeds", "1", "--force")
    assert forced.returncode == 0 and "1 to run" in forced.stdout
    assert len(ResultStore(out).rows()) == 5
    assert len(pd.read_csv(out / "leaderboard.csv")) == 2  # the folder's study, not just this command's grid


@pytest.mark.slow
def test_models_added_later_join_the_folder_and_changed_params_supersede(cmapss_dir, tmp_path):
    base = ["--profile", "smoke", "--subsets", "FD001", "--data-dir", str(cmapss_dir), "--out", str(tmp_path),
            "--offline", "--no-report"]
    assert _cli(*base, "--models", "xgboost").returncode == 0
    added = _cli(*base, "--models", "test-constant", env={"PYTHONPATH": str(PLUGIN_DIR)})
    assert added.returncode == 0, added.stdout
    assert sorted(pd.read_csv(tmp_path / "leaderboard.csv")["model"]) == ["test-constant", "xgboost"]
    changed = _cli(*base, "--models", "test-constant", "--set", "test-constant.offset=10.0",
                   env={"PYTHONPATH": str(PLUGIN_DIR)})
    assert changed.returncode == 0
    preds = pd.read_csv(tmp_path / "predictions.csv")
    assert len(preds[preds.model == "test-constant"]) == 100  # only the newest parameters' trial
    assert len(ResultStore(tmp_path).rows()) == 3


@pytest.mark.slow
def test_failing_adapter_becomes_a_failed_row_and_the_study_goes_on(cmapss_dir, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    config = RunConfig(out=tmp_path, profile="smoke", models=["test-raises", "test-constant"],
                       subsets=["FD001"], data_dir=cmapss_dir, offline=True)
    table = run_study(config, QUIET).set_index("model")
    assert table.loc["test-raises", "status"] == "failed"
    assert "deliberate failure" in table.loc["test-raises", "reason"]
    assert table.loc["test-constant", "status"] == "ok"
    failed = [r for r in ResultStore(tmp_path).rows() if r["status"] == "failed"][0]
    assert "RuntimeError" in failed["traceback"]


@pytest.mark.slow
def test_unverified_data_is_recorded_and_shown(synthetic_dir, tmp_path):
    result = _cli("--profile", "smoke", "--models", "xgboost", "--data-dir", str(synthetic_dir), "--out",
                  str(tmp_path), "--offline", "--no-report", "--allow-unverified-data")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "run.json").read_text())["data_verified"] is False
    assert (tmp_path / "leaderboard.md").read_text().startswith("> **Unverified data**")
    assert "UNVERIFIED" in result.stdout


@pytest.mark.parametrize("args, expected", [
    (["--models", "nope"], "valid models: "),
    (["--subsets", "FD009"], "valid subsets: FD001, FD002, FD003, FD004"),
    (["--profile", "huge"], "valid profiles: smoke, standard"),
    (["--set", "xgboost"], "MODEL.PARAM=VALUE"),
    (["--seeds", "0"], "at least 1"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--time-limit", "0"], "--time-limit must be a positive number"),
    (["--time-limit", "nan"], "--time-limit must be a positive number"),
    (["--models", "xgboost", "--chronos-model", "/x"], "--models leaves chronos out"),
    (["--models", "xgboost", "--set", "xgb.max_depth=2"], "--set names 'xgb', which this run does not include"),
    (["--models", "xgboost", "--set", "xgboost.depth=2"], "xgboost has no parameter depth; valid:"),
])
@pytest.mark.slow
def test_bad_options_exit_nonzero_with_a_message_and_no_traceback(cmapss_dir, tmp_path, args, expected):
    result = _cli("--profile", "smoke", "--data-dir", str(cmapss_dir), "--out", str(tmp_path), "--offline", *args)
    assert result.returncode == 2
    assert expected in result.stdout.replace("\n", " ")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_corrupt_data_exits_with_the_checksum_message(cmapss_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(cmapss_dir, data)
    (data / "train_FD001.txt").chmod(0o644)
    with open(data / "train_FD001.txt", "a") as handle:
        handle.write("1 1 0 0 100" + " 1" * 21 + "\n")
    result = _cli("--profile", "smoke", "--models", "xgboost", "--data-dir", str(data), "--out",
                  str(tmp_path / "out"), "--offline")
    assert result.returncode == 2
    assert "train_FD001.txt" in result.stdout and "expected SHA-256" in result.stdout.replace("\n", " ")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_unwritable_output_folder_is_a_user_error(cmapss_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _cli("--profile", "smoke", "--models", "xgboost", "--data-dir", str(cmapss_dir),
                  "--out", str(blocker / "out"), "--offline")
    assert result.returncode == 2 and "Cannot write results" in result.stdout


@pytest.mark.slow
def test_list_models_shows_availability():
    result = _cli("--list-models")
    assert result.returncode == 0 and "xgboost" in result.stdout and "yes" in result.stdout
    chronos = next(line for line in result.stdout.splitlines() if "chronos" in line)
    assert "given its pretrained weights" in chronos or "no:" in chronos


def test_skipped_trials_are_retried_on_rerun_while_finished_ones_are_reused(cmapss_dir, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    config = RunConfig(out=tmp_path, profile="smoke", models=["test-needs-missing-package", "test-constant"],
                       subsets=["FD001"], data_dir=cmapss_dir, offline=True, executor="inline")
    table = run_study(config, QUIET).set_index("model")
    assert table.loc["test-needs-missing-package", "status"] == "skipped"
    assert "package_that_is_not_installed_anywhere" in table.loc["test-needs-missing-package", "reason"]
    run_study(config, QUIET)
    rows = ResultStore(tmp_path).rows()
    assert [r["model"] for r in rows].count("test-needs-missing-package") == 2  # retried
    assert [r["model"] for r in rows].count("test-constant") == 1  # reused


def test_a_subset_override_changes_only_that_subsets_trials(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    cls = get_adapter("test-constant")
    stub = type("Prepared", (), {"protocol_hash": "p", "data_fingerprint": "d"})
    prepared = {s: (stub,) for s in ("FD001", "FD004")}

    def specs(**changes):
        config = RunConfig(out=tmp_path, profile="smoke", models=["test-constant"], subsets=["FD001", "FD004"],
                           seeds=1, **changes).resolved()
        return {spec.subset: spec for spec in plan_trials(config, prepared, threads=1, time_limit_s=None)}

    before = specs()
    monkeypatch.setattr(cls, "subset_params", {"FD004": {"offset": 5.0}})
    after = specs()
    assert after["FD001"].key == before["FD001"].key  # finished FD001 trials are still reused
    assert after["FD004"].key != before["FD004"].key and after["FD004"].params["offset"] == 5.0
    assert after["FD001"].params["offset"] == 0.0
    assert specs(model_params={"test-constant": {"offset": 1.0}})["FD004"].params["offset"] == 1.0  # --set wins


def test_a_new_parameter_at_its_neutral_value_keeps_finished_trials_reusable(tmp_path, monkeypatch):
    """Adding an option whose default changes nothing (e.g. our nets' ``ensemble: 1``) must not
    invalidate the resume keys of trials run before it existed; any other value is a new trial."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    cls = get_adapter("test-constant")
    stub = type("Prepared", (), {"protocol_hash": "p", "data_fingerprint": "d"})

    def key(**changes):
        config = RunConfig(out=tmp_path, profile="smoke", models=["test-constant"], subsets=["FD001"],
                           seeds=1, **changes).resolved()
        return plan_trials(config, {"FD001": (stub,)}, threads=1, time_limit_s=None)[0]

    before = key()
    monkeypatch.setattr(cls, "default_params", {**cls.default_params, "members": 1})
    assert key().key != before.key  # a plain new parameter is part of the key
    # declared where every such fact lives (study.records.migration), by model name
    monkeypatch.setattr(migration, "KEY_NEUTRAL_PARAMS", {**migration.KEY_NEUTRAL_PARAMS, "test-constant": {"members": 1}})
    after = key()
    assert after.key == before.key and after.params["members"] == 1
    assert key(model_params={"test-constant": {"members": 3}}).key != before.key


@pytest.mark.slow
def test_the_committed_study_is_what_todays_network_settings_would_reuse(tmp_path):
    """Every trial of our three networks in reports/study has the resume key the current code
    gives it: a changed default (not declared key-neutral) would make the committed numbers
    stale, and the study would have to be rerun before the change lands."""
    rows = ResultStore(ROOT / "reports/study").rows()
    info = json.loads((ROOT / "reports/study/run.json").read_text())
    nets = [r for r in rows if r["model"] in ("lstm", "transformer", "mamba") and r["status"] == "ok"
            and r["protocol_hash"] == info["protocol_hash"]]
    fingerprints = {r["subset"]: r["data_fingerprint"] for r in nets}
    prepared = {subset: (type("Prepared", (), {"protocol_hash": info["protocol_hash"], "data_fingerprint": f}),)
                for subset, f in fingerprints.items()}
    config = RunConfig(out=tmp_path, models=["lstm", "transformer", "mamba"], subsets=sorted(prepared),
                       seeds=3).resolved()
    specs = plan_trials(config, prepared, threads=1, time_limit_s=None)
    planned = {spec.key for spec in specs}
    assert len(planned) == 36 and planned <= {r["key"] for r in nets}
    # and a trial added today (another seed) joins the committed ones in the same table line
    configs = {(spec.model, spec.subset): spec.config for spec in specs}
    current = [r for r in nets if r["key"] in planned]
    assert all(row_config(r) == configs[r["model"], r["subset"]] for r in current)


def test_rerunning_earlier_settings_shows_them_again_in_every_table(synthetic_dir, tmp_path, monkeypatch):
    """A reused trial is what the command asked for: after a ``--set`` run, the default
    command again must show the default's results, not the newest-written rows."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))

    def run(**changes) -> pd.DataFrame:
        config = RunConfig(out=tmp_path / "out", profile="smoke", models=["test-constant"], subsets=["FD001"],
                           seeds=1, data_dir=synthetic_dir, allow_unverified_data=True, executor="inline", **changes)
        return run_study(config, QUIET).set_index("model")

    default = run().loc["test-constant", "rmse"]
    shifted = run(model_params={"test-constant": {"offset": 40.0}}).loc["test-constant", "rmse"]
    assert shifted != default
    again = run()
    assert again.loc["test-constant", "rmse"] == default and len(ResultStore(tmp_path / "out").rows()) == 2
    from study.records.run_folder import load_run

    rows, _ = load_run(tmp_path / "out")  # study.report agrees: it reads run.json's configurations
    assert [r["params"]["offset"] for r in rows] == [0.0]
    forced = run(model_params={"test-constant": {"offset": 40.0}}, force=True)  # a forced rerun is current too
    assert forced.loc["test-constant", "rmse"] == shifted


def test_a_set_value_equal_to_the_default_is_the_same_trial(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    stub = type("Prepared", (), {"protocol_hash": "p", "data_fingerprint": "d"})

    def spec(**changes):
        config = RunConfig(out=tmp_path, profile="smoke", models=["test-constant"], subsets=["FD001"],
                           seeds=1, **changes).resolved()
        return plan_trials(config, {"FD001": (stub,)}, threads=1, time_limit_s=None)[0]

    written_as_int = spec(model_params={"test-constant": {"offset": 0}})  # --set test-constant.offset=0
    assert written_as_int.key == spec().key and written_as_int.config == spec().config
    assert isinstance(written_as_int.params["offset"], float)
    assert spec(model_params={"test-constant": {"offset": 1}}).config != spec().config


WORKDIR_PLUGIN = Path(__file__).parents[1] / "plugins" / "workdir"


def test_a_plugin_without_a_default_profile_is_not_labelled_default(synthetic_dir, tmp_path, monkeypatch):
    """``--profile default`` promises library defaults; an adapter that declares none runs its
    author's settings, and its rows and the console say so."""
    import io

    from study.records.rows import variant

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    out = io.StringIO()
    config = RunConfig(out=tmp_path, profile="default", models=["test-constant", "test-epochs"], subsets=["FD001"],
                       seeds=1, data_dir=synthetic_dir, offline=True, allow_unverified_data=True, executor="inline",
                       model_params={"test-epochs": {"work": 0.0}})
    run_study(config, Console(file=out, width=300))
    rows = {row["model"]: row for row in ResultStore(tmp_path).rows()}
    assert (rows["test-constant"]["profile"], variant(rows["test-constant"])) == ("standard", "hand-tuned")
    assert (rows["test-epochs"]["profile"], variant(rows["test-epochs"])) == ("default", "default")
    text = out.getvalue()
    assert "test-constant declares no profiles['default']" in text and "labelled hand-tuned" in text
    assert "test-epochs declares" not in text
    assert "test-constant (hand-tuned) FD001 seed 0: RMSE" in text


def test_progress_reaches_a_log_that_is_not_a_terminal(synthetic_dir, tmp_path, monkeypatch):
    import io

    import study.execution.runner as runner

    monkeypatch.syspath_prepend(str(WORKDIR_PLUGIN))
    monkeypatch.setattr(runner, "PROGRESS_LINE_EVERY_S", 0.0)
    out = io.StringIO()
    console = Console(file=out, width=200)
    assert not console.is_terminal
    run_study(RunConfig(out=tmp_path, profile="smoke", models=["test-chatty"], subsets=["FD001"], seeds=1,
                        data_dir=synthetic_dir, offline=True, allow_unverified_data=True, executor="inline"), console)
    sys.modules.pop("workdir_study_plugin", None)
    lines = out.getvalue().splitlines()
    for message in ("started", "epoch 1/3", "epoch 2/3", "epoch 3/3"):
        assert f"  test-chatty FD001 seed 0: {message}" in lines, out.getvalue()


def test_progress_lines_are_at_most_one_per_trial_every_interval():
    import io

    from study.execution.runner import ProgressLines
    from study.execution.trial import TrialSpec

    now = [0.0]
    out = io.StringIO()
    lines = ProgressLines(Console(file=out, width=200), every_s=30, clock=lambda: now[0])
    first, second = TrialSpec("m", "FD001", 0, {}, key="a"), TrialSpec("m", "FD001", 1, {}, key="b")
    for t, spec, message in [(0, first, "started"), (1, second, "started"), (10, first, "epoch 1"),
                             (29, first, "epoch 2"), (31, first, "epoch 3"), (40, first, "epoch 4")]:
        now[0] = t
        lines(spec, message)
    assert out.getvalue().splitlines() == ["  m FD001 seed 0: started", "  m FD001 seed 1: started",
                                           "  m FD001 seed 0: epoch 3"]


@pytest.mark.slow
def test_a_study_where_every_trial_failed_exits_3_and_debug_prints_their_tracebacks(synthetic_dir, tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), str(ROOT)])}
    args = ["--profile", "smoke", "--models", "test-raises", "--subsets", "FD001", "--seeds", "2", "--data-dir",
            str(synthetic_dir), "--allow-unverified-data", "--executor", "inline", "--out", str(tmp_path), "--offline"]
    result = _cli(*args, env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    text = result.stdout.replace("\n", " ")
    assert "Every trial failed (2 trials): failed: RuntimeError: deliberate failure for the tests" in text
    assert "test-raises FD001 seed 0, test-raises FD001 seed 1" in text and "Rerun with --debug" in text
    assert "Traceback" not in result.stdout + result.stderr
    assert [row["status"] for row in ResultStore(tmp_path).rows()] == ["failed", "failed"]
    debug = _cli(*args, "--debug", env=env)
    assert debug.returncode == 3, debug.stdout + debug.stderr
    assert debug.stdout.count("Traceback (most recent call last)") == 2  # each trial's own, not the harness's
    assert 'raise RuntimeError("deliberate failure for the tests")' in debug.stdout


def test_a_run_is_checked_and_locked_once_and_run_study_refuses_a_released_plan(synthetic_dir, tmp_path,
                                                                               monkeypatch):
    """``open_run`` resolves the configuration and takes the lock once; ``run_study`` given its
    plan neither resolves nor locks again, refuses a plan whose lock was released, and a
    second ``open_run`` on the folder in this process is refused (the lock is not re-entrant)."""
    from study.core.errors import EnvironmentFault
    from study.execution import runner
    from study.execution.executors import cpu_share
    from study.records.selection import read_selection

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    calls = {"resolved": 0, "lock": 0}
    resolved, lock = runner.RunConfig.resolved, runner.run_folder_lock

    def counting_resolved(self):
        calls["resolved"] += 1
        return resolved(self)

    def counting_lock(*args, **kwargs):
        calls["lock"] += 1
        return lock(*args, **kwargs)

    monkeypatch.setattr(runner.RunConfig, "resolved", counting_resolved)
    monkeypatch.setattr(runner, "run_folder_lock", counting_lock)
    out = tmp_path / "out"
    config = RunConfig(out=out, profile="smoke", models=["test-constant"], subsets=["FD001"], seeds=1,
                       data_dir=synthetic_dir, allow_unverified_data=True, executor="local", workers=2)
    with runner.open_run(config, QUIET) as plan:
        assert plan.lock.held and plan.threads == cpu_share("local", 2) and plan.time_limit_s
        with pytest.raises(EnvironmentFault, match="already locked by this process"):
            with runner.open_run(config, QUIET):
                pass
        plan = plan.__class__(**{**plan.__dict__, "config": plan.config.__class__(
            **{**plan.config.__dict__, "executor": "inline"})})  # same lock, quicker executor
        run_study(plan, QUIET)
    assert calls == {"resolved": 2, "lock": 2}  # the refused second open_run is the second of each
    assert [r["threads"] for r in ResultStore(out).rows()] == [cpu_share("local", 2)]
    assert not plan.lock.held
    with pytest.raises(RuntimeError, match="lock is held"):
        run_study(plan, QUIET)
    assert len(ResultStore(out).rows()) == 1
    assert read_selection(out) is not None


def test_the_run_saves_its_selection_and_its_tables_follow_from_rows_and_selection(synthetic_dir, tmp_path,
                                                                                  monkeypatch):
    """After a ``--set`` run and the default one again, selection.json names the default's
    configuration (as run.json's history asked) and rebuilds the leaderboard from trials.jsonl."""
    from study.records.leaderboard import leaderboard
    from study.records.selection import NAMED, read_selection

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    out = tmp_path / "out"

    def run(**changes) -> pd.DataFrame:
        return run_study(RunConfig(out=out, profile="smoke", models=["test-constant"], subsets=["FD001"], seeds=1,
                                   data_dir=synthetic_dir, allow_unverified_data=True, executor="inline", **changes),
                         QUIET)

    run()
    run(model_params={"test-constant": {"offset": 40.0}})
    table = run()
    selection = read_selection(out)
    rows = ResultStore(out).rows()
    (config, reason), = selection.lines.values()
    assert reason == NAMED and config == row_config(rows[0]) != row_config(rows[1])
    chosen = selection.apply(rows)
    assert [r["params"]["offset"] for r in chosen] == [0.0]
    pd.testing.assert_frame_equal(leaderboard(chosen), table)
