"""Reading a finished (or running) run folder: its study rows and its run record.

Here, below ``report``, ``compare``, ``rank`` and ``ensemble``, so that each of them can read
a run without importing another (no import cycles).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from study.core.errors import StudyError
from study.records.selection import Selection, configs_from, select
from study.records.store import ResultStore, read_run_info


def load_run(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The study rows (see ``study_rows``) and run record of a run folder."""
    rows, info, _ = load_selected_run(run_dir)
    return rows, info


def load_selected_run(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any], Selection]:
    """The study rows, run record and the ``Selection`` that picked the rows (to save beside
    the tables: ``study.records.tables.write_tables``)."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise StudyError(f"{run_dir} is a file; give the run folder that holds it ({run_dir.parent}).")
    if not run_dir.is_dir():
        raise StudyError(f"{run_dir} does not exist; give a run folder written by python -m study.run.")
    info = read_run_info(run_dir, warn=None)  # a corrupt run.json is refused with the way out
    stored = ResultStore(run_dir).rows()
    selection = select(stored, info.get("protocol_hash"), configs=configs_from(info))
    rows = selection.apply(stored)
    if not rows:
        raise StudyError(f"{run_dir} holds no trial rows ({run_dir / 'trials.jsonl'}); run python -m study.run first.")
    return rows, info, selection
