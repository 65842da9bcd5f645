"""The leaderboard: a pure function of the trial rows (tables are derived, never edited)."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from study import atomic
from study.adapter import AdapterError
from study.registry import get_adapter
from study.results import config_key
from study.rows import COST_FIELDS, METRIC_FIELDS, Field, variant

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


def current_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Latest row per trial key, in the order they were last written (a forced rerun
    supersedes the older row and moves to where it was appended)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest.pop(row[F.KEY], None)
        latest[row[F.KEY]] = row
    return list(latest.values())


def row_config(row: dict[str, Any], adapters: dict[str, Any] | None = None) -> str:
    """The configuration a row belongs to (its trial key without the seed). A row written
    before rows carried it is hashed from its params less the adapter's key-neutral values,
    as its key was (params as stored when the adapter is no longer installed). ``adapters``:
    a cache of looked-up adapter classes, for many rows."""
    if row.get("config"):
        return row["config"]
    adapters = {} if adapters is None else adapters
    if row["model"] not in adapters:
        try:
            adapters[row["model"]] = get_adapter(row["model"])
        except AdapterError:
            adapters[row["model"]] = None
    params = row.get("params") or {}
    if adapters[row["model"]] is not None:
        params = adapters[row["model"]].key_params(params)
    return config_key(row["model"], params, row["subset"], row.get("protocol_hash"), row.get("data_fingerprint"))


def study_rows(rows: Iterable[dict[str, Any]], protocol_hash: str | None = None,
               fingerprints: dict[str, str] | None = None,
               configs: dict[tuple[str, str], list[str]] | None = None) -> list[dict[str, Any]]:
    """The rows a run folder's tables show: every model run there on one protocol and data,
    each model on each subset at one configuration (params), by default its most recently
    written one. ``configs`` ((model, subset) -> ``row_config`` values, oldest first) names
    it instead: the last of them with rows here. The runner names the configurations each
    command asked for, reused trials included, so rerunning an earlier command shows its
    results again (on whichever protocol and data the tables show).

    So models and subsets can be added to a study by later commands, while rows from an
    older protocol, other data or superseded parameters never mix into the tables. Per
    subset, not per model: an adapter's settings may differ by subset (``subset_params``),
    and rerunning one subset with new settings leaves the others' rows standing.
    ``protocol_hash`` defaults to the newest row's; ``fingerprints`` (subset -> data
    fingerprint) default to each subset's newest row's.
    """
    latest = current_rows(rows)
    if not latest:
        return []
    protocol_hash = protocol_hash or latest[-1].get("protocol_hash")
    newest_data = {r["subset"]: r.get("data_fingerprint") for r in latest}
    fingerprints = {**newest_data, **(fingerprints or {})}
    matching = [r for r in latest if r.get("protocol_hash") == protocol_hash
                and r.get("data_fingerprint") == fingerprints[r["subset"]]]
    adapters: dict[str, Any] = {}
    row_configs = [row_config(row, adapters) for row in matching]
    chosen: dict[tuple[str, str], str] = {}
    for row, configuration in zip(matching, row_configs):  # write order: the last one wins
        chosen[row["model"], row["subset"]] = configuration
    present = {(row["model"], row["subset"], c) for row, c in zip(matching, row_configs)}
    for (model, subset), named in (configs or {}).items():
        with_rows = [c for c in named if (model, subset, c) in present]
        if with_rows:  # the most recently asked-for configuration that has rows here
            chosen[model, subset] = with_rows[-1]
    return [row for row, c in zip(matching, row_configs) if c == chosen[row["model"], row["subset"]]]


def configs_from(run_info: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """A run.json's ``configs`` ("model/subset" -> configurations asked for, oldest first), as
    ``study_rows`` takes them."""
    configs = {}
    stored = run_info.get("configs")
    for pair, asked in (stored.items() if isinstance(stored, dict) else ()):
        if isinstance(pair, str) and isinstance(asked, list):  # a hand-edited file may hold anything
            model, _, subset = pair.rpartition("/")
            configs[model, subset] = [c for c in asked if isinstance(c, str)]
    return configs


def remember_configs(previous: dict[str, list[str]], asked: dict[str, str], keep: int = 20) -> dict[str, list[str]]:
    """run.json's ``configs`` after a command: each pair's list with what it asked for moved
    to the end (the newest ``keep``), so each protocol and data keeps its last request."""
    merged = {pair: list(configs) for pair, configs in previous.items() if isinstance(configs, list)}
    for pair, configuration in asked.items():
        merged[pair] = [c for c in merged.get(pair, []) if c != configuration][-(keep - 1):] + [configuration]
    return merged


def leaderboard(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One line per (model, variant, subset): means over successful seeds, std of RMSE across
    seeds (``variant``: default, tuned, hand-tuned..., see ``study.rows.variant``).

    A line with no successful trial keeps its status and reason and no metrics.
    """
    rows = current_rows(rows)
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
PREDICTION_COLUMNS = [F.MODEL, F.SUBSET, F.SEED, "unit", F.Y_TRUE, F.Y_PRED]


def predictions_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Long table of every successful trial's per-engine predictions."""
    parts = []
    for row in current_rows(rows):
        if row.get(F.STATUS) != "ok":
            continue
        parts.append(pd.DataFrame({
            F.MODEL: row[F.MODEL], F.SUBSET: row[F.SUBSET], F.SEED: row[F.SEED],
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


def write_tables(out: Path, rows: list[dict[str, Any]], unverified: bool = False) -> pd.DataFrame:
    """Write the derived tables of a run folder (leaderboard.csv/.md, predictions.csv) from its
    study rows; the runner calls it after every trial and the report again, so a folder's
    tables can always be rebuilt from ``trials.jsonl``. Each file is replaced atomically: a
    crash or a full disk leaves the previous version, never a table cut mid-row."""
    table = leaderboard(rows)
    atomic.write_csv(out / "leaderboard.csv", table, index=False)
    unverified = unverified or any(r.get("data_verified") is False for r in rows)
    header = ("> **Unverified data**: these results come from C-MAPSS files that do not match "
              "NASA's checksums.\n\n") if unverified else ""
    atomic.write_text(out / "leaderboard.md", header + to_markdown(table))
    atomic.write_csv(out / "predictions.csv", predictions_frame(rows), index=False)
    return table


def ranks(table: pd.DataFrame) -> pd.DataFrame:
    """Rank of each model by RMSE within each subset, and its average rank across subsets
    (only models with results on every subset compared)."""
    ok = table[table["rmse"].notna()]
    if ok.empty:
        return pd.DataFrame(columns=["model", "average_rank"])
    wide = ok.pivot(index="model", columns="subset", values="rmse").dropna()
    ranked = wide.rank(axis=0, method="average")
    ranked["average_rank"] = ranked.mean(axis=1)
    return ranked.sort_values("average_rank").reset_index()


__all__ = ["leaderboard", "study_rows", "configs_from", "remember_configs", "row_config", "predictions_frame",
           "to_markdown", "ranks", "write_tables", "LEADERBOARD_COLUMNS"]
