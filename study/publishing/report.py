"""``python -m study.report RUN_DIR``: the markdown report and figures of a run, from its rows.

Everything here is derived from ``trials.jsonl`` and ``run.json`` (and, when present, the
friction measurements), so a report can always be regenerated. Published results appear only
in their own, labelled table - never in the measured ranking.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from study.analysis.compare import compare_to_baseline, comparison_table
from study.core import atomic
from study.core.cli import add_debug_option, main_guarded
from study.core.errors import StudyError
from study.core.lock import run_folder_lock
from study.core.markdown import refresh_tables
from study.data.published import published_results
from study.publishing.curves import (BUDGET_POINTS_S, budget_frame, budget_means, budget_means_markdown, crossings,
                                     crossings_markdown, curve_frame, plot_budget_means, plot_curves, plot_traces,
                                     tuning_folders, validation_points)
from study.publishing.markers import FileValues, RunValues, refresh_values
from study.records.leaderboard import N_SEEDS, RMSE_STD, leaderboard, predictions_frame, ranks, to_markdown
from study.records.rows import Field as F
from study.records.rows import distinct_models
from study.records.run_folder import load_selected_run
from study.records.selection import Selection
from study.records.tables import write_tables

FIGURES = {
    "bars": "fig_rmse_by_subset.png",
    "dots": "fig_results_phone.png",
    "pred_vs_true": "fig_pred_vs_true.png",
    "error_vs_true": "fig_error_vs_true.png",
    "pareto": "fig_accuracy_vs_cost.png",
    "ranks": "fig_average_rank.png",
    "planner": "fig_planner_misses.png",
    "readers": "fig_how_models_read.png",
}
#: Drawn only for a run that holds budget points (``study.publishing.curves``).
CURVES_FIGURE = "fig_budget_curves.png"
MEANS_FIGURE = "fig_budget_means.png"
TRACES_FIGURE = "fig_tuning_traces.png"
#: The model every other is compared with, engine by engine: the study asks whether others beat an LSTM.
DEFAULT_BASELINE = "lstm"


# ----- tables -------------------------------------------------------------------------------
def _mean_std(mean: float, std: float, n_seeds: int) -> str:
    """'12.34 ± 0.56' over several seeds; a single seed has no spread to show."""
    return f"{mean:.2f} ± {std:.2f}" if n_seeds > 1 else f"{mean:.2f} (1 seed)"


def subset_table(board: pd.DataFrame, subset: str) -> str:
    """Per-subset leaderboard in reader-friendly form (RMSE +/- std over seeds, CI)."""
    part = board[board[F.SUBSET] == subset].copy()
    if part.empty:
        return "_no results_\n"

    def fmt(v, digits=2):
        return "" if pd.isna(v) else f"{v:.{digits}f}"

    lines = ["| rank | model | variant | family | RMSE (± std over seeds) | 95% CI (per seed, mean) | NASA score "
             "| MAE | RMSE raw truth | fit s | predict s | params | seeds | status |", "|" + "---|" * 14]
    rank = 0
    for _, r in part.iterrows():
        ok = not pd.isna(r[F.RMSE])
        rank += ok
        params = "" if pd.isna(r.get(F.N_PARAMETERS)) else f"{int(r[F.N_PARAMETERS]):,}"
        lines.append(" | ".join([
            "|" + (str(rank) if ok else "-"), str(r[F.MODEL]), str(r[F.VARIANT]), str(r[F.FAMILY] or ""),
            _mean_std(r[F.RMSE], r[RMSE_STD], r[N_SEEDS]) if ok else "",
            f"{fmt(r['rmse_ci_low'])}-{fmt(r['rmse_ci_high'])}" if ok else "",
            fmt(r[F.SCORE], 0), fmt(r[F.MAE]), fmt(r["rmse_raw"]), fmt(r[F.FIT_SECONDS], 1),
            fmt(r[F.PREDICT_SECONDS], 2), params, str(int(r[N_SEEDS])),
            str(r[F.STATUS]) + ("" if ok or pd.isna(r[F.REASON]) else f": {r[F.REASON]}") + " |"]))
    return "\n".join(lines) + "\n"


def rank_table(board: pd.DataFrame) -> str:
    """Average rank across subsets (models with results on every subset)."""
    table = ranks(board)
    if table.empty:
        return "_no model has results on every subset_\n"
    shown = table.rename(columns={"average_rank": "average rank"})
    return to_markdown(shown, digits=2)


def reference_table(subsets: list[str]) -> str:
    """Published results for these subsets, labelled as reported, not reproduced."""
    ref = published_results()
    ref = ref[ref["subset"].isin(subsets)]
    lines = ["| model | family | subset | RMSE | score | reported in | note |", "|---|---|---|---|---|---|---|"]
    for _, r in ref.iterrows():
        score = "" if pd.isna(r["score"]) else f"{r['score']:g}"
        note = "" if pd.isna(r["note"]) else str(r["note"])
        lines.append(f"| {r['model']} | {r['family']} | {r['subset']} | {r['rmse']:.2f} | {score} | "
                     f"{r['citation']} ({r['year']}), read from {r['read_from']} | {note} |")
    return "\n".join(lines) + "\n"


def friction_table(rows: list[dict[str, Any]], run_dir: Path) -> str:
    """Per-library friction: measured run costs from the rows, plus static measurements
    (adapter size, conversions, import time, install size, workarounds) when available."""
    measured = [F.FIT_SECONDS, F.PREDICT_SECONDS, F.PEAK_RSS_MB, F.N_WARNINGS]  # absent if no trial ran
    frame = pd.DataFrame(rows).reindex(columns=[F.MODEL, F.STATUS, *measured])
    stats = frame.groupby(F.MODEL).agg(
        fit_s=(F.FIT_SECONDS, "mean"), predict_s=(F.PREDICT_SECONDS, "mean"),
        peak_rss_mb=(F.PEAK_RSS_MB, "max"), warnings=(F.N_WARNINGS, "sum"),
        failed=(F.STATUS, lambda s: int((s == "failed").sum())),
        skipped=(F.STATUS, lambda s: int((s == "skipped").sum()))).reset_index()
    static_path = next((p for p in (run_dir / "friction.csv", Path(__file__).parents[2] / "reports" / "friction.csv")
                        if p.exists()), None)
    if static_path is not None:
        stats = stats.merge(pd.read_csv(static_path), on=F.MODEL, how="left")
    return to_markdown(stats, digits=1)


def model_summary_table(board: pd.DataFrame) -> str:
    """One line per model and variant: RMSE (mean ± std over seeds) on each subset, mean fit
    time, status."""
    ok = board.copy()
    subsets = sorted(ok[F.SUBSET].unique())
    lines = ["| model | variant | family | " + " | ".join(subsets) + " | mean fit s | seeds |",
             "|" + "---|" * (len(subsets) + 5)]
    order = ok.groupby([F.MODEL, F.VARIANT])[F.RMSE].mean().sort_values(na_position="last").index
    for model, kind in order:
        part = ok[(ok[F.MODEL] == model) & (ok[F.VARIANT] == kind)].set_index(F.SUBSET)
        cells = []
        for subset in subsets:
            if subset not in part.index:
                cells.append("")
            elif pd.isna(part.loc[subset, F.RMSE]):
                cells.append(str(part.loc[subset, F.STATUS]))
            else:
                cells.append(_mean_std(part.loc[subset, F.RMSE], part.loc[subset, RMSE_STD],
                                       part.loc[subset, N_SEEDS]))
        fit = part[F.FIT_SECONDS].mean()
        seeds = "/".join(str(int(n)) for n in part[N_SEEDS].unique())
        lines.append(f"| {model} | {kind} | {part[F.FAMILY].iloc[0]} | " + " | ".join(cells)
                     + f" | {'' if pd.isna(fit) else f'{fit:.0f}'} | {seeds} |")
    return "\n".join(lines) + "\n"


#: The variants side by side, in this order (``study.records.rows.variant``)
VARIANT_ORDER = ("default", "tuned", "hand-tuned")


def variants_table(rows: list[dict[str, Any]], board: pd.DataFrame) -> str | None:
    """Each model's out-of-the-box, tuned and hand-tuned RMSE per subset side by side, with
    what the equal tuning budget bought (``tuned - default``) and how many evaluations it was;
    None when no model has two of those variants here."""
    shown = board[board[F.VARIANT].isin(VARIANT_ORDER)]
    kinds = shown.groupby(F.MODEL)[F.VARIANT].nunique()
    models = [m for m in kinds.index if kinds[m] > 1]
    if not models:
        return None
    links = {(r[F.MODEL], r[F.SUBSET]): r[F.TUNING] for r in rows if r.get(F.TUNING)}
    lines = ["| model | subset | " + " | ".join(VARIANT_ORDER) + " | tuned - default | tuning evaluations |",
             "|" + "---|" * (len(VARIANT_ORDER) + 4)]
    for model in sorted(models, key=lambda m: shown[shown[F.MODEL] == m][F.RMSE].min()):
        part = shown[shown[F.MODEL] == model]
        for subset in sorted(part[F.SUBSET].unique()):
            cell = part[part[F.SUBSET] == subset].set_index(F.VARIANT)
            values = {v: cell.loc[v] for v in VARIANT_ORDER if v in cell.index}
            texts = [("" if v not in values else str(values[v][F.STATUS]) if pd.isna(values[v][F.RMSE])
                      else _mean_std(values[v][F.RMSE], values[v][RMSE_STD], values[v][N_SEEDS]))
                     for v in VARIANT_ORDER]
            change = (values["tuned"][F.RMSE] - values["default"][F.RMSE]
                      if "tuned" in values and "default" in values else np.nan)
            link = links.get((model, subset)) or {}
            evaluations = link.get("n_evaluations", "")
            lines.append(f"| {model} | {subset} | " + " | ".join(texts)
                         + f" | {'' if pd.isna(change) else f'{change:+.2f}'} | {evaluations} |")
    return "\n".join(lines) + "\n"


def tuning_section(rows: list[dict[str, Any]]) -> str | None:
    """The tuning behind the run's tuned rows (``study.tuning_summary``), when its folder is
    here to read: the equal-budget table, and each budget-curve tuning read at its budget
    points; None when no row was tuned."""
    from study.tuning.summary import budget_markdown, budget_table, tuning_table
    from study.tuning.summary import to_markdown as tuning_markdown

    parts = []
    for budget_points in (False, True):
        for folder in tuning_folders(rows, budget_points):
            if not (Path(folder) / "tune.json").is_file():
                parts.append(f"_The tuning folder `{folder}` is not here to read; its rows carry their link._\n")
            elif budget_points:
                parts.append(f"`{folder}` (read at its budget points):\n\n"
                             + budget_markdown(budget_table([Path(folder)], BUDGET_POINTS_S), BUDGET_POINTS_S))
            else:
                parts.append(f"`{folder}`:\n\n" + tuning_markdown(tuning_table(Path(folder))))
    return "\n".join(parts) if parts else None


def tuning_frame(rows: list[dict[str, Any]]) -> pd.DataFrame | None:
    """The equal-budget race's ``tuning_table`` of every folder the rows link to and that is
    here to read, as one frame (for the ``evaluations`` value markers); None when there is none."""
    from study.tuning.summary import tuning_table

    found = [tuning_table(Path(f)) for f in tuning_folders(rows, False) if (Path(f) / "tune.json").is_file()]
    return pd.concat(found, ignore_index=True) if found else None


def ensemble_table(rows: list[dict[str, Any]], board: pd.DataFrame, preds: pd.DataFrame, max_rul: float) -> str:
    """Per subset and ensemble: its RMSE, the best single model's of the same variant (the
    members' kind), the paired difference between the two on the same test engines, the
    members' mean weights over seeds and the cost. ``rows``, ``board`` and ``preds`` name models
    as ``distinct_models`` does (``ensemble (tuned)``)."""
    from study.analysis.ensemble import ENSEMBLE_MODELS
    from study.records.rows import split_label

    def is_ensemble(label: str) -> bool:
        return split_label(label)[0] in ENSEMBLE_MODELS

    ensembles = [r for r in rows if is_ensemble(r.get(F.MODEL, "")) and r.get(F.STATUS) == "ok"]
    if not ensembles:
        if not any(r.get(F.VALID_Y_PRED) for r in rows):
            return ("_no ensemble: this run's rows carry no validation predictions (written before trials "
                    "stored them), so an ensemble cannot be chosen without refitting its members_\n")
        return "_no ensemble in this run (`python -m study.ensemble RUN` adds one)_\n"
    singles = board[~board[F.MODEL].map(is_ensemble) & board[F.RMSE].notna()]
    lines = ["| subset | ensemble | RMSE | best single model | its RMSE | ensemble minus best single (95% CI) "
             "| weights (mean over seeds) | fit s (sum of members) |", "|" + "---|" * 8]
    for (subset, model), group in pd.DataFrame(ensembles).groupby(["subset", "model"], sort=True):
        line = board[(board[F.SUBSET] == subset) & (board[F.MODEL] == model)].iloc[0]
        candidates = singles[(singles[F.SUBSET] == subset) & (singles[F.VARIANT] == line[F.VARIANT])]
        best = candidates.sort_values("rmse").iloc[0] if len(candidates) else None
        paired = ""
        if best is not None:
            part = preds[(preds[F.SUBSET] == subset) & preds[F.MODEL].isin([model, best[F.MODEL]])]
            diff = compare_to_baseline(part, best[F.MODEL], max_rul)
            if len(diff):
                d = diff.iloc[0]
                paired = f"{d['difference']:+.2f} ({d['ci_low']:+.2f} to {d['ci_high']:+.2f}) {d['verdict']}"
        weights = pd.DataFrame([r[F.INFO]["weights"] for r in group.to_dict("records")]).fillna(0).mean()
        shown = ", ".join(f"{m} {w:.2f}" for m, w in weights.sort_values(ascending=False).items() if w >= 0.005)
        lines.append(f"| {subset} | {model} | {_mean_std(line['rmse'], line['rmse_std'], line['n_seeds'])} | "
                     f"{'' if best is None else best['model']} | {'' if best is None else f'{best.rmse:.2f}'} | "
                     f"{paired} | {shown} | {line['fit_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def refresh_markers(text: str, tables: dict[str, str], values: RunValues | FileValues | None = None) -> str:
    """Refresh a markdown file's ``<!-- table:NAME -->`` blocks and, given the run's ``values``,
    its ``<!-- value:NAME -->`` numbers (``study.publishing.markers``)."""
    text = refresh_tables(text, tables)
    return refresh_values(text, values) if values is not None else text


def miss_shares(preds: pd.DataFrame, max_rul: float) -> pd.DataFrame:
    """Per model of ``preds``: the shares of its test predictions (every engine of every subset
    and seed in ``preds``) off by a planner's margin, one column per ``study.data.scoring.MISS_BANDS``
    band (``late_10``, ``late_25``, ``early_25``), 0 to 1, against the capped truth."""
    from study.data.scoring import MISS_BANDS, miss_share

    columns = [f"{direction}_{cycles}" for direction, cycles in MISS_BANDS]
    if preds.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({model: {f"{d}_{c}": miss_share(part[F.Y_TRUE], part[F.Y_PRED], max_rul, c, d)
                                 for d, c in MISS_BANDS}
                         for model, part in preds.groupby(F.MODEL)}).T[columns]


def planner_table(rows: list[dict[str, Any]], max_rul: float, baseline: str = DEFAULT_BASELINE) -> str:
    """The test errors in a maintenance planner's units, for the models a reader compares
    (``study.publishing.views.headline_rows``: each at equal effort, and the baseline out of the box): the
    share of test engines called late by more than 10 and 25 cycles and early by more than 25,
    every subset and seed pooled; models in the figures' order (``study.publishing.figures.model_order``)."""
    from study.data.scoring import MISS_BANDS
    from study.publishing.figures import model_order
    from study.publishing.views import display_name, headline_rows

    shown = headline_rows(rows, baseline)
    shares = miss_shares(predictions_frame(shown), max_rul)
    if shares.empty:
        return "_no predictions in this run_\n"
    order = [m for m in model_order(leaderboard(shown)) if m in shares.index]
    header = " | ".join(f"{d} by more than {c} cycles" for d, c in MISS_BANDS)
    lines = [f"| model | {header} |", "|" + "---|" * (len(MISS_BANDS) + 1)]
    for model in order:
        cells = " | ".join(f"{100 * shares.loc[model, f'{d}_{c}']:.0f}%" for d, c in MISS_BANDS)
        lines.append(f"| {display_name(model, baseline)} | {cells} |")
    return "\n".join(lines) + "\n"


# ----- figures ------------------------------------------------------------------------------
def best_per_family(board: pd.DataFrame) -> dict[str, str]:
    """Family -> its model with the lowest mean RMSE over the subsets it ran on."""
    ok = board[board[F.RMSE].notna()]
    means = ok.groupby([F.FAMILY, F.MODEL])[F.RMSE].mean().reset_index()
    return {fam: grp.sort_values(F.RMSE)[F.MODEL].iloc[0] for fam, grp in means.groupby(F.FAMILY)}


def write_figures(rows: list[dict[str, Any]], out: Path, max_rul: float,
                  baseline: str = DEFAULT_BASELINE) -> dict[str, Path]:
    """The report's (and the blog post's) figures as PNG files in ``out``, drawn by
    ``study.publishing.figures`` from the run's headline view (``study.publishing.views.headline_rows``: every model
    at equal effort, plus the baseline out of the box), one colour per model throughout."""
    from study.publishing import figures
    from study.publishing.views import display_name, headline_rows
    from study.records.rows import split_label

    shown_rows = headline_rows(rows, baseline)
    board = leaderboard(shown_rows)
    ok = board[board[F.RMSE].notna()]
    if ok.empty:
        return {}
    preds = predictions_frame(shown_rows)
    names = {label: display_name(label, baseline) for label in board[F.MODEL].unique()}
    board = board.merge(figures.seed_spread(shown_rows), on=["model", "subset"], how="left")
    baselines = [m for m in ok[F.MODEL].unique() if split_label(m)[0] == baseline]
    then = next((m for m in baselines if split_label(m)[1] == "default"), baselines[0] if baselines else None)
    best = best_per_family(board)
    others = [m for m in figures.model_means(board).index if m in best.values() and m not in baselines]
    staged = [*([then] if then else []), *[m for m in baselines if m != then], *others][:5]
    drawn = {
        "bars": figures.sorted_results(board, out / FIGURES["bars"], names),
        "dots": figures.results_dots(board, out / FIGURES["dots"], names),
        "pred_vs_true": _pred_vs_true(preds, out / FIGURES["pred_vs_true"], ok, max_rul, then, names),
        "error_vs_true": figures.error_by_stage(preds, out / FIGURES["error_vs_true"], staged, max_rul, names),
        "pareto": figures.accuracy_vs_cost(board, out / FIGURES["pareto"], names),
        "planner": figures.planner_misses(miss_shares(preds, max_rul), out / FIGURES["planner"],
                                          figures.model_order(board), names, figures.pooled_subsets(preds)),
        "readers": figures.how_models_read(out / FIGURES["readers"]),
        **_budget_figures(rows, out, baseline),
        "traces": _tuning_traces(rows, out / TRACES_FIGURE),
    }
    rank = ranks(board)
    if not rank.empty:
        plt = figures.pyplot()
        colours = figures.model_colours(rank["model"])
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(rank) + 1))
        ax.barh([names.get(m, m) for m in rank["model"]], rank["average_rank"],
                color=[colours[m] for m in rank["model"]])
        ax.invert_yaxis()
        ax.set_xlabel("average rank across subsets (1 = best RMSE)")
        drawn["ranks"] = figures.save(fig, out / FIGURES["ranks"])
    return {key: path for key, path in drawn.items() if path is not None}


#: Models the budget-curve figure leaves out, so a phone-sized panel stays readable: the NNLS
#: ensemble lies within a few tenths of the greedy one at every budget (both are in the tables).
FIGURE_OMITS = ("ensemble-nnls",)


def _budget_figures(rows: list[dict[str, Any]], out: Path, baseline: str) -> dict[str, Path | None]:
    """The budget curves (``study.publishing.curves``) from one leaderboard of the run: test and
    validation RMSE against tuning minutes per subset (``curves``), and each family's mean over
    the subsets in one panel for a phone (``budget-means``); the baseline out of the box as the
    flat reference. None for each when the run holds no budget points."""
    board = leaderboard(rows)
    curves = curve_frame(board)
    curves = curves[~curves[F.MODEL].isin(FIGURE_OMITS)]  # one ensemble line: the tables keep both
    if curves.empty:
        return {"curves": None, "budget-means": None}
    plain = board[(board[F.MODEL] == baseline) & (board[F.VARIANT] == "default")].set_index(F.SUBSET)[F.RMSE].dropna()
    subsets = sorted(set(curves[F.SUBSET]))
    mean_reference = float(plain[subsets].mean()) if set(subsets) <= set(plain.index) else None
    return {"curves": plot_curves(curves, out / CURVES_FIGURE, reference=plain if len(plain) else None,
                                  validation=validation_points(rows)),
            "budget-means": plot_budget_means(budget_means(curves), out / MEANS_FIGURE, len(subsets), mean_reference)}


def _tuning_traces(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """How the budget curves' tunings improved their choice minute by minute (validation
    only, ``study.publishing.curves.plot_traces``); None when the run holds no budget points."""
    from study.tuning.summary import incumbent_traces

    folders = [Path(f) for f in tuning_folders(rows, True) if (Path(f) / "tune.json").is_file()]
    return plot_traces(incumbent_traces(folders), path) if folders else None


def _pred_vs_true(preds: pd.DataFrame, path: Path, ok: pd.DataFrame, max_rul: float, baseline: str | None,
                  names: dict[str, str]) -> Path | None:
    """Per subset: every test engine's true (capped) RUL and the predictions of the subset's
    best model and of the baseline (first seed), engines sorted by true RUL."""
    from study.publishing import figures

    subsets = sorted(ok[F.SUBSET].unique())
    plt = figures.pyplot()
    cols = 2 if len(subsets) > 1 else 1
    fig, axes = plt.subplots(int(np.ceil(len(subsets) / cols)), cols, figsize=(6.6 if cols == 2 else 4.4,
                             2.6 * int(np.ceil(len(subsets) / cols)) + 0.4), squeeze=False)
    first_seed = preds.sort_values("seed").groupby(["model", "subset", "unit"], as_index=False).first()
    for ax, subset in zip(axes.flat, subsets):
        part = ok[ok[F.SUBSET] == subset].sort_values(F.RMSE)
        models = list(dict.fromkeys([part[F.MODEL].iloc[0]] + ([baseline] if baseline in set(part[F.MODEL]) else [])))
        colours = figures.model_colours(models)
        order = None
        for model in models:
            mine = first_seed[(first_seed[F.MODEL] == model) & (first_seed[F.SUBSET] == subset)]
            mine = mine.assign(capped=np.minimum(mine["y_true"], max_rul)).sort_values(["capped", "unit"])
            if order is None:
                order = mine["unit"].tolist()
                ax.plot(np.arange(len(mine)), mine["capped"], color="black", lw=1.2, label="true (capped)")
            mine = mine.set_index("unit").loc[order]
            ax.plot(np.arange(len(mine)), mine["y_pred"], ".", ms=3.5, color=colours[model],
                    label=names.get(model, model))
        ax.set_title(subset, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(subsets):]:
        ax.axis("off")
    handles = {}
    for ax in axes.flat:  # one legend for all panels, below them, so no panel's points are hidden
        handles.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.supylabel("RUL (cycles)", fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.text(0.5, 0.065, "test engines, sorted by true RUL", ha="center", fontsize=8)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(4, len(handles)), fontsize=7,
               frameon=False, markerscale=2)
    return figures.save(fig, path, tight=False)


# ----- the report ---------------------------------------------------------------------------
def baseline_comparisons(preds: pd.DataFrame, board: pd.DataFrame, baseline: str,
                         max_rul: float) -> dict[str, tuple[str, pd.DataFrame]]:
    """Models against the ``baseline`` model engine by engine: table name -> (what is compared,
    the comparison). ``preds`` and ``board`` name models as ``distinct_models`` does. Where the
    baseline has several variants, each variant's models are compared with the baseline of the
    same variant (``vs-baseline-tuned``: equal effort...; ``vs-baseline`` is the tuned one, else
    the first), and the tuned models also with the out-of-the-box baseline (``vs-2021``)."""
    labels = set(preds[F.MODEL]) if not preds.empty else set()
    if baseline in labels:
        return {"vs-baseline": (f"every model against `{baseline}`", compare_to_baseline(preds, baseline, max_rul))}
    kinds = board.drop_duplicates(F.MODEL).set_index(F.MODEL)[F.VARIANT]
    present = [k for k in (*VARIANT_ORDER, *sorted(set(kinds))) if f"{baseline} ({k})" in labels]
    tables: dict[str, tuple[str, pd.DataFrame]] = {}
    titles = {"tuned": "At equal effort: tuned models against the tuned `{b}`",
              "default": "Out of the box: default models against the default `{b}`",
              "hand-tuned": "Hand-tuned models against the hand-tuned `{b}` (not an equal race)"}
    for kind in sorted(dict.fromkeys(present), key=lambda k: (k != "tuned", k != "default", k)):
        same = preds[preds[F.MODEL].map(kinds) == kind]
        label = f"{baseline} ({kind})"
        tables[f"vs-baseline-{kind}"] = (titles.get(kind, "{kind} models against `{b}`").format(b=label, kind=kind),
                                         compare_to_baseline(same, label, max_rul))
        if kind == "tuned" and "default" in present:  # right after the equal race: the distance from 2021
            then = f"{baseline} (default)"
            mixed = preds[(preds[F.MODEL].map(kinds) == "tuned") | (preds[F.MODEL] == then)]
            tables["vs-2021"] = (f"Then and now: tuned models against the out-of-the-box `{then}`",
                                 compare_to_baseline(mixed, then, max_rul))
    if present:
        tables["vs-baseline"] = tables[f"vs-baseline-{'tuned' if 'tuned' in present else present[0]}"]
    return tables


def crossing_verdicts(table: pd.DataFrame, comparisons: dict[str, tuple[str, pd.DataFrame]],
                      baseline: str) -> pd.DataFrame:
    """The crossings (``study.publishing.curves.crossings``) with what the test engines say of
    each pass: the model against the baseline at that budget, engine by engine (the
    ``vs-baseline-tuned-Nm`` comparison): "lower" is beyond the noise, "not distinguishable" is
    a lead the test set cannot confirm. Empty where the model never passes."""
    def verdict(row: pd.Series) -> str:
        if pd.isna(row["passes_after_minutes"]):
            return ""
        kind = f"tuned-{row['passes_after_minutes']:g}m"
        found = comparisons.get(f"vs-baseline-{kind}")
        if found is None:
            return ""
        line = found[1][(found[1]["model"] == f"{row[F.MODEL]} ({kind})") & (found[1]["subset"] == row[F.SUBSET])]
        return "" if line.empty else (f"{line['difference'].iloc[0]:+.2f} ({line['ci_low'].iloc[0]:+.2f} to "
                                      f"{line['ci_high'].iloc[0]:+.2f}) {line['verdict'].iloc[0]}")

    return table.assign(**{"engine by engine at that budget": table.apply(verdict, axis=1) if len(table) else []})


def build_tables(rows: list[dict[str, Any]], run_dir: Path, board: pd.DataFrame, preds: pd.DataFrame,
                 max_rul: float = 125, baseline: str = DEFAULT_BASELINE,
                 comparisons: dict[str, tuple[str, pd.DataFrame]] | None = None,
                 by_model: pd.DataFrame | None = None) -> dict[str, str]:
    """Named markdown tables: the report's sections and the writeup's marker blocks (``board``:
    the run's ``leaderboard``; ``preds``: ``predictions_frame`` of ``distinct_models(rows)``;
    ``comparisons``: ``baseline_comparisons`` if already computed; ``by_model``: the leaderboard
    of ``distinct_models(rows)``, for the views keyed on the model, when it differs)."""
    by_model = board if by_model is None else by_model
    subsets = sorted(board[F.SUBSET].unique())
    tables = {f"leaderboard-{s}": subset_table(board, s) for s in subsets}
    tables["summary"] = model_summary_table(board)
    tables["average-rank"] = rank_table(by_model)
    tables["reference"] = reference_table(subsets)
    tables["friction"] = friction_table(rows, run_dir)
    tables["leaderboard"] = to_markdown(board.drop(columns=[F.REASON]))
    tables["ensemble"] = ensemble_table(distinct_models(rows), by_model, preds, max_rul)
    tables["planner"] = planner_table(rows, max_rul, baseline)
    variants = variants_table(rows, board)
    if variants is not None:
        tables["variants"] = variants
    tuning = tuning_section(rows)
    if tuning is not None:
        tables["tuning"] = tuning

    curves = curve_frame(board)
    if comparisons is None:
        comparisons = baseline_comparisons(preds, by_model, baseline, max_rul)
    if not curves.empty:
        tables["budget-curves"] = to_markdown(curves)
        crossed = crossing_verdicts(crossings(curves, baseline), comparisons, baseline)
        tables["crossings"] = crossings_markdown(crossed, crossed["engine by engine at that budget"], baseline)
        tables["budget-means"] = budget_means_markdown(budget_means(curves), curves[F.SUBSET].nunique())
    if not comparisons:
        tables["vs-baseline"] = (f"_`{baseline}` has no results in this run; `python -m study.report RUN "
                                 "--baseline MODEL` compares with another model._\n")
    for name, (title, comparison) in comparisons.items():
        tables[name] = comparison_table(comparison)
    return tables


def render(rows: list[dict[str, Any]], info: dict[str, Any], board: pd.DataFrame, tables: dict[str, str],
           figures: dict[str, Path], baseline: str = DEFAULT_BASELINE, titles: dict[str, str] | None = None) -> str:
    """The report markdown, from the run's leaderboard and ``build_tables``' tables (``titles``:
    what each comparison table compares, from ``baseline_comparisons``)."""
    titles = titles or {}
    subsets = sorted(board[F.SUBSET].unique())
    lines = ["# C-MAPSS RUL study: results", ""]
    config = info.get("config", {})
    lines.append(f"Profile `{config.get('profile', '?')}`, protocol `{info.get('protocol_hash', '?')}`, "
                 f"started {info.get('started_at', '?')}, {len(rows)} trials. Metrics: RMSE on the test RUL "
                 f"capped at {info.get('protocol', {}).get('max_rul', 125)} (mean over seeds), NASA score (sum over "
                 "engines), MAE; `RMSE raw truth` uses the uncapped RUL file.")
    lines.append("")
    overrides = [f"`{model}.{name}={value!r}`" for model, params in sorted(config.get("model_params", {}).items())
                 for name, value in sorted(params.items())]
    if overrides:
        lines += [f"Parameters set on the command line (`--set`), on top of the profile's: {', '.join(overrides)}.", ""]
    if not info.get("data_verified", True) or any(r.get(F.DATA_VERIFIED) is False for r in rows):
        lines += ["> **UNVERIFIED DATA**: this run used C-MAPSS files whose checksums differ from NASA's. "
                  "Its numbers are not comparable with published results.", ""]
    not_ok = [r for r in rows if r.get(F.STATUS) != "ok"]
    if not_ok:
        lines += ["> **Trials that did not produce results**:", ">"]
        for r in sorted(not_ok, key=lambda r: (r[F.MODEL], r[F.SUBSET], r[F.SEED])):
            lines.append(f"> - `{r[F.MODEL]}` {r[F.SUBSET]} seed {r[F.SEED]}: **{r[F.STATUS]}** - {r.get(F.REASON)}")
        lines.append("")
    lines += ["## Summary", "", "RMSE on the capped test truth, mean ± std over seeds; models ordered by mean RMSE.", "",
              tables["summary"]]
    lines += ["`95% CI (per seed, mean)`: each seed's bootstrap interval for its RMSE over the test engines, "
              "averaged over seeds; it covers test-engine sampling, not the spread between seeds (the ± std). "
              "To compare two models, use the engine-by-engine intervals below.", ""]
    if "variants" in tables:
        lines += ["## Out of the box and tuned", "",
                  "Each model's RMSE with no tuning effort (`default`: library defaults, plain documented "
                  "settings for our networks), after the equal tuning budget on validation engines only "
                  "(`tuned`), and at the settings this project chose by hand earlier (`hand-tuned`, some "
                  "revisited after seeing test results: a labelled third variant, not part of the equal race). "
                  "`tuning evaluations`: how many configurations the budget paid for.", "", tables["variants"]]
    if "tuning" in tables:
        lines += ["## The tuning", "",
                  "Per (model, subset): evaluations the budget paid for (each the mean validation RMSE over "
                  "engine-disjoint folds of the training file), budget and seconds charged, the first "
                  "evaluation's (out-of-the-box) and the best validation RMSE, and the machine's median "
                  "1-minute load while it ran.", "", tables["tuning"]]
    if "budget-curves" in tables:
        lines += ["## Budget curves", "",
                  "Test RMSE (mean and seed std) of each model out of the box (0 minutes) and at the configuration "
                  "a tuning of 10, 30 and 60 CPU minutes selected on validation folds (`tuned-10m`...), and the "
                  f"first budget at which each model's mean beats `{baseline}`'s at the same budget. First the "
                  "mean over subsets (only where a budget point exists on every subset), then every point.", "",
                  tables["budget-means"], "", tables["budget-curves"], "", tables["crossings"]]
    for subset in subsets:
        lines += [f"## {subset}", "", tables[f"leaderboard-{subset}"]]
    lines += [f"## Against the baseline ({baseline}), engine by engine", "",
              f"RMSE of each model minus that of `{baseline}` on the same test engines (negative: lower error), "
              "with a 95% paired bootstrap interval over the test engines (each resample scores both models "
              "on the same engines, each seed's RMSE then the mean over seeds). `lower`/`higher`: the whole "
              "interval is on that side of zero; `not distinguishable`: this test set cannot tell them apart. "
              "The interval covers test-engine sampling only; the spread over seeds is the ± std above.", ""]
    compared = [name for name in tables if name.startswith("vs-baseline-") or name == "vs-2021"]
    for name in compared or ["vs-baseline"]:
        if compared:
            lines += [f"### {titles.get(name, name)}", ""]
        lines += [tables[name]]
    lines += ["## Ensembles", "",
              "Models combined with weights chosen on validation engines only (their predictions for the "
              "validation engines cut short as test engines are, `study/data/validation.py`; `study/analysis/ensemble.py`), each seed's ensemble from the members' trials of that "
              "seed, scored once on the test engines. The difference with the subset's best single model is "
              "paired over the same test engines (95% bootstrap interval). The cost is the sum of the members'.",
              "", tables["ensemble"]]
    lines += ["## Ranking across subsets", "",
              "Average rank by RMSE over the subsets (only models with results on every subset).", "",
              tables["average-rank"]]
    lines += ["## The errors in a planner's units", "",
              "Share of test engines (every subset and seed pooled) each model calls late (predicted remaining "
              "life above the capped truth: more life than is left) by more than 10 and by more than 25 "
              "cycles, and early by more than 25. Each model at equal effort (tuned), and the baseline out "
              "of the box.", "", tables["planner"]]
    lines += ["## Published results (reported, not reproduced here)", "",
              "Numbers as reported in the cited papers, read from the named sources; they were not run here, "
              "protocols differ (some select epochs on the test set), so they are never ranked with the rows above.",
              "", tables["reference"]]
    lines += ["## Figures", ""]
    view = (" Each model at equal effort (its tuned variant) and the baseline out of the box (the plain "
            "settings of 2021)." if "variants" in tables else "")
    captions = {"bars": "Test RMSE per subset, models sorted (whiskers: lowest to highest seed, where seeds differ)",
                "dots": "The same results sized for a phone: one line per model, a marker per subset",
                "pred_vs_true": f"Predicted vs true RUL per test engine: each subset's best model and {baseline} "
                                "(first seed)",
                "error_vs_true": "Mean error by stage of engine life, best model of each family, every subset "
                                 "pooled (above zero: late, the dangerous direction)",
                "pareto": "Accuracy against training cost, one point per model",
                "ranks": "Average rank across subsets",
                "planner": "Share of test engines called late by more than 10 and 25 cycles, and early by more "
                           "than 25 (every subset and seed pooled)",
                "readers": "How each contender reads a window of cycles (a schematic, not a result)",
                "curves": "Test RMSE (solid, with the seeds' spread) and the chosen configuration's validation "
                          "RMSE on the tuning folds (dotted) against tuning budget (CPU minutes), one panel per "
                          "subset; dashed: the baseline out of the box",
                "budget-means": "Each family's mean test RMSE over the subsets against tuning budget, one panel "
                                "for a phone (only budgets scored on every subset); dashed: the baseline out of "
                                "the box",
                "traces": "Best validation RMSE so far against the tuning CPU minutes spent, per (model, subset) "
                          "of the budget curves (validation folds only; faint lines: 10, 30, 60 minutes)"}
    if view:
        lines += [view.strip(), ""]
    for key, path in figures.items():
        lines += [f"![{captions[key]}]({path.name})", f"*{captions[key]}*", ""]
    lines += ["## Library friction", "",
              "Measured per model: mean fit/predict seconds, peak process memory, warnings raised over all its "
              "trials, failed/skipped trials; plus, where measured by `benchmarks/friction.py`, adapter size, "
              "format conversions, import time, installed size and the workarounds it needed.", "",
              tables["friction"]]
    lines += ["## Protocol", "", info.get("protocol_card", "_not recorded_"), ""]
    lines += ["## Data checksums", ""]
    for subset, sums in info.get("data_checksums", {}).items():
        lines += [f"- {subset}: " + ", ".join(f"`{name}` {digest[:16]}…" for name, digest in sums.items())]
    lines += ["", "## Versions and machine", "",
              "- " + ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items()),
              "- " + ", ".join(f"{k}: {v}" for k, v in info.get("machine", {}).items()), ""]
    return "\n".join(lines)


def write_report(run_dir: Path, writeup: Path | Sequence[Path] | None = None, baseline: str = DEFAULT_BASELINE) -> Path:
    """Write ``report.md`` and figures into ``run_dir`` and rebuild its derived tables from
    ``trials.jsonl``; refresh the table and value markers (``study.publishing.markers``) of each
    ``writeup`` file given. ``baseline``: the model the others are compared with engine by engine."""
    run_dir = Path(run_dir)
    writeups = [] if writeup is None else [writeup] if isinstance(writeup, (str, Path)) else list(writeup)
    for path in map(Path, writeups):
        if not path.is_file():
            raise StudyError(f"--writeup {path} does not exist: give the markdown file whose tables to refresh.")
    view = run_view(run_dir, baseline)
    write_tables(run_dir, view.rows, unverified=not view.info.get("data_verified", True), selection=view.selection)
    figures = write_figures(view.rows, run_dir, view.max_rul, baseline)
    tables = view.tables(run_dir)
    path = run_dir / "report.md"
    titles = {name: title for name, (title, _) in view.comparisons.items()}
    atomic.write_text(path, render(view.rows, view.info, view.board, tables, figures, baseline, titles))
    if writeups:
        values = view.values()  # plus the committed files beside each document (earlier runs, benchmarks)
        refreshed = {Path(p): refresh_markers(Path(p).read_text(), tables,
                                              FileValues(Path(p).parent, values, run_dir, read_run=run_view))
                     for p in writeups}
        for target, text in refreshed.items():  # every file checked before any is written
            atomic.write_text(target, text)
    return path


@dataclass
class RunView:
    """What a report, a writeup and a post are built from: a run's study rows, their leaderboard
    and, with variants told apart (``distinct_models``), their predictions and comparisons."""

    rows: list[dict[str, Any]]
    info: dict[str, Any]
    board: pd.DataFrame  # one line per (model, variant, subset)
    by_model: pd.DataFrame  # the same, keyed on the distinct model labels
    preds: pd.DataFrame  # the long predictions table, by label
    max_rul: float
    baseline: str
    comparisons: dict[str, tuple[str, pd.DataFrame]]
    selection: Selection | None = None  # what picked ``rows``: saved beside the tables

    def tables(self, run_dir: Path) -> dict[str, str]:
        return build_tables(self.rows, run_dir, self.board, self.preds, self.max_rul, self.baseline,
                            self.comparisons, self.by_model)

    def values(self) -> RunValues:
        headline = self.comparisons.get("vs-baseline")
        return RunValues(self.board, None if headline is None else headline[1], self.preds, self.max_rul,
                         self.baseline, tuning_frame(self.rows), self.info, budgets=budget_frame(self.rows))


def run_view(run_dir: Path, baseline: str = DEFAULT_BASELINE) -> RunView:
    """Read a run folder into a ``RunView`` (writes nothing; the bootstrap comparisons run once)."""
    rows, info, selection = load_selected_run(Path(run_dir))
    labelled = distinct_models(rows)  # figures and comparisons key on the model: variants apart
    measured = sorted({r[F.MODEL] for r in rows if r.get(F.STATUS) == "ok"})
    if baseline != DEFAULT_BASELINE and baseline not in measured:
        raise StudyError(f"--baseline {baseline!r} has no results in {run_dir}; models with results: "
                         f"{', '.join(measured) or '(none)'}.")
    board = leaderboard(rows)
    by_model = board if labelled is rows else leaderboard(labelled)
    max_rul = info.get("protocol", {}).get("max_rul", 125)
    preds = predictions_frame(labelled)
    return RunView(rows, info, board, by_model, preds, max_rul, baseline,
                   baseline_comparisons(preds, by_model, baseline, max_rul), selection)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m study.report",
        description="Write the markdown report and figures of a run folder, from its trial rows.")
    parser.add_argument("run_dir", type=Path, help="a run folder written by python -m study.run")
    parser.add_argument("--writeup", type=Path, action="append",
                        help="a markdown file whose <!-- table:NAME --> and <!-- value:NAME --> markers to refresh "
                             "(repeatable: the writeup and the blog post)")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE,
                        help=f"the model every other is compared with, engine by engine (default: {DEFAULT_BASELINE})")
    add_debug_option(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        held = run_folder_lock(args.run_dir) if args.run_dir.is_dir() else nullcontext()
        with held:  # refused while a run writes this folder's tables
            path = write_report(args.run_dir, args.writeup, args.baseline)
        print(f"Report written to {path}")
        return 0

    return main_guarded(body, args.debug)
