"""Tuning: the equal-budget, multi-fidelity tuner and what it may see.

The tuner (``tuner``: Optuna studies per (model, subset), CPU-second budgets, successive
halving at epoch rungs, journals that survive kills), the engine-disjoint folds of the
training file it alone reads (``folds``) and the one-line-per-pair summary (``summary``).
"""
