"""Is a model's RMSE really lower than the baseline's, or is it the 100 test engines' luck?

Every model is scored on the same test engines, so two models can be compared engine by
engine (a paired bootstrap): resample the engines with replacement, recompute both models'
RMSE on the same resample (each seed's RMSE, then the mean over seeds, exactly as the
leaderboard does), and take the percentile interval of the difference. Pairing removes
the part of the noise the two models share (the same hard engines hurt both), so the
interval is much narrower than comparing two unpaired confidence intervals.

The interval covers test-engine sampling only; the spread over training seeds is the
leaderboard's "± std". Neither is a substitute for the other.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from study.core.cli import add_debug_option, main_guarded
from study.core.errors import StudyError
from study.records.leaderboard import predictions_frame, to_markdown
from study.records.rows import comparable_labels
from study.records.run_folder import load_run

LOWER, HIGHER, UNRESOLVED = "lower", "higher", "not distinguishable"


class NotComparable(StudyError, ValueError):
    """Predictions that cannot be paired engine by engine (other engines, other truths): a user
    error when two runs are on different data (also a ``ValueError``, as it was)."""


def seed_matrix(preds: pd.DataFrame, units: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One model's predictions on one subset as (seeds, engines), its engine ids and their
    RUL truth. ``units`` fixes the engine order (and must then be exactly the model's engines)."""
    wide = preds.pivot(index="seed", columns="unit", values="y_pred").sort_index()
    if wide.isna().any().any():
        raise NotComparable("every seed must predict the same test engines")
    if units is not None:
        if set(wide.columns) != set(units):
            raise NotComparable("the two models were scored on different test engines")
        wide = wide[list(units)]
    truths = preds.groupby("unit")["y_true"]
    if (truths.nunique() > 1).any():
        raise NotComparable("an engine has two different RUL truths: these rows are not from one test set")
    truth = truths.first().loc[wide.columns]
    return wide.to_numpy(float), wide.columns.to_numpy(), truth.to_numpy(float)


def paired_rmse_difference(truth: np.ndarray, model: np.ndarray, baseline: np.ndarray, n_boot: int = 2000,
                           level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """RMSE(model) - RMSE(baseline), each the mean over its seeds of the per-seed RMSE, and a
    paired percentile bootstrap interval resampling the test engines.

    ``model`` and ``baseline`` are (seeds, engines) arrays over the same engines in the same
    order (their seed counts may differ); ``truth`` is already capped as the scorer caps it.
    """
    truth = np.asarray(truth, float)
    sq_model = (np.atleast_2d(model) - truth) ** 2
    sq_base = (np.atleast_2d(baseline) - truth) ** 2
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(truth), size=(n_boot, len(truth)))

    def mean_rmse(sq: np.ndarray) -> np.ndarray:  # (boot,): each resample's mean-over-seeds RMSE
        return np.sqrt(sq[:, idx].mean(axis=-1)).mean(axis=0)

    boot = mean_rmse(sq_model) - mean_rmse(sq_base)
    alpha = (1 - level) / 2
    point = float(np.sqrt(sq_model.mean(axis=1)).mean() - np.sqrt(sq_base.mean(axis=1)).mean())
    return {"difference": point, "ci_low": float(np.quantile(boot, alpha)),
            "ci_high": float(np.quantile(boot, 1 - alpha)),
            "share_lower": float(np.mean(boot < 0))}


def verdict(ci_low: float, ci_high: float) -> str:
    """'lower' / 'higher' when the whole interval is on one side of zero."""
    if ci_high < 0:
        return LOWER
    if ci_low > 0:
        return HIGHER
    return UNRESOLVED


def paired_row(candidate: pd.DataFrame, reference: pd.DataFrame, max_rul: float, what: str,
               **bootstrap: Any) -> dict[str, Any]:
    """Candidate minus reference (one model's rows each, one subset) on the reference's engines.
    Public: the one paired comparison that compare, rank and the writeup's markers all report."""
    ref, units, truth = seed_matrix(reference)
    cand, _, cand_truth = seed_matrix(candidate, units)
    if not np.array_equal(cand_truth, truth):
        raise NotComparable(f"{what} were scored against different RUL truths")
    result = paired_rmse_difference(np.minimum(truth, max_rul), cand, ref, **bootstrap)
    return {"n_engines": len(units), **result, "verdict": verdict(result["ci_low"], result["ci_high"])}


def compare_to_baseline(preds: pd.DataFrame, baseline: str, max_rul: float, **bootstrap: Any) -> pd.DataFrame:
    """One row per (subset, model other than ``baseline``) that both predicted: the paired
    RMSE difference against ``baseline`` (negative: the model's RMSE is lower) and its interval.
    ``preds`` is ``predictions_frame``'s long table (raw truth; capped here, as scored)."""
    columns = ["subset", "model", "baseline", "n_engines", "difference", "ci_low", "ci_high", "share_lower",
               "verdict"]
    out = []
    for subset, part in preds.groupby("subset", sort=True):
        base = part[part["model"] == baseline]
        if base.empty:
            continue
        for model, group in part[part["model"] != baseline].groupby("model", sort=True):
            out.append({"subset": subset, "model": model, "baseline": baseline,
                        **paired_row(group, base, max_rul, f"{model} and {baseline} on {subset}", **bootstrap)})
    return pd.DataFrame(out, columns=columns)


def comparison_table(comparison: pd.DataFrame) -> str:
    """Models x subsets, each cell 'difference (low to high)' plus the verdict; models ordered
    by their mean difference."""
    if comparison.empty:
        return "_no model shares test engines with the baseline_\n"
    comparison = comparison.assign(cell=[f"{r.difference:+.2f} ({r.ci_low:+.2f} to {r.ci_high:+.2f}) {r.verdict}"
                                         for r in comparison.itertuples()])
    order = comparison.groupby("model")["difference"].mean().sort_values().index
    wide = comparison.pivot(index="model", columns="subset", values="cell").reindex(order)
    return to_markdown(wide.fillna("").reset_index())


def compare_runs(candidate: pd.DataFrame, reference: pd.DataFrame, max_rul: float, **bootstrap: Any) -> pd.DataFrame:
    """The same model in two runs (say, with and without a ``--set`` change), engine by engine:
    one row per (subset, model) both runs predicted, ``difference`` = candidate - reference;
    ``seeds``: how many seeds each run's mean is over."""
    columns = ["subset", "model", "n_engines", "difference", "ci_low", "ci_high", "share_lower", "verdict", "seeds"]
    out = []
    pairs = candidate[["subset", "model"]].drop_duplicates().merge(reference[["subset", "model"]].drop_duplicates())
    candidates, references = candidate.groupby(["subset", "model"]), reference.groupby(["subset", "model"])
    for subset, model in pairs.sort_values(["subset", "model"]).itertuples(index=False):
        cand, ref = candidates.get_group((subset, model)), references.get_group((subset, model))
        out.append({"subset": subset, "model": model,
                    **paired_row(cand, ref, max_rul, f"{model} on {subset} in the two runs", **bootstrap),
                    "seeds": f"{cand['seed'].nunique()} vs {ref['seed'].nunique()}"})
    return pd.DataFrame(out, columns=columns)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m study.compare",
        description="Did a change lower the test RMSE by more than the test engines' noise? Compares the same "
                    "models in two runs, engine by engine (paired bootstrap).")
    parser.add_argument("run_dir", type=Path, help="the run with the change")
    parser.add_argument("--against", type=Path, required=True, help="the run to compare it with")
    add_debug_option(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m study.compare RUN --against OTHER_RUN``: did a change (another run of the
    same models) lower the test RMSE by more than the test engines' noise?"""
    args = build_parser().parse_args(argv)
    return main_guarded(lambda: _compare(args), args.debug)


def _compare(args: argparse.Namespace) -> int:
    (rows, info), (other_rows, other_info) = load_run(args.run_dir), load_run(args.against)
    rows, other_rows = comparable_labels(rows, other_rows)  # variants apart: "lstm (tuned)"
    try:
        table = compare_runs(predictions_frame(rows), predictions_frame(other_rows),
                             info.get("protocol", {}).get("max_rul", 125))
    except NotComparable as exc:  # runs on other test files (another --data-dir, synthetic data)
        raise StudyError(f"{args.run_dir} and --against {args.against} cannot be compared engine by engine: "
                         f"{exc}. Compare runs scored on the same C-MAPSS test files.") from exc
    if table.empty:
        print("Error: the two runs share no (model, subset) with predictions", file=sys.stderr)
        return 2
    profiles = [run.get("config", {}).get("profile") for run in (info, other_info)]
    if profiles[0] != profiles[1]:
        print(f"Note: the runs' last commands used different profiles ({profiles[0]} and {profiles[1]}).\n")
    if info.get("protocol_hash") != other_info.get("protocol_hash"):
        print(f"Note: the runs used different protocols ({info.get('protocol_hash')} and "
              f"{other_info.get('protocol_hash')}); the test engines and their truth are the same, "
              f"the truth is capped at {info.get('protocol', {}).get('max_rul', 125)} for both.\n")
    print(f"RMSE of {args.run_dir} minus {args.against}, same model, same test engines "
          "(95% paired bootstrap interval over the engines; each run's mean over its `seeds`):\n")
    print(to_markdown(table.drop(columns=["share_lower"])))
    return 0


__all__ = ["compare_runs", "compare_to_baseline", "comparison_table", "paired_rmse_difference", "paired_row", "seed_matrix",
           "verdict"]
