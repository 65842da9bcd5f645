"""The arrays rows of a subset share, stored once per run folder (``shared.jsonl``): rows read
back exactly as appended, each content is written once, a missing or damaged line is reported,
and the committed folders read back whole."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from study.data.scoring import rmse
from study.records.rows import Field
from study.records.shared import SHARED_FIELDS
from study.records.store import ROWS_FILE, SHARED_FILE, SUPERSEDED_FILE, ResultStore, compact

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = [ROOT / "reports/study", ROOT / "reports/ensemble_fd001"]


def _row(subset: str, seed: int, status: str = "ok", valid: bool = True, **extra) -> dict:
    """A row as the one constructor orders it; the arrays depend on the subset only."""
    n = int(subset[-1]) + 2
    row = {"key": f"{subset}-{seed}-{status}", "model": "m", "subset": subset, "seed": seed, "status": status,
           "reason": None}
    if status != "ok":
        return {**row, "units": None, "y_true": None, "y_pred": None, **extra}
    row.update(rmse=1.5 + seed, n_test_engines=n, units=list(range(1, n + 1)), y_true=[10.0 * n] * n,
               y_pred=[float(seed)] * n, peak_rss_mb=10.0)
    if valid:
        row.update(valid_units=[n, n + 1], valid_cycles=[30, 31], valid_y_true=[5.5, 6.5], valid_y_pred=[seed, 1.0],
                   valid_rmse=2.0)
    return {**row, **extra}


def _disk(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_rows_read_back_field_for_field_as_appended(tmp_path):
    warnings: list[str] = []
    store = ResultStore(tmp_path, warn=warnings.append)
    rows = [_row("FD001", 0), _row("FD001", 1, valid=False), _row("FD002", 0, status="failed"),
            {**_row("FD002", 1), "units": np.arange(1, 5), "y_pred": np.array([1.5, 2, 3, 4])},
            _row("FD001", 2, warnings=["w"]), {"key": "plain", "model": "m", "subset": "FD003", "seed": 0,
                                               "status": "skipped", "reason": "no library"}]
    returned = [store.append(row) for row in rows]
    expected = [json.loads(json.dumps(row, default=lambda v: v.tolist())) for row in rows]
    reader = ResultStore(tmp_path, warn=warnings.append)
    assert reader.rows() == returned and reader.rows(migrate=False) == expected and not warnings
    assert [list(row) for row in reader.rows(migrate=False)] == [list(row) for row in expected]  # field order too
    on_disk = _disk(store.path)
    assert [Field.SHARED in row for row in on_disk] == [True, True, False, True, True, False]
    assert not any(isinstance(row.get(name), list) for row in on_disk for name in SHARED_FIELDS)
    assert on_disk[2]["units"] is None  # a failed row's nulls stay in it


def test_the_sidecar_holds_each_content_once_across_stores_and_row_files(tmp_path):
    store = ResultStore(tmp_path)
    for seed in range(3):
        store.append(_row("FD001", seed))
        store.append(_row("FD002", seed))
    ResultStore(tmp_path).append(_row("FD001", 3))  # a later command: the arrays are there already
    ResultStore(tmp_path, name=SUPERSEDED_FILE).append(_row("FD002", 4))
    store.append(_row("FD001", 5, valid=False))  # other fields present: another content
    lines = _disk(tmp_path / SHARED_FILE)
    assert len(lines) == 3 and len({line["ref"] for line in lines}) == 3
    assert len(store.rows()) == 8 and len(ResultStore(tmp_path, name=SUPERSEDED_FILE).rows()) == 1


def test_rows_written_before_the_sidecar_read_as_before(tmp_path):
    rows = [_row("FD001", 0), _row("FD002", 1)]
    (tmp_path / ROWS_FILE).write_text("".join(json.dumps(row) + "\n" for row in rows))
    store = ResultStore(tmp_path)
    assert store.rows(migrate=False) == rows and not (tmp_path / SHARED_FILE).exists()
    store.append(_row("FD001", 2))
    assert store.rows(migrate=False) == [*rows, _row("FD001", 2)] and Field.SHARED in _disk(store.path)[-1]


@pytest.mark.parametrize("damage, row_problem", [
    (lambda lines: lines[1:], "refers to shared arrays {ref} that shared.jsonl does not hold"),
    (lambda lines: [lines[0].replace("[30,31]", "[30,32]"), *lines[1:]], "refers to shared arrays {ref}"),
    (lambda lines: ["{not json", *lines[1:]], "refers to shared arrays {ref}"),
], ids=["line removed", "line changed", "line not JSON"])
def test_a_row_whose_arrays_are_missing_or_damaged_is_reported_naming_file_and_line(tmp_path, damage, row_problem):
    store = ResultStore(tmp_path)
    for row in (_row("FD001", 0), _row("FD002", 0), _row("FD001", 1)):
        store.append(row)
    sidecar = tmp_path / SHARED_FILE
    ref = _disk(sidecar)[0]["ref"]
    sidecar.write_text("".join(line + "\n" for line in damage(sidecar.read_text().splitlines())))
    warnings: list[str] = []
    rows = ResultStore(tmp_path, warn=warnings.append).rows()
    assert [(r["subset"], r["seed"]) for r in rows] == [("FD002", 0)]  # the others are usable
    shown = warnings[-1]
    assert shown.startswith(f"{store.path} has 2 lines that are not a valid trial row")
    assert f"line 1: {row_problem.format(ref=ref)}" in shown and "line 3: " in shown
    if len(warnings) == 2:  # the sidecar's own line is reported too, first
        assert warnings[0].startswith(f"{sidecar} has 1 line that is not valid shared arrays, ignored (line 1: ")
    reported = len(warnings)
    reread = ResultStore(tmp_path, warn=warnings.append)
    reread.rows(), reread.rows()
    assert len(warnings) == 2 * reported  # once per store


def test_a_changed_sidecar_line_is_named_as_changed(tmp_path):
    ResultStore(tmp_path).append(_row("FD001", 0))
    sidecar = tmp_path / SHARED_FILE
    sidecar.write_text(sidecar.read_text().replace("[30,31]", "[30,32]") + '[1]\n{"ref": "x", "units": 3}\n')
    warnings: list[str] = []
    assert ResultStore(tmp_path, warn=warnings.append).rows() == []
    assert warnings[0].startswith(f"{sidecar} has 3 lines that are not valid shared arrays")
    assert "line 1: arrays that do not match their digest" in warnings[0]
    assert "line 2: a JSON list, not an object" in warnings[0]
    assert "line 3: 'units' is not a shared array" in warnings[0]


@pytest.mark.parametrize("reference, problem", [(7, "a 'shared' reference that is 7, not a digest"),
                                                (None, "holds both a 'shared' reference and its own 'units'")])
def test_a_bad_reference_is_reported(tmp_path, reference, problem):
    store = ResultStore(tmp_path)
    store.append(_row("FD001", 0))
    row = _disk(store.path)[0]
    if reference is None:
        row["units"] = [1, 2, 3]
    else:
        row[Field.SHARED] = reference
    with open(store.path, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    warnings: list[str] = []
    assert len(ResultStore(tmp_path, warn=warnings.append).rows()) == 1
    assert f"line 2: {problem}" in warnings[0]


def test_a_torn_sidecar_line_is_cut_and_the_next_append_writes_its_arrays_again(tmp_path):
    """A driver killed after part of a new content went out, before its row: the repair cuts
    the fragment, and the next append of that content writes it whole."""
    store = ResultStore(tmp_path)
    store.append(_row("FD001", 0))
    sidecar = tmp_path / SHARED_FILE
    whole = sidecar.read_bytes()
    fragment = b'{"ref":"abc","units":[1,'
    sidecar.write_bytes(whole + fragment)
    message = ResultStore(tmp_path).repair_tail()
    assert message and f"{sidecar}: removed an incomplete last line (line 2, {len(fragment)} bytes)" in message
    assert sidecar.read_bytes() == whole
    sidecar.write_bytes(whole.rstrip(b"\n"))  # a complete line that lost its newline keeps it
    assert ResultStore(tmp_path).repair_tail() is None and sidecar.read_bytes() == whole
    sidecar.write_bytes(whole + b'{"ref":"abc","uni')  # not repaired: the next append isolates it
    ResultStore(tmp_path, warn=lambda _: None).append(_row("FD002", 0))
    warnings: list[str] = []
    assert len(ResultStore(tmp_path, warn=warnings.append).rows()) == 2
    assert "line 2: not valid JSON" in warnings[0] and len(_disk_lines(sidecar)) == 3


def _disk_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def test_compact_rewrites_old_rows_losslessly_and_once(tmp_path):
    rows = [_row("FD001", 0), _row("FD001", 1), _row("FD002", 0, status="failed")]
    (tmp_path / ROWS_FILE).write_text("".join(json.dumps(row) + "\n" for row in rows) + "not json\n")
    (tmp_path / SUPERSEDED_FILE).write_text(json.dumps(_row("FD001", 9)) + "\n")
    before = ResultStore(tmp_path, warn=lambda _: None).rows()
    sizes = compact(tmp_path)
    assert sizes[ROWS_FILE][1] < sizes[ROWS_FILE][0]
    assert sizes[SHARED_FILE] == (0, (tmp_path / SHARED_FILE).stat().st_size)
    assert ResultStore(tmp_path, warn=lambda _: None).rows() == before
    assert ResultStore(tmp_path, name=SUPERSEDED_FILE).rows(migrate=False) == [_row("FD001", 9)]
    assert len(_disk_lines(tmp_path / SHARED_FILE)) == 1 and "not json" in _disk_lines(tmp_path / ROWS_FILE)
    again = {name: (tmp_path / name).read_bytes() for name in (ROWS_FILE, SUPERSEDED_FILE, SHARED_FILE)}
    compact(tmp_path)
    assert again == {name: (tmp_path / name).read_bytes() for name in again}


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_the_committed_rows_read_back_whole_and_their_metrics_recompute(folder):
    """Every line of the committed row files is a row, its shared arrays found; each ok row's
    stored RMSE (capped and raw) and validation RMSE is what its own predictions give, exactly."""
    max_rul = json.loads((folder / "run.json").read_text())["protocol"]["max_rul"]
    checked = 0
    for name in (ROWS_FILE, SUPERSEDED_FILE):
        if not (folder / name).is_file():
            continue
        rows = ResultStore(folder, name=name, warn=pytest.fail).rows()
        assert len(rows) == len(_disk_lines(folder / name)) and not any(Field.SHARED in row for row in rows)
        for row in (r for r in rows if r[Field.STATUS] == "ok"):
            truth, pred = np.asarray(row[Field.Y_TRUE], float), np.asarray(row[Field.Y_PRED], float)
            assert row[Field.RMSE] == rmse(np.minimum(truth, max_rul), pred), row[Field.KEY]
            assert row["rmse_raw"] == rmse(truth, pred), row[Field.KEY]
            if isinstance(row.get(Field.VALID_Y_PRED), list):
                stored = row.get(Field.VALID_RMSE, row[Field.INFO].get(Field.VALID_RMSE))  # an ensemble's: in info
                assert stored == rmse(np.asarray(row[Field.VALID_Y_TRUE]), np.asarray(row[Field.VALID_Y_PRED]))
            checked += 1
    assert checked >= (500 if folder.name == "study" else 9)


def test_the_committed_study_stays_under_5_mb():
    """``reports/study/trials.jsonl`` must stay under 5 MB with the budget curves' ~250 rows in.
    Measured when the sidecar came: 4,491,339 bytes for 460 rows before (9,764 a row),
    3,262,503 after (7,092 a row) plus 21,696 in shared.jsonl; superseded.jsonl 714,927 ->
    582,324. A row written today takes 5,355 bytes on disk on average (9,137 with its arrays
    inline; a smoke run of XGBoost and LSTM on FD001-FD004, real data); the committed tuned rows
    would take 6,155 with today's float32 predictions, and an ensemble row 8,279 (its
    predictions keep float64 digits). 180 curve trials and 72 ensembles: about 1.7 MB more,
    about 4.97 MB in all. Copies then came to refer to their sources' predictions
    (``study.records.copies``): the 72 copies went from 9.2 kB to 4.1 kB a row, the file from
    3,763,977 to 3,395,600 bytes. Every ok row on disk refers to its arrays: a writer that stored
    them inline again would put the file back over."""
    path = ROOT / "reports/study" / ROWS_FILE
    assert path.stat().st_size < 5_000_000
    on_disk = _disk(path)
    assert all(Field.SHARED in row for row in on_disk if row[Field.STATUS] == "ok")
    rows = ResultStore(path.parent, warn=pytest.fail).rows(migrate=False)
    inline = sum(len(json.dumps(row, separators=(",", ":"))) + 1 for row in rows)
    assert path.stat().st_size < 0.75 * inline  # measured: 0.726
