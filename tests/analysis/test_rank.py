"""``python -m study.rank``: a new run's models placed into the committed study."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "reports" / "study"
PLUGIN_DIR = Path(__file__).parents[1] / "fake_plugin"


def _python(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), str(ROOT)])}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def _constant_run(out: Path, data_dir: Path, *extra: str) -> Path:
    result = _python("-m", "study.run", "--profile", "smoke", "--models", "test-constant", "--subsets", "FD001",
                     "--seeds", "2", "--data-dir", str(data_dir), "--executor", "inline", "--out", str(out),
                     "--no-report", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.mark.slow
def test_a_new_model_is_ranked_into_the_committed_study_with_a_paired_comparison(cmapss_dir, tmp_path):
    run = _constant_run(tmp_path / "new", cmapss_dir, "--offline")
    result = _python("-m", "study.rank", str(run), "--against", str(STUDY), "--baseline", "xgboost")
    assert result.returncode == 0, result.stderr
    assert "NOT COMPARABLE" not in result.stdout and "## FD001" in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    ranked = [line.split(" | ")[1] for line in lines if line.split(" | ")[0].strip("| ").isdigit()]
    # the study names its variants, so the new line names its own (the smoke profile here)
    assert ranked[-1] == "test-constant (smoke) (new)" and "xgboost (tuned)" in ranked and "lstm (default)" in ranked
    from study.records.leaderboard import leaderboard
    from study.records.rows import distinct_models
    from study.records.run_folder import load_run

    board = leaderboard(distinct_models(load_run(STUDY)[0]))
    study_lines = board[(board["subset"] == "FD001") & board["rmse"].notna()]
    assert len(ranked) == len(study_lines) + 1  # every variant of the study's models on FD001, then the new one
    assert "vs xgboost (tuned)" in result.stdout  # a bare name means the tuned variant
    new_line = next(line for line in lines if "test-constant (smoke) (new)" in line)
    assert new_line.rstrip(" |").endswith("higher")  # a constant is beyond noise worse than XGBoost


@pytest.fixture(scope="module")
def synthetic_run(synthetic_dir, tmp_path_factory) -> Path:
    return _constant_run(tmp_path_factory.mktemp("synthetic-run"), synthetic_dir, "--allow-unverified-data")


@pytest.mark.slow
def test_other_data_is_flagged_as_not_comparable(synthetic_run):
    run = synthetic_run
    result = _python("-m", "study.rank", str(run), "--against", str(STUDY))
    assert result.returncode == 0, result.stderr
    assert "NOT COMPARABLE on FD001: the data fingerprints differ" in result.stdout
    assert "not comparable (other data)" in result.stdout


@pytest.mark.slow
def test_a_baseline_missing_from_the_study_is_a_user_error(synthetic_run):
    result = _python("-m", "study.rank", str(synthetic_run), "--against", str(STUDY), "--baseline", "no-such-model")
    assert result.returncode == 2 and "--baseline 'no-such-model' is not in the study" in result.stderr


def test_a_run_where_every_trial_failed_is_not_ranked_and_says_why(synthetic_dir, tmp_path, monkeypatch):
    from rich.console import Console

    from study.core.errors import AllTrialsFailed
    from study.execution.runner import RunConfig, run_study

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    run = tmp_path / "failed"
    with pytest.raises(AllTrialsFailed, match="deliberate failure"):
        run_study(RunConfig(out=run, profile="smoke", models=["test-raises"], subsets=["FD001"], seeds=1,
                            data_dir=synthetic_dir, offline=True, allow_unverified_data=True, executor="inline"),
                  Console(file=open(os.devnull, "w")))
    result = _python("-m", "study.rank", str(run), "--against", str(run))
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.replace("\n", " ")
    assert "has no successful trial to rank" in message
    assert "failed: RuntimeError: deliberate failure for the tests (test-raises FD001 seed 0)" in message


def test_a_new_line_with_fewer_seeds_than_the_study_says_so():
    """A subset where the new model has fewer seeds than the study's models (a run in progress)
    gets a note; one with as many seeds gets none."""
    import pandas as pd

    from study.analysis.rank import seed_notes

    ref = pd.DataFrame({"model": ["lstm", "lstm"], "subset": ["FD001", "FD002"], "n_seeds": [3, 3]})
    new = pd.DataFrame({"model": ["mine", "mine"], "subset": ["FD001", "FD002"], "n_seeds": [3, 1]})
    notes = seed_notes(new, ref)
    assert len(notes) == 1 and "mine has 1 seed(s) on FD002" in notes[0] and "up to 3" in notes[0]
    assert seed_notes(new.assign(n_seeds=3), ref) == []
