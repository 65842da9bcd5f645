"""The check that no tuned configuration was scored while its tuning could still change it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

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


ROOT = Path(__file__).resolve().parents[2]
CURVES = ROOT / "reports/curves"
BUDGETS = [600.0, 1800.0, 3600.0]


def test_the_budget_table_agrees_with_each_finished_pairs_own_summary():
    """Read from the journals at 10, 30 and 60 minutes, every finished curve pair gives the
    incumbents its tuner recorded (``incumbents`` in MODEL-SUBSET.json) and, at its whole
    budget, every evaluation it counted."""
    from study.tuning.summary import budget_table

    table = budget_table([CURVES / "tuner-a", CURVES / "tuner-b"], BUDGETS)
    done = table[table["done"]]
    assert len(done) >= 5  # LSTM, Transformer on FD001 and FD004, Mamba on FD004 were finished first
    for line in done.to_dict("records"):
        folder = next(f for f in (CURVES / "tuner-a", CURVES / "tuner-b") if (f / f"{line['model']}-{line['subset']}.json").is_file())
        summary = json.loads((folder / f"{line['model']}-{line['subset']}.json").read_text())
        for budget in BUDGETS:
            assert line[f"valid_{budget / 60:g}m"] == summary["incumbents"][f"{budget:g}"]["valid_rmse"]
        assert line["evaluations_60m"] == line["evaluations"] == summary["n_evaluations"] - summary["n_failed"]
        assert line["evaluations_10m"] <= line["evaluations_30m"] <= line["evaluations_60m"]


def test_a_budget_a_running_pair_has_not_spent_is_left_empty(tmp_path):
    """A pair whose tuning is still running (no summary yet) shows no incumbent at a budget it
    has not reached: that choice is not made yet."""
    import shutil

    from study.tuning.summary import budget_markdown, budget_table

    (tmp_path / "journals").mkdir()
    shutil.copy(CURVES / "tuner-a/tune.json", tmp_path / "tune.json")
    shutil.copy(CURVES / "tuner-a/journals/lstm-FD001.log", tmp_path / "journals/lstm-FD001.log")
    line = budget_table([tmp_path], [600.0, 10 ** 6]).iloc[0]
    assert not line["done"] and line["valid_10m"] > 0 and line["evaluations_10m"] > 0
    assert line["valid_16666.7m"] is None and line["evaluations_16666.7m"] is None
    assert budget_markdown(budget_table([tmp_path], [600.0, 10 ** 6]), [600.0, 10 ** 6]).splitlines()[2].endswith(" | - |")


def test_the_command_refreshes_the_block_of_a_page_and_refuses_a_page_without_one(tmp_path):
    from study.tuning.summary import budget_table, main

    page = tmp_path / "README.md"
    page.write_text("# Curves\n\nprose stays\n\n<!-- table:tuning-budgets -->\nold\n<!-- /table -->\n\nafter\n")
    folders = [str(CURVES / "tuner-a"), str(CURVES / "tuner-b")]
    assert main([*folders, "--budgets", "600,1800,3600", "--into", str(page)]) == 0
    text = page.read_text()
    assert "old" not in text and "prose stays" in text and text.endswith("<!-- /table -->\n\nafter\n")
    assert "| lstm | FD001 | done |" in text
    table = budget_table([CURVES / "tuner-a", CURVES / "tuner-b"], BUDGETS)
    assert f"| **all {len(table)} pairs** |  | {int(table['done'].sum())} done | {table['spent_s'].sum():,.0f} (" in text
    bare = tmp_path / "bare.md"
    bare.write_text("no block here\n")
    assert main([*folders, "--budgets", "600", "--into", str(bare)]) == 2 and bare.read_text() == "no block here\n"
    assert main([*folders, "--into", str(page)]) == 2  # --into refreshes the budget table only
    with pytest.raises(SystemExit) as refused:  # argparse's own refusal
        main([*folders, "--budgets", "0,600"])
    assert refused.value.code == 2


def test_the_committed_curves_readme_shows_what_the_committed_journals_hold():
    """The status table in reports/curves/README.md is generated (make curves-status), never
    typed: it must match the journals committed beside it."""
    from study.core.markdown import TABLE
    from study.tuning.summary import BUDGET_BLOCK, CHOSEN_BLOCK, budget_markdown, budget_table, chosen_markdown

    blocks = {m.group("name"): m.group(0).split("\n", 1)[1].rsplit("<!-- /table -->", 1)[0]
              for m in TABLE.finditer((CURVES / "README.md").read_text())}
    folders = [CURVES / "tuner-a", CURVES / "tuner-b"]
    assert blocks[BUDGET_BLOCK] == budget_markdown(budget_table(folders, BUDGETS), BUDGETS)
    assert blocks[CHOSEN_BLOCK] == chosen_markdown(folders, max(BUDGETS))


def test_the_chosen_table_shows_each_searched_parameter_against_its_default(tmp_path):
    import shutil

    from study.tuning.summary import chosen_markdown

    (tmp_path / "a").mkdir()
    summary = json.loads((CURVES / "tuner-b/transformer-FD004.json").read_text())
    shutil.copy(CURVES / "tuner-b/transformer-FD004.json", tmp_path / "a/transformer-FD004.json")
    text = chosen_markdown([tmp_path / "a"], 3600.0)
    chosen, base = summary["incumbents"]["3600"]["params"], summary["settings"]["base_params"]
    assert text.startswith("**transformer** at 60m:")
    for name in summary["settings"]["search_space"]:
        cell = "=" if chosen[name] == base[name] else (f"{chosen[name]:.3g}" if isinstance(chosen[name], float)
                                                        else str(chosen[name]))
        assert any(line.startswith(f"| {name} |") and line.endswith(f" | {cell} |") for line in text.splitlines())
    assert "no finished tuning" in chosen_markdown([tmp_path / "a"], 7200.0)


def test_a_copy_counts_from_when_it_was_copied_and_must_say_when(tmp_path):
    """A budget point that chose a configuration already scored (the defaults, or a shorter
    budget's choice) gets its test row by copying: the check reads ``copied_at``, not the
    source's ``started_at``, and a budget-point copy that lacks it is a problem."""
    _journal(tmp_path, "mamba", "FD004", "2026-12-07T19:02:00+00:00")
    copy = dict(_row("mamba", "FD004", "2026-11-30T16:00:00+0000"), copied_from="k0")
    assert scored_before_tuning_ended([dict(copy, copied_at="2026-12-07T21:40:00+0000")], tmp_path) == (1, [])
    _, problems = scored_before_tuning_ended([copy], tmp_path)
    assert problems == ["mamba/FD004: a copied budget-point row without copied_at"]
    _, early = scored_before_tuning_ended([dict(copy, copied_at="2026-12-07T19:01:00+0000")], tmp_path)
    assert len(early) == 1 and "scored at 2026-12-07 19:01:00" in early[0]


def test_the_ten_minute_counts_in_the_curves_readme_are_what_the_journals_hold():
    """"Configurations per 10 minutes" in reports/curves/README.md: each row's evaluations and
    early stops within the first 600 CPU s are those of the journal in the folder it names."""
    import re

    from study.publishing.views import display_name
    from study.tuning.summary import tuning_table

    text = (CURVES / "README.md").read_text()
    section = text.split("## Configurations per 10 minutes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \| (FD00\d) \| (\d+) \| (\d+) \| `([\w-]+)/?`", section, flags=re.M)
    assert len(rows) >= 5
    names = {display_name(m): m for m in ("lstm", "transformer", "mamba", "darts-tft")}
    for name, subset, evaluations, stopped, folder in rows:
        line = tuning_table(CURVES / folder).set_index(["model", "subset"]).loc[(names[name], subset)]
        assert (int(evaluations), int(stopped)) == (line["in_first_600s"], line["pruned_in_first_600s"]), (name, folder)
