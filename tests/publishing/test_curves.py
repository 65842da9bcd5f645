"""Budget curves: budget points from variants, crossing points, the figure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from study.publishing.curves import budget_minutes, crossings, curve_frame, plot_curves
from study.records.rows import budget_variant


def _board(lines):
    return pd.DataFrame([{"model": m, "variant": v, "subset": s, "status": "ok", "rmse": r, "rmse_std": 0.5,
                          "n_seeds": 3} for m, v, s, r in lines])


def test_budget_points_are_read_from_variant_names():
    assert budget_variant(600) == "tuned-10m" and budget_variant(3600) == "tuned-60m"
    assert [budget_minutes(v) for v in ("default", "tuned-10m", "tuned-30m", "tuned", "hand-tuned")] == \
        [0.0, 10.0, 30.0, None, None]


def test_only_models_with_budget_points_make_curves_with_their_default_as_zero():
    board = _board([("lstm", "default", "FD001", 15.0), ("lstm", "tuned-10m", "FD001", 13.0),
                    ("lstm", "tuned", "FD001", 12.0), ("xgboost", "default", "FD001", 14.0),
                    ("lstm", "hand-tuned", "FD001", 12.5)])
    curves = curve_frame(board)
    assert curves[["model", "minutes", "rmse"]].values.tolist() == [["lstm", 0.0, 15.0], ["lstm", 10.0, 13.0]]


def test_crossings_name_the_first_budget_a_family_beats_the_lstm_at_the_same_budget():
    board = _board([("lstm", "default", "FD001", 15.0), ("lstm", "tuned-10m", "FD001", 13.0),
                    ("lstm", "tuned-30m", "FD001", 12.5), ("lstm", "tuned-60m", "FD001", 12.4),
                    ("transformer", "default", "FD001", 14.0), ("transformer", "tuned-10m", "FD001", 13.5),
                    ("transformer", "tuned-30m", "FD001", 12.0), ("transformer", "tuned-60m", "FD001", 12.1),
                    ("mamba", "default", "FD001", 14.0), ("mamba", "tuned-10m", "FD001", 14.0),
                    ("mamba", "tuned-30m", "FD001", 13.0), ("mamba", "tuned-60m", "FD001", 12.9)])
    table = crossings(curve_frame(board)).set_index("model")
    assert table.loc["transformer", "passes_after_minutes"] == 30.0
    assert "passes lstm on FD001 at 30 minutes" in table.loc["transformer", "finding"]
    assert np.isnan(table.loc["mamba", "passes_after_minutes"])  # its default beat the default LSTM: not a budget
    assert "does not pass lstm on FD001 within 60 minutes" in table.loc["mamba", "finding"]


def test_the_curve_figure_is_drawn(tmp_path):
    board = _board([("lstm", "default", s, 15.0) for s in ("FD001", "FD002")] +
                   [("lstm", "tuned-10m", s, 13.0) for s in ("FD001", "FD002")])
    path = plot_curves(curve_frame(board), tmp_path / "curves.png", reference=pd.Series({"FD001": 15.0}))
    assert path.is_file() and path.stat().st_size > 5000
    assert plot_curves(curve_frame(_board([("lstm", "default", "FD001", 1.0)])), tmp_path / "none.png") is None
