"""Resume keys and the row store: what makes two trials the same, and what a reader gets back."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from study.records.migration import migrate_row
from study.records.store import ROWS_FILE, ResultStore, config_key, trial_key


def test_keys_do_not_depend_on_the_order_params_were_written_in():
    assert trial_key("m", {"a": 1, "b": 2}, "FD001", 0, "p", "d") == trial_key("m", {"b": 2, "a": 1}, "FD001", 0, "p", "d")
    assert config_key("m", {"a": 1, "b": 2}, "FD001", "p", "d") == config_key("m", {"b": 2, "a": 1}, "FD001", "p", "d")


def test_keys_are_short_hex_and_the_configuration_ignores_only_the_seed():
    key = trial_key("m", {"a": 1}, "FD001", 0, "p", "d")
    assert len(key) == 16 and int(key, 16) >= 0
    config = config_key("m", {"a": 1}, "FD001", "p", "d")
    assert len(config) == 16 and config != key
    variants = [config_key("n", {"a": 1}, "FD001", "p", "d"), config_key("m", {"a": 2}, "FD001", "p", "d"),
                config_key("m", {"a": 1}, "FD002", "p", "d"), config_key("m", {"a": 1}, "FD001", "q", "d"),
                config_key("m", {"a": 1}, "FD001", "p", "e")]
    assert config not in variants and len(set(variants)) == len(variants)


def test_params_that_are_not_plain_json_still_key_a_trial():
    key = trial_key("m", {"model": Path("/weights/chronos")}, "FD001", 0, "p", "d")
    assert key == trial_key("m", {"model": "/weights/chronos"}, "FD001", 0, "p", "d")


def test_a_reader_skips_lines_that_are_not_rows_and_a_missing_file_has_none(tmp_path):
    store = ResultStore(tmp_path / "run")
    assert store.rows() == [] and store.latest_by_key() == {}
    def row(key: str, rmse: float) -> dict:
        return {"key": key, "model": "m", "subset": "FD001", "seed": 0, "status": "failed", "rmse": rmse}

    store.append(row("a", 1.0))
    with open(store.path, "a") as handle:
        handle.write('[1, 2]\n{"no key": true}\n"text"\n')
    store.append(row("b", 2.0))
    store.append(row("a", 3.0))  # a forced rerun of trial a
    assert [r["key"] for r in store.rows()] == ["a", "b", "a"]
    # read in today's schema: an unversioned row gains its configuration and schema_version
    assert store.latest_by_key() == {"a": migrate_row(row("a", 3.0)), "b": migrate_row(row("b", 2.0))}


def test_rows_are_appended_one_line_each_into_a_new_nested_folder(tmp_path):
    store = ResultStore(tmp_path / "a" / "b")
    first = store.append({"key": "k1", "y_pred": np.array([1.5, 2.5])})
    store.append({"key": "k2"})
    assert store.path == tmp_path / "a" / "b" / ROWS_FILE
    lines = store.path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["k1", "k2"] and first["y_pred"] == [1.5, 2.5]
    assert store.path.read_text().endswith("\n") and not store.path.read_text().startswith("\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o644 & ~umask


def test_an_append_after_a_torn_line_starts_a_new_line_and_keeps_the_fragment_apart(tmp_path):
    store = ResultStore(tmp_path)
    store.append({"key": "a"})
    with open(store.path, "a") as handle:
        handle.write('{"key": "tor')
    stored = store.append({"key": "b"})
    assert stored == {"key": "b"}
    assert store.path.read_text().splitlines()[-2:] == ['{"key": "tor', '{"key":"b"}']


def _ok_row(key: str, n: int = 3, **extra) -> dict:
    return {"key": key, "model": "m", "subset": "FD001", "seed": 0, "status": "ok", "rmse": 1.0,
            "units": list(range(1, n + 1)), "y_true": [10.0] * n, "y_pred": [11.0] * n, **extra}


def test_a_blank_or_undecodable_line_in_the_middle_hides_no_row_after_it(tmp_path):
    store = ResultStore(tmp_path)
    store.append(_ok_row("a"))
    with open(store.path, "ab") as handle:
        handle.write(b"\n\xff\xfe not utf-8\n")
    store.append(_ok_row("b"))
    warnings: list[str] = []
    reader = ResultStore(tmp_path)
    reader.warn = warnings.append
    assert [r["key"] for r in reader.rows()] == ["a", "b"]
    assert len(warnings) == 1 and "not valid UTF-8" in warnings[0]


@pytest.mark.parametrize("change", [{"rmse": "12.3"}, {"rmse": True}, {"rmse": float("inf")},
                                    {"n_test_engines": 4}, {"y_pred": [11.0, 11.0]}])
def test_an_ok_row_with_a_bad_metric_or_count_is_not_a_row(tmp_path, change):
    store = ResultStore(tmp_path)
    store.append(_ok_row("good"))
    with open(store.path, "a") as handle:  # written by hand: the store's own append never writes one
        handle.write(json.dumps(_ok_row("bad", **change)) + "\n")
    assert [r["key"] for r in store.rows()] == ["good"]


def test_repairing_a_torn_tail_keeps_every_complete_row_before_it(tmp_path):
    store = ResultStore(tmp_path)
    for key in ("a", "b", "c"):
        store.append(_ok_row(key))
    with open(store.path, "ab") as handle:
        handle.write(b'{"key": "d", "model": "m", "sub')  # a run killed while writing row d
    size_before_tear = len(store.path.read_bytes()) - len(b'{"key": "d", "model": "m", "sub')
    assert store.repair_tail() is not None
    assert [r["key"] for r in ResultStore(tmp_path).rows()] == ["a", "b", "c"]
    assert len(store.path.read_bytes()) == size_before_tear  # exactly the torn bytes were cut
