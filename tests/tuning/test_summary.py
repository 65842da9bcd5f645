"""The check that no tuned configuration was scored while its tuning could still change it."""
from __future__ import annotations

import json
from pathlib import Path

from study.tuning.summary import journal_last_time, scored_before_tuning_ended


def _journal(root: Path, model: str, subset: str, *times: str) -> None:
    folder = root / "tuning" / "journals"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [{"op_code": 0, "study_name": f"{model}/{subset}"}]
    lines += [{"op_code": 6, "trial_id": i, "datetime_complete": t} for i, t in enumerate(times)]
    (folder / f"{model}-{subset}.log").write_text("".join(json.dumps(line) + "\n" for line in lines))


def _row(model: str, subset: str, started: str, study_id: str = "s1") -> dict:
    return {"model": model, "subset": subset, "started_at": started,
            "tuning": {"dir": "tuning", "study_id": study_id, "budget_point_s": 600.0}}


def test_the_last_time_is_the_latest_of_any_record(tmp_path):
    _journal(tmp_path, "lstm", "FD001", "2026-12-07T17:31:45.165943+00:00", "2026-12-07T19:02:00+00:00",
             "2026-12-07T18:00:00+00:00")
    assert journal_last_time(tmp_path / "tuning/journals/lstm-FD001.log").isoformat() == "2026-12-07T19:02:00+00:00"


def test_rows_scored_after_the_journal_ended_pass(tmp_path):
    _journal(tmp_path, "lstm", "FD001", "2026-12-07T19:02:00+00:00")
    rows = [_row("lstm", "FD001", "2026-12-08T09:00:00+0000"), _row("lstm", "FD001", "2026-12-08T09:05:00+0000"),
            {"model": "ensemble-nnls", "subset": "FD001", "started_at": "2026-12-01T00:00:00+0000",
             "tuning": {"members": {"lstm": "abc"}}}, {"model": "xgboost", "subset": "FD001", "tuning": None}]
    assert scored_before_tuning_ended(rows, tmp_path) == (1, [])


def test_a_row_scored_before_the_tuning_ended_is_named(tmp_path):
    _journal(tmp_path, "lstm", "FD001", "2026-12-07T19:02:00+00:00")
    _journal(tmp_path, "mamba", "FD004", "2026-12-07T19:02:00+00:00")
    rows = [_row("lstm", "FD001", "2026-12-08T09:00:00+0000"),
            _row("mamba", "FD004", "2026-12-08T09:00:00+0000"), _row("mamba", "FD004", "2026-12-07T18:59:59+0000")]
    checked, problems = scored_before_tuning_ended(rows, tmp_path)
    assert checked == 2 and len(problems) == 1
    assert problems[0].startswith("mamba/FD004: scored at 2026-12-07 18:59:59") and "until 2026-12-07 19:02:00" in problems[0]


def test_a_missing_journal_is_a_problem_not_a_pass(tmp_path):
    checked, problems = scored_before_tuning_ended([_row("lstm", "FD002", "2026-12-08T09:00:00+0000")], tmp_path)
    assert checked == 1 and "is not there" in problems[0]
