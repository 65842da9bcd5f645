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
