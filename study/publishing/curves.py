"""Budget curves: each family's test error at growing tuning budgets, and where the lines cross.

A run holds a model at several budgets as variants: ``default`` (no tuning: 0 minutes) and
``tuned-10m``, ``tuned-30m``, ``tuned-60m`` (the configuration a tuning of that many CPU
minutes selected on validation folds, ``study.tuning.tuner.incumbent_at``). This module turns a
run's leaderboard into one line per (model, subset) budget point, finds the budget at which
a family first beats the baseline LSTM at the same budget, and draws the figure.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from study.records.leaderboard import RMSE_STD
from study.records.rows import Field as F
from study.records.rows import budget_minutes

BASELINE = "lstm"
CURVE_COLUMNS = [F.MODEL, F.SUBSET, "minutes", F.RMSE, RMSE_STD, "n_seeds"]


def curve_frame(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard lines that are budget points: each (model, subset) with at least one
    ``tuned-Nm`` variant, with its default as the 0-minute point; sorted by model, subset,
    minutes. A subset or model not scored at any budget yet draws no curve."""
    board = board[board[F.STATUS].astype(str).str.startswith("ok")]
    minutes = board[F.VARIANT].map(budget_minutes)
    points = board.assign(minutes=minutes)[minutes.notna()]
    tuned = set(zip(points.loc[points["minutes"] > 0, F.MODEL], points.loc[points["minutes"] > 0, F.SUBSET]))
    points = points[[pair in tuned for pair in zip(points[F.MODEL], points[F.SUBSET])]]
    if points.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return points[CURVE_COLUMNS].sort_values([F.MODEL, F.SUBSET, "minutes"]).reset_index(drop=True)


def crossings(curves: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """Per (subset, model other than the baseline): the smallest tuning budget (minutes) at
    which the model's mean test RMSE is below the baseline's at the same budget, or NaN when
    it never is among the budgets both have; with a sentence saying so."""
    out = []
    for subset, part in curves.groupby(F.SUBSET, sort=True):
        base = part[part[F.MODEL] == baseline].set_index("minutes")[F.RMSE]
        for model, line in part[part[F.MODEL] != baseline].groupby(F.MODEL, sort=True):
            mine = line.set_index("minutes")[F.RMSE]
            shared = sorted(set(mine.index) & set(base.index) - {0.0})
            ahead = [m for m in shared if mine[m] < base[m]]
            first = ahead[0] if ahead else np.nan
            longest = max(shared) if shared else None
            from_start = 0.0 in mine.index and 0.0 in base.index and mine[0.0] < base[0.0]
            if not shared:
                text = f"no shared tuning budget with {baseline}"
            elif ahead and from_start and ahead[0] == shared[0]:
                text = f"{model} is ahead of {baseline} on {subset} out of the box and at {first:g} minutes"
            elif ahead:
                text = f"{model} passes {baseline} on {subset} at {first:g} minutes"
            else:
                text = f"{model} does not pass {baseline} on {subset} within {longest:g} minutes"
            out.append({F.SUBSET: subset, F.MODEL: model, "passes_after_minutes": first, "finding": text,
                        "ahead_out_of_the_box": bool(from_start), "longest_minutes": longest})
    return pd.DataFrame(out, columns=[F.SUBSET, F.MODEL, "passes_after_minutes", "finding", "ahead_out_of_the_box",
                                      "longest_minutes"])


def budget_means(curves: pd.DataFrame) -> pd.DataFrame:
    """Model x tuning minutes: the mean test RMSE over the subsets, only where the model has
    that budget point on every subset the curves cover (a partial mean would favour whichever
    subsets were scored first); NaN elsewhere. Rows in the order of the 60-minute (largest) column."""
    if curves.empty:
        return pd.DataFrame()
    subsets = set(curves[F.SUBSET])
    full = curves.groupby([F.MODEL, "minutes"])[F.SUBSET].transform(lambda s: set(s) == subsets)
    table = curves[full].pivot_table(index=F.MODEL, columns="minutes", values=F.RMSE, aggfunc="mean")
    table = table.reindex(index=sorted(set(curves[F.MODEL])), columns=sorted(set(curves["minutes"])))
    return table.sort_values(list(table.columns)[::-1], na_position="last")


def budget_means_markdown(table: pd.DataFrame, n_subsets: int) -> str:
    """``budget_means`` for a post: readers' names, one column per budget."""
    from study.publishing.views import display_name

    if table.empty:
        return "_no budget points in this run_\n"
    heads = ["out of the box" if m == 0 else f"{m:g} min" for m in table.columns]
    lines = [f"| model (mean test RMSE over {n_subsets} subset{'s' if n_subsets > 1 else ''}) | " + " | ".join(heads) + " |",
             "|" + "---|" * (len(heads) + 1)]
    for model, values in table.iterrows():
        cells = ["-" if pd.isna(v) else f"{v:.2f}" for v in values]
        lines.append(f"| {display_name(model)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def crossings_markdown(table: pd.DataFrame, verdicts: pd.Series | None = None, baseline: str = BASELINE) -> str:
    """``crossings`` for a reader: families by their readers' names, the first budget at which
    each is ahead of the baseline at the same budget ("10 min", "not within 60 min"), whether
    it was ahead out of the box too, and ``verdicts`` (what the test engines say of that
    lead, engine by engine; ``study.publishing.report.crossing_verdicts``) beside it."""
    from study.publishing.views import display_name

    if table.empty:
        return "_no budget points in this run_\n"
    head = f"first budget ahead of the {display_name(baseline)}"
    lines = [f"| subset | family | {head} | engine by engine at that budget |", "|---|---|---|---|"]
    for index, row in table.iterrows():
        if pd.notna(row["passes_after_minutes"]):
            also = " (also ahead out of the box)" if row["ahead_out_of_the_box"] else ""
            when = f"{row['passes_after_minutes']:g} min{also}"
        elif pd.notna(row["longest_minutes"]):
            when = f"not within {row['longest_minutes']:g} min"
        else:
            when = "no budget in common"
        verdict = "" if verdicts is None else str(verdicts.get(index, ""))
        lines.append(f"| {row[F.SUBSET]} | {display_name(row[F.MODEL])} | {when} | {verdict} |")
    return "\n".join(lines) + "\n"


#: The budget points the curves are read at (CPU seconds): ``tuned-10m``, ``tuned-30m``, ``tuned-60m``.
BUDGET_POINTS_S = (600.0, 1800.0, 3600.0)


def tuning_folders(rows: list[dict[str, Any]], budget_points: bool) -> list[str]:
    """The tuning folders the rows link to: those whose tuned configuration was run as chosen
    (``budget_points=False``: the equal-budget race) or those read at a budget point (the
    budget curves, ``tuned-Nm``). Kept apart so a marker about one never counts the other."""
    return sorted({link["dir"] for link in (r.get(F.TUNING) for r in rows)
                   if isinstance(link, dict) and link.get("dir")
                   and bool(link.get("budget_point_s")) == budget_points})


def budget_frame(rows: list[dict[str, Any]]) -> pd.DataFrame | None:
    """The budget curves' tunings read at ``BUDGET_POINTS_S`` (``study.tuning.summary.budget_table``),
    for the ``budget-*`` value markers; None when no budget point's folder is here to read."""
    from study.tuning.summary import budget_table

    found = [Path(f) for f in tuning_folders(rows, True) if (Path(f) / "tune.json").is_file()]
    return budget_table(found, BUDGET_POINTS_S) if found else None


def validation_points(rows: list[dict]) -> pd.DataFrame:
    """The other half of each curve: the validation RMSE (mean over the tuning's folds) of the
    configuration each budget chose, and of the out-of-the-box one (0 minutes), read from the
    journals of the tuning folders the run's budget points link to
    (``study.tuning.summary.budget_table``); empty when none is here to read."""
    from study.tuning.summary import budget_label

    columns = [F.MODEL, F.SUBSET, "minutes", "valid_rmse"]
    table = budget_frame(rows)
    if table is None:
        return pd.DataFrame(columns=columns)
    points = [table[[F.MODEL, F.SUBSET]].assign(minutes=0.0, valid_rmse=table["default_valid_rmse"])]
    points += [table[[F.MODEL, F.SUBSET]].assign(minutes=b / 60, valid_rmse=table[f"valid_{budget_label(b)}"])
               for b in BUDGET_POINTS_S]
    out = pd.concat(points, ignore_index=True)
    out["valid_rmse"] = pd.to_numeric(out["valid_rmse"], errors="coerce")
    return out.dropna(subset=["valid_rmse"])[columns].sort_values(columns[:3]).reset_index(drop=True)


def plot_budget_means(table: pd.DataFrame, path: Path, n_subsets: int, reference: float | None = None) -> Path | None:
    """The curves for a phone: one panel, each family's mean test RMSE over the subsets
    (``budget_means``: only budgets scored on every subset) against tuning minutes, labelled at
    its last point instead of in a legend; ``reference`` (the 2021 LSTM's mean) as a flat
    dashed line. None when no family has two budget points yet."""
    from study.publishing.figures import model_colours, pyplot, save, spread_labels
    from study.publishing.views import display_name

    lines = {model: values.dropna() for model, values in table.iterrows() if values.notna().sum() >= 2}
    if not lines:
        return None
    fig, ax = pyplot().subplots(figsize=(4.6, 3.6))
    colours = model_colours(list(lines))
    ends = []
    for model, values in lines.items():
        ax.plot(values.index, values.values, marker="o", ms=4, lw=1.8, color=colours[model])
        ends.append((model, float(values.index[-1]), float(values.iloc[-1])))
    if reference is not None:
        ax.hlines(reference, 0, float(max(table.columns)), color="0.3", ls="--", lw=1)
        ends.append(("2021 LSTM (plain settings)", float(max(table.columns)), reference))
    span = max(e[2] for e in ends) - min(e[2] for e in ends)
    placed = spread_labels(np.array([e[2] for e in ends]), max(span, 1.0) * 0.07)
    right = float(max(table.columns))
    for (model, x, y), label_y in zip(ends, placed):
        name = model if model.startswith("2021") else display_name(model)
        ax.annotate(name, (x, y), xytext=(right * 1.04, label_y), fontsize=8, va="center",
                    color=colours.get(model, "0.3"), arrowprops={"arrowstyle": "-", "color": "0.8", "lw": 0.6})
    ax.set_xticks(sorted(table.columns))
    ax.set_xlim(-right * 0.04, right * 1.5)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlabel("tuning budget (CPU minutes per subset)", fontsize=9)
    ax.set_ylabel(f"test RMSE, mean of {n_subsets} subsets", fontsize=9)
    ax.tick_params(labelsize=8)
    return save(fig, Path(path))


def _panels(subsets: list[str], extra_height: float, xlabel: str, ylabel: str):
    """A phone-readable grid, one panel per subset (two per row; unused panels hidden), the
    axis labels on the outer panels: (figure, {subset: axes})."""
    from study.publishing.figures import pyplot

    ncols = min(2, len(subsets))
    nrows = -(-len(subsets) // ncols)
    fig, axes = pyplot().subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows + extra_height), squeeze=False,
                                  sharex=True)
    for ax in axes.flat[len(subsets):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for ax, subset in zip(axes.flat, subsets):
        ax.set_title(subset)
    return fig, dict(zip(subsets, axes.flat))


def plot_curves(curves: pd.DataFrame, path: Path, reference: pd.Series | None = None,
                validation: pd.DataFrame | None = None) -> Path | None:
    """Test RMSE (mean, whiskers: seed std; solid) and the chosen configuration's validation
    RMSE (dotted, where ``validation`` has it) against tuning minutes, one line per model in
    its study colour, one panel per subset (two per row, so a phone can read it);
    ``reference`` (subset -> RMSE), e.g. the 2021 LSTM, as a flat dashed line."""
    if curves.empty:
        return None
    from study.publishing.figures import model_colours, save
    from study.publishing.views import display_name

    subsets = sorted(curves[F.SUBSET].unique())
    models = sorted(curves[F.MODEL].unique())
    colours = model_colours(models)
    ncols = min(2, len(subsets))
    legend_rows = -(-(len(models) + 3) // ncols)
    fig, panels = _panels(subsets, 0.25 * legend_rows + 0.4, "tuning budget (CPU minutes)", "RMSE (cycles)")
    for subset, ax in panels.items():
        part = curves[curves[F.SUBSET] == subset]
        for model, line in part.groupby(F.MODEL, sort=True):
            ax.errorbar(line["minutes"], line[F.RMSE], yerr=line[RMSE_STD].fillna(0.0), marker="o", ms=4, lw=1.6,
                        capsize=2, color=colours[model], label=display_name(model))
            if validation is not None and len(validation):
                valid = validation[(validation[F.MODEL] == model) & (validation[F.SUBSET] == subset)]
                if len(valid):
                    ax.plot(valid["minutes"], valid["valid_rmse"], ls=":", lw=1.2, marker=".", ms=3,
                            color=colours[model])
        if reference is not None and subset in reference.index:
            ax.axhline(float(reference[subset]), color="0.3", ls="--", lw=1, label="2021 LSTM (plain settings)")
        ticks = set(curves["minutes"]) | (set(validation["minutes"]) if validation is not None and len(validation) else set())
        ax.set_xticks(sorted(ticks))
    entries: dict[str, Any] = {}  # every panel's lines, once each: a family scored on one subset only is named too
    for ax in panels.values():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    handles, labels = list(entries.values()), list(entries)
    if validation is not None and len(validation):
        from matplotlib.lines import Line2D
        handles += [Line2D([], [], color="0.2", lw=1.6), Line2D([], [], color="0.2", ls=":", lw=1.2)]
        labels += ["test engines (solid, seed spread)", "validation folds (dotted)"]
    columns = ncols  # one legend column per panel column: a single panel's legend stays within it
    rows_of_legend = -(-len(labels) // columns)
    bottom = (0.22 * rows_of_legend + 0.1) / fig.get_figheight()  # room below the panels for the legend
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=columns, frameon=False, bbox_to_anchor=(0.5, 0.0),
               fontsize=8)
    return save(fig, Path(path), tight=False)


def plot_traces(traces: pd.DataFrame, path: Path) -> Path | None:
    """How each family's tuning improved its choice as CPU minutes were spent: the incumbent's
    validation RMSE as a step line per (model, subset) (``study.tuning.summary.incumbent_traces``),
    ending where the pair has spent its budget so far; the budget points 10, 30 and 60 minutes
    as faint vertical lines. Validation folds only: no test score is involved."""
    if traces.empty:
        return None
    from study.publishing.figures import model_colours, save
    from study.publishing.views import display_name

    subsets = sorted(traces[F.SUBSET].unique())
    colours = model_colours(sorted(traces[F.MODEL].unique()))
    fig, panels = _panels(subsets, 1.0, "tuning CPU minutes spent", "best validation RMSE so far")
    for subset, ax in panels.items():
        for model, line in traces[traces[F.SUBSET] == subset].groupby(F.MODEL, sort=True):
            minutes = list(line["cpu_s"] / 60) + [line["spent_s"].iloc[0] / 60]
            values = list(line["valid_rmse"]) + [line["valid_rmse"].iloc[-1]]
            running = "" if line["done"].iloc[0] else " (running)"
            ax.step(minutes, values, where="post", color=colours[model], lw=1.6,
                    label=display_name(model) + running)
        for budget in BUDGET_POINTS_S:
            ax.axvline(budget / 60, color="0.85", lw=0.8, zorder=0)
        ax.legend(fontsize=7, frameon=False)
    return save(fig, Path(path))


def main(argv: list[str] | None = None) -> int:
    """``python -m study.publishing.curves FOLDER... --figure PATH``: draw ``plot_traces`` of tuning folders."""
    import argparse

    from study.core.cli import add_debug_option, main_guarded
    from study.core.errors import StudyError
    from study.tuning.summary import incumbent_traces

    parser = argparse.ArgumentParser(prog="python -m study.publishing.curves",
                                     description="Draw how each pair's best validation RMSE fell as its tuning "
                                                 "spent CPU minutes (validation folds only).")
    parser.add_argument("folders", type=Path, nargs="+", metavar="folder", help="tuning folders (python -m study.tune --out)")
    parser.add_argument("--figure", type=Path, required=True, help="the PNG to write")
    add_debug_option(parser)
    args = parser.parse_args(argv)

    def body() -> int:
        missing = [str(f) for f in args.folders if not (f / "tune.json").is_file()]
        if missing:
            raise StudyError(f"{', '.join(missing)}: not a tuning folder (no tune.json); python -m study.tune writes one.")
        path = plot_traces(incumbent_traces(args.folders), args.figure)
        print(f"wrote {path}" if path else "no finished evaluation to draw yet")
        return 0

    return main_guarded(body, args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
