"""``python -m study.report RUN_DIR``: the markdown report and figures of a run, from its rows.

Everything here is derived from ``trials.jsonl`` and ``run.json`` (and, when present, the
friction measurements), so a report can always be regenerated. Published results appear only
in their own, labelled table - never in the measured ranking.
"""
from __future__ import annotations

import argparse
import re
import sys
from contextlib import nullcontext
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rich.console import Console

from study import atomic
from study.cli import run_guarded, sigterm_as_interrupt
from study.compare import compare_to_baseline, comparison_table
from study.errors import StudyError
from study.lock import run_folder_lock
from study.leaderboard import configs_from, predictions_frame, ranks, study_rows, to_markdown, write_tables
from study.results import ResultStore, read_run_info

FIGURES = {
    "bars": "fig_rmse_by_subset.png",
    "pred_vs_true": "fig_pred_vs_true.png",
    "error_vs_true": "fig_error_vs_true.png",
    "pareto": "fig_accuracy_vs_cost.png",
    "ranks": "fig_average_rank.png",
}
#: The model every other is compared with, engine by engine: the user's 2021 model is an LSTM.
DEFAULT_BASELINE = "lstm"
# a block's body may be empty, and never runs past its own closing marker
MARKER = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?:(?!<!-- /table -->).)*?(<!-- /table -->)", re.S)


def published_results() -> pd.DataFrame:
    """Reported (not reproduced) results from the literature, with citations."""
    with resources.files("study").joinpath("data/published_results.csv").open() as handle:
        return pd.read_csv(handle)


def load_run(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The study rows (see ``study_rows``) and run record of a run folder."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise StudyError(f"{run_dir} is a file; give the run folder that holds it ({run_dir.parent}).")
    if not run_dir.is_dir():
        raise StudyError(f"{run_dir} does not exist; give a run folder written by python -m study.run.")
    info = read_run_info(run_dir, warn=None)  # a corrupt run.json is refused with the way out
    rows = study_rows(ResultStore(run_dir).rows(), info.get("protocol_hash"), configs=configs_from(info))
    if not rows:
        raise StudyError(f"{run_dir} holds no trial rows ({run_dir / 'trials.jsonl'}); run python -m study.run first.")
    return rows, info


# ----- tables -------------------------------------------------------------------------------
def _mean_std(mean: float, std: float, n_seeds: int) -> str:
    """'12.34 ± 0.56' over several seeds; a single seed has no spread to show."""
    return f"{mean:.2f} ± {std:.2f}" if n_seeds > 1 else f"{mean:.2f} (1 seed)"


def subset_table(board: pd.DataFrame, subset: str) -> str:
    """Per-subset leaderboard in reader-friendly form (RMSE +/- std over seeds, CI)."""
    part = board[board["subset"] == subset].copy()
    if part.empty:
        return "_no results_\n"

    def fmt(v, digits=2):
        return "" if pd.isna(v) else f"{v:.{digits}f}"

    lines = ["| rank | model | family | RMSE (± std over seeds) | 95% CI (per seed, mean) | NASA score | MAE "
             "| RMSE raw truth | fit s | predict s | params | seeds | status |", "|" + "---|" * 13]
    rank = 0
    for _, r in part.iterrows():
        ok = not pd.isna(r["rmse"])
        rank += ok
        params = "" if pd.isna(r.get("n_parameters")) else f"{int(r['n_parameters']):,}"
        lines.append(" | ".join([
            "|" + (str(rank) if ok else "-"), str(r["model"]), str(r["family"] or ""),
            _mean_std(r["rmse"], r["rmse_std"], r["n_seeds"]) if ok else "",
            f"{fmt(r['rmse_ci_low'])}-{fmt(r['rmse_ci_high'])}" if ok else "",
            fmt(r["score"], 0), fmt(r["mae"]), fmt(r["rmse_raw"]), fmt(r["fit_seconds"], 1),
            fmt(r["predict_seconds"], 2), params, str(int(r["n_seeds"])),
            str(r["status"]) + ("" if ok or pd.isna(r["reason"]) else f": {r['reason']}") + " |"]))
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
    measured = ["fit_seconds", "predict_seconds", "peak_rss_mb", "n_warnings"]  # absent if no trial ran
    frame = pd.DataFrame(rows).reindex(columns=["model", "status", *measured])
    stats = frame.groupby("model").agg(
        fit_s=("fit_seconds", "mean"), predict_s=("predict_seconds", "mean"),
        peak_rss_mb=("peak_rss_mb", "max"), warnings=("n_warnings", "sum"),
        failed=("status", lambda s: int((s == "failed").sum())),
        skipped=("status", lambda s: int((s == "skipped").sum()))).reset_index()
    static_path = next((p for p in (run_dir / "friction.csv", Path(__file__).parents[1] / "reports" / "friction.csv")
                        if p.exists()), None)
    if static_path is not None:
        stats = stats.merge(pd.read_csv(static_path), on="model", how="left")
    return to_markdown(stats, digits=1)


def model_summary_table(board: pd.DataFrame) -> str:
    """One line per model: RMSE (mean ± std over seeds) on each subset, mean fit time, status."""
    ok = board.copy()
    subsets = sorted(ok["subset"].unique())
    lines = ["| model | family | " + " | ".join(subsets) + " | mean fit s | seeds |",
             "|" + "---|" * (len(subsets) + 4)]
    order = ok.groupby("model")["rmse"].mean().sort_values(na_position="last").index
    for model in order:
        part = ok[ok["model"] == model].set_index("subset")
        cells = []
        for subset in subsets:
            if subset not in part.index:
                cells.append("")
            elif pd.isna(part.loc[subset, "rmse"]):
                cells.append(str(part.loc[subset, "status"]))
            else:
                cells.append(_mean_std(part.loc[subset, "rmse"], part.loc[subset, "rmse_std"],
                                       part.loc[subset, "n_seeds"]))
        fit = part["fit_seconds"].mean()
        seeds = "/".join(str(int(n)) for n in part["n_seeds"].unique())
        lines.append(f"| {model} | {part['family'].iloc[0]} | " + " | ".join(cells)
                     + f" | {'' if pd.isna(fit) else f'{fit:.0f}'} | {seeds} |")
    return "\n".join(lines) + "\n"


def refresh_markers(text: str, tables: dict[str, str]) -> str:
    """Replace the body between ``<!-- table:NAME -->`` and ``<!-- /table -->`` markers."""
    def swap(match: re.Match) -> str:
        name = match.group("name")
        if name not in tables:
            return match.group(0)
        return match.group(1) + tables[name].rstrip("\n") + "\n" + match.group(3)

    return MARKER.sub(swap, text)


# ----- figures ------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def best_per_family(board: pd.DataFrame) -> dict[str, str]:
    """Family -> its model with the lowest mean RMSE over the subsets it ran on."""
    ok = board[board["rmse"].notna()]
    means = ok.groupby(["family", "model"])["rmse"].mean().reset_index()
    return {fam: grp.sort_values("rmse")["model"].iloc[0] for fam, grp in means.groupby("family")}


def write_figures(board: pd.DataFrame, preds: pd.DataFrame, out: Path, max_rul: float) -> dict[str, Path]:
    """All report figures as PNG files in ``out``."""
    plt = _plt()
    ok = board[board["rmse"].notna()]
    subsets = sorted(ok["subset"].unique())
    models = sorted(ok["model"].unique())
    written: dict[str, Path] = {}
    if ok.empty:
        return written

    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(subsets) * max(1, len(models)) / 3), 4))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        part = ok[ok["model"] == model].set_index("subset").reindex(subsets)
        ax.bar(np.arange(len(subsets)) + i * width, part["rmse"], width, yerr=part["rmse_std"], label=model, capsize=2)
    ax.set_xticks(np.arange(len(subsets)) + 0.4 - width / 2, subsets)
    ax.set_ylabel("RMSE (capped truth), mean ± std over seeds")
    ax.legend(fontsize=7, ncol=2)
    written["bars"] = _save(fig, out / FIGURES["bars"])

    best = best_per_family(board)
    first_seed = preds.sort_values("seed").groupby(["model", "subset", "unit"], as_index=False).first()
    fig, axes = plt.subplots(len(best), len(subsets), figsize=(3.2 * len(subsets), 2.6 * len(best)), squeeze=False)
    for row, (family, model) in enumerate(sorted(best.items())):
        for col, subset in enumerate(subsets):
            ax = axes[row][col]
            part = first_seed[(first_seed["model"] == model) & (first_seed["subset"] == subset)]
            part = part.assign(capped=np.minimum(part["y_true"], max_rul)).sort_values("capped")
            ax.plot(np.arange(len(part)), part["capped"], "k-", lw=1, label="true (capped)")
            ax.plot(np.arange(len(part)), part["y_pred"], ".", ms=3, label="predicted")
            ax.set_title(f"{model} ({family}) {subset}", fontsize=8)
            ax.tick_params(labelsize=6)
    axes[0][0].legend(fontsize=6)
    fig.supxlabel("test engines, sorted by true RUL", fontsize=8)
    written["pred_vs_true"] = _save(fig, out / FIGURES["pred_vs_true"])

    fig, axes = plt.subplots(1, len(subsets), figsize=(3.4 * len(subsets), 3), squeeze=False)
    for col, subset in enumerate(subsets):
        ax = axes[0][col]
        for family, model in sorted(best.items()):
            part = first_seed[(first_seed["model"] == model) & (first_seed["subset"] == subset)]
            capped = np.minimum(part["y_true"], max_rul)
            ax.scatter(capped, part["y_pred"] - capped, s=4, alpha=0.6, label=model)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(subset, fontsize=8)
        ax.set_xlabel("true RUL (capped)", fontsize=7)
    axes[0][0].set_ylabel("prediction error (late > 0)", fontsize=7)
    axes[0][-1].legend(fontsize=6)
    written["error_vs_true"] = _save(fig, out / FIGURES["error_vs_true"])

    fig, ax = plt.subplots(figsize=(6, 4))
    for subset in subsets:
        part = ok[ok["subset"] == subset]
        ax.scatter(part["fit_seconds"], part["rmse"], label=subset)
        for _, r in part.iterrows():
            ax.annotate(r["model"], (r["fit_seconds"], r["rmse"]), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("fit time per trial (s, log scale)")
    ax.set_ylabel("RMSE (capped truth)")
    ax.legend(fontsize=7)
    written["pareto"] = _save(fig, out / FIGURES["pareto"])

    rank = ranks(board)
    if not rank.empty:
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(rank) + 1))
        ax.barh(rank["model"], rank["average_rank"])
        ax.invert_yaxis()
        ax.set_xlabel("average rank across subsets (1 = best RMSE)")
        written["ranks"] = _save(fig, out / FIGURES["ranks"])
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _plt().close(fig)
    return path


# ----- the report ---------------------------------------------------------------------------
def build_tables(rows: list[dict[str, Any]], run_dir: Path, board: pd.DataFrame, preds: pd.DataFrame,
                 max_rul: float = 125, baseline: str = DEFAULT_BASELINE) -> dict[str, str]:
    """Named markdown tables: the report's sections and the writeup's marker blocks (``board``
    and ``preds``: the run's ``leaderboard`` and ``predictions_frame``)."""
    subsets = sorted(board["subset"].unique())
    tables = {f"leaderboard-{s}": subset_table(board, s) for s in subsets}
    tables["summary"] = model_summary_table(board)
    tables["average-rank"] = rank_table(board)
    tables["reference"] = reference_table(subsets)
    tables["friction"] = friction_table(rows, run_dir)
    tables["leaderboard"] = to_markdown(board.drop(columns=["reason"]))
    if preds.empty or baseline not in set(preds["model"]):
        tables["vs-baseline"] = (f"_`{baseline}` has no results in this run; `python -m study.report RUN "
                                 "--baseline MODEL` compares with another model._\n")
    else:
        tables["vs-baseline"] = comparison_table(compare_to_baseline(preds, baseline, max_rul))
    return tables


def render(rows: list[dict[str, Any]], info: dict[str, Any], board: pd.DataFrame, tables: dict[str, str],
           figures: dict[str, Path], baseline: str = DEFAULT_BASELINE) -> str:
    """The report markdown, from the run's leaderboard and ``build_tables``' tables."""
    subsets = sorted(board["subset"].unique())
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
    if not info.get("data_verified", True) or any(r.get("data_verified") is False for r in rows):
        lines += ["> **UNVERIFIED DATA**: this run used C-MAPSS files whose checksums differ from NASA's. "
                  "Its numbers are not comparable with published results.", ""]
    not_ok = [r for r in rows if r.get("status") != "ok"]
    if not_ok:
        lines += ["> **Trials that did not produce results**:", ">"]
        for r in sorted(not_ok, key=lambda r: (r["model"], r["subset"], r["seed"])):
            lines.append(f"> - `{r['model']}` {r['subset']} seed {r['seed']}: **{r['status']}** - {r.get('reason')}")
        lines.append("")
    lines += ["## Summary", "", "RMSE on the capped test truth, mean ± std over seeds; models ordered by mean RMSE.", "",
              tables["summary"]]
    lines += ["`95% CI (per seed, mean)`: each seed's bootstrap interval for its RMSE over the test engines, "
              "averaged over seeds; it covers test-engine sampling, not the spread between seeds (the ± std). "
              "To compare two models, use the engine-by-engine intervals below.", ""]
    for subset in subsets:
        lines += [f"## {subset}", "", tables[f"leaderboard-{subset}"]]
    lines += [f"## Against the baseline ({baseline}), engine by engine", "",
              f"RMSE of each model minus that of `{baseline}` on the same test engines (negative: lower error), "
              "with a 95% paired bootstrap interval over the test engines (each resample scores both models "
              "on the same engines, each seed's RMSE then the mean over seeds). `lower`/`higher`: the whole "
              "interval is on that side of zero; `not distinguishable`: this test set cannot tell them apart. "
              "The interval covers test-engine sampling only; the spread over seeds is the ± std above.", "",
              tables["vs-baseline"]]
    lines += ["## Ranking across subsets", "",
              "Average rank by RMSE over the subsets (only models with results on every subset).", "",
              tables["average-rank"]]
    lines += ["## Published results (reported, not reproduced here)", "",
              "Numbers as reported in the cited papers, read from the named sources; they were not run here, "
              "protocols differ (some select epochs on the test set), so they are never ranked with the rows above.",
              "", tables["reference"]]
    lines += ["## Figures", ""]
    captions = {"bars": "RMSE per subset (error bars: std over seeds)",
                "pred_vs_true": "Predicted vs true RUL per test engine, best model of each family (first seed)",
                "error_vs_true": "Prediction error against true RUL (late predictions are above zero)",
                "pareto": "Accuracy against training cost",
                "ranks": "Average rank across subsets"}
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


def write_report(run_dir: Path, writeup: Path | None = None, baseline: str = DEFAULT_BASELINE) -> Path:
    """Write ``report.md`` and figures into ``run_dir`` and rebuild its derived tables from
    ``trials.jsonl``; refresh tables in ``writeup`` if given. ``baseline``: the model the
    others are compared with engine by engine."""
    run_dir = Path(run_dir)
    if writeup is not None and not writeup.is_file():
        raise StudyError(f"--writeup {writeup} does not exist: give the markdown file whose tables to refresh.")
    rows, info = load_run(run_dir)
    measured = sorted({r["model"] for r in rows if r.get("status") == "ok"})
    if baseline != DEFAULT_BASELINE and baseline not in measured:
        raise StudyError(f"--baseline {baseline!r} has no results in {run_dir}; models with results: "
                         f"{', '.join(measured) or '(none)'}.")
    board = write_tables(run_dir, rows, unverified=not info.get("data_verified", True))
    max_rul = info.get("protocol", {}).get("max_rul", 125)
    preds = predictions_frame(rows)
    figures = write_figures(board, preds, run_dir, max_rul)
    tables = build_tables(rows, run_dir, board, preds, max_rul, baseline)
    path = run_dir / "report.md"
    atomic.write_text(path, render(rows, info, board, tables, figures, baseline))
    if writeup is not None:
        atomic.write_text(writeup, refresh_markers(writeup.read_text(), tables))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m study.report",
        description="Write the markdown report and figures of a run folder, from its trial rows.")
    parser.add_argument("run_dir", type=Path, help="a run folder written by python -m study.run")
    parser.add_argument("--writeup", type=Path, help="a markdown file whose <!-- table:NAME --> blocks to refresh")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE,
                        help=f"the model every other is compared with, engine by engine (default: {DEFAULT_BASELINE})")
    parser.add_argument("--debug", action="store_true", help="on an error, also print the Python traceback")
    args = parser.parse_args(argv)

    def body() -> int:
        held = run_folder_lock(args.run_dir) if args.run_dir.is_dir() else nullcontext()
        with held:  # refused while a run writes this folder's tables
            path = write_report(args.run_dir, args.writeup, args.baseline)
        print(f"Report written to {path}")
        return 0

    with sigterm_as_interrupt():
        return run_guarded(body, Console(stderr=True, width=200), args.debug)


if __name__ == "__main__":
    sys.exit(main())
