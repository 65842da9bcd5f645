"""The derived files of a run folder: leaderboard.csv/.md and predictions.csv, rebuilt from
its study rows (``study.records.selection.study_rows``) by the runner, the report and the
ensemble, and the selection that picked those rows (``selection.json``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from study.core import atomic
from study.records.leaderboard import leaderboard, predictions_frame, to_markdown
from study.records.rows import Field as F
from study.records.selection import Selection, write_selection


def write_tables(out: Path, rows: list[dict[str, Any]], unverified: bool = False,
                 selection: Selection | None = None) -> pd.DataFrame:
    """Write the derived tables of a run folder (leaderboard.csv/.md, predictions.csv) from its
    study rows; the runner calls it after every trial and the report again, so a folder's
    tables can always be rebuilt from ``trials.jsonl``. Each file is replaced atomically: a
    crash or a full disk leaves the previous version, never a table cut mid-row. ``selection``:
    what picked ``rows`` (``selection.apply(trials)``), saved beside them so the tables can be
    rebuilt from ``trials.jsonl`` and that file alone."""
    table = leaderboard(rows)
    atomic.write_csv(out / "leaderboard.csv", table, index=False)
    unverified = unverified or any(r.get(F.DATA_VERIFIED) is False for r in rows)
    header = ("> **Unverified data**: these results come from C-MAPSS files that do not match "
              "NASA's checksums.\n\n") if unverified else ""
    atomic.write_text(out / "leaderboard.md", header + to_markdown(table))
    atomic.write_csv(out / "predictions.csv", predictions_frame(rows), index=False)
    if selection is not None:
        write_selection(out, selection)
    return table


__all__ = ["write_tables"]
