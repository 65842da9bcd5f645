"""Which rows a figure or a post shows, and under which name.

A run may hold each model in several variants (``study.records.rows.variant``: out of the box, tuned
with the equal budget, hand-tuned earlier). The tables show them all; a figure or a post shows
what a reader compares: every model at equal effort (its tuned variant), next to the baseline's
out-of-the-box row ("the 2021 LSTM": the plain settings a replication from back then would use).
Names here are the ``distinct_models`` labels (``lstm (tuned)``), so every view of one run agrees.
"""
from __future__ import annotations

from typing import Any

from study.records.rows import HEADLINE_VARIANT, THEN_VARIANT, budget_minutes, distinct_models, split_label, variant
from study.records.rows import Field as F

#: Names for readers, by model (adapters not listed keep their registry name).
DISPLAY_NAMES = {
    "lstm": "LSTM", "transformer": "Transformer", "mamba": "Mamba", "xgboost": "XGBoost",
    "autogluon-tabular": "AutoGluon Tabular", "autogluon-timeseries": "AutoGluon TimeSeries",
    "sktime-rocket": "MiniRocket (sktime)", "darts-tft": "TFT (Darts)", "chronos": "Chronos",
    "ensemble": "Ensemble", "ensemble-nnls": "Ensemble (NNLS)",
}
#: Rows the tables show but the headline view leaves out: a method kept for comparison only
#: (the greedy ensemble is the study's ensemble; the NNLS stack checks it).
NOT_IN_HEADLINE = frozenset({"ensemble-nnls"})


def headline_rows(rows: list[dict[str, Any]], baseline: str = "lstm") -> list[dict[str, Any]]:
    """``distinct_models(rows)`` reduced to each model's headline variant plus the baseline's
    out-of-the-box rows, less ``NOT_IN_HEADLINE``. The headline variant is the largest tuning
    budget the model has on every subset it ran on (``tuned-60m`` once the budget curves are
    scored everywhere), else its equal-budget tuned rows, else out of the box, else its only
    one. A run without variants comes back whole."""
    labelled = distinct_models(rows)
    if labelled is rows:
        return rows
    kinds: dict[str, set[str]] = {}
    subsets: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        kinds.setdefault(row[F.MODEL], set()).add(variant(row))
        subsets.setdefault((row[F.MODEL], variant(row)), set()).add(row[F.SUBSET])
        subsets.setdefault((row[F.MODEL], ""), set()).add(row[F.SUBSET])

    def shown(model: str) -> set[str]:
        found = kinds[model]
        everywhere = [k for k in found if (budget_minutes(k) or 0) > 0 and subsets[model, k] == subsets[model, ""]]
        budgets = sorted(everywhere, key=lambda k: budget_minutes(k) or 0)
        pick = budgets[-1] if budgets else next((k for k in (HEADLINE_VARIANT, THEN_VARIANT) if k in found), min(found))
        return {pick} | ({THEN_VARIANT} & found if model == baseline else set())

    keep = {model: shown(model) for model in kinds if model not in NOT_IN_HEADLINE}
    return [labelled_row for row, labelled_row in zip(rows, labelled) if variant(row) in keep.get(row[F.MODEL], ())]


def display_name(label: str, baseline: str = "lstm") -> str:
    """A reader's name for a label: the model's name alone at the equal-budget tuned variant,
    except the baseline, whose two rows are ``LSTM (tuned)`` and ``2021 LSTM (plain settings)``;
    a budget point says its budget (``XGBoost (60 min tuning)``)."""
    model, kind = split_label(label)
    name = DISPLAY_NAMES.get(model, model)
    if not kind or (kind == HEADLINE_VARIANT and model != baseline):
        return name
    if (budget_minutes(kind) or 0) > 0:
        return f"{name} ({budget_minutes(kind):g} min tuning)"
    if model == baseline and kind == THEN_VARIANT:
        return f"2021 {name} (plain settings)"
    return f"{name} ({kind})"


__all__ = ["DISPLAY_NAMES", "NOT_IN_HEADLINE", "headline_rows", "display_name"]
