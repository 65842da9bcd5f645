"""The leaderboard: a pure function of the trial rows (no I/O, no registry look-ups).

Which rows to give it is ``study.records.selection``'s decision (the latest row of each trial
key is picked there, once); writing the tables is ``study.records.tables``'. Given two rows of
one trial key it refuses rather than silently picking one.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from study.records.rows import COST_FIELDS, METRIC_FIELDS, Field, variant

F = Field
#: Columns a leaderboard line has besides the row fields it averages.
RMSE_STD, N_SEEDS = "rmse_std", "n_seeds"
RMSE = F.RMSE
LEADERBOARD_COLUMNS = [
    F.MODEL, F.VARIANT, F.SUBSET, F.STATUS, "rmse", RMSE_STD, "rmse_ci_low", "rmse_ci_high", "rmse_raw",
    "score", "score_mean", "mae", N_SEEDS, F.FIT_SECONDS, F.PREDICT_SECONDS, F.N_TEST_ENGINES,
    F.N_PARAMETERS, F.FAMILY, F.FORMULATION, F.REASON,
]
_AT_SEEDS = LEADERBOARD_COLUMNS.index(N_SEEDS)  # a new metric shows up before n_seeds without an edit here
LEADERBOARD_COLUMNS[_AT_SEEDS:_AT_SEEDS] = [m for m in METRIC_FIELDS if m not in LEADERBOARD_COLUMNS]
#: What one leaderboard line is: a model, in one variant of its configuration, on one subset.
LINE = [F.MODEL, F.VARIANT, F.SUBSET]
_STATUS_ORDER = {"ok": 0, "failed": 1, "skipped": 2}


def _one_row_per_trial(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as given, or ``ValueError`` if a trial key comes twice: which of a rerun's rows
    counts is the selection's decision (``study.records.selection``), not a table's."""
    rows = list(rows)
    seen: set[str] = set()
    for row in rows:
        key = row[F.KEY]
        if key in seen:
            raise ValueError(f"Trial key {key!r} ({row.get(F.MODEL)} {row.get(F.SUBSET)} seed {row.get(F.SEED)}) "
                             "comes twice: select the rows first (study.records.selection.study_rows).")
        seen.add(key)
    return rows


def leaderboard(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One line per (model, variant, subset): means over successful seeds, std of RMSE across
    seeds (``variant``: default, tuned, hand-tuned..., see ``study.records.rows.variant``), of
    exactly the rows given (one per trial key, else ``ValueError``).

    A line with no successful trial keeps its status and reason and no metrics.
    """
    rows = _one_row_per_trial(rows)
    if not rows:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    frame = pd.DataFrame(rows).assign(**{F.VARIANT: [variant(row) for row in rows]})
    out = []
    for (model, kind, subset), group in frame.groupby(LINE, sort=True):
        ok = group[group[F.STATUS] == "ok"]
        statuses = sorted(group[F.STATUS], key=lambda s: _STATUS_ORDER.get(s, 3))
        line: dict[str, Any] = {
            F.MODEL: model, F.VARIANT: kind, F.SUBSET: subset,
            F.STATUS: "ok" if len(ok) else statuses[0],
            N_SEEDS: len(ok),
            F.FAMILY: group[F.FAMILY].iloc[0] if F.FAMILY in group else None,
            F.FORMULATION: group[F.FORMULATION].iloc[0] if F.FORMULATION in group else None,
            F.REASON: "; ".join(sorted({str(r) for r in group.get(F.REASON, pd.Series()).dropna() if r})) or None,
        }
        if len(ok) and len(ok) < len(group):
            line[F.STATUS] = f"ok ({len(group) - len(ok)} of {len(group)} seeds failed)"
        if len(ok):
            for col in (*METRIC_FIELDS, *COST_FIELDS):
                line[col] = float(ok[col].mean()) if col in ok else None  # a hand-made row may lack one
            line[RMSE_STD] = float(ok[RMSE].std(ddof=1)) if len(ok) > 1 and RMSE in ok else 0.0
            line[F.N_TEST_ENGINES] = (int(ok[F.N_TEST_ENGINES].iloc[0]) if F.N_TEST_ENGINES in ok
                                      else len(ok[F.UNITS].iloc[0]))
            n_params = ok[F.N_PARAMETERS].dropna() if F.N_PARAMETERS in ok else pd.Series(dtype=float)
            line[F.N_PARAMETERS] = int(n_params.iloc[0]) if len(n_params) else None
        out.append(line)
    table = pd.DataFrame(out).reindex(columns=LEADERBOARD_COLUMNS)
    return table.sort_values([F.SUBSET, RMSE], na_position="last", kind="stable").reset_index(drop=True)


#: The columns of the long predictions table (one line per test engine of each ok trial).
PREDICTION_COLUMNS = [F.MODEL, F.VARIANT, F.SUBSET, F.SEED, "unit", F.Y_TRUE, F.Y_PRED]


def predictions_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Long table of every successful trial's per-engine predictions; ``variant`` tells a
    model's out-of-the-box, tuned and hand-tuned predictions apart."""
    parts = []
    for row in _one_row_per_trial(rows):
        if row.get(F.STATUS) != "ok":
            continue
        parts.append(pd.DataFrame({
            F.MODEL: row[F.MODEL], F.VARIANT: variant(row), F.SUBSET: row[F.SUBSET], F.SEED: row[F.SEED],
            "unit": row[F.UNITS], F.Y_TRUE: row[F.Y_TRUE], F.Y_PRED: row[F.Y_PRED],
        }))
    if not parts:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values([F.MODEL, F.SUBSET, F.SEED, "unit"], kind="stable")


def to_markdown(table: pd.DataFrame, digits: int = 2) -> str:
    """A leaderboard as a markdown table (no optional dependency on tabulate)."""
    if table.empty:
        return "_no results_\n"
    shown = table.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            fmt = "{:.0f}" if str(col).startswith("n_") else f"{{:.{digits}f}}"  # counts stay counts
            shown[col] = shown[col].map(lambda v, fmt=fmt: "" if pd.isna(v) else fmt.format(v))
    shown = shown.fillna("").astype(str)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(v.replace("|", "/") for v in r) + " |" for r in shown.to_numpy()]
    return "\n".join([header, rule, *body]) + "\n"


def ranks(table: pd.DataFrame) -> pd.DataFrame:
    """Rank of each model by RMSE within each subset, and its average rank across subsets
    (only models with results on every subset compared)."""
    ok = table[table[RMSE].notna()]
    if ok.empty:
        return pd.DataFrame(columns=["model", "average_rank"])
    wide = ok.pivot(index="model", columns="subset", values="rmse").dropna()
    ranked = wide.rank(axis=0, method="average")
    ranked["average_rank"] = ranked.mean(axis=1)
    return ranked.sort_values("average_rank").reset_index()


__all__ = ["leaderboard", "predictions_frame", "to_markdown", "ranks", "LEADERBOARD_COLUMNS", "PREDICTION_COLUMNS"]
