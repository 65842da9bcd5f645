"""The append-only store of trial rows (JSON lines), and the key that makes reruns resume.

Each finished trial is one line, written on a file opened for appending and flushed to
disk. A write that fails part-way (a full disk) is cut back to where it started and
reported, so the file only ever holds whole rows plus, after a hard kill mid-write, one
torn last line, which the next run removes (``repair_tail``). Readers validate every row:
a line that is not a well-formed trial row (not UTF-8, not JSON, not an object, a missing
or mistyped field) is reported once, with its line number, and ignored, so one bad line
never makes a run folder unusable.
"""
from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from study.core.atomic import cut_torn_tail
from study.core.errors import StudyError, environment_fault
from study.records.keys import config_key, digest, trial_key
from study.records.migration import PLAIN_KEY_PROFILE, migrate_row
from study.records.rows import COST_FIELDS, METRIC_FIELDS, PREDICTION_FIELDS, STATUSES, Field

ROWS_FILE = "trials.jsonl"
RUN_INFO_FILE = "run.json"
#: What every row needs (the leaderboard, resume and report read these).
REQUIRED: dict[str, type | tuple[type, ...]] = {Field.KEY: str, Field.MODEL: str, Field.SUBSET: str,
                                                Field.SEED: int, Field.STATUS: str}
#: What an ``ok`` row needs in addition: its predictions, and its metrics finite where present.
OK_METRICS = METRIC_FIELDS + COST_FIELDS
OK_LISTS = PREDICTION_FIELDS


def variant_trial_key(plain_key: str, profile: str | None, study_id: str | None = None) -> str:
    """Identity of a trial of one variant: the computation its parameters describe
    (``plain_key``) as run for a profile (``default``, ``smoke``...) or selected by a tuning
    study. Two variants with equal parameters (the library's defaults are also the hand-chosen
    settings; the tuning kept the out-of-the-box configuration) are then rows of their own,
    sharing one computation (``Field.SAME_AS``): the runner copies, it does not run twice.
    The hand-chosen profile keeps the plain key (``migration.PLAIN_KEY_PROFILE``)."""
    if study_id is not None:
        return digest([plain_key, "tuned by", study_id])
    if profile in (None, PLAIN_KEY_PROFILE):
        return plain_key
    return digest([plain_key, "profile", profile])


def row_problem(row: Any) -> str | None:
    """Why a parsed line is not a usable trial row, or None if it is."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    for name, kind in REQUIRED.items():
        if name not in row:
            return f"no {name!r}"
        value = row[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{name!r} is {value!r}, not {'a whole number' if kind is int else 'text'}"
    if row[Field.STATUS] not in STATUSES:
        return f"unknown status {row[Field.STATUS]!r}"
    if row[Field.STATUS] != "ok":
        return None
    for name in OK_METRICS:  # absent in rows made by hand (tests, tools); never non-finite
        value = row.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            return f"an ok row whose {name!r} is {value!r}, not a finite number"
    lists = [row.get(name) for name in OK_LISTS]
    if not all(isinstance(v, list) for v in lists) or len({len(v) for v in lists}) != 1 or not lists[0]:
        return "an ok row without equally long units, y_true and y_pred"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for values in lists for v in values):
        return "an ok row with a non-numeric or non-finite prediction"
    if row.get(Field.N_TEST_ENGINES, len(lists[0])) != len(lists[0]):
        return "an ok row whose n_test_engines does not match its predictions"
    return None


def _stderr(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


class ResultStore:
    """Rows of one run folder; only the driver process writes here (under the folder's lock)."""

    def __init__(self, folder: Path, warn: Callable[[str], None] = _stderr):
        self.path = Path(folder) / ROWS_FILE
        self.warn = warn
        self._reported: set[int] = set()

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise environment_fault(exc, "read the trial rows") from exc

    def rows(self) -> list[dict[str, Any]]:
        """All valid rows, in order, in today's schema (``migration.migrate_row``: a row
        written by an earlier version reads as today's). Invalid lines are ignored and
        reported (once per store)."""
        data = self._read()
        rows, problems = [], []
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                problems.append((number, "not valid UTF-8"))
                continue
            except ValueError:
                torn = number == len(lines) and not data.endswith(b"\n")
                problems.append((number, "incomplete (a run stopped while writing it)" if torn else "not valid JSON"))
                continue
            problem = row_problem(row)
            if problem:
                problems.append((number, problem))
            else:
                rows.append(migrate_row(row))
        new = [(n, why) for n, why in problems if n not in self._reported]
        if new:
            self._reported.update(n for n, _ in new)
            shown = "; ".join(f"line {n}: {why}" for n, why in new[:10])
            more = f"; and {len(new) - 10} more" if len(new) > 10 else ""
            self.warn(f"{self.path} has {len(new)} line{'s' if len(new) > 1 else ''} that "
                      f"{'are' if len(new) > 1 else 'is'} not a valid trial row, ignored ({shown}{more}). "
                      "The other rows are used; those trials run again if the command asks for them.")
        return rows

    def latest_by_key(self) -> dict[str, dict[str, Any]]:
        """The last row written for each trial key (a rerun with --force supersedes)."""
        return {row[Field.KEY]: row for row in self.rows()}

    def repair_tail(self) -> str | None:
        """Cut a torn last line (a run killed mid-write) so the file holds whole rows only;
        a complete row that merely lacks its newline gets one. Returns what was done, if anything.
        Call with the folder locked."""
        def complete(tail: bytes) -> bool:
            try:
                return row_problem(json.loads(tail.decode("utf-8"))) is None
            except ValueError:
                return False

        cut = cut_torn_tail(self.path, complete)
        if cut is None:
            return None
        line, size = cut
        return (f"{self.path}: removed an incomplete last line (line {line}, {size} bytes) left by a run "
                "that stopped while writing it; that trial runs again.")

    def append(self, row: dict[str, Any]) -> dict[str, Any]:
        """Append one row durably; returns it as a later read sees it (plain JSON values, in
        today's schema). A write that fails part-way is cut back, so the file never keeps half a row."""
        line = json.dumps(row, default=_jsonable) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise environment_fault(exc, "open the trial rows", "Nothing was written.") from exc
        try:
            size = os.fstat(fd).st_size
            if size and not self._ends_with_newline():
                line = "\n" + line  # previous writer died mid-line: isolate its fragment
            _write_all(fd, line.encode())
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # the torn line is cut by the next run's repair_tail
            raise environment_fault(
                exc, "append a trial row to",
                f"The partial row was removed, so {self.path.name} holds whole rows only; the trial "
                "that just finished runs again when you rerun the same command.") from exc
        finally:
            os.close(fd)
        stored = json.loads(line)
        return migrate_row(stored) if row_problem(stored) is None else stored  # a reader skips an invalid one

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is out; a write that makes no progress is a full disk."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(28, "No space left on device (a write made no progress)")
        view = view[written:]


def read_run_info(folder: Path, warn: Callable[[str], None] | None = _stderr) -> dict[str, Any]:
    """A run folder's ``run.json`` ({} if there is none). An unreadable or corrupt one raises
    ``StudyError`` when ``warn`` is None; otherwise it is reported and treated as absent (the
    runner rewrites it from scratch)."""
    path = Path(folder) / RUN_INFO_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise environment_fault(exc, "read") from exc
    except ValueError as exc:
        problem = f"{path} is not valid JSON ({exc})"
    else:
        problem = _run_info_problem(info)
        if problem is None:
            return info
        problem = f"{path} {problem}"
    if warn is None:
        raise StudyError(f"{problem}. It is derived from the run; rerun the python -m study.run command that "
                         "made this folder to rewrite it (finished trials are reused).")
    warn(f"{problem}; it is rewritten by this run (the history of earlier commands in it is lost).")
    return {}


#: run.json fields the runner and the report read, and the JSON type each must have.
RUN_INFO_FIELDS: dict[str, type] = {"config": dict, "protocol": dict, "data_checksums": dict, "versions": dict,
                                    "machine": dict, "configs": dict, "previous_runs": list, "protocol_hash": str}


def _run_info_problem(info: Any) -> str | None:
    """Why a parsed run.json is not one this harness wrote, or None."""
    if not isinstance(info, dict):
        return f"holds a JSON {type(info).__name__}, not an object"
    for name, kind in RUN_INFO_FIELDS.items():
        if name in info and not isinstance(info[name], kind):
            return f"has a {name!r} that is a JSON {type(info[name]).__name__}, not {'a list' if kind is list else 'an object' if kind is dict else 'text'}"
    return None


def _jsonable(value: Any) -> Any:
    """numpy values as lists/scalars; anything else (paths...) as text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


__all__ = ["ResultStore", "trial_key", "config_key", "variant_trial_key", "digest", "row_problem", "read_run_info"]
