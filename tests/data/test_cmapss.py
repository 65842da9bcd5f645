"""The loader refuses corrupt or malformed files and parses NASA's files exactly."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from study.core.errors import ChecksumMismatch, DataError
from study.data.cmapss import ENGINE_COUNTS, SHA256, SUBSETS, load_subset, parse_table, verify_file


def test_pinned_checksums_match_data_sha256sums_file():
    listed = dict(reversed(line.split()) for line in
                  (Path(__file__).parents[2] / "data" / "SHA256SUMS").read_text().splitlines() if line.strip())
    assert {k: v for k, v in listed.items() if k in SHA256} == SHA256


@pytest.mark.parametrize("subset", SUBSETS)
def test_real_subsets_verify_and_have_published_engine_counts(cmapss_dir, subset):
    raw = load_subset(cmapss_dir, subset)
    assert raw.verified
    assert (raw.train["unit"].nunique(), raw.test["unit"].nunique()) == ENGINE_COUNTS[subset]
    assert len(raw.test_rul) == ENGINE_COUNTS[subset][1]
    assert raw.train.shape[1] == 26


def test_corrupt_file_is_refused_with_both_hashes_and_a_way_out(cmapss_dir, tmp_path):
    for name in ("train_FD001.txt", "test_FD001.txt", "RUL_FD001.txt"):
        shutil.copy(cmapss_dir / name, tmp_path / name)
    with open(tmp_path / "RUL_FD001.txt", "a") as handle:
        handle.write("7\n")
    with pytest.raises(ChecksumMismatch) as info:
        load_subset(tmp_path, "FD001")
    message = str(info.value)
    assert "RUL_FD001.txt" in message and SHA256["RUL_FD001.txt"] in message
    assert "--allow-unverified-data" in message


def test_allow_unverified_accepts_a_modified_file_and_says_so(synthetic_dir):
    raw = load_subset(synthetic_dir, "FD002", allow_unverified=True)
    assert not raw.verified
    assert raw.train["unit"].nunique() == 12


def test_verify_file_reports_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing"):
        verify_file(tmp_path / "train_FD001.txt")


def test_table_with_wrong_column_count_is_rejected(tmp_path):
    path = tmp_path / "train_FD001.txt"
    path.write_text("1 1 0 0 100 1 2 3\n")
    with pytest.raises(DataError, match="columns"):
        parse_table(path)


def test_cycles_out_of_order_are_rejected(synthetic_dir, tmp_path):
    rows = np.loadtxt(synthetic_dir / "train_FD001.txt")
    rows[[3, 4]] = rows[[4, 3]]
    path = tmp_path / "train_FD001.txt"
    np.savetxt(path, rows)
    with pytest.raises(DataError, match="row 4"):
        parse_table(path)


def test_engines_out_of_order_are_rejected(synthetic_dir, tmp_path):
    rows = np.loadtxt(synthetic_dir / "train_FD001.txt")
    rows[rows[:, 0] == 2, 0] = 5
    path = tmp_path / "train_FD001.txt"
    np.savetxt(path, rows)
    with pytest.raises(DataError, match="engine numbers"):
        parse_table(path)


def test_rul_count_must_match_test_engines(synthetic_dir, tmp_path):
    for name in ("train_FD001.txt", "test_FD001.txt"):
        shutil.copy(synthetic_dir / name, tmp_path / name)
    (tmp_path / "RUL_FD001.txt").write_text("10\n20\n")
    with pytest.raises(DataError, match="2 values"):
        load_subset(tmp_path, "FD001", allow_unverified=True)
