"""The report's figures: one colour per model everywhere, labels apart, no fake uncertainty."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from study import figures


def test_a_model_keeps_its_colour_whatever_else_is_plotted():
    alone = figures.model_colours(["lstm", "my-plugin"])
    crowd = figures.model_colours(["xgboost", "lstm", "transformer", "my-plugin", "another-plugin"])
    assert alone["lstm"] == crowd["lstm"] and len(set(crowd.values())) == len(crowd)


def test_labels_are_spread_at_least_the_gap_apart_in_the_points_order():
    values = np.array([14.1, 14.0, 13.9, 20.0, 14.05])
    placed = figures.spread_labels(values, 0.5)
    assert np.all(np.diff(np.sort(placed)) >= 0.5 - 1e-9)
    assert list(np.argsort(placed, kind="stable")) == list(np.argsort(values, kind="stable"))
    assert abs(placed[3] - 20.0) < 1.0  # a label far from the others stays near its point


@pytest.fixture
def captured(monkeypatch):
    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, path: drawn.append(fig) or path)
    yield drawn
    figures.pyplot().close("all")


def _board(rows):
    return pd.DataFrame(rows, columns=["model", "subset", "rmse", "rmse_std", "n_seeds", "fit_seconds",
                                       "rmse_min", "rmse_max"])


def test_sorted_results_put_the_best_on_top_and_draw_spread_only_where_seeds_differ(captured, tmp_path):
    board = _board([["lstm", "FD001", 14.0, 0.8, 3, 100, 13.2, 15.1],
                    ["xgboost", "FD001", 11.7, 0.0, 3, 10, 11.7, 11.7],   # identical reruns: no whisker
                    ["darts-tft", "FD001", 40.0, 3.0, 3, 120, 37.0, 43.0]])  # beyond the clip: cut, labelled
    figures.sorted_results(board, tmp_path / "f.png")
    ax = captured[0].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    positions = [t.get_position()[1] for t in ax.get_yticklabels()]
    assert [label for _, label in sorted(zip(positions, labels), reverse=True)] == ["xgboost", "lstm", "darts-tft"]
    whiskers = [line.get_xdata() for line in ax.get_lines()]
    assert len(whiskers) == 1 and list(whiskers[0]) == [13.2, 15.1]  # only the LSTM's seeds differ
    texts = [t.get_text() for t in ax.texts]
    assert "40.0 ▶" in texts and max(p.get_width() for p in ax.patches) <= 24  # clipped at twice the best


def test_accuracy_vs_cost_has_one_labelled_point_per_model_with_every_subset(captured, tmp_path):
    board = _board([["lstm", "FD001", 14.0, 0.8, 3, 100, 0, 0], ["lstm", "FD002", 13.0, 0.5, 3, 60, 0, 0],
                    ["xgboost", "FD001", 11.7, 0, 3, 10, 0, 0], ["xgboost", "FD002", 14.5, 0, 3, 20, 0, 0],
                    ["half", "FD001", 9.0, 0, 3, 5, 0, 0]])  # not on every subset: not comparable, left out
    figures.accuracy_vs_cost(board, tmp_path / "f.png")
    ax = captured[0].axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["lstm", "xgboost"]
    np.testing.assert_allclose(sorted(ax.collections[0].get_offsets()[:, 1]), [13.1, 13.5])
