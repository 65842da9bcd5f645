"""Budget curves: each family's test error at growing tuning budgets, and where the lines cross.

A run holds a model at several budgets as variants: ``default`` (no tuning: 0 minutes) and
``tuned-10m``, ``tuned-30m``, ``tuned-60m`` (the configuration a tuning of that many CPU
minutes selected on validation folds, ``study.tuning.tuner.incumbent_at``). This module turns a
run's leaderboard into one line per (model, subset) budget point, finds the budget at which
a family first beats the baseline LSTM at the same budget, and draws the figure.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from study.records.leaderboard import RMSE_STD
from study.records.rows import Field as F

BUDGET_VARIANT = re.compile(r"^tuned-(\d+(?:\.\d+)?)m$")
BASELINE = "lstm"
CURVE_COLUMNS = [F.MODEL, F.SUBSET, "minutes", F.RMSE, RMSE_STD, "n_seeds"]


def budget_minutes(variant: str) -> float | None:
    """Tuning minutes of a variant: 0 for ``default`` (out of the box), N for ``tuned-Nm``
    (``study.records.rows.budget_variant``), None for any other (hand-tuned, the 10-minute race's ``tuned``)."""
    if variant == "default":
        return 0.0
    found = BUDGET_VARIANT.match(str(variant))
    return float(found.group(1)) if found else None


def curve_frame(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard lines that are budget points: models with at least one ``tuned-Nm``
    variant, with their default as the 0-minute point; sorted by model, subset, minutes."""
    board = board[board[F.STATUS].astype(str).str.startswith("ok")]
    minutes = board[F.VARIANT].map(budget_minutes)
    points = board.assign(minutes=minutes)[minutes.notna()]
    tuned = set(points.loc[points["minutes"] > 0, F.MODEL])
    points = points[points[F.MODEL].isin(tuned)]
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
            if not shared:
                text = f"no shared tuning budget with {baseline}"
            elif ahead:
                text = f"{model} passes {baseline} on {subset} at {first:g} minutes"
            else:
                text = f"{model} does not pass {baseline} on {subset} within {longest:g} minutes"
            out.append({F.SUBSET: subset, F.MODEL: model, "passes_after_minutes": first, "finding": text})
    return pd.DataFrame(out, columns=[F.SUBSET, F.MODEL, "passes_after_minutes", "finding"])


def plot_curves(curves: pd.DataFrame, path: Path, reference: pd.Series | None = None) -> Path | None:
    """Test RMSE (mean, whiskers: seed std) against tuning minutes, one panel per subset, one
    line per model; ``reference`` (subset -> RMSE), e.g. the 2021 LSTM, as a flat dashed line."""
    if curves.empty:
        return None
    from study.publishing.figures import model_colours, pyplot, save

    plt = pyplot()
    subsets = sorted(curves[F.SUBSET].unique())
    colours = model_colours(sorted(curves[F.MODEL].unique()))
    fig, axes = plt.subplots(1, len(subsets), figsize=(3.4 * len(subsets), 3.4), squeeze=False, sharex=True)
    for ax, subset in zip(axes[0], subsets):
        part = curves[curves[F.SUBSET] == subset]
        for model, line in part.groupby(F.MODEL, sort=True):
            ax.errorbar(line["minutes"], line[F.RMSE], yerr=line[RMSE_STD].fillna(0.0), marker="o", ms=4, lw=1.4,
                        capsize=2, color=colours[model], label=model)
        if reference is not None and subset in reference.index:
            ax.axhline(float(reference[subset]), color="0.3", ls="--", lw=1, label="2021 LSTM (plain settings)")
        ax.set_title(subset)
        ax.set_xlabel("tuning budget (CPU minutes)")
        ax.set_xticks(sorted(curves["minutes"].unique()))
    axes[0][0].set_ylabel("test RMSE (cycles)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), frameon=False,
               bbox_to_anchor=(0.5, -0.08))
    return save(fig, Path(path))
