"""A copied row refers to its source's predictions on disk (``study.records.copies``): it reads
back exactly as appended, resolves against its source as that row stood when copied, and a
missing source is reported."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.records.rows import Field
from study.records.store import ROWS_FILE, ResultStore, compact

ROOT = Path(__file__).resolve().parents[2]


def _row(key: str, seed: float, copied_from: str | None = None, valid: bool = True) -> dict:
    """A row as the runner writes one (a copy names its source and keeps the source's order)."""
    row = {"key": key, "model": "m", "subset": "FD001", "seed": 0, "status": "ok", "reason": None, "rmse": 2.0,
           "units": [1, 2, 3], "y_true": [10.0, 20.0, 30.0], "y_pred": [seed, seed + 1, seed + 2], "peak_rss_mb": 9.0}
    if valid:
        row.update(valid_units=[4, 5], valid_cycles=[7, 8], valid_y_true=[1.0, 2.0], valid_y_pred=[seed, 0.5],
                   valid_rmse=1.0)
    if copied_from:
        row.update(copied_at="2026-12-08T00:00:00+0000", copied_from=copied_from)
    return row


def _disk(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_copy_stores_a_reference_and_reads_back_field_for_field(tmp_path):
    store = ResultStore(tmp_path)
    rows = [_row("a", 1.0), _row("b", 2.0, valid=False), _row("a-copy", 1.0, "a"), _row("b-copy", 2.0, "b", valid=False)]
    returned = [store.append(row) for row in rows]
    on_disk = _disk(store.path)
    assert [row.get(Field.PREDICTIONS_OF) for row in on_disk] == [None, None, "a", "b"]
    assert on_disk[2][Field.Y_PRED] is None and on_disk[2][Field.VALID_Y_PRED] is None
    assert Field.VALID_Y_PRED not in on_disk[3]  # absent in the source, absent in the copy
    read = ResultStore(tmp_path, warn=pytest.fail).rows(migrate=False)
    assert read == rows and [list(row) for row in read] == [list(row) for row in rows]
    assert ResultStore(tmp_path, warn=pytest.fail).rows() == returned


def test_a_copy_appended_by_a_fresh_store_finds_its_source_in_the_file(tmp_path):
    ResultStore(tmp_path).append(_row("a", 1.0))
    later = ResultStore(tmp_path)  # a later command, which has not read the rows yet
    assert later.append(_row("a-copy", 1.0, "a"))[Field.Y_PRED] == [1.0, 2.0, 3.0]
    assert _disk(later.path)[1][Field.PREDICTIONS_OF] == "a"


def test_a_copy_that_differs_from_its_source_keeps_its_own_predictions(tmp_path):
    store = ResultStore(tmp_path)
    store.append(_row("a", 1.0))
    changed = {**_row("a-copy", 1.0, "a"), Field.VALID_Y_PRED: [9.0, 9.0]}
    store.append(changed)
    store.append(_row("orphan", 1.0, "never-written"))
    assert [Field.PREDICTIONS_OF in row for row in _disk(store.path)] == [False, False, False]
    assert ResultStore(tmp_path, warn=pytest.fail).rows(migrate=False)[1:] == [changed, _row("orphan", 1.0, "never-written")]


def test_a_copy_reads_its_source_as_it_stood_when_copied(tmp_path):
    """A source rerun later (``--force``) with other predictions does not change an earlier copy;
    a copy made after the rerun copies the rerun."""
    store = ResultStore(tmp_path)
    for row in (_row("a", 1.0), _row("a-copy", 1.0, "a"), _row("a", 5.0), _row("a-copy2", 5.0, "a")):
        store.append(row)
    read = ResultStore(tmp_path, warn=pytest.fail).rows(migrate=False)
    assert [row[Field.Y_PRED][0] for row in read] == [1.0, 1.0, 5.0, 5.0]
    assert [row.get(Field.PREDICTIONS_OF) for row in _disk(store.path)] == [None, "a", None, "a"]


@pytest.mark.parametrize("damage, problem", [
    (lambda lines: lines[1:], "line 1: refers to the predictions of row a, which no earlier line of this file holds"),
    (lambda lines: [lines[1], lines[0]], "line 1: refers to the predictions of row a, which no earlier line"),
    (lambda lines: [lines[0], lines[1].replace('"y_pred":null', '"y_pred":[1,2,3]')],
     "line 2: holds its own 'y_pred' beside a 'predictions_of' reference"),
    (lambda lines: [lines[0], lines[1].replace('"predictions_of":"a"', '"predictions_of":3')],
     "line 2: a 'predictions_of' reference that is 3, not a row key"),
], ids=["source removed", "source after the copy", "predictions beside the reference", "reference not a key"])
def test_a_copy_whose_source_cannot_be_found_is_reported_and_skipped(tmp_path, damage, problem):
    store = ResultStore(tmp_path)
    store.append(_row("a", 1.0))
    store.append(_row("a-copy", 1.0, "a"))
    store.path.write_text("".join(line + "\n" for line in damage(store.path.read_text().splitlines())))
    warnings: list[str] = []
    rows = ResultStore(tmp_path, warn=warnings.append).rows()
    assert [row[Field.KEY] for row in rows] == ([] if len(store.path.read_text().splitlines()) == 1 else ["a"])
    assert len(warnings) == 1 and problem in warnings[0] and "not a valid trial row" in warnings[0]


def test_compact_turns_inline_copies_into_references_losslessly_and_once(tmp_path):
    rows = [_row("a", 1.0), _row("a-copy", 1.0, "a"), _row("b-copy", 4.0, "b"), _row("a", 3.0), _row("a-2", 3.0, "a")]
    (tmp_path / ROWS_FILE).write_text("".join(json.dumps(row) + "\n" for row in rows))
    sizes = compact(tmp_path)
    assert sizes[ROWS_FILE][1] < sizes[ROWS_FILE][0]
    assert [row.get(Field.PREDICTIONS_OF) for row in _disk(tmp_path / ROWS_FILE)] == [None, "a", None, None, "a"]
    assert ResultStore(tmp_path, warn=pytest.fail).rows(migrate=False) == rows
    again = (tmp_path / ROWS_FILE).read_bytes()
    compact(tmp_path)
    assert (tmp_path / ROWS_FILE).read_bytes() == again


def test_every_committed_copy_refers_to_its_source():
    """The committed study holds each copied prediction once: a copy that still repeated its
    source's predictions would mean a writer, or the compaction, skipped the reference."""
    path = ROOT / "reports/study" / ROWS_FILE
    on_disk = _disk(path)
    copied = [row for row in on_disk if row.get(Field.COPIED_FROM)]
    assert copied and all(row.get(Field.PREDICTIONS_OF) == row[Field.COPIED_FROM] for row in copied)
