"""Where would a new model rank in a committed study? ``python -m study.rank NEW_RUN --against reports/study``.

The new run's models are placed into the committed study's leaderboard, subset by subset,
by mean RMSE over seeds, and each is compared engine by engine with a baseline model of the
committed study (``--baseline``, default ``lstm``): the paired bootstrap interval of the RMSE
difference (``study.compare``), so a rank is not read as a win when the test engines cannot
tell the two apart. Numbers are comparable only on the same protocol and the same data:
the command says so when the protocol hash or a subset's data fingerprint differ.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from study.analysis.compare import paired_row
from study.core.cli import add_debug_option, main_guarded
from study.core.errors import StudyError
from study.records.leaderboard import leaderboard, predictions_frame, ranks, to_markdown
from study.records.rows import Field as F
from study.records.rows import resolve_label
from study.records.rows import comparable_labels, distinct_models, failure_summary, split_label
from study.records.run_folder import load_run

NEW_MARK = " (new)"
_COLUMNS = ["model", "subset", "rmse", "rmse_std", "n_seeds", "score", "fit_seconds"]


@dataclass
class Ranking:
    """Per subset, the combined leaderboard (``tables``), and the notes a reader needs."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    average_ranks: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)


def _fingerprints(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in rows:
        out.setdefault(row[F.SUBSET], set()).add(str(row.get(F.DATA_FINGERPRINT)))
    return out


def comparability_notes(new_rows: list[dict[str, Any]], ref_rows: list[dict[str, Any]]) -> tuple[list[str], set[str]]:
    """Notes on protocol and data differences, and the subsets whose data differ."""
    notes = []
    new_protocols = sorted({str(r.get(F.PROTOCOL_HASH)) for r in new_rows})
    ref_protocols = sorted({str(r.get(F.PROTOCOL_HASH)) for r in ref_rows})
    if new_protocols != ref_protocols:
        notes.append(f"NOT COMPARABLE: the runs used different protocols (new {', '.join(new_protocols)}, "
                     f"study {', '.join(ref_protocols)}): windows, labels or validation differ.")
    new_data, ref_data = _fingerprints(new_rows), _fingerprints(ref_rows)
    differing = {s for s in new_data if s in ref_data and new_data[s] != ref_data[s]}
    for subset in sorted(differing):
        notes.append(f"NOT COMPARABLE on {subset}: the data fingerprints differ (new {', '.join(sorted(new_data[subset]))}, "
                     f"study {', '.join(sorted(ref_data[subset]))}): not the same C-MAPSS files.")
    missing = sorted(set(new_data) - set(ref_data))
    if missing:
        notes.append(f"The study has no results on {', '.join(missing)}; those subsets are left out.")
    return notes, differing


def seed_notes(new_board: pd.DataFrame, ref_board: pd.DataFrame) -> list[str]:
    """Where a new model has fewer seeds on a subset than the study's models have there (a run
    still in progress, or a run with fewer ``--seeds``), its line is less certain: say so."""
    notes = []
    for _, line in new_board.sort_values(["model", "subset"]).iterrows():
        study_seeds = ref_board.loc[ref_board["subset"] == line["subset"], "n_seeds"]
        if study_seeds.empty or line["n_seeds"] >= study_seeds.max():
            continue
        notes.append(f"{line['model']} has {int(line['n_seeds'])} seed(s) on {line['subset']}, the study's models up "
                     f"to {int(study_seeds.max())}: a run still in progress, or fewer --seeds; rank it again when "
                     "it has as many.")
    return notes


def rank_against(new_rows: list[dict[str, Any]], ref_rows: list[dict[str, Any]], baseline: str, max_rul: float,
                 **bootstrap: Any) -> Ranking:
    """The new run's models ranked among the study's on every subset both have."""
    notes, differing = comparability_notes(new_rows, ref_rows)
    ref_board, new_board = leaderboard(ref_rows)[_COLUMNS], leaderboard(new_rows)[_COLUMNS]
    ref_board, new_board = ref_board[ref_board["rmse"].notna()], new_board[new_board["rmse"].notna()]
    notes += seed_notes(new_board, ref_board)
    new_board = new_board.assign(model=new_board["model"] + NEW_MARK)
    ref_preds, new_preds = predictions_frame(ref_rows), predictions_frame(new_rows)
    if baseline not in set(ref_board["model"]):
        raise StudyError(f"--baseline {baseline!r} is not in the study; its models: "
                         f"{', '.join(sorted(set(ref_board['model'])))}.")
    ranking = Ranking(notes=notes)
    for subset in sorted(set(new_board["subset"]) & set(ref_board["subset"])):
        table = pd.concat([ref_board[ref_board["subset"] == subset], new_board[new_board["subset"] == subset]])
        table = table.sort_values("rmse", kind="stable").reset_index(drop=True)
        table.insert(0, "rank", range(1, len(table) + 1))
        base = ref_preds[(ref_preds["subset"] == subset) & (ref_preds["model"] == baseline)]
        cells = []
        for model in table["model"]:
            if not model.endswith(NEW_MARK) or base.empty:
                cells.append("")
                continue
            candidate = new_preds[(new_preds["subset"] == subset) & (new_preds["model"] == model[:-len(NEW_MARK)])]
            if subset in differing:
                cells.append("not comparable (other data)")
                continue
            try:
                row = paired_row(candidate, base, max_rul, f"{model} and {baseline} on {subset}", **bootstrap)
            except ValueError as exc:
                cells.append(f"not comparable ({exc})")
                continue
            cells.append(f"{row['difference']:+.2f} ({row['ci_low']:+.2f} to {row['ci_high']:+.2f}) {row['verdict']}")
        table[f"vs {baseline}"] = cells
        ranking.tables[subset] = table[["rank", "model", "rmse", "rmse_std", "n_seeds", "score", "fit_seconds",
                                        f"vs {baseline}"]]
    combined = pd.concat([ref_board, new_board])
    ranking.average_ranks = ranks(combined[combined["subset"].isin(ranking.tables)])
    return ranking


def check_some_succeeded(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """A run with no successful trial has nothing to rank: say why its trials did not succeed."""
    if any(row.get(F.STATUS) == "ok" for row in rows):
        return
    raise StudyError(f"{run_dir} has no successful trial to rank; its {len(rows)} trial"
                     f"{'' if len(rows) == 1 else 's'}: {failure_summary(rows)}. Fix the cause and rerun the "
                     "python -m study.run command (with --debug it prints each failed trial's traceback).")


def render(ranking: Ranking, baseline: str) -> str:
    parts = [*(f"Note: {note}\n" for note in ranking.notes)]
    parts.append(f"Models of the new run are marked{NEW_MARK}. `vs {baseline}`: RMSE minus the study's {baseline}'s "
                 "on the same test engines, with a 95% paired bootstrap interval over the engines "
                 "(lower: beyond the test engines' noise).\n")
    for subset, table in ranking.tables.items():
        parts.append(f"## {subset}\n\n{to_markdown(table)}")
    if not ranking.average_ranks.empty:
        parts.append("## Average rank (models with results on every subset shown)\n\n"
                     + to_markdown(ranking.average_ranks))
    return "\n".join(parts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m study.rank",
        description="Place the models of a new run into a committed study's leaderboard, subset by subset, with a "
                    "paired engine-by-engine comparison against one of the study's models.")
    parser.add_argument("run_dir", type=Path, help="the new run (python -m study.run --out RUN_DIR)")
    parser.add_argument("--against", type=Path, default=Path("reports/study"),
                        help="the committed study (default: reports/study)")
    parser.add_argument("--baseline", default="lstm",
                        help="the study's model to compare with, MODEL@VARIANT where it has several (default: lstm, "
                             "its tuned variant if the study has several)")
    add_debug_option(parser)
    return parser


def labelled_like_the_study(new_rows: list[dict], ref_rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Both runs' rows named alike (``comparable_labels``: "lstm (tuned)" meets "lstm (tuned)");
    where the study names its variants, every model of the new run is named with its variant
    too ("my-model (hand-tuned) (new)"), so a reader sees which settings the new line ran."""
    new_labelled, ref_labelled = comparable_labels(new_rows, ref_rows)
    if not any(split_label(row[F.MODEL])[1] for row in ref_labelled):
        return new_labelled, ref_labelled
    named = {split_label(row[F.MODEL])[0] for row in (*new_labelled, *ref_labelled) if split_label(row[F.MODEL])[1]}
    named |= {row[F.MODEL] for row in new_rows}
    return distinct_models(new_rows, named), distinct_models(ref_rows, named)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        (new_rows, info), (ref_rows, _) = load_run(args.run_dir), load_run(args.against)
        check_some_succeeded(args.run_dir, new_rows)
        new_rows, ref_rows = labelled_like_the_study(new_rows, ref_rows)
        baseline = resolve_label(args.baseline, {r[F.MODEL] for r in ref_rows})
        ranking = rank_against(new_rows, ref_rows, baseline, info.get("protocol", {}).get("max_rul", 125))
        if not ranking.tables:
            raise StudyError(f"{args.run_dir} has no successful results on a subset of {args.against}.")
        print(render(ranking, baseline))
        return 0

    return main_guarded(body, args.debug)
