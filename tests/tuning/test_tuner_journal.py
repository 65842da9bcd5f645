"""A tuning folder survives what long runs meet: a journal torn mid-append, a journal lock
left by a killed tuner (also with a relative --out), a corrupt or misplaced journal, and a
refused command; each ends in repair or a clear error naming the file, and nothing is lost."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from study.contract.search_space import Int
from study.core.errors import StudyError
from study.tuning.tuner import TuneConfig, journal_path, journal_summary, tune

ROOT = Path(__file__).resolve().parents[2]
QUIET = Console(file=open(os.devnull, "w"))
SPACE = {"xgboost": {"n_estimators": Int(20, 60), "max_depth": Int(2, 5)}}



def _config(out: Path, data: Path, **kw) -> TuneConfig:
    return TuneConfig(out=out, **{**dict(models=["xgboost"], subsets=["FD001"], profile="smoke", data_dir=data,
                                         offline=True, allow_unverified_data=True, executor="inline",
                                         max_evaluations=2, folds=2, threads=1, space_overrides=SPACE,
                                         budget_s=3600), **kw})


@pytest.mark.slow
def test_a_torn_last_line_is_cut_before_resuming_and_the_tuning_goes_on(data_dir, tmp_path):
    tune(_config(tmp_path / "whole", data_dir), QUIET)
    tune(_config(tmp_path, data_dir), QUIET)
    journal = journal_path(tmp_path, "xgboost", "FD001")
    _tear_last_line(journal)  # a tuner killed (or a disk filled) while telling the last evaluation
    for _ in range(2):  # resumed twice: the second resume must not meet a glued line
        tune(_config(tmp_path, data_dir), QUIET)
    def decided(folder: Path) -> list:
        return [{k: t[k] for k in ("state", "params", "value", "fold_rmse")}
                for t in journal_summary(folder, "xgboost", "FD001") if not t["interrupted"]]

    assert decided(tmp_path) == decided(tmp_path / "whole")  # the lost evaluation rerun, the same result
    assert journal.read_bytes().endswith(b"\n")


def _tear_last_line(journal: Path) -> None:
    data = journal.read_bytes()
    start = data[:-1].rfind(b"\n") + 1
    journal.write_bytes(data[:start + (len(data) - start) // 2])


@pytest.mark.slow
def test_a_stale_journal_lock_with_a_relative_out_does_not_hang_a_resume(data_dir, tmp_path):
    """Optuna's lock is a symlink to the journal path as given: relative, it dangled inside
    journals/ and a lock left by a killed tuner made every resume spin forever."""
    script = ("import sys; from pathlib import Path; from rich.console import Console\n"
              "from study.contract.search_space import Int\nfrom study.tuning.tuner import TuneConfig, tune\n"
              f"tune(TuneConfig(out=Path('tuning'), models=['xgboost'], subsets=['FD001'], profile='smoke',"
              f" data_dir=Path({str(data_dir)!r}), offline=True, allow_unverified_data=True, executor='inline',"
              " max_evaluations=int(sys.argv[1]), folds=2, threads=1, budget_s=3600,"
              " space_overrides={'xgboost': {'n_estimators': Int(20, 60), 'max_depth': Int(2, 5)}}))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script, "2"], cwd=tmp_path, env=env, check=True, capture_output=True,
                   timeout=120)
    journal = tmp_path / "tuning" / "journals" / "xgboost-FD001.log"
    lock = Path(str(journal) + ".lock")
    _tear_last_line(journal)  # what a tuner killed inside a journal append leaves: a torn line,
    os.symlink("tuning/journals/xgboost-FD001.log", lock)  # and its lock, dangling here
    subprocess.run([sys.executable, "-c", script, "2"], cwd=tmp_path, env=env, check=True, capture_output=True,
                   timeout=120)  # a hang fails here
    finished = [t for t in journal_summary(tmp_path / "tuning", "xgboost", "FD001") if not t["interrupted"]]
    assert not os.path.lexists(lock) and [t["state"] for t in finished] == ["COMPLETE", "COMPLETE"]


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage-line", "other-pair"])
def test_a_corrupt_or_misplaced_journal_is_a_clear_error_naming_it_and_nothing_is_written(data_dir, tmp_path,
                                                                                          damage):
    tune(_config(tmp_path, data_dir), QUIET)
    journal = journal_path(tmp_path, "xgboost", "FD001")
    if damage == "garbage-line":
        lines = journal.read_bytes().splitlines(keepends=True)
        journal.write_bytes(b"".join(lines[:3] + [b"this is not json\n"] + lines[3:]))
        expected = "not a readable tuning journal"
    else:
        journal.write_bytes(journal.read_bytes().replace(b"xgboost/FD001", b"lstm/FD003"))
        expected = "not of xgboost/FD001"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(StudyError, match=expected) as caught:
        tune(_config(tmp_path, data_dir, max_evaluations=3), QUIET)
    assert str(journal.absolute()) in str(caught.value) and caught.value.exit_code == 2
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_refused_command_leaves_tune_json_and_the_journals_as_they_were(data_dir, tmp_path):
    tune(_config(tmp_path, data_dir), QUIET)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(StudyError, match="other settings"):
        tune(_config(tmp_path, data_dir, folds=3), QUIET)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_the_summary_files_are_replaced_whole(data_dir, tmp_path, monkeypatch):
    """A full disk while writing a pair's summary leaves the previous summary, never 0 bytes."""
    import study.core.atomic

    tune(_config(tmp_path, data_dir), QUIET)
    summary = tmp_path / "xgboost-FD001.json"
    before = summary.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(study.core.atomic.os, "fsync", full_disk)
    with pytest.raises(StudyError, match="disk is full"):
        tune(_config(tmp_path, data_dir), QUIET)
    monkeypatch.undo()
    assert summary.read_bytes() == before and json.loads(before)["n_evaluations"] == 2
