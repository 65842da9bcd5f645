"""Figures for the report and the blog post: one message per figure, one colour per model in
every figure, readable at blog width (about 800 px).

Everything is drawn from the leaderboard (``study.leaderboard.leaderboard``) and the long
predictions table (``predictions_frame``) of one run, so the figures regenerate with the report.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: Fixed colours for the study's models, so a model looks the same in every figure and run;
#: families share a hue family (networks blue/purple, trees green, libraries orange/brown).
MODEL_COLOURS = {
    "lstm": "#1f77b4", "transformer": "#9467bd", "mamba": "#17becf",
    "xgboost": "#2ca02c", "autogluon-tabular": "#98df8a",
    "sktime-rocket": "#ff7f0e", "darts-tft": "#8c564b", "autogluon-timeseries": "#e377c2",
    "chronos": "#bcbd22", "ensemble": "#d62728", "ensemble-nnls": "#ff9896",
}
_FALLBACK = ["#7f7f7f", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#c5b0d5", "#aec7e8", "#ffbb78"]
#: Stages of engine life by true (capped) RUL, for the error-by-stage figure.
STAGES = [(0, 25, "last 25 cycles"), (25, 50, "25-50"), (50, 75, "50-75"), (75, 100, "75-100"),
          (100, 125.01, "100+ (healthy)")]


def model_colours(models) -> dict[str, str]:
    """A colour per model label: the fixed one of the study's models, then grey tones in name
    order. A variant label (``lstm (default)``, ``study.views``) keeps its model's hue: out of
    the box is a lighter tint, hand-tuned a darker shade, so one model reads as one colour."""
    from matplotlib.colors import to_hex, to_rgb

    from study.views import split_label

    def shade(colour: str, kind: str) -> str:
        rgb = np.array(to_rgb(colour))
        if kind == "default":
            rgb = rgb + (1 - rgb) * 0.5
        elif kind == "hand-tuned":
            rgb = rgb * 0.6
        return to_hex(rgb)

    models = list(dict.fromkeys(models))
    extra = sorted({split_label(m)[0] for m in models} - set(MODEL_COLOURS))
    base = {**MODEL_COLOURS, **{m: _FALLBACK[i % len(_FALLBACK)] for i, m in enumerate(extra)}}
    return {m: shade(base[split_label(m)[0]], split_label(m)[1]) for m in models}


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path, tight: bool = True) -> Path:
    """Write a figure (laid out tightly unless the caller laid it out) and free it."""
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return path


def spread_labels(values: np.ndarray, min_gap: float) -> np.ndarray:
    """Positions for labels at ``values`` (one axis) moved apart to at least ``min_gap``, each as
    close to its value as the others allow (a one-dimensional de-overlap: sort, push down, then
    centre the moved groups)."""
    order = np.argsort(values)
    placed = np.asarray(values, float)[order].copy()
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + min_gap)
    shift = (placed - np.asarray(values, float)[order]).mean()  # re-centre so labels stay near their points
    placed -= shift / 2
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + min_gap)
    out = np.empty_like(placed)
    out[order] = placed
    return out


def model_means(board: pd.DataFrame) -> pd.DataFrame:
    """Per model with results on every subset of the run: mean RMSE over subsets and mean fit
    seconds per trial."""
    ok = board[board["rmse"].notna()]
    subsets = ok["subset"].nunique()
    grouped = ok.groupby("model").agg(rmse=("rmse", "mean"), fit_seconds=("fit_seconds", "mean"),
                                      n_subsets=("subset", "nunique"))
    return grouped[grouped["n_subsets"] == subsets].sort_values("rmse")


def accuracy_vs_cost(board: pd.DataFrame, path: Path, labels: dict[str, str] | None = None) -> Path | None:
    """One labelled point per model: mean RMSE over the subsets against mean training time
    per trial (log scale). Lower left is better."""
    means = model_means(board)
    if means.empty:
        return None
    plt = pyplot()
    colours = model_colours(means.index)
    fig, ax = plt.subplots(figsize=(6.6, 4.2))
    x, y = means["fit_seconds"].clip(lower=0.01).to_numpy(), means["rmse"].to_numpy()
    ax.scatter(x, y, s=60, c=[colours[m] for m in means.index], zorder=3, edgecolors="black", linewidths=0.5)
    ax.set_xscale("log")
    low, high = np.log10(x.min()), np.log10(x.max())
    ax.set_xlim(10 ** (low - 0.3), 10 ** (high + 1.0))  # room on the right for the labels
    span = max(y.max() - y.min(), 1.0)
    ax.set_ylim(y.min() - 0.08 * span, y.max() + 0.08 * span)
    label_y = spread_labels(y, 0.055 * span)
    for (model, xi, yi, ly) in zip(means.index, x, y, label_y):
        text = (labels or {}).get(model, model)
        ax.annotate(text, (xi, yi), xytext=(xi * 1.6, ly), fontsize=9, va="center", color="black",
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6})
    ax.set_xlabel("training time per model and subset (seconds, log scale)")
    ax.set_ylabel("test RMSE, mean over subsets (cycles)")
    ax.set_title("Accuracy against cost (lower left is better)", fontsize=11)
    ax.grid(alpha=0.3, which="both")
    return save(fig, path)


def sorted_results(board: pd.DataFrame, path: Path, labels: dict[str, str] | None = None,
                   clip_at: float | None = None) -> Path | None:
    """Per subset, models sorted by test RMSE (best on top). The whiskers span the seeds'
    lowest to highest RMSE, and are drawn only where seeds differ: a deterministic model has no
    spread to show. Bars beyond ``clip_at`` (default: twice the best RMSE of the run) are cut
    and labelled with their value, so the worst model does not squash the interesting range."""
    ok = board[board["rmse"].notna()]
    if ok.empty:
        return None
    plt = pyplot()
    subsets = sorted(ok["subset"].unique())
    colours = model_colours(ok["model"].unique())
    clip_at = clip_at or float(np.ceil(ok["rmse"].min() * 2))
    n_models = ok.groupby("subset").size().max()
    cols = 2 if len(subsets) > 1 else 1
    rows_n = int(np.ceil(len(subsets) / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(6.6 * cols / 2 + 1.4, 0.32 * n_models * rows_n + 1.2),
                             squeeze=False)
    for ax, subset in zip(axes.flat, subsets):
        part = ok[ok["subset"] == subset].sort_values("rmse")
        pos = np.arange(len(part))[::-1]
        values = part["rmse"].clip(upper=clip_at)
        ax.barh(pos, values, color=[colours[m] for m in part["model"]], height=0.7)
        for p, (_, r) in zip(pos, part.iterrows()):
            low, high = r.get("rmse_min", np.nan), r.get("rmse_max", np.nan)
            end = min(r["rmse"], clip_at)
            if r["n_seeds"] > 1 and r["rmse_std"] > 0 and np.isfinite(low) and high <= clip_at:
                ax.plot([low, high], [p, p], color="black", lw=1)
                end = max(end, high)
            text = f"{r['rmse']:.1f}" + (" ▶" if r["rmse"] > clip_at else "")
            ax.text(end + clip_at * 0.015, p, text, va="center", fontsize=7)
        ax.set_yticks(pos, [(labels or {}).get(m, m) for m in part["model"]], fontsize=8)
        ax.set_xlim(0, clip_at * 1.18)
        ax.set_title(subset, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(subsets):]:
        ax.axis("off")
    fig.supxlabel("test RMSE in cycles (whiskers: lowest to highest seed)", fontsize=9)
    return save(fig, path)


def error_by_stage(preds: pd.DataFrame, path: Path, models: list[str], max_rul: float,
                   labels: dict[str, str] | None = None) -> Path | None:
    """Mean signed error (prediction minus capped truth) by stage of engine life, pooled over
    subsets and seeds, for ``models``. Above zero is late: the model says the engine has more
    life left than it has, the dangerous direction (the NASA score punishes it harder)."""
    part = preds[preds["model"].isin(models)]
    if part.empty:
        return None
    plt = pyplot()
    colours = model_colours(models)
    capped = np.minimum(part["y_true"], max_rul)
    stage = pd.cut(capped, [s[0] for s in STAGES] + [STAGES[-1][1]], right=False, labels=[s[2] for s in STAGES])
    frame = part.assign(error=part["y_pred"] - capped, stage=stage)
    fig, ax = plt.subplots(figsize=(6.6, 4.4))
    xs = np.arange(len(STAGES))
    width = 0.8 / len(models)
    for i, model in enumerate(m for m in models if m in set(frame["model"])):
        mean = frame[frame["model"] == model].groupby("stage", observed=False)["error"].mean()
        ax.bar(xs + (i - (len(models) - 1) / 2) * width, mean.to_numpy(), width, color=colours[model],
               label=(labels or {}).get(model, model))
    ax.axhline(0, color="black", lw=0.8)
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, top)
    ax.axhspan(0, top, color="#d62728", alpha=0.06, zorder=0)
    ax.text(len(STAGES) - 0.5, ax.get_ylim()[1] * 0.92, "late: predicts more life than is left",
            ha="right", va="top", fontsize=8, color="#d62728")
    ax.set_xticks(xs, [s[2] for s in STAGES], fontsize=8)
    ax.set_xlabel("true remaining life of the test engine (cycles)")
    ax.set_ylabel("mean error (cycles)")
    ax.set_title("Where the errors are, by stage of engine life", fontsize=11)
    ax.legend(fontsize=8, frameon=False, ncol=min(3, len(models)), loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return save(fig, path)


def seed_spread(rows: list[dict]) -> pd.DataFrame:
    """Lowest and highest RMSE over each (model, subset)'s successful seeds."""
    frame = pd.DataFrame([r for r in rows if r.get("status") == "ok"])
    if frame.empty:
        return pd.DataFrame(columns=["model", "subset", "rmse_min", "rmse_max"])
    return frame.groupby(["model", "subset"])["rmse"].agg(rmse_min="min", rmse_max="max").reset_index()
