"""What the loader accepts and refuses, beyond the checksum: engine and cycle numbering, the
RUL file, and which files a run calls verified."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from study.core.errors import DataError, StudyError
from study.data.cmapss import SHA256, files_of, load_subset, parse_rul, parse_table, sha256_of, verify_file


def _write(tmp_path, rows: np.ndarray):
    path = tmp_path / "train_FD001.txt"
    np.savetxt(path, rows, fmt=["%d", "%d"] + ["%.4f"] * 24)
    return path


def _table(engines: list[int], cycles_each: int = 3) -> np.ndarray:
    rows = [[unit, cycle, *np.linspace(0, 1, 24)] for unit in engines for cycle in range(1, cycles_each + 1)]
    return np.array(rows, dtype=float)


def test_a_well_formed_table_parses_to_integer_engines_and_cycles(tmp_path):
    frame = parse_table(_write(tmp_path, _table([1, 2, 3])))
    assert frame.shape == (9, 26) and list(frame.columns[:3]) == ["unit", "cycle", "setting_1"]
    assert frame["unit"].dtype == np.int64 and frame["cycle"].dtype == np.int64
    assert list(frame["cycle"]) == [1, 2, 3] * 3 and list(frame["s21"]) == [1.0] * 9


@pytest.mark.parametrize("engines", [[2, 3], [1, 2, 4], [1, 3, 2]], ids=["starts at 2", "gap", "out of order"])
def test_engines_must_be_numbered_one_two_three_in_order(tmp_path, engines):
    path = _write(tmp_path, _table(engines))
    with pytest.raises(DataError) as refused:
        parse_table(path)
    assert str(refused.value).startswith(f"{path}: engine numbers")  # names the file to fix


@pytest.mark.parametrize("where", [0, 3, 5], ids=["first engine", "second engine starts", "last row"])
def test_cycles_must_run_one_two_three_within_each_engine(tmp_path, where):
    rows = _table([1, 2])
    rows[where, 1] += 1
    with pytest.raises(DataError):
        parse_table(_write(tmp_path, rows))


def test_an_empty_or_non_numeric_table_is_refused(tmp_path):
    path = tmp_path / "train_FD001.txt"
    path.write_text("")
    with pytest.raises(DataError):
        parse_table(path)
    path.write_text("1 1 " + " ".join(["abc"] * 24) + "\n")
    with pytest.raises(DataError):
        parse_table(path)


def test_a_rul_of_zero_is_valid_and_values_keep_their_order(tmp_path):
    path = tmp_path / "RUL_FD001.txt"
    path.write_text("0\n17\n112\n")
    np.testing.assert_array_equal(parse_rul(path), [0, 17, 112])
    path.write_text("")
    with pytest.raises(DataError):
        parse_rul(path)


def test_sha256_of_a_file_larger_than_one_read(tmp_path):
    import hashlib

    data = bytes(range(256)) * 9000  # 2.3 MB: several chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()
    assert verify_file(path, allow_unverified=True) == (hashlib.sha256(data).hexdigest(), False)


def test_a_run_is_verified_only_when_every_file_of_the_subset_matches(cmapss_dir, tmp_path):
    """One modified file (here the training file, not the last one read) makes the subset
    unverified; the checksums recorded are those of the files as they are."""
    for name in files_of("FD001"):
        shutil.copy(cmapss_dir / name, tmp_path / name)
    lines = (tmp_path / "train_FD001.txt").read_text().splitlines()
    cells = lines[0].split()
    cells[-1] = f"{float(cells[-1]) + 0.0001:.4f}"
    lines[0] = " ".join(cells)
    (tmp_path / "train_FD001.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(StudyError):
        load_subset(tmp_path, "FD001")
    raw = load_subset(tmp_path, "FD001", allow_unverified=True)
    assert raw.verified is False
    assert raw.checksums["train_FD001.txt"] == sha256_of(tmp_path / "train_FD001.txt") != SHA256["train_FD001.txt"]
    assert raw.checksums["RUL_FD001.txt"] == SHA256["RUL_FD001.txt"]
    intact = load_subset(cmapss_dir, "FD001")
    assert intact.verified is True and intact.checksums == {name: SHA256[name] for name in files_of("FD001")}
    np.testing.assert_array_equal(intact.test_rul[:3], [112, 98, 69])  # NASA's first three test engines


def test_an_unknown_subset_is_refused(cmapss_dir):
    with pytest.raises(DataError):
        load_subset(cmapss_dir, "FD005")


def test_a_modified_file_is_refused_unless_unverified_data_is_asked_for(synthetic_dir):
    with pytest.raises(StudyError):
        verify_file(synthetic_dir / "train_FD001.txt")  # a synthetic file matches no pinned checksum


def test_engines_of_a_single_cycle_are_a_valid_table(tmp_path):
    assert list(parse_table(_write(tmp_path, _table([1], cycles_each=1)))["unit"]) == [1]
    assert list(parse_table(_write(tmp_path, _table([1, 2, 3], cycles_each=1)))["unit"]) == [1, 2, 3]


def test_a_rul_file_with_text_is_refused(tmp_path):
    path = tmp_path / "RUL_FD001.txt"
    path.write_text("10\nabc\n")
    with pytest.raises(DataError):
        parse_rul(path)


@pytest.mark.parametrize(("line", "value", "cell", "message"), [
    (2, 11, "abc", "line 2, value 11 is 'abc', not a number."),
    (3, 5, "inf", "line 3, value 5 is 'inf', not a finite number."),
    (2, 26, "x" * 30, f"line 2, value 26 is {'x' * 20!r}, not a number."),
    (3, 4, "1" + "0" * 400, f"line 3, value 4 is {'1' + '0' * 19!r}, not a finite number."),  # 1e400: inf
    (3, 26, None, "line 3 has 25 values, expected 26 columns."),
], ids=["text", "infinite", "a long cell is cut", "a long infinite cell is cut", "a short line"])
def test_a_refused_table_names_its_first_bad_line_and_value(tmp_path, line, value, cell, message):
    """What a user fixing the file needs: the line and the value, counted from 1 as an editor does."""
    rows = [[str(number) for number in row] for row in _table([1], cycles_each=3)]
    if cell is None:
        del rows[line - 1][value - 1]
    else:
        rows[line - 1][value - 1] = cell
    path = tmp_path / "train_FD001.txt"
    path.write_text("\n".join(" ".join(row) for row in rows) + "\n")
    with pytest.raises(DataError) as refused:
        parse_table(path)
    assert str(refused.value).endswith(message)


@pytest.mark.parametrize(("content", "message"), [
    ("10\n\n20 5\n", "line 3 has 2 values, expected 1 value."),  # after an empty line
    ("10\n12\n7\nNaN\n", "line 4, value 1 is 'NaN', not a finite number."),
])
def test_a_refused_rul_file_names_its_first_bad_line(tmp_path, content, message):
    path = tmp_path / "RUL_FD001.txt"
    path.write_text(content)
    with pytest.raises(DataError) as refused:
        parse_rul(path)
    assert str(refused.value).endswith(message)


@pytest.mark.parametrize("damage", ["empty cell", "nan cell", "missing value in the middle"])
def test_a_table_with_an_empty_or_nan_cell_is_refused(synthetic_dir, tmp_path, damage):
    lines = (synthetic_dir / "train_FD001.txt").read_text().splitlines()
    cells = lines[5].split()
    if damage == "empty cell":  # the last sensor missing: the row is one cell short
        lines[5] = " ".join(cells[:-1])
    elif damage == "nan cell":
        lines[5] = " ".join(cells[:10] + ["NaN"] + cells[11:])
    else:
        lines[5] = " ".join(cells[:10] + cells[11:] + [""])
    path = tmp_path / "train_FD001.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError):
        parse_table(path)


@pytest.mark.parametrize("content", ["10\n\n20\nNaN\n", "10\n-3\n", "10 4\n20 5\n"])
def test_a_rul_file_with_a_missing_negative_or_extra_value_is_refused(tmp_path, content):
    path = tmp_path / "RUL_FD001.txt"
    path.write_text(content)
    with pytest.raises(DataError):
        parse_rul(path)
