"""End to end through ``study.run``: every bad input and fault ends in a clear message and exit
status, and a run folder is never left lost, duplicated or half-written.

Cheap by design: synthetic data, the inline executor and tiny fake adapters, the CLI called
in-process (``study.run.main``); only the orphan tests start real processes.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from study.core import atomic

from study.core.errors import EnvironmentFault
from study.core.lock import run_folder_lock
from study.records import store as results
from study.records.store import ResultStore

ROOT = Path(__file__).resolve().parents[1]
FAKE_PLUGIN = Path(__file__).parent / "fake_plugin"
RELIABILITY_PLUGIN = Path(__file__).parent / "reliability_plugin"


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.syspath_prepend(str(FAKE_PLUGIN))
    monkeypatch.syspath_prepend(str(RELIABILITY_PLUGIN))


@pytest.fixture
def data(synthetic_dir, tmp_path) -> Path:
    """A private copy of the synthetic C-MAPSS folder (tests may damage it)."""
    return Path(shutil.copytree(synthetic_dir, tmp_path / "data"))


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """``python -m study.run`` in this process: (exit status, stdout + stderr)."""
    from study.run import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def study_args(data: Path, out: Path, *extra: str, models: str = "test-constant") -> list[str]:
    return ["--profile", "smoke", "--models", models, "--subsets", "FD001", "--seeds", "2", "--data-dir",
            str(data), "--out", str(out), "--offline", "--allow-unverified-data", "--executor", "inline",
            "--no-report", *extra]


def assert_clean(code: int, text: str, expected_code: int, *fragments: str) -> None:
    assert code == expected_code, text
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, text


def board(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "leaderboard.csv")


# ----- validation at the edges: data files --------------------------------------------
@pytest.mark.parametrize("name", ["train_FD001.txt", "test_FD001.txt", "RUL_FD001.txt"])
@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", "1e999", "x7"])
def test_a_non_finite_or_non_numeric_value_is_refused_naming_file_and_line(plugins, data, tmp_path, capsys,
                                                                           name, bad):
    lines = (data / name).read_text().splitlines()
    cells = lines[4].split()
    cells[-1] = bad
    lines[4] = " ".join(cells)
    (data / name).write_text("\n".join(lines) + "\n")
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out"))
    assert_clean(code, text, 2, f"{name} is not a C-MAPSS", "line 5")
    assert not (tmp_path / "out" / "trials.jsonl").exists()


@pytest.mark.parametrize("edit, fragment", [
    (lambda lines: lines[:3] + [lines[3] + " 1.0"] + lines[4:], "line 4 has 27 values, expected 26 columns"),
    (lambda lines: lines[:3] + [" ".join(lines[3].split()[:-2])] + lines[4:], "line 4 has 24 values"),
    (lambda lines: [], "is empty"),
    (lambda lines: lines[:2] + ["1 2.5 " + " ".join(lines[2].split()[2:])] + lines[3:], "cycle 2.5"),
])
def test_a_table_of_the_wrong_shape_is_refused_naming_the_line(plugins, data, tmp_path, capsys, edit, fragment):
    path = data / "train_FD001.txt"
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out"))
    assert_clean(code, text, 2, "train_FD001.txt", fragment)


@pytest.mark.parametrize("value, fragment", [("-3", "line 2 holds -3"), ("2.5", "line 2 holds 2.5"),
                                             ("4 5", "line 2 has 2 values")])
def test_a_bad_rul_value_is_refused_naming_the_line(plugins, data, tmp_path, capsys, value, fragment):
    path = data / "RUL_FD001.txt"
    lines = path.read_text().splitlines()
    lines[1] = value
    path.write_text("\n".join(lines) + "\n")
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out"))
    assert_clean(code, text, 2, "RUL_FD001.txt", fragment)


def test_an_unreadable_data_file_is_an_environment_error(plugins, data, tmp_path, capsys, monkeypatch):
    real_open = open

    def deny(path, *args, **kwargs):  # as if chmod 000 (the tests may run as root, which ignores modes)
        if str(path).endswith("train_FD001.txt"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("study.data.cmapss.open", deny, raising=False)
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out"))
    assert_clean(code, text, 1, "train_FD001.txt", "permission denied")


def test_an_unreadable_data_folder_is_an_environment_error(plugins, data, tmp_path, capsys, monkeypatch):
    real_stat = os.stat

    def deny(path, *args, **kwargs):
        if str(path).startswith(str(data)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr("study.data.fetch.os.stat", deny)
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out"))
    assert_clean(code, text, 1, str(data), "permission denied")


def test_a_missing_file_is_named_when_the_download_fails_too(plugins, data, tmp_path, capsys, monkeypatch):
    (data / "test_FD003.txt").unlink()
    monkeypatch.delenv("CMAPSS_DATA_DIR", raising=False)  # no intact copy anywhere else
    monkeypatch.setattr("study.data.fetch.PROJECT_DATA_DIR", tmp_path / "project-data")
    monkeypatch.setattr("study.data.fetch.user_cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setenv("CMAPSS_MIRRORS", (tmp_path / "no-such-mirror.zip").as_uri())
    args = [a for a in study_args(data, tmp_path / "out") if a != "--offline"]
    code, text = run_cli(capsys, *args)
    assert_clean(code, text, 2, "Could not obtain C-MAPSS", "lacks: test_FD003.txt")


# ----- validation at the edges: options -------------------------------------------------
@pytest.mark.parametrize("extra, fragment", [
    (["--models", ""], "--models is empty"),
    (["--models", ",,"], "--models is empty"),
    (["--subsets", ""], "--subsets is empty"),
    (["--models", "test-constant,test-constant"], "--models names test-constant more than once"),
    (["--subsets", "FD001,FD001"], "--subsets names FD001 more than once"),
    (["--models", "test-ranged", "--set", "test-ranged.n_trees=-5"], "n_trees must be >= 1, got -5"),
    (["--models", "test-ranged", "--set", "test-ranged.rate=1.5"], "rate must be between 0 and 1, got 1.5"),
    (["--models", "test-ranged", "--set", "test-ranged.rate=fast"], "rate must be a number between 0 and 1"),
    (["--models", "test-ranged", "--set", "test-ranged.n_trees=True"], "n_trees must be a number >= 1"),
    (["--models", "test-ranged", "--set", "test-ranged.workers=0"], "workers must be >= 1, got 0"),
    (["--models", "xgboost", "--set", "xgboost.n_estimators=-10"], "n_estimators must be >= 1, got -10"),
])
def test_nonsense_options_are_refused_before_any_trial(plugins, data, tmp_path, capsys, extra, fragment):
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out"), *extra)  # the last --models wins
    assert_clean(code, text, 2, fragment)
    assert not (tmp_path / "out" / "trials.jsonl").exists()


# ----- one error path ---------------------------------------------------------------------
def test_an_unexpected_error_is_one_paragraph_and_debug_shows_the_traceback(plugins, data, tmp_path, capsys,
                                                                           monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr("study.execution.runner.run_study", boom)
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out"))
    assert_clean(code, text, 1, "Unexpected RuntimeError: something nobody foresaw", "--debug")
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out"), "--debug")
    assert code == 1 and "Traceback" in text and "something nobody foresaw" in text


def test_a_bad_option_shows_a_traceback_only_with_debug(plugins, data, tmp_path, capsys):
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out", "--models", "x"))
    assert_clean(code, text, 2, "valid models")
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out", "--models", "x", "--debug"))
    assert code == 2 and "Traceback" in text and "valid models" in text


@pytest.mark.slow
@pytest.mark.parametrize("uri, expected_code", [("foo://nowhere", 2), ("sqlite:////proc/no/such/dir/m.db", 1)])
def test_an_unusable_mlflow_uri_is_refused_before_any_trial(plugins, data, tmp_path, capsys, uri, expected_code):
    pytest.importorskip("mlflow", reason="MLflow is an optional extra")
    code, text = run_cli(capsys, *study_args(data, tmp_path / "out", "--mlflow", uri))
    assert_clean(code, text, expected_code, f"--mlflow {uri} cannot be used")
    assert not (tmp_path / "out" / "trials.jsonl").exists()


@pytest.mark.slow
@pytest.mark.parametrize("content", ['{"config": {"models": ["a"]', "[1, 2, 3]"])
def test_a_corrupt_run_json_is_rewritten_by_a_run_and_refused_by_the_report(plugins, data, tmp_path, capsys,
                                                                          content):
    out = tmp_path / "out"
    assert run_cli(capsys, *study_args(data, out))[0] == 0
    from study.publishing.report import main as report_main

    for damaged in (content.encode(), b"\xff\xfe not text", b'"a string"', b'{"config": 3}'):
        (out / "run.json").write_bytes(damaged)
        assert report_main([str(out)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "run.json" in err and "rerun the python -m study.run command" in err and "Traceback" not in err
    (out / "run.json").write_bytes(content.encode())
    code, text = run_cli(capsys, *study_args(data, out))
    assert_clean(code, text, 0, "run.json")  # warned, then rewritten
    assert isinstance(json.loads((out / "run.json").read_text()), dict)
    assert report_main([str(out)]) == 0


# ----- a store that cannot be corrupted silently ------------------------------------------
def _reference(plugins_data, tmp_path, capsys) -> pd.DataFrame:
    """The leaderboard of an uninterrupted run (the target every recovery must reach)."""
    out = tmp_path / "reference"
    assert run_cli(capsys, *study_args(plugins_data, out))[0] == 0
    return board(out)


def _same_board(a: pd.DataFrame, b: pd.DataFrame) -> None:
    cols = ["model", "subset", "status", "rmse", "rmse_std", "score", "mae", "n_seeds"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


BAD_ROWS = [
    (b'{"key": "k", "model": "m", "seed": 0, "status": "ok"}', "no 'subset'"),
    (b'{"key": "k", "model": "m", "subset": "FD001", "seed": "0", "status": "ok"}', "'seed' is '0'"),
    (b"[1, 2]", "a JSON list, not an object"),
    (b'"just text"', "a JSON str, not an object"),
    (b'{"key": "k\xff\xfe"}', "not valid UTF-8"),
    (b"{not json", "not valid JSON"),
    (b'{"key": "k", "model": "m", "subset": "FD001", "seed": 0, "status": "ok", "rmse": Infinity, '
     b'"units": [1], "y_true": [1], "y_pred": [1]}', "'rmse' is inf"),
    (b'{"key": "k", "model": "m", "subset": "FD001", "seed": 0, "status": "ok", "units": [1, 2], '
     b'"y_true": [1], "y_pred": [1]}', "equally long"),
    (b'{"key": "k", "model": "m", "subset": "FD001", "seed": 0, "status": "weird"}', "unknown status"),
    (b'{"key": "k", "model": "m", "subset": "FD001", "seed": 0, "status": "ok", "units": [1], '
     b'"y_true": [1], "y_pred": [NaN]}', "non-finite prediction"),
]


@pytest.mark.slow
def test_bad_rows_are_reported_once_with_their_lines_and_the_folder_stays_usable(plugins, data, tmp_path, capsys):
    reference = _reference(data, tmp_path, capsys)
    out = tmp_path / "out"
    assert run_cli(capsys, *study_args(data, out, "--seeds", "1"))[0] == 0
    with open(out / "trials.jsonl", "ab") as handle:
        handle.write(b"".join(line + b"\n" for line, _ in BAD_ROWS))
    code, text = run_cli(capsys, *study_args(data, out))
    assert_clean(code, text, 0, f"has {len(BAD_ROWS)} lines that are not a valid trial row")
    for number, (_, problem) in enumerate(BAD_ROWS, start=2):
        assert re.search(f"line {number}: [^;]*{re.escape(problem)}", text), (number, problem)
    assert text.count("not a valid trial row") == 1  # once, though the store is read twice
    _same_board(board(out), reference)
    from study.publishing.report import main as report_main

    assert report_main([str(out)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "line 2: no 'subset'" in err and "Traceback" not in err


def test_a_torn_last_line_is_cut_by_the_next_run_which_then_matches_an_uninterrupted_one(plugins, data, tmp_path,
                                                                                       capsys):
    reference = _reference(data, tmp_path, capsys)
    out = tmp_path / "out"
    assert run_cli(capsys, *study_args(data, out, "--seeds", "1"))[0] == 0
    with open(out / "trials.jsonl", "ab") as handle:
        handle.write(b'{"key": "abc", "model": "test-con')  # the driver killed mid-write
    code, text = run_cli(capsys, *study_args(data, out))
    assert_clean(code, text, 0, "removed an incomplete last line (line 2")
    assert (out / "trials.jsonl").read_bytes().endswith(b"\n")
    assert len(ResultStore(out).rows()) == 2 and b"test-con\n" not in (out / "trials.jsonl").read_bytes()
    _same_board(board(out), reference)


def _full_disk_after(monkeypatch, n_bytes_ok: int | None, name: str = "trials.jsonl") -> None:
    """``os.write`` as on a disk that fills up: the next write to ``name`` writes only
    ``n_bytes_ok`` bytes (a short write; None: none), then every write raises ENOSPC."""
    real_write = os.write
    state = {"short": n_bytes_ok is not None}

    def write(fd, data):
        if not os.readlink(f"/proc/self/fd/{fd}").endswith(name):
            return real_write(fd, data)
        if state["short"]:
            state["short"] = False
            return real_write(fd, bytes(data[:n_bytes_ok]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.os, "write", write)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("short", [None, 40])
def test_a_full_disk_while_appending_a_row_leaves_whole_rows_and_a_rerun_matches(plugins, data, tmp_path, capsys,
                                                                                monkeypatch, short):
    reference = _reference(data, tmp_path, capsys)
    out = tmp_path / "out"
    assert run_cli(capsys, *study_args(data, out, "--seeds", "1"))[0] == 0
    before = (out / "trials.jsonl").read_bytes()
    with monkeypatch.context() as patch:
        _full_disk_after(patch, short)
        code, text = run_cli(capsys, *study_args(data, out))
    assert_clean(code, text, 1, "disk is full", "The partial row was removed")
    assert (out / "trials.jsonl").read_bytes() == before  # cut back to the last whole row
    code, text = run_cli(capsys, *study_args(data, out))  # space freed: the same command resumes
    assert_clean(code, text, 0, "1 reused")
    _same_board(board(out), reference)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_full_disk_while_appending_shared_arrays_writes_no_row_and_a_rerun_matches(plugins, data, tmp_path, capsys,
                                                                                      monkeypatch):
    """The arrays go to shared.jsonl before the row that refers to them: a write of them that
    fails is cut back and no row is written, so no row ever refers to arrays that are not there."""
    reference = _reference(data, tmp_path, capsys)
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        _full_disk_after(patch, 40, name="shared.jsonl")
        code, text = run_cli(capsys, *study_args(data, out))
    assert_clean(code, text, 1, "disk is full", "append shared arrays to", "no row was written")
    assert (out / "shared.jsonl").read_bytes() == b"" and not (out / "trials.jsonl").exists()
    code, text = run_cli(capsys, *study_args(data, out))
    assert_clean(code, text, 0, "0 reused")
    assert len((out / "shared.jsonl").read_bytes().splitlines()) == 1  # both seeds' rows refer to one line
    _same_board(board(out), reference)


def test_a_torn_last_line_of_shared_arrays_is_cut_by_the_next_run(plugins, data, tmp_path, capsys):
    """A driver killed while writing shared arrays leaves a torn line and no row: the next run
    cuts it, says so, and writes the arrays again with the trial's row."""
    reference = _reference(data, tmp_path, capsys)
    out = tmp_path / "out"
    assert run_cli(capsys, *study_args(data, out, "--seeds", "1"))[0] == 0
    arrays = (out / "shared.jsonl").read_bytes()
    (out / "shared.jsonl").write_bytes(arrays + arrays[:50])  # killed mid-write (another subset's arrays)
    code, text = run_cli(capsys, *study_args(data, out))
    assert_clean(code, text, 0, f"{out / 'shared.jsonl'}: removed an incomplete last line (line 2, 50 bytes)")
    assert (out / "shared.jsonl").read_bytes() == arrays
    _same_board(board(out), reference)


def test_a_full_disk_while_writing_tables_keeps_the_old_tables_whole(plugins, data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert run_cli(capsys, *study_args(data, out, "--seeds", "1"))[0] == 0
    old = {name: (out / name).read_bytes() for name in ("leaderboard.csv", "predictions.csv", "run.json")}
    real_fsync = os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    with monkeypatch.context() as patch:
        patch.setattr(atomic.os, "fsync", fsync)
        code, text = run_cli(capsys, *study_args(data, out))
    assert_clean(code, text, 1, "disk is full", "leaderboard.csv is unchanged")
    assert {name: (out / name).read_bytes() for name in old} == old
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert run_cli(capsys, *study_args(data, out))[0] == 0  # the next command brings the tables level
    assert len(pd.read_csv(out / "predictions.csv")["seed"].unique()) == 2


def test_a_table_that_cannot_be_replaced_is_named_not_its_temporary(plugins, data, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(capsys, *study_args(data, out, "--seeds", "1"))[0] == 0
    (out / "leaderboard.csv").unlink()
    (out / "leaderboard.csv").mkdir()  # something in the way
    code, text = run_cli(capsys, *study_args(data, out))
    assert_clean(code, text, 1, f"Could not write {out / 'leaderboard.csv'}:", "a folder is in the way")
    assert ".tmp" not in text and not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_ray_address_where_nothing_answers_is_refused_at_once():
    import socket

    from study.execution.executors import _check_reachable

    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(EnvironmentFault, match=f"No Ray cluster answers at --ray-address 127.0.0.1:{port}"):
        _check_reachable(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 5


# ----- one writer per run folder ----------------------------------------------------------
def test_a_second_writer_is_refused_naming_the_holder(plugins, data, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with run_folder_lock(out, command="python -m study.run --the-first-one"):
        holder = subprocess.run([sys.executable, "-m", "study.run", *study_args(data, out)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": f"{FAKE_PLUGIN}{os.pathsep}{RELIABILITY_PLUGIN}"})
        text = " ".join((holder.stdout + holder.stderr).split())
        assert_clean(holder.returncode, text, 1, "is in use by another run", f"pid {os.getpid()}",
                     "--the-first-one", "refused rather than made to wait")
        assert not (out / "trials.jsonl").exists()
        # not re-entrant: a second taker in the holder's own process is refused too (a command
        # takes the lock once, in open_run, and hands it on)
        code, text = run_cli(capsys, *study_args(data, out))
        assert_clean(code, text, 1, "already locked by this process")
        assert (out / ".lock").exists() and not (out / "trials.jsonl").exists()
    assert not (out / ".lock").exists()  # a finished writer leaves no lock file behind


def test_the_report_is_refused_while_a_run_writes_the_folder(plugins, data, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(capsys, *study_args(data, out))[0] == 0
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from study.core.lock import run_folder_lock\n"
                               f"with run_folder_lock({str(out)!r}, 'holder'):\n print('held', flush=True); "
                               "time.sleep(60)"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = subprocess.run([sys.executable, "-m", "study.report", str(out)], cwd=ROOT, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 1 and "in use by another run" in result.stderr and "holder" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    code, text = run_cli(capsys, *study_args(data, out))  # the kernel dropped the dead holder's lock
    assert code == 0, text


# ----- no orphans -------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_until(condition, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _spawning_run(data: Path, out: Path, pid_file: Path, *extra: str) -> subprocess.Popen:
    args = study_args(data, out, "--set", f"test-spawns-child.pid_file={str(pid_file)!r}", *extra,
                      models="test-spawns-child")
    args = [a for a in args if a not in ("--executor", "inline")]
    return subprocess.Popen([sys.executable, "-m", "study.run", *args, "--seeds", "1"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": f"{FAKE_PLUGIN}{os.pathsep}{RELIABILITY_PLUGIN}"})


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics (/proc)")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_driver_takes_its_worker_and_the_workers_children_with_it(data, tmp_path, how):
    pid_file = tmp_path / "child.pid"
    driver = _spawning_run(data, tmp_path / "out", pid_file)
    try:
        assert _wait_until(lambda: pid_file.is_file() and pid_file.read_text().endswith("\n"), 60), \
            driver.stdout.read() if driver.poll() is not None else "no child started"
        child = int(pid_file.read_text())
        driver.send_signal(how)
        output, _ = driver.communicate(timeout=30)
        if how == signal.SIGTERM:  # the same clean ending as Ctrl-C
            assert driver.returncode == 130 and "rerun the same command to resume" in output
            assert "Traceback" not in output
        assert _wait_until(lambda: not _alive(child), 10), "the worker's child outlived the driver"
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics (/proc)")
def test_the_time_limit_kills_the_workers_children_too(data, tmp_path):
    pid_file = tmp_path / "child.pid"
    driver = _spawning_run(data, tmp_path / "out", pid_file, "--time-limit", "2")
    try:
        output, _ = driver.communicate(timeout=90)
        assert driver.returncode == 3, output  # its only trial failed
        assert "time limit of 2 s" in output
        assert not _alive(int(pid_file.read_text()))
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics (/proc)")
def test_a_worker_keeps_its_time_limit_without_a_driver(tmp_path):
    """The worker's own watchdog ends it at the time limit even when nobody else will."""
    code = ("import time, study.execution.executors as e\n"
            "e.WATCHDOG_GRACE_S = 0\n"
            "e._guard_worker(driver_pid=None, time_limit_s=1.0)\n"
            "print('guarded', flush=True)\n"
            "time.sleep(60)\n")
    started = time.monotonic()
    worker = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30,
                            start_new_session=True)
    assert worker.stdout.strip() == "guarded" and worker.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 15


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics (/proc)")
def test_a_worker_whose_driver_vanished_stops_within_a_second(tmp_path):
    code = ("import os, subprocess, sys, time, study.execution.executors as e\n"
            "driver = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1.5)'])\n"
            "e._guard_worker(driver_pid=driver.pid, time_limit_s=None)\n"
            "print('guarded', flush=True)\n"
            "while True:\n"
            "    driver.poll(); time.sleep(0.05)\n")
    started = time.monotonic()
    worker = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30,
                            start_new_session=True)
    assert worker.stdout.strip() == "guarded" and worker.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 12
