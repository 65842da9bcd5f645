"""Which rows count (study/records/selection.py), per variant, and a leaderboard that only computes."""
from __future__ import annotations

import ast
from pathlib import Path

from study.records.selection import row_config, study_rows

STUDY = Path(__file__).resolve().parents[2] / "study"


def _row(seed: int, config: str, rmse: float, **identity) -> dict:
    return {"key": f"{config}-{seed}", "config": config, "model": "m", "subset": "FD001", "seed": seed,
            "status": "ok", "rmse": rmse, "protocol_hash": "p", "data_fingerprint": "d", "units": [1],
            "y_true": [1.0], "y_pred": [1.0], **identity}


def test_each_variant_of_a_model_keeps_its_own_configuration():
    default = _row(0, "D", 20.0, profile="default")
    hand = _row(0, "H", 15.0, profile="standard")
    hand_newer = _row(0, "H2", 14.0, profile="standard")
    tuned = _row(0, "T", 12.0, profile="standard", tuning={"folder": "t"})
    kept = study_rows([default, hand, tuned, hand_newer])
    assert [r["config"] for r in kept] == ["D", "T", "H2"]  # one configuration per variant: the newest
    # a configuration the command named wins within its variant and leaves the others standing
    named = study_rows([default, hand, tuned, hand_newer], configs={("m", "FD001"): ["H"]})
    assert sorted(r["config"] for r in named) == ["D", "H", "T"]


def test_row_config_of_an_old_row_without_one_hashes_its_params():
    old = {k: v for k, v in _row(0, "", 1.0, params={"a": 1}).items() if k != "config"}
    assert row_config(old) == row_config({**old, "seed": 5}) != row_config({**old, "params": {"a": 2}})


def test_the_leaderboard_module_does_no_io_and_no_registry_look_up():
    """The table is a pure function of its rows: writing files is study.records.tables', finding
    adapters the registry's (through study.records.selection)."""
    tree = ast.parse((STUDY / "records" / "leaderboard.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not imported & {"study.core.atomic", "study.contract.registry", "study.records.store", "pathlib", "os",
                           "json"}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not names & {"open", "atomic", "get_adapter"}


def test_the_selection_is_a_value_that_says_why_and_survives_its_file(tmp_path):
    """``select`` names one configuration per line and why; written and read back, it picks
    the same rows as the rule (so tables follow from trials.jsonl + selection.json alone)."""
    from study.records.selection import NAMED, NEWEST, read_selection, select, write_selection

    default = _row(0, "D", 20.0, profile="default")
    hand, hand_newer = _row(0, "H", 15.0, profile="standard"), _row(0, "H2", 14.0, profile="standard")
    other_protocol = _row(1, "H", 9.0, profile="standard", protocol_hash="q")
    rows = [default, hand, hand_newer, other_protocol]
    configs = {("m", "FD001"): ["H"]}
    selection = select(rows, "p", configs=configs)
    assert selection.lines == {("m", "default", "FD001"): ("D", NEWEST), ("m", "hand-tuned", "FD001"): ("H", NAMED)}
    assert read_selection(tmp_path) is None  # a folder from before selection files
    write_selection(tmp_path, selection)
    back = read_selection(tmp_path)
    assert back == selection
    assert back.apply(rows) == study_rows(rows, "p", configs=configs) == [default, hand]
    # without the run.json history the rule alone would pick the newest: the file is what decides
    assert study_rows(rows, "p") == [default, hand_newer] != back.apply(rows)


def test_a_damaged_selection_file_is_refused_with_the_way_out(tmp_path):
    import pytest

    from study.core.errors import StudyError
    from study.records.selection import SELECTION_FILE, read_selection

    (tmp_path / SELECTION_FILE).write_text('{"lines": [{"model": "m"}]}')
    with pytest.raises(StudyError, match="study.report"):
        read_selection(tmp_path)


def test_the_committed_studys_tables_follow_from_its_rows_and_selection():
    """``reports/study``'s leaderboard.csv is ``leaderboard(selection.apply(trials))``, with the
    selection computed by today's rule from its rows and run.json (read only: nothing written)."""
    import io
    import json

    import pandas as pd

    from study.records.leaderboard import leaderboard
    from study.records.run_folder import load_selected_run
    from study.records.selection import Selection
    from study.records.store import ResultStore

    from study.records.selection import read_selection

    run = STUDY.parent / "reports" / "study"
    rows, _, selection = load_selected_run(run)
    again = Selection.from_dict(json.loads(json.dumps(selection.as_dict())))
    assert again.apply(ResultStore(run).rows()) == rows
    saved = read_selection(run)  # the committed selection.json: the tables' rows, as a value
    assert saved == selection and saved.apply(ResultStore(run).rows()) == rows
    committed = pd.read_csv(run / "leaderboard.csv")
    fresh = pd.read_csv(io.StringIO(leaderboard(rows).to_csv(index=False)))  # as the file holds it
    pd.testing.assert_frame_equal(fresh, committed, check_exact=False, rtol=1e-12)
