"""The append-only store of trial rows (JSON lines), and the key that makes reruns resume.

Each finished trial is one line, written on a file opened for appending and flushed to
disk. A write that fails part-way (a full disk) is cut back to where it started and
reported, so the file only ever holds whole rows plus, after a hard kill mid-write, one
torn last line, which the next run removes (``repair_tail``). Readers validate every row:
a line that is not a well-formed trial row (not UTF-8, not JSON, not an object, a missing
or mistyped field) is reported once, with its line number, and ignored, so one bad line
never makes a run folder unusable.

The arrays every row of a subset holds alike (test engines, true RUL, the cut validation
engines) are written once per run folder to ``shared.jsonl``, before the first row that refers
to them, under the same rules (``study.records.shared``); a row on disk carries their digest.
A copied row (a variant whose parameters equal an already-scored one) refers to its source's
predictions instead of repeating them (``study.records.copies``). ``ResultStore(folder).rows()``
puts both back, so every reader, inside the harness or outside it, gets full rows; a row whose
arrays or source are missing is reported like any invalid line.
"""
from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from study.core.atomic import cut_torn_tail, json_lines, write_bytes
from study.core.errors import StudyError, environment_fault
from study.core.lock import run_folder_lock
from study.records import copies, shared
from study.records.keys import config_key, digest, trial_key
from study.records.migration import PLAIN_KEY_PROFILE, migrate_row
from study.records.rows import COST_FIELDS, METRIC_FIELDS, PREDICTION_FIELDS, STATUSES, Field

ROWS_FILE = "trials.jsonl"
#: Rows of earlier configurations that no table shows, kept out of ``trials.jsonl`` (read with
#: ``ResultStore(folder, name=SUPERSEDED_FILE)``; the writeup cites them).
SUPERSEDED_FILE = "superseded.jsonl"
SHARED_FILE = shared.SHARED_FILE
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
    """Rows of one run folder's row file (``trials.jsonl``; ``superseded.jsonl`` is read the same
    way) and the shared arrays they refer to (``shared.jsonl``); only the driver process writes
    here (under the folder's lock)."""

    def __init__(self, folder: Path, warn: Callable[[str], None] = _stderr, name: str = ROWS_FILE):
        self.path = Path(folder) / name
        self.shared_path = Path(folder) / SHARED_FILE
        self.warn = warn
        self._reported: set[int] = set()
        self._reported_shared: set[int] = set()
        self._shared: dict[str, dict[str, Any]] = {}  # the sidecar as last read or written
        self._copied: dict[str, dict[str, Any]] | None = None  # key -> predictions, once rows() has read the file

    def _read(self, path: Path | None = None) -> bytes:
        """The row file's bytes (or ``path``'s: the shared arrays); b"" where there is none."""
        try:
            return (path or self.path).read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise environment_fault(exc, "read the trial rows" if path is None else "read") from exc

    def _read_shared(self) -> dict[str, dict[str, Any]]:
        """The sidecar's arrays by digest; its invalid lines are reported (once per store) and ignored."""
        index, problems = shared.parse(self._read(self.shared_path))
        new = [(n, why) for n, why in problems if n not in self._reported_shared]
        if new:
            self._reported_shared.update(n for n, _ in new)
            self.warn(f"{self.shared_path} has {_lines(new)} that {'are' if len(new) > 1 else 'is'} not valid shared "
                      f"arrays, ignored ({_shown(new)}). Rows that refer to them are reported as invalid; those "
                      "trials run again if the command asks for them.")
        self._shared = index
        return index

    def rows(self, migrate: bool = True) -> list[dict[str, Any]]:
        """All valid rows, in order, with their shared arrays put back (``study.records.shared``)
        and in today's schema (``migration.migrate_row``: a row written by an earlier version
        reads as today's; ``migrate=False``: as it was written). Invalid lines, and rows whose
        shared arrays are missing, are ignored and reported (once per store)."""
        data = self._read()
        index = self._read_shared() if data else {}
        rows, problems = [], []
        copied: dict[str, dict[str, Any]] = {}  # key -> predictions of the latest valid row so far
        for number, row, unreadable in json_lines(data):
            if unreadable:
                problems.append((number, unreadable))
                continue
            row, problem = _resolved(row, index, copied)
            problem = problem or row_problem(row)
            if problem:
                problems.append((number, problem))
            else:
                copied[row[Field.KEY]] = copies.predictions(row)
                rows.append(migrate_row(row) if migrate else row)
        self._copied = copied
        new = [(n, why) for n, why in problems if n not in self._reported]
        if new:
            self._reported.update(n for n, _ in new)
            self.warn(f"{self.path} has {_lines(new)} that {'are' if len(new) > 1 else 'is'} not a valid trial row, "
                      f"ignored ({_shown(new)}). The other rows are used; those trials run again if the command "
                      "asks for them.")
        return rows

    def latest_by_key(self) -> dict[str, dict[str, Any]]:
        """The last row written for each trial key (a rerun with --force supersedes)."""
        return {row[Field.KEY]: row for row in self.rows()}

    def repair_tail(self) -> str | None:
        """Cut a torn last line (a run killed mid-write) of the rows and of the shared arrays, so
        each file holds whole lines only; a complete line that merely lacks its newline gets one.
        Returns what was done, if anything. Call with the folder locked."""
        def complete_row(tail: bytes) -> bool:
            try:
                return row_problem(json.loads(tail.decode("utf-8"))) is None
            except ValueError:
                return False

        def complete_arrays(tail: bytes) -> bool:
            try:
                return shared.line_problem(json.loads(tail.decode("utf-8"))) is None
            except ValueError:
                return False

        done = []
        for path, complete, then in ((self.shared_path, complete_arrays, "no row refers to it (a row is written "
                                      "after its arrays), and that trial runs again"),
                                     (self.path, complete_row, "that trial runs again")):
            cut = cut_torn_tail(path, complete)
            if cut is not None:
                done.append(f"{path}: removed an incomplete last line (line {cut[0]}, {cut[1]} bytes) left by a run "
                            f"that stopped while writing it; {then}.")
        return " ".join(done) or None

    def append(self, row: dict[str, Any]) -> dict[str, Any]:
        """Append one row durably: its shared arrays first, to ``shared.jsonl`` unless that holds
        them already, then the row that refers to them (and, for a copy, to its source's
        predictions). Returns the row as a later read sees it (plain JSON values, arrays put
        back, in today's schema). A write that fails part-way is cut back, so neither file keeps
        half a line."""
        plain = json.loads(json.dumps(row, default=_jsonable))
        if Field.COPIED_FROM in plain and self._copied is None:
            self.rows(migrate=False)  # the sources a copy may refer to
        own = copies.split(plain, self._copied or {})
        stored, arrays = shared.split(own)
        known = None
        if arrays is not None:
            known = self._shared.get(arrays[shared.REF]) or self._read_shared().get(arrays[shared.REF])
            if known is None:
                _append_line(self.shared_path, _json_line(arrays),
                             ("the shared arrays", "append shared arrays to"),
                             "The partial line was removed and no row was written, so the trial that just "
                             "finished runs again when you rerun the same command.")
                self._shared[arrays[shared.REF]] = known = arrays
            elif known != arrays:  # two contents under one digest: keep these in the row itself
                stored, known = own, None
        line = _json_line(stored)
        _append_line(self.path, line, ("the trial rows", "append a trial row to"),
                     f"The partial row was removed, so {self.path.name} holds whole rows only; the trial "
                     "that just finished runs again when you rerun the same command.")
        stored = json.loads(line)
        if known is not None:
            stored = shared.expand(stored, known)
        if Field.PREDICTIONS_OF in stored:
            stored = copies.expand(stored, self._copied or {})
        if row_problem(stored) is not None:
            return stored  # a reader skips an invalid one
        if self._copied is not None:
            self._copied[stored[Field.KEY]] = copies.predictions(stored)
        return migrate_row(stored)


def _lines(problems: list[tuple[int, str]]) -> str:
    return f"{len(problems)} line{'s' if len(problems) > 1 else ''}"


def _shown(problems: list[tuple[int, str]]) -> str:
    """The first ten problems, by line number."""
    shown = "; ".join(f"line {n}: {why}" for n, why in problems[:10])
    return shown + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")


def _append_line(path: Path, line: str, doing: tuple[str, str], then: str) -> None:
    """Append one line to an append-only file and fsync it; a write that fails part-way is cut
    back to where it started (``then`` says so) and raised as an ``EnvironmentFault``.
    ``doing``: what the file holds and what the append does, for the error message."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise environment_fault(exc, f"open {doing[0]}", "Nothing was written.") from exc
    try:
        size = os.fstat(fd).st_size
        if size and not _ends_with_newline(path):
            line = "\n" + line  # previous writer died mid-line: isolate its fragment
        _write_all(fd, line.encode())
        os.fsync(fd)
    except OSError as exc:
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass  # the torn line is cut by the next run's repair_tail
        raise environment_fault(exc, doing[1], then) from exc
    finally:
        os.close(fd)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
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


def compact(folder: Path, names: tuple[str, ...] = (ROWS_FILE, SUPERSEDED_FILE)) -> dict[str, tuple[int, int]]:
    """Rewrite the row files of a folder written before ``shared.jsonl`` (or before copies referred
    to their sources) in today's layout, once: each row's shared arrays moved to the sidecar
    (once per content), the row keeping their digest, and each copy's predictions replaced by
    a reference to its source (``study.records.copies``). Lossless, and checked before anything
    is replaced: every rewritten line reads back as the row it replaces; lines that are not
    rows, or already in today's layout, stay as they are. The sidecar is written first, then
    each row file, each replaced atomically, under the folder's lock. Returns each file's size
    in bytes, before and after. New rows are written this way already:
    ``python -c "from study.records.store import compact; print(compact('reports/study'))"``."""
    folder = Path(folder)
    sidecar = folder / SHARED_FILE
    with run_folder_lock(folder, command=f"compact {folder}"):
        reader = ResultStore(folder)
        old_arrays = reader._read(sidecar)
        index, problems = shared.parse(old_arrays)
        if problems:
            raise StudyError(f"{sidecar} has lines that are not valid shared arrays ({_shown(problems)}); "
                             "nothing was compacted. Restore it (git checkout, a backup) first.")
        added: dict[str, dict[str, Any]] = {}
        rewritten: dict[Path, tuple[bytes, bytes]] = {}
        for name in names:
            data = reader._read(folder / name)
            out, copied = [], {}  # copied: key -> predictions of the latest row so far (study.records.copies)
            for raw in data.split(b"\n"):
                try:
                    row = json.loads(raw)
                except ValueError:
                    row = None
                if not isinstance(row, dict) or row_problem(_resolved(row, {**index, **added}, copied)[0]) is not None:
                    out.append(raw)  # not a row, or one that does not read: left as it is
                    continue
                own = copies.split(row, copied)
                stored, arrays = shared.split(own)
                known = None if arrays is None else index.get(arrays[shared.REF], added.get(arrays[shared.REF]))
                if arrays is not None and known is not None and known != arrays:
                    stored, arrays = own, None
                line = _json_line(stored).rstrip("\n").encode() if stored is not row else raw
                full = _resolved(row, {**index, **added}, copied)[0]
                if _resolved(json.loads(line), {**index, **added, **({arrays[shared.REF]: arrays} if arrays else {})},
                             copied)[0] != full:
                    raise StudyError(f"{folder / name}: a compacted row does not read back as written; nothing "
                                     "was compacted (a bug in study.records.shared or copies: please report it).")
                if arrays is not None:
                    added.setdefault(arrays[shared.REF], arrays)
                copied[full[Field.KEY]] = copies.predictions(full)
                out.append(line)
            if data:
                rewritten[folder / name] = data, b"\n".join(out)
        new = [arrays for ref, arrays in added.items() if ref not in index]
        if new:
            head = old_arrays if not old_arrays or old_arrays.endswith(b"\n") else old_arrays + b"\n"
            write_bytes(sidecar, head + "".join(map(_json_line, new)).encode())
        for path, (_, data) in rewritten.items():
            write_bytes(path, data)
    sizes = {path.name: (len(old), len(data)) for path, (old, data) in rewritten.items()}
    return {**sizes, SHARED_FILE: (len(old_arrays), len(reader._read(sidecar)))}


def _resolved(stored: Any, arrays: dict[str, dict[str, Any]],
              copied: dict[str, dict[str, Any]]) -> tuple[Any, str | None]:
    """A stored line with its shared arrays (``arrays``: digest -> sidecar line) and a copy's
    predictions (``copied``: key -> predictions of the rows before it) put back, as readers get
    it; or (None, why) when a reference cannot be resolved. Other values pass through."""
    row = stored
    if isinstance(row, dict) and Field.SHARED in row:
        problem = shared.reference_problem(row, arrays)
        if problem:
            return None, problem
        row = shared.expand(row, arrays[row[Field.SHARED]])
    if isinstance(row, dict) and Field.PREDICTIONS_OF in row:
        problem = copies.reference_problem(row, copied)
        if problem:
            return None, problem
        row = copies.expand(row, copied)
    return row, None


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


def _json_line(value: Any) -> str:
    """One stored line, with compact separators: the committed study's rows are 10% smaller
    than with ``json.dumps``'s default ``", "`` (4.49 MB against 5.01 MB)."""
    return json.dumps(value, separators=(",", ":")) + "\n"


def _jsonable(value: Any) -> Any:
    """numpy values as lists/scalars; anything else (paths...) as text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


__all__ = ["ResultStore", "compact", "trial_key", "config_key", "variant_trial_key", "digest", "row_problem",
           "read_run_info"]
