"""The report's figures: one colour per model everywhere, labels apart, no fake uncertainty."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from study.publishing import figures


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
    monkeypatch.setattr(figures, "save", lambda fig, path, **_: drawn.append(fig) or path)
    yield drawn
    figures.pyplot().close("all")


def _board(rows):
    return pd.DataFrame(rows, columns=["model", "subset", "rmse", "rmse_std", "n_seeds", "fit_seconds",
                                       "rmse_min", "rmse_max"])


def test_results_put_the_best_on_top_and_draw_spread_only_where_seeds_differ(captured, tmp_path):
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


def _panel_order(ax):
    """A panel's model names top to bottom, as drawn (none where a panel shares its neighbour's)."""
    ax.figure.canvas.draw()
    ticks = [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels()]
    return [label for _, label in sorted(ticks, reverse=True)]


def test_results_show_the_models_in_one_order_on_every_panel(captured, tmp_path):
    """On a phone a reader scans down one panel and across to the next: a model keeps its line,
    the best mean RMSE over the subsets on top, even where it is not the best on a subset."""
    board = _board([["lstm", "FD001", 14.0, 0, 1, 1, 14.0, 14.0], ["lstm", "FD002", 12.0, 0, 1, 1, 12.0, 12.0],
                    ["xgboost", "FD001", 11.0, 0, 1, 1, 11.0, 11.0], ["xgboost", "FD002", 14.5, 0, 1, 1, 14.5, 14.5],
                    ["tft", "FD001", 20.0, 0, 1, 1, 20.0, 20.0], ["tft", "FD002", 21.0, 0, 1, 1, 21.0, 21.0]])
    figures.sorted_results(board, tmp_path / "f.png")
    panels = [ax for ax in captured[0].axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["FD001", "FD002"]
    # means: xgboost 12.75, lstm 13.0, tft 20.5; the names are written once, on the left panel
    assert _panel_order(panels[0]) == ["xgboost", "lstm", "tft"] and _panel_order(panels[1]) == []
    assert panels[1].get_shared_y_axes().joined(panels[0], panels[1])
    for ax in panels:  # each panel's bars on the same lines: top to bottom xgboost, lstm, tft
        bars = sorted((p.get_y(), p.get_width()) for p in ax.patches)
        assert [round(w, 1) for _, w in reversed(bars)] == (
            [11.0, 14.0, 20.0] if ax.get_title() == "FD001" else [14.5, 12.0, 21.0])


def _preds(errors, subsets=("FD001", "FD003"), seeds=(0, 1)):
    truth = [10.0, 40.0, 80.0, 200.0]
    return pd.DataFrame([{"model": model, "subset": subset, "seed": seed, "unit": unit + 1, "y_true": true,
                          "y_pred": min(true, 125) + err} for model, errs in errors.items() for subset in subsets
                         for seed in seeds for unit, (true, err) in enumerate(zip(truth, errs))])


def test_error_by_stage_says_which_subsets_it_pools(captured, tmp_path):
    preds = _preds({"lstm": [5, -5, 5, -5], "xgboost": [1, 1, 1, 1]})
    figures.error_by_stage(preds, tmp_path / "f.png", ["lstm", "xgboost"], 125)
    title = captured[0].axes[0].get_title()
    assert "FD001 and FD003 pooled: 8 test engines, 2 seeds each" in title
    assert figures.pooled_subsets(preds[preds["subset"] == "FD003"]) == "FD003: 4 test engines, 2 seeds each"


def test_planner_figure_shows_each_models_late_and_early_shares(captured, tmp_path):
    shares = pd.DataFrame({"late_10": [0.2, 0.6], "late_25": [0.06, 0.43], "early_25": [0.03, 0.0]},
                          index=["lstm", "darts-tft"])
    figures.planner_misses(shares, tmp_path / "f.png", ["darts-tft", "lstm"], {"lstm": "LSTM"}, "FD001 pooled")
    ax = captured[0].axes[0]
    assert _panel_order(ax) == ["darts-tft", "LSTM"]  # the order given, names for readers
    texts = {t.get_text() for t in ax.texts}
    assert {"20%, dark 6%", "60%, dark 43%", "3%", "0%", "FD001 pooled"} <= texts
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == sorted([20.0, 60.0, 6.0, 43.0, -3.0, 0.0])  # early drawn to the left


def test_the_schematic_of_how_each_family_reads_an_engine_names_every_family(captured, tmp_path):
    """The blog's diagram: one row per family, named, with how it reads the window and what it
    needs to train well."""
    figures.how_models_read(tmp_path / "f.png")
    rows = captured[0].axes
    assert len(rows) == len(figures.READERS) == 6
    for ax, (_, name, how, needs) in zip(rows, figures.READERS):
        texts = {t.get_text() for t in ax.texts}
        assert {name, how, "to train well: " + needs} <= texts


def test_the_schematic_is_written_as_a_png(tmp_path):
    path = figures.how_models_read(tmp_path / "readers.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 20_000


def test_the_report_draws_the_schematic_and_the_planner_figure():
    from study.publishing.report import FIGURES

    assert FIGURES["readers"] == "fig_how_models_read.png" and FIGURES["planner"] == "fig_planner_misses.png"


def test_the_phone_results_put_one_line_per_model_in_order_and_a_marker_per_subset(captured, tmp_path):
    """The post's results: a narrow single panel (readable at 400 px), models in the one order
    of every figure, each subset's dot on its model's line, whiskers only where seeds differ, and
    a value past the clip drawn at the edge with its number."""
    board = _board([["lstm", "FD001", 14.0, 0.8, 3, 100, 13.2, 15.1], ["lstm", "FD002", 12.0, 0, 1, 1, 12.0, 12.0],
                    ["xgboost", "FD001", 11.0, 0, 3, 1, 11.0, 11.0], ["xgboost", "FD002", 14.5, 0, 3, 1, 14.5, 14.5],
                    ["tft", "FD001", 40.0, 3.0, 3, 1, 37.0, 43.0], ["tft", "FD002", 21.0, 0, 1, 1, 21.0, 21.0]])
    path = figures.results_dots(board, tmp_path / "f.png", {"lstm": "LSTM"})
    fig = captured[0]
    assert fig.get_size_inches()[0] <= 4.8 and path is not None
    ax = fig.axes[0]
    assert _panel_order(ax) == ["xgboost", "LSTM", "tft"]  # means 12.75, 13.0, 30.5
    dots = [(line.get_marker(), line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines()
            if len(line.get_xdata()) == 1]
    by_line = {round(y): marker for marker, _x, y in dots}
    assert sorted(marker for marker, _x, y in dots if round(y) == 2) == ["o", "s"]  # xgboost, top line
    assert by_line and all(abs(y - round(y)) < 0.45 for _m, _x, y in dots)
    whiskers = [list(line.get_xdata()) for line in ax.get_lines() if len(line.get_xdata()) == 2]
    assert whiskers == [[13.2, 15.1]]
    assert [t.get_text() for t in ax.texts] == ["40"] and (">", 22.0) in [(m, x) for m, x, _y in dots]
