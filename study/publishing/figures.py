"""Figures for the report and the blog post: one message per figure, one colour per model in
every figure, readable at blog width (about 800 px).

Everything is drawn from the leaderboard (``study.records.leaderboard.leaderboard``) and the long
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
    order. A variant label (``lstm (default)``, ``study.publishing.views``) keeps its model's hue: out of
    the box is a lighter tint, hand-tuned a darker shade, so one model reads as one colour."""
    from matplotlib.colors import to_hex, to_rgb

    from study.records.rows import split_label

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


def model_order(board: pd.DataFrame) -> list[str]:
    """One order of the models for every panel and figure of a run: those with results on every
    subset by mean RMSE over the subsets (best first), then the others by their mean RMSE."""
    ok = board[board["rmse"].notna()]
    full = list(model_means(board).index)
    rest = ok[~ok["model"].isin(full)].groupby("model")["rmse"].mean().sort_values()
    return full + list(rest.index)


def _results_layout(board: pd.DataFrame, clip_at: float | None):
    """What both results figures share: the scored lines, the subsets, the one model order, its
    colours, and the clip (default: twice the best RMSE of the run)."""
    ok = board[board["rmse"].notna()]
    order = model_order(board)
    clip = clip_at or (float(np.ceil(ok["rmse"].min() * 2)) if len(ok) else 0.0)
    return ok, sorted(ok["subset"].unique()), order, model_colours(order), clip


def sorted_results(board: pd.DataFrame, path: Path, labels: dict[str, str] | None = None,
                   clip_at: float | None = None) -> Path | None:
    """Per subset, the models' test RMSE as bars, in one fixed order on every panel
    (``model_order``: best mean RMSE over the subsets on top), so a model sits on the same line
    of every panel and its name is written once per row of panels. The whiskers span the seeds'
    lowest to highest RMSE, and are drawn only where seeds differ: a deterministic model has no
    spread to show. Bars beyond ``clip_at`` (default: twice the best RMSE of the run) are cut
    and labelled with their value, so the worst model does not squash the interesting range."""
    ok, subsets, order, colours, clip_at = _results_layout(board, clip_at)
    if ok.empty:
        return None
    plt = pyplot()
    cols = 2 if len(subsets) > 1 else 1
    rows_n = int(np.ceil(len(subsets) / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(6.6 * cols / 2 + 1.4, 0.32 * len(order) * rows_n + 1.2),
                             squeeze=False, sharey=True)
    slot = {model: len(order) - 1 - i for i, model in enumerate(order)}  # first in the order on top
    for ax, subset in zip(axes.flat, subsets):
        part = ok[ok["subset"] == subset].set_index("model").reindex([m for m in order if m in
                                                                       set(ok[ok["subset"] == subset]["model"])])
        pos = np.array([slot[m] for m in part.index])
        values = part["rmse"].clip(upper=clip_at)
        ax.barh(pos, values, color=[colours[m] for m in part.index], height=0.7)
        for p, (_, r) in zip(pos, part.iterrows()):
            low, high = r.get("rmse_min", np.nan), r.get("rmse_max", np.nan)
            end = min(r["rmse"], clip_at)
            if r["n_seeds"] > 1 and r["rmse_std"] > 0 and np.isfinite(low) and high <= clip_at:
                ax.plot([low, high], [p, p], color="black", lw=1)
                end = max(end, high)
            text = f"{r['rmse']:.1f}" + (" ▶" if r["rmse"] > clip_at else "")
            ax.text(end + clip_at * 0.015, p, text, va="center", fontsize=7)
        ax.set_yticks([slot[m] for m in order], [(labels or {}).get(m, m) for m in order], fontsize=8)
        ax.set_ylim(-0.6, len(order) - 0.4)
        ax.set_xlim(0, clip_at * 1.18)
        ax.set_title(subset, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(subsets):]:
        ax.axis("off")
    fig.supxlabel("test RMSE in cycles (whiskers: lowest to highest seed)", fontsize=9)
    return save(fig, path)


#: Marker per subset in the phone-sized results figure (the same on every line).
SUBSET_MARKERS = {"FD001": "o", "FD002": "s", "FD003": "^", "FD004": "D"}


def results_dots(board: pd.DataFrame, path: Path, labels: dict[str, str] | None = None,
                 clip_at: float | None = None) -> Path | None:
    """The results for a phone: one line per model in ``model_order`` (best mean RMSE over the
    subsets on top), a dot per subset (its own marker, the model's colour) at the mean test
    RMSE, a thin whisker from the lowest to the highest seed where seeds differ. The subsets of
    a line sit a little apart, so dots never hide each other; one narrow panel, readable at
    400 px wide. Beyond ``clip_at`` (default: twice the best RMSE of the run) a dot sits at the
    edge as a triangle pointing right, its value written beside it."""
    ok, subsets, order, colours, clip_at = _results_layout(board, clip_at)
    if ok.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 0.42 * len(order) + 1.3))
    step = 0.7 / max(len(subsets), 1)
    offsets = {s: 0.35 - step / 2 - i * step for i, s in enumerate(subsets)}  # first subset on top of its line
    for i, model in enumerate(order):
        line = len(order) - 1 - i
        ax.axhspan(line - 0.45, line + 0.45, color="0.96" if i % 2 else "white", zorder=0, lw=0)
        for _, r in ok[ok["model"] == model].iterrows():
            y = line + offsets[r["subset"]]
            low, high = r.get("rmse_min", np.nan), r.get("rmse_max", np.nan)
            if r["rmse"] > clip_at:
                ax.plot(clip_at, y, marker=">", color=colours[model], ms=5, ls="none")
                ax.text(clip_at * 0.985, y, f"{r['rmse']:.0f}", ha="right", va="center", fontsize=7, color="0.3")
                continue
            if r.get("n_seeds", 1) > 1 and r.get("rmse_std", 0) > 0 and np.isfinite(low) and high <= clip_at:
                ax.plot([low, high], [y, y], color=colours[model], lw=1)
            ax.plot(r["rmse"], y, marker=SUBSET_MARKERS.get(r["subset"], "o"), color=colours[model], ms=5,
                    ls="none", markeredgecolor="black", markeredgewidth=0.4)
    ax.set_yticks(range(len(order)), [(labels or {}).get(m, m) for m in reversed(order)], fontsize=9)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlim(max(0.0, float(ok["rmse"].min()) - 2), clip_at * 1.02)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="0.85", lw=0.6)
    ax.set_xlabel("test RMSE in cycles (lower is better)", fontsize=9)
    handles = [plt.Line2D([], [], marker=SUBSET_MARKERS.get(s, "o"), color="0.4", ls="none", ms=5) for s in subsets]
    ax.legend(handles, subsets, ncol=len(subsets), fontsize=8, frameon=False, loc="lower center",
              bbox_to_anchor=(0.4, 1.0), handletextpad=0.2, columnspacing=0.8)
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
    pooled = pooled_subsets(part)
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
    ax.set_title(f"Where the errors are, by stage of engine life\n{pooled}", fontsize=10)
    ax.legend(fontsize=8, frameon=False, ncol=min(3, len(models)), loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return save(fig, path)


def pooled_subsets(preds: pd.DataFrame) -> str:
    """What a figure that pools ``preds`` pools, in words: "FD001, FD003 pooled: 200 test
    engines, 3 seeds each" (engines counted once per subset, over any one model)."""
    subsets = sorted(preds["subset"].unique())
    engines = preds.drop_duplicates(["subset", "unit"]).shape[0]
    seeds = preds.groupby(["model", "subset"])["seed"].nunique().max()
    what = subsets[0] if len(subsets) == 1 else ", ".join(subsets[:-1]) + " and " + subsets[-1] + " pooled"
    return f"{what}: {engines} test engines" + (f", {seeds} seeds each" if seeds > 1 else "")


def planner_misses(shares: pd.DataFrame, path: Path, order: list[str] | None = None,
                   labels: dict[str, str] | None = None, pooled: str = "") -> Path | None:
    """Per model, what a maintenance planner sees (``shares``: one line per model, columns
    ``late_10``, ``late_25``, ``early_25``: shares of test engines, 0 to 1): to the right the
    engines called late by more than 10 and by more than 25 cycles (the second inside the
    first), to the left those called early by more than 25. Models in ``order`` (top first);
    ``pooled``: what the shares pool, for the title (``pooled_subsets``)."""
    if shares.empty:
        return None
    plt = pyplot()
    order = [m for m in (order or list(shares.index)) if m in shares.index]
    order += [m for m in shares.index if m not in order]
    fig, ax = plt.subplots(figsize=(6.6, 0.36 * len(order) + 1.6))
    pos = np.arange(len(order))[::-1]
    part = shares.loc[order] * 100
    ax.barh(pos, part["late_10"], color="#f4a582", height=0.7, label="late by more than 10 cycles (whole bar)")
    ax.barh(pos, part["late_25"], color="#b2182b", height=0.7, label="late by more than 25 cycles (dark part)")
    ax.barh(pos, -part["early_25"], color="#4393c3", height=0.7, label="early by more than 25 cycles")
    reach = max(part["late_10"].max(), part["early_25"].max(), 1.0)
    for p, (_, r) in zip(pos, part.iterrows()):
        ax.text(r["late_10"] + reach * 0.02, p, f"{r['late_10']:.0f}%, dark {r['late_25']:.0f}%", va="center",
                fontsize=7)
        ax.text(-r["early_25"] - reach * 0.02, p, f"{r['early_25']:.0f}%", va="center", ha="right", fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(pos, [(labels or {}).get(m, m) for m in order], fontsize=8)
    early_reach = max(part["early_25"].max(), 1.0)
    ax.set_xlim(-early_reach * 1.6 - reach * 0.1, reach * 1.45)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{abs(v):.0f}%"))
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("share of test engines (early to the left, late to the right)", fontsize=8)
    ax.set_title("How often each model misses by a planner's margin", fontsize=10, pad=16 if pooled else 6)
    if pooled:
        ax.text(0.5, 1.015, pooled, transform=ax.transAxes, ha="center", va="bottom", fontsize=8, color="0.3")
    ax.legend(fontsize=7, frameon=False, ncol=1, loc="upper center", bbox_to_anchor=(0.45, -0.14))
    return save(fig, path)


#: The families the "how each contender reads an engine" diagram draws, top to bottom:
#: (model whose colour it takes, name, how it reads the window, what it needs to train well).
READERS = [
    ("lstm", "LSTM", "a memory updated cycle by cycle", "thousands of windows, tens of passes (epochs)"),
    ("transformer", "Transformer", "every cycle looks at every other", "more data, more passes, many tuning runs"),
    ("mamba", "Mamba", "a state that chooses what to keep", "like the Transformer; slow on a CPU"),
    ("xgboost", "XGBoost", "summary numbers per sensor, then many small trees", "seconds per fit; a short search"),
    ("autogluon-tabular", "AutoGluon", "the same numbers, many models, blended", "only a time limit: it tunes itself"),
    ("chronos", "Chronos", "each sensor alone through a pretrained model",
     "a download; only the final straight-line fit is trained"),
]


def how_models_read(path: Path, n_cycles: int = 8) -> Path:
    """A schematic, drawn from nothing but ``READERS``: how each family consumes one window of
    ``n_cycles`` cycles (oldest left, newest right) to produce a remaining-life estimate. No
    data: it explains, it measures nothing."""
    plt = pyplot()
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

    from matplotlib.colors import to_rgb

    colours = model_colours([r[0] for r in READERS])
    # names in their model's colour, darkened where it is too pale to read as text
    inks = {m: tuple(np.array(to_rgb(c)) * (0.6 if np.dot(to_rgb(c), (0.3, 0.59, 0.11)) > 0.55 else 1.0))
            for m, c in colours.items()}
    fig, axes = plt.subplots(len(READERS), 1, figsize=(6.6, 1.25 * len(READERS) + 0.5))
    cell, gap, left = 0.52, 0.1, 0.2
    xs = left + np.arange(n_cycles) * (cell + gap)  # each cycle's box, left edge
    centres = xs + cell / 2
    right = xs[-1] + cell

    def box(ax, x, y, w, h, text, colour, size=7, fill="white"):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", fc=fill,
                                    ec=colour, lw=1.2))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size)

    def arrow(ax, start, end, colour, lw=1.2, style="-|>", rad=0.0, alpha=1.0):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=8, color=colour, lw=lw,
                                     alpha=alpha, connectionstyle=f"arc3,rad={rad}"))

    rng = np.random.default_rng(0)  # the little sensor traces inside the cycle boxes: decoration
    traces = np.cumsum(rng.normal(0.0, 0.3, (n_cycles, 6)), axis=1)
    for ax, (model, name, how, needs) in zip(axes, READERS):
        colour = colours[model]
        ax.set_xlim(0, 10.4)
        ax.set_ylim(-0.35, 1.45)
        ax.axis("off")
        ax.text(0.2, 1.33, name, fontsize=9, fontweight="bold", color=inks[model], va="center")
        ax.text(2.0, 1.33, how, fontsize=8, va="center")
        ax.text(10.3, -0.25, "to train well: " + needs, fontsize=7, ha="right", va="center", color="0.35")
        for k, x in enumerate(xs):
            ax.add_patch(Rectangle((x, 0.1), cell, 0.55, fc="0.93", ec="0.55", lw=0.6))
            trace = traces[k]
            ax.plot(x + np.linspace(0.05, cell - 0.05, len(trace)), 0.37 + 0.06 * (trace - trace.mean()),
                    color="0.45", lw=0.6)
        out_x = 8.9
        box(ax, out_x, 0.15, 1.3, 0.45, "remaining\nlife", colour, size=7)
        if model == "lstm":
            for a, b in zip(centres[:-1], centres[1:]):
                arrow(ax, (a + 0.08, 0.9), (b - 0.08, 0.9), colour)
            for c in centres:
                ax.plot([c, c], [0.65, 0.84], color=colour, lw=0.8)
                ax.plot(c, 0.9, "o", ms=4, color=colour)
            ax.text(centres[0], 1.05, "memory", fontsize=6, color=colour, ha="left")
            arrow(ax, (centres[-1] + 0.1, 0.9), (out_x, 0.45), colour)
        elif model == "transformer":
            for i in range(n_cycles):
                for j in range(i + 1, n_cycles):
                    ax.add_patch(FancyArrowPatch((centres[i], 0.68), (centres[j], 0.68), arrowstyle="-",
                                                 color=colour, lw=0.7, alpha=0.45,
                                                 connectionstyle=f"arc3,rad=-{0.28 + 0.02 * (j - i)}"))
            arrow(ax, (right + 0.05, 0.4), (out_x, 0.38), colour)
            ax.text((right + out_x) / 2, 0.55, "pool", fontsize=6, ha="center", color=colour)
        elif model == "mamba":
            keep = [0.15, 0.9, 0.2, 0.15, 1.0, 0.85, 0.2, 1.0]  # how much of each cycle the state takes in
            for a, b in zip(centres[:-1], centres[1:]):
                arrow(ax, (a + 0.08, 0.95), (b - 0.08, 0.95), colour)
            for c, k in zip(centres, keep[:n_cycles]):
                ax.plot([c, c], [0.65, 0.89], color=colour, lw=0.4 + 2.6 * k, alpha=0.25 + 0.75 * k)
                ax.plot(c, 0.95, "s", ms=4, color=colour)
            ax.text(centres[1], 1.07, "keep", fontsize=6, color=colour, ha="center")
            ax.text(centres[2], 1.07, "let fade", fontsize=6, color="0.45", ha="center")
            arrow(ax, (centres[-1] + 0.1, 0.95), (out_x, 0.45), colour)
        elif model in ("xgboost", "autogluon-tabular"):
            ax.plot([xs[0], xs[0], right, right], [0.7, 0.78, 0.78, 0.7], color=colour, lw=1)
            box(ax, 1.9, 0.88, 2.6, 0.26, "last, mean, spread, trend... per sensor", colour, size=6)
            ax.plot([(xs[0] + right) / 2] * 2, [0.78, 0.88], color=colour, lw=1)
            if model == "xgboost":
                for k, tx in enumerate(np.linspace(6.0, 7.6, 4)):
                    ax.add_patch(plt.Polygon([[tx, 1.0], [tx - 0.22, 0.55], [tx + 0.22, 0.55]], fc=colour,
                                             alpha=0.55, ec=colour))
                    ax.text(tx + 0.33, 0.74, "+" if k < 3 else "", fontsize=8, ha="center", va="center")
                ax.text(6.8, 0.32, "trees, each fixing the last one's error", fontsize=6, ha="center")
                arrow(ax, (4.5, 1.01), (5.75, 0.8), colour)
                arrow(ax, (8.0, 0.72), (out_x, 0.45), colour)
            else:
                members = ["trees", "boosted", "neural net"]
                for k, member in enumerate(members):
                    box(ax, 5.1, 0.92 - 0.32 * k, 1.15, 0.24, member, colour, size=6)
                    arrow(ax, (4.5, 1.01), (5.1, 1.04 - 0.32 * k), colour, lw=0.8)
                    arrow(ax, (6.25, 1.04 - 0.32 * k), (6.8, 0.72), colour, lw=0.8)
                box(ax, 6.8, 0.56, 1.4, 0.32, "weighted blend", colour, size=6, fill="#f2f2f2")
                arrow(ax, (8.2, 0.72), (out_x, 0.45), colour)
        elif model == "chronos":
            for k in range(3):  # three sensors, each read alone
                ax.plot(centres, 0.8 + 0.11 * k + 0.015 * traces[:, k], color=colour, lw=0.9, alpha=0.85)
            ax.text(right + 0.15, 0.85, "one sensor\nat a time", fontsize=6, color=inks[model], ha="left",
                    va="top")
            box(ax, 5.45, 0.72, 1.5, 0.45, "pretrained\n(frozen)", colour, size=6, fill="#f2f2f2")
            arrow(ax, (right + 0.05, 0.98), (5.45, 0.95), colour)
            for k in range(5):
                ax.add_patch(Rectangle((7.2 + 0.14 * k, 0.85), 0.12, 0.2, fc=colour, alpha=0.3 + 0.14 * k, ec="none"))
            ax.text(7.55, 1.12, "numbers", fontsize=6, ha="center")
            arrow(ax, (6.95, 0.95), (7.18, 0.95), colour)
            ax.text(8.2, 0.45, "straight-line\nfit", fontsize=6, ha="center", color="0.3")
            arrow(ax, (7.95, 0.95), (out_x, 0.45), colour)
    axes[0].text(centres[0], -0.2, "oldest cycle", fontsize=6, ha="left", color="0.4")
    axes[0].text(centres[-1], -0.2, "newest", fontsize=6, ha="right", color="0.4")
    fig.suptitle("How each contender reads a window of an engine's cycles", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98), h_pad=0.2)
    return save(fig, path, tight=False)


def seed_spread(rows: list[dict]) -> pd.DataFrame:
    """Lowest and highest RMSE over each (model, subset)'s successful seeds."""
    frame = pd.DataFrame([r for r in rows if r.get("status") == "ok"])
    if frame.empty:
        return pd.DataFrame(columns=["model", "subset", "rmse_min", "rmse_max"])
    return frame.groupby(["model", "subset"])["rmse"].agg(rmse_min="min", rmse_max="max").reset_index()
