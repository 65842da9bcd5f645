"""Which rows a figure or a post shows, and under which name.

A run may hold each model in several variants (``study.rows.variant``: out of the box, tuned
with the equal budget, hand-tuned earlier). The tables show them all; a figure or a post shows
what a reader compares: every model at equal effort (its tuned variant), next to the baseline's
out-of-the-box row ("the 2021 LSTM": the plain settings a replication from back then would use).
Names here are the ``distinct_models`` labels (``lstm (tuned)``), so every view of one run agrees.
"""
from __future__ import annotations

from typing import Any

from study.rows import Field as F
from study.rows import distinct_models, variant

#: The variant a reader compares models at (equal effort), and the baseline's "then" variant.
HEADLINE_VARIANT = "tuned"
THEN_VARIANT = "default"
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


def split_label(label: str) -> tuple[str, str]:
    """``"lstm (tuned)"`` -> ``("lstm", "tuned")``; a plain model name has no variant (``""``)."""
    model, sep, rest = label.partition(" (")
    return (model, rest.rstrip(")")) if sep else (label, "")


def headline_rows(rows: list[dict[str, Any]], baseline: str = "lstm") -> list[dict[str, Any]]:
    """``distinct_models(rows)`` reduced to each model's headline variant (tuned where it has
    one, else out of the box, else its only one) plus the baseline's out-of-the-box rows, less
    ``NOT_IN_HEADLINE``. A run without variants comes back whole."""
    labelled = distinct_models(rows)
    if labelled is rows:
        return rows
    kinds: dict[str, set[str]] = {}
    for row in rows:
        kinds.setdefault(row[F.MODEL], set()).add(variant(row))

    def shown(model: str) -> set[str]:
        found = kinds[model]
        pick = next((k for k in (HEADLINE_VARIANT, THEN_VARIANT) if k in found), min(found))
        return {pick} | ({THEN_VARIANT} & found if model == baseline else set())

    keep = {model: shown(model) for model in kinds if model not in NOT_IN_HEADLINE}
    return [labelled_row for row, labelled_row in zip(rows, labelled) if variant(row) in keep.get(row[F.MODEL], ())]


def resolve_label(spec: str, labels: set[str]) -> str:
    """The label a user's model name means among ``labels``: ``lstm@default`` is
    ``lstm (default)``; a bare ``lstm`` is itself, else its headline variant, else its
    out-of-the-box one (unknown names come back as given, for the caller to refuse)."""
    model, _, kind = spec.partition("@")
    if kind:
        return f"{model} ({kind})"
    for label in (model, f"{model} ({HEADLINE_VARIANT})", f"{model} ({THEN_VARIANT})"):
        if label in labels:
            return label
    return spec


def display_name(label: str, baseline: str = "lstm") -> str:
    """A reader's name for a label: the model's name alone at the headline variant, except the
    baseline, whose two rows are ``LSTM (tuned)`` and ``2021 LSTM (plain settings)``."""
    model, kind = split_label(label)
    name = DISPLAY_NAMES.get(model, model)
    if not kind or (kind == HEADLINE_VARIANT and model != baseline):
        return name
    if model == baseline and kind == THEN_VARIANT:
        return f"2021 {name} (plain settings)"
    return f"{name} ({kind})"


__all__ = ["HEADLINE_VARIANT", "THEN_VARIANT", "DISPLAY_NAMES", "NOT_IN_HEADLINE", "split_label", "headline_rows", "resolve_label", "display_name"]
