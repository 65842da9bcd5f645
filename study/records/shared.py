"""The arrays every row of a subset holds alike, stored once per run folder (``shared.jsonl``).

Under one protocol, every trial of a subset scores the same test engines against the same true
RUL, and the same cut validation engines: ``units``, ``y_true``, ``valid_units``,
``valid_cycles``, ``valid_y_true`` (``SHARED_FIELDS``) were about a third of each row. On disk a
row names them by the digest of their content (``Field.SHARED``), and ``shared.jsonl`` holds each
content once, one JSON line ``{"ref": DIGEST, "units": [...], ...}``, append-only beside the
rows. Nobody reads the reference: ``study.records.store.ResultStore`` puts the arrays back
(``expand``), so a row reads exactly as it was appended, field order included; rows written
before (no reference) read as they always did. These are pure functions of rows and lines; the
store does the file work (durable appends, torn-tail repair, reporting bad lines).
"""
from __future__ import annotations

from typing import Any

from study.core.atomic import json_lines
from study.records.keys import digest
from study.records.rows import Field

SHARED_FILE = "shared.jsonl"
#: The fields moved out of a row where they are lists (a failed row's nulls stay in it).
SHARED_FIELDS = (Field.UNITS, Field.Y_TRUE, Field.VALID_UNITS, Field.VALID_CYCLES, Field.VALID_Y_TRUE)
#: A sidecar line's digest field.
REF = "ref"
#: The field each shared field is put back in front of, where the row has it: the order the
#: one row constructor writes (units, y_true, y_pred; valid_units, valid_cycles, valid_y_true,
#: valid_y_pred), so a row reads back field for field as it was written.
_PUT_BEFORE = {Field.UNITS: Field.Y_PRED, Field.Y_TRUE: Field.Y_PRED, Field.VALID_UNITS: Field.VALID_Y_PRED,
               Field.VALID_CYCLES: Field.VALID_Y_PRED, Field.VALID_Y_TRUE: Field.VALID_Y_PRED}


def content_ref(arrays: dict[str, Any]) -> str:
    """The digest that names a content: of the field names and values, not of their order."""
    return digest(["shared arrays", arrays])


def split(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A row (plain JSON values) as stored: its shared arrays replaced by a reference, placed
    where the first of them was; and the sidecar line that holds them (None: nothing to share)."""
    arrays = {name: value for name, value in row.items() if name in SHARED_FIELDS and isinstance(value, list)}
    if not arrays or Field.SHARED in row:
        return row, None
    line = {REF: content_ref(arrays), **arrays}
    stored: dict[str, Any] = {}
    for name, value in row.items():
        if name in arrays:
            stored.setdefault(Field.SHARED, line[REF])
        else:
            stored[name] = value
    return stored, line


def expand(stored: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    """A stored row with the arrays of its sidecar ``line`` put back (the inverse of ``split``)."""
    arrays = {name: value for name, value in line.items() if name != REF}
    anchored = {name for name in arrays if _PUT_BEFORE[name] in stored}
    row: dict[str, Any] = {}
    for name, value in stored.items():
        if name == Field.SHARED:
            row.update((n, v) for n, v in arrays.items() if n not in anchored)
            continue
        row.update((n, v) for n, v in arrays.items() if n in anchored and _PUT_BEFORE[n] == name)
        row[name] = value
    return row


def reference_problem(stored: dict[str, Any], index: dict[str, dict[str, Any]]) -> str | None:
    """Why a stored row's reference cannot be expanded from ``index`` (digest -> line), or None."""
    ref = stored[Field.SHARED]
    if not isinstance(ref, str):
        return f"a {Field.SHARED!r} reference that is {ref!r}, not a digest"
    if ref not in index:
        return f"refers to shared arrays {ref} that {SHARED_FILE} does not hold"
    both = [name for name in index[ref] if name in stored]
    if both:
        return f"holds both a {Field.SHARED!r} reference and its own {both[0]!r}"
    return None


def line_problem(line: Any) -> str | None:
    """Why a parsed sidecar line is not one ``split`` wrote (its digest recomputed), or None."""
    if not isinstance(line, dict):
        return f"a JSON {type(line).__name__}, not an object"
    if not isinstance(line.get(REF), str):
        return f"no {REF!r} digest"
    arrays = {name: value for name, value in line.items() if name != REF}
    odd = [name for name, value in arrays.items() if name not in SHARED_FIELDS or not isinstance(value, list)]
    if odd or not arrays:
        return f"{odd[0]!r} is not a shared array" if odd else "no arrays"
    if content_ref(arrays) != line[REF]:
        return f"arrays that do not match their digest {line[REF]} (changed after they were written)"
    return None


def parse(data: bytes) -> tuple[dict[str, dict[str, Any]], list[tuple[int, str]]]:
    """A sidecar file's lines by digest (the first of equal ones), and (line number, why) of
    each line that is not a valid one."""
    index: dict[str, dict[str, Any]] = {}
    problems = []
    for number, line, unreadable in json_lines(data):
        if unreadable:
            problems.append((number, unreadable))
            continue
        problem = line_problem(line)
        if problem:
            problems.append((number, problem))
        else:
            index.setdefault(line[REF], line)
    return index, problems


__all__ = ["SHARED_FILE", "SHARED_FIELDS", "REF", "content_ref", "split", "expand", "reference_problem",
           "line_problem", "parse"]
