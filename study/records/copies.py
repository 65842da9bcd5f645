"""A copied row's predictions, stored as a reference to the row it copies.

A copy (``study.records.rows.copied_row``: a variant whose parameters equal an already-scored
one, such as a budget point that chose the defaults) repeats its source's predictions, which
are most of a row. On disk it keeps their place with nulls and names its source's key
(``Field.PREDICTIONS_OF``); a reader fills them from the source as that row stood when the copy
was written: the latest earlier line of the same row file with that key (a later rerun of the
source with ``--force`` does not change what the copy says). A row is split only where every
prediction field of it equals its source's, so putting them back is exact, field order
included. These are pure functions of rows; ``study.records.store.ResultStore`` keeps the
running index (key -> predictions) as it reads or appends.
"""
from __future__ import annotations

from typing import Any

from study.records.rows import Field

#: The fields a copy shares with its source (the arrays that make a copy large).
COPIED_FIELDS = (Field.Y_PRED, Field.VALID_Y_PRED)


def predictions(row: dict[str, Any]) -> dict[str, Any]:
    """What a row holds of the copied fields (absent ones stay absent): its entry in the index."""
    return {name: row[name] for name in COPIED_FIELDS if name in row}


def split(row: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A row as stored: a copy whose predictions equal its source's (``index``: key ->
    ``predictions`` of the latest row with that key so far) keeps nulls in their place and the
    source's key just before the first of them; any other row as it is."""
    source_key = row.get(Field.COPIED_FROM)
    mine = predictions(row)
    if (not isinstance(source_key, str) or Field.PREDICTIONS_OF in row
            or not any(isinstance(value, list) for value in mine.values()) or index.get(source_key) != mine):
        return row
    stored: dict[str, Any] = {}
    for name, value in row.items():
        if name in mine:
            stored.setdefault(Field.PREDICTIONS_OF, source_key)
            stored[name] = None
        else:
            stored[name] = value
    return stored


def expand(stored: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A stored copy with its source's predictions put back in their places (``split``'s inverse)."""
    source = index[stored[Field.PREDICTIONS_OF]]
    return {name: source[name] if name in COPIED_FIELDS else value
            for name, value in stored.items() if name != Field.PREDICTIONS_OF}


def reference_problem(stored: dict[str, Any], index: dict[str, dict[str, Any]]) -> str | None:
    """Why a stored copy's reference cannot be expanded from ``index``, or None."""
    key = stored[Field.PREDICTIONS_OF]
    if not isinstance(key, str):
        return f"a {Field.PREDICTIONS_OF!r} reference that is {key!r}, not a row key"
    if key not in index:
        return f"refers to the predictions of row {key}, which no earlier line of this file holds"
    for name in COPIED_FIELDS:
        if name in stored and (stored[name] is not None or name not in index[key]):
            return (f"holds its own {name!r} beside a {Field.PREDICTIONS_OF!r} reference" if stored[name] is not None
                    else f"refers to row {key}'s {name!r}, which that row does not hold")
    return None


__all__ = ["COPIED_FIELDS", "predictions", "split", "expand", "reference_problem"]
