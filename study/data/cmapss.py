"""The C-MAPSS files: names, pinned checksums, domain constants and the raw parser.

Checksums are those of NASA's original files (also in ``data/SHA256SUMS``); a file that
does not match is refused unless the user explicitly allows unverified data.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from study.core.errors import ChecksumMismatch, DataError, environment_fault

SUBSETS: tuple[str, ...] = ("FD001", "FD002", "FD003", "FD004")

SHA256: dict[str, str] = {
    "RUL_FD001.txt": "a19c8ec94931949d0485bdc35118206e9c81c4547b422efb9cf86f4ceddbceca",
    "RUL_FD002.txt": "c851dd96a6ea6998d3c4a8f834d3c8013aa90e93a6ed950dc826ad0655b2906b",
    "RUL_FD003.txt": "df1e0566306b174a2de41c67a3e7a51877889598b78643fc3e5685259091b7cb",
    "RUL_FD004.txt": "196b836b85a95ac7fdbbf29c5fdf1657382eafa445644d114ffaaf50dc2975e1",
    "test_FD001.txt": "3cda7109ce17bafb5443f2ac926cfcf88154b941b8c4cf95eb55d1ddd6f52851",
    "test_FD002.txt": "de7b5bf7e998a985c378488480528b7c02cff1406a46740def362dda8d9b4e02",
    "test_FD003.txt": "299babd63c8d987cef079c4a425429f33b3a34797d803bbe2ad48c29dbd0d790",
    "test_FD004.txt": "1dc675fff0624bac10786927c6715b37d1297657137400d2b1a3138d777a3ba5",
    "train_FD001.txt": "963b5e22825b34d8b21c69e1aeb4af3e647050eb672ee8834ba4b5d91d2de0f8",
    "train_FD002.txt": "dac6c4dbc4e7c1bdeb5747da3d313d05c395bb99801b44a002b26a2ba13d788f",
    "train_FD003.txt": "2abbe9968cc5e8eb091980f51b20f62bb4127336d3482cb52071d53bf23329e2",
    "train_FD004.txt": "27ef6160b6a1dcb2613a88de9c239f763b223f02cdc41dc5cdedc5dc189b6218",
}

# (train engines, test engines) of NASA's files. NASA's readme swaps the FD004 counts;
# the files themselves hold 249 training and 248 test engines.
ENGINE_COUNTS: dict[str, tuple[int, int]] = {
    "FD001": (100, 100),
    "FD002": (260, 259),
    "FD003": (100, 100),
    "FD004": (249, 248),
}
OPERATING_CONDITIONS: dict[str, int] = {"FD001": 1, "FD002": 6, "FD003": 1, "FD004": 6}

SETTING_COLUMNS: tuple[str, ...] = ("setting_1", "setting_2", "setting_3")
SENSOR_COLUMNS: tuple[str, ...] = tuple(f"s{i}" for i in range(1, 22))
COLUMNS: tuple[str, ...] = ("unit", "cycle", *SETTING_COLUMNS, *SENSOR_COLUMNS)


def files_of(subset: str) -> tuple[str, str, str]:
    """The (train, test, RUL) file names of a subset."""
    return f"train_{subset}.txt", f"test_{subset}.txt", f"RUL_{subset}.txt"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise environment_fault(exc, "read the C-MAPSS file",
                                "Make it readable, or point --data-dir at a readable copy.") from exc
    return digest.hexdigest()


def verify_file(path: Path, allow_unverified: bool = False, shown_as: str | None = None) -> tuple[str, bool]:
    """Check a file against its pinned hash; return (actual hash, verified?).

    Raises ``ChecksumMismatch`` naming the file (as ``shown_as`` if given, e.g. a member of
    a zip), both hashes and the way out, unless ``allow_unverified`` is set (then the caller
    records that the data is unverified).
    """
    shown = shown_as or str(path)
    if not path.is_file():
        raise DataError(f"C-MAPSS file {shown} is missing.")
    actual = sha256_of(path)
    expected = SHA256.get(path.name)
    if expected == actual:
        return actual, True
    if allow_unverified:
        return actual, False
    raise ChecksumMismatch(
        f"{shown} does not match the published C-MAPSS file: expected SHA-256 {expected}, "
        f"got {actual}. The file is corrupt, partial or modified. Delete it and rerun to "
        "download a fresh copy, point --data-dir at an intact copy, or pass "
        "--allow-unverified-data to run on your own C-MAPSS-format data (the run is then "
        "marked unverified)."
    )


@dataclass(frozen=True)
class RawSubset:
    """One subset as parsed from disk: train and test frames and the test truth."""

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    test_rul: np.ndarray  # raw RUL after the last test cycle, one per test engine (unit order)
    checksums: dict[str, str]
    verified: bool


def _read_numbers(path: Path, n_columns: int | None, what: str) -> pd.DataFrame:
    """Whitespace-separated numbers, every cell finite; anything else is refused with the
    file and the first offending line (found by a slow re-read only when something is wrong)."""
    try:
        frame = pd.read_csv(path, sep=r"\s+", header=None, dtype=np.float64, engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; expected {what}.") from None
    except (ValueError, pd.errors.ParserError):  # non-numeric text, ragged lines, not UTF-8
        frame = None
    except OSError as exc:
        raise environment_fault(exc, "read the C-MAPSS file") from exc
    if frame is not None and (n_columns is None or frame.shape[1] == n_columns) and \
            np.isfinite(frame.to_numpy()).all() and (n_columns is not None or frame.shape[1] == 1):
        return frame
    raise DataError(f"{path} is not {what}: {_first_bad_line(path, n_columns or 1)}")


def _first_bad_line(path: Path, n_columns: int) -> str:
    """Where and why a numeric file fails to parse, in words."""
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    cells = raw.decode("utf-8").split()
                except UnicodeDecodeError:
                    return f"line {number} is not text (not UTF-8)."
                if not cells:
                    continue
                if len(cells) != n_columns:
                    expected = "1 value" if n_columns == 1 else f"{n_columns} columns"
                    return f"line {number} has {len(cells)} values, expected {expected}."
                for column, cell in enumerate(cells, start=1):
                    try:
                        value = float(cell)
                    except ValueError:
                        return f"line {number}, value {column} is {cell[:20]!r}, not a number."
                    if not np.isfinite(value):
                        return f"line {number}, value {column} is {cell[:20]!r}, not a finite number."
    except OSError as exc:
        raise environment_fault(exc, "read the C-MAPSS file") from exc
    return "its lines could not be parsed as numbers."


def parse_table(path: Path) -> pd.DataFrame:
    """Parse a train/test file: 26 whitespace-separated finite numbers per line, engine and
    cycle order (whole-number unit and cycle)."""
    frame = _read_numbers(path, len(COLUMNS), f"a C-MAPSS table ({len(COLUMNS)} numbers per line: "
                          "unit, cycle, 3 settings, 21 sensors)")
    frame.columns = list(COLUMNS)
    for column in ("unit", "cycle"):
        values = frame[column].to_numpy()
        bad = np.flatnonzero(values != np.round(values))
        if bad.size:
            raise DataError(f"{path}: line {bad[0] + 1} has {column} {values[bad[0]]:g}; it must be a whole number.")
    frame = frame.astype({"unit": np.int64, "cycle": np.int64})
    _check_ordering(frame, path)
    return frame


def _check_ordering(frame: pd.DataFrame, path: Path) -> None:
    """Engines numbered 1..n in order, cycles 1..T consecutive within each engine."""
    units = frame["unit"].to_numpy()
    if len(units) == 0:
        raise DataError(f"{path} is empty.")
    if np.any(np.diff(units) < 0) or units[0] != 1 or np.any(np.diff(np.unique(units)) != 1):
        raise DataError(f"{path}: engine numbers must run 1, 2, ... in order.")
    starts = np.r_[True, units[1:] != units[:-1]]
    expected_cycle = np.arange(len(units)) - np.maximum.accumulate(np.where(starts, np.arange(len(units)), 0)) + 1
    bad = np.flatnonzero(frame["cycle"].to_numpy() != expected_cycle)
    if bad.size:
        row = int(bad[0])
        raise DataError(
            f"{path}: row {row + 1} (engine {units[row]}) has cycle {frame['cycle'].iat[row]}, "
            f"expected {expected_cycle[row]}; cycles must be 1, 2, ... within each engine."
        )


def parse_rul(path: Path) -> np.ndarray:
    """Parse a RUL file: one non-negative whole number per test engine."""
    values = _read_numbers(path, None, "a C-MAPSS RUL file (one non-negative whole number per line)")[0].to_numpy()
    bad = np.flatnonzero((values < 0) | (values != np.round(values)))
    if bad.size:
        raise DataError(f"{path}: line {bad[0] + 1} holds {values[bad[0]]:g}; a RUL is a non-negative whole "
                        "number of cycles.")
    return values


def load_subset(data_dir: Path, subset: str, allow_unverified: bool = False) -> RawSubset:
    """Verify and parse one subset from a directory holding NASA's files."""
    if subset not in SUBSETS:
        raise DataError(f"Unknown subset {subset!r}; valid: {', '.join(SUBSETS)}.")
    checksums: dict[str, str] = {}
    verified = True
    for name in files_of(subset):
        checksums[name], ok = verify_file(data_dir / name, allow_unverified)
        verified &= ok
    train_name, test_name, rul_name = files_of(subset)
    train = parse_table(data_dir / train_name)
    test = parse_table(data_dir / test_name)
    test_rul = parse_rul(data_dir / rul_name)
    n_test = test["unit"].nunique()
    if len(test_rul) != n_test:
        raise DataError(f"{rul_name} has {len(test_rul)} values but {test_name} has {n_test} engines.")
    if verified:
        expected = ENGINE_COUNTS[subset]
        found = (train["unit"].nunique(), n_test)
        if found != expected:  # cannot happen with matching hashes; guards the pinned table
            raise DataError(f"{subset}: expected {expected} train/test engines, found {found}.")
    return RawSubset(subset, train, test, test_rul, checksums, verified)
