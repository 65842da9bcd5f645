"""Scoring: the same code for every model. Pure functions of (truth, prediction)."""
from __future__ import annotations

import numpy as np

#: The metrics ``score_predictions`` gives every trial, in its order (each one a field of the
#: trial's row). A new metric: computed in ``score_predictions`` and named here; the rows,
#: their validation, the tables and the MLflow sink take it from here.
METRICS = ("rmse", "rmse_raw", "mae", "score", "score_mean", "rmse_ci_low", "rmse_ci_high")


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(y_pred) - np.asarray(y_true))))


def nasa_score_terms(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """PHM08 asymmetric score per engine: late predictions (d > 0) cost more than early ones."""
    d = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    return np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))


def nasa_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Sum of the PHM08 score over engines (the literature's 'score')."""
    return float(nasa_score_terms(y_true, y_pred).sum())


#: What a maintenance planner reads off the test errors (``miss_share``): the share of engines
#: called late (more life predicted than is left) by more than 10 and 25 cycles, and early by
#: more than 25, against the capped truth the study scores with.
MISS_BANDS = (("late", 10), ("late", 25), ("early", 25))


def miss_share(y_true: np.ndarray, y_pred: np.ndarray, max_rul: float, cycles: float, direction: str) -> float:
    """Share of predictions more than ``cycles`` off in one ``direction`` against the capped
    truth: "late" (predicted RUL above the truth: the engine is said to have more life left than
    it has) or "early" (below it)."""
    if direction not in ("late", "early"):
        raise ValueError(f"direction is 'late' or 'early', not {direction!r}")
    error = np.asarray(y_pred, float) - np.minimum(np.asarray(y_true, float), max_rul)
    if not len(error):
        raise ValueError("no predictions")
    return float(np.mean(error > cycles if direction == "late" else error < -cycles))


def bootstrap_rmse_ci(y_true: np.ndarray, y_pred: np.ndarray, n_boot: int = 1000,
                      level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the RMSE, resampling test engines."""
    sq = (np.asarray(y_pred, float) - np.asarray(y_true, float)) ** 2
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sq), size=(n_boot, len(sq)))
    stats = np.sqrt(sq[idx].mean(axis=1))
    alpha = (1 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def score_predictions(raw_truth: np.ndarray, y_pred: np.ndarray, max_rul: float) -> dict[str, float]:
    """All metrics for one trial. ``raw_truth`` is the RUL file's values; the capped truth
    (literature convention) is used for everything but ``rmse_raw``."""
    raw_truth = np.asarray(raw_truth, dtype=float)
    capped = np.minimum(raw_truth, max_rul)
    lo, hi = bootstrap_rmse_ci(capped, y_pred)
    score = nasa_score(capped, y_pred)
    return {
        "rmse": rmse(capped, y_pred),
        "rmse_raw": rmse(raw_truth, y_pred),
        "mae": mae(capped, y_pred),
        "score": score,
        "score_mean": score / len(capped),
        "rmse_ci_low": lo,
        "rmse_ci_high": hi,
    }
