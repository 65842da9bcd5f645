"""Budget curves: budget points from variants, crossing points, the figure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from study.publishing.curves import crossings, crossings_markdown, curve_frame, plot_curves
from study.records.rows import budget_minutes, budget_variant


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
    ahead = crossings(curve_frame(_board([("lstm", "default", "FD001", 15.0), ("lstm", "tuned-10m", "FD001", 13.0),
                                          ("mamba", "default", "FD001", 14.0), ("mamba", "tuned-10m", "FD001", 12.0)])))
    assert ahead["finding"].tolist() == ["mamba is ahead of lstm on FD001 out of the box and at 10 minutes"]
    assert "does not pass lstm on FD001 within 60 minutes" in table.loc["mamba", "finding"]
    frame = table.reset_index()
    verdicts = pd.Series({int(frame.index[frame["model"] == "transformer"][0]): "+0.50 (-1 to +2) lower"})
    shown = crossings_markdown(frame, verdicts)
    assert "| FD001 | Mamba | not within 60 min |  |" in shown
    assert "| FD001 | Transformer | 30 min (also ahead out of the box) | +0.50 (-1 to +2) lower |" in shown
    assert "| FD001 | Mamba | 10 min (also ahead out of the box) |  |" in crossings_markdown(ahead)


def test_the_curve_figure_is_drawn(tmp_path):
    board = _board([("lstm", "default", s, 15.0) for s in ("FD001", "FD002")] +
                   [("lstm", "tuned-10m", s, 13.0) for s in ("FD001", "FD002")])
    path = plot_curves(curve_frame(board), tmp_path / "curves.png", reference=pd.Series({"FD001": 15.0}))
    assert path.is_file() and path.stat().st_size > 5000
    assert plot_curves(curve_frame(_board([("lstm", "default", "FD001", 1.0)])), tmp_path / "none.png") is None


def test_validation_points_are_each_budgets_incumbent_read_from_the_linked_journals():
    """The dotted half of the curves: for a pair the run links to (a committed curve tuning),
    the out-of-the-box and the 10-, 30- and 60-minute incumbents' validation RMSE, as the
    tuner recorded them in its summary."""
    import json
    from pathlib import Path

    from study.publishing.curves import validation_points

    folder = Path(__file__).resolve().parents[2] / "reports/curves/tuner-a"
    rows = [{"tuning": {"dir": str(folder), "budget_point_s": 600.0}}, {"tuning": None}, {"model": "x"}]
    points = validation_points(rows)
    lstm = points[(points["model"] == "lstm") & (points["subset"] == "FD001")].set_index("minutes")["valid_rmse"]
    summary = json.loads((folder / "lstm-FD001.json").read_text())
    assert lstm.index.tolist() == [0.0, 10.0, 30.0, 60.0]
    assert [lstm[m] for m in (10.0, 30.0, 60.0)] == [summary["incumbents"][b]["valid_rmse"] for b in ("600", "1800", "3600")]
    assert lstm[0.0] > lstm[10.0] >= lstm[60.0]  # the defaults were beaten on the folds
    assert validation_points([{"tuning": {"dir": "/nowhere", "budget_point_s": 600.0}}]).empty


def test_the_curve_figure_draws_validation_lines_in_a_grid_a_phone_can_read(tmp_path):
    lines = [(m, v, s, r) for s in ("FD001", "FD002", "FD003") for m in ("lstm", "transformer")
             for v, r in (("default", 15.0), ("tuned-10m", 13.0), ("tuned-60m", 12.0))]
    valid = pd.DataFrame([{"model": "lstm", "subset": "FD001", "minutes": m, "valid_rmse": r}
                          for m, r in ((0.0, 14.0), (10.0, 12.5), (60.0, 12.0))])
    path = plot_curves(curve_frame(_board(lines)), tmp_path / "curves.png", validation=valid)
    from PIL import Image

    width, height = Image.open(path).size
    assert height > 0.8 * width  # two panels a row, not four in a strip


def test_the_curve_legend_names_every_family_even_one_scored_on_a_later_panel_only(tmp_path, monkeypatch):
    import study.publishing.figures as figures

    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, path, tight=True: drawn.append(fig) or path)
    lines = [("lstm", v, s, r) for s in ("FD001", "FD004") for v, r in (("default", 15.0), ("tuned-10m", 13.0))]
    lines += [("xgboost", "default", "FD004", 16.0), ("xgboost", "tuned-10m", "FD004", 15.5)]
    plot_curves(curve_frame(_board(lines)), tmp_path / "curves.png", reference=pd.Series({"FD001": 15.0, "FD004": 17.0}))
    labels = [text.get_text() for text in drawn[0].legends[0].get_texts()]
    assert sorted(labels) == ["2021 LSTM (plain settings)", "LSTM", "XGBoost"]


def test_the_phone_curve_labels_each_family_at_its_last_point(tmp_path, monkeypatch):
    """One panel for a phone: a line per family with two or more budget points, named at its end
    (no legend to match colours against), the reference named too."""
    import study.publishing.figures as figures
    from study.publishing.curves import budget_means, plot_budget_means

    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, path, tight=True: drawn.append(fig) or path)
    lines = [(m, v, s, r + (s == "FD002")) for s in ("FD001", "FD002")
             for m, v, r in (("lstm", "default", 15.0), ("lstm", "tuned-10m", 13.0), ("lstm", "tuned-60m", 12.5),
                             ("transformer", "default", 14.0), ("transformer", "tuned-60m", 12.0))]
    lines.append(("mamba", "tuned-10m", "FD001", 13.0))  # one subset only: no mean, no line
    table = budget_means(curve_frame(_board(lines)))
    assert plot_budget_means(table, tmp_path / "m.png", 2, reference=16.0) is not None
    ax = drawn[0].axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["2021 LSTM (plain settings)", "LSTM", "Transformer"]
    ends = {tuple(line.get_xydata()[-1]) for line in ax.get_lines()}
    assert ends == {(60.0, 13.0), (60.0, 12.5)}  # means over FD001 and FD002 (+1)
    assert plot_budget_means(table.iloc[:, :1], tmp_path / "none.png", 2) is None


def test_budget_means_average_only_budgets_scored_on_every_subset():
    from study.publishing.curves import budget_means, budget_means_markdown

    lines = [(m, v, s, r + (2 if s == "FD002" else 0)) for s in ("FD001", "FD002") for m, v, r in
             (("lstm", "default", 15.0), ("lstm", "tuned-10m", 13.0), ("lstm", "tuned-60m", 12.0),
              ("transformer", "default", 16.0), ("transformer", "tuned-10m", 16.0))]
    lines.append(("transformer", "tuned-60m", "FD001", 11.0))  # FD002's 60 minutes not scored yet
    table = budget_means(curve_frame(_board(lines)))
    assert table.loc["lstm"].tolist() == [16.0, 14.0, 13.0]
    assert table.loc["transformer", 10.0] == 17.0 and np.isnan(table.loc["transformer", 60.0])
    text = budget_means_markdown(table, 2)
    assert "| LSTM | 16.00 | 14.00 | 13.00 |" in text and "| Transformer | 17.00 | 17.00 | - |" in text
    assert text.index("LSTM") < text.index("Transformer")  # ordered by the largest budget


def test_the_tuning_traces_pass_through_each_budgets_incumbent(tmp_path):
    """Read at 10, 30 and 60 CPU minutes, the step line of every finished curve pair is the
    validation RMSE of the incumbent its tuner recorded at that budget."""
    import json
    from pathlib import Path

    from study.publishing.curves import main
    from study.tuning.summary import incumbent_traces

    curves = Path(__file__).resolve().parents[2] / "reports/curves"
    folders = [curves / "tuner-a", curves / "tuner-b"]
    traces = incumbent_traces(folders)
    checked = 0
    for (model, subset), line in traces[traces["done"]].groupby(["model", "subset"]):
        folder = next(f for f in folders if (f / f"{model}-{subset}.json").is_file())
        incumbents = json.loads((folder / f"{model}-{subset}.json").read_text())["incumbents"]
        for budget in ("600", "1800", "3600"):
            reached = line[line["cpu_s"] <= float(budget)]
            assert reached["valid_rmse"].iloc[-1] == incumbents[budget]["valid_rmse"]
            checked += 1
        assert line["valid_rmse"].is_monotonic_decreasing and line["cpu_s"].iloc[0] == 0.0
    assert checked >= 15
    assert main([*map(str, folders), "--figure", str(tmp_path / "t.png")]) == 0 and (tmp_path / "t.png").stat().st_size > 5000
    assert main([str(tmp_path), "--figure", str(tmp_path / "u.png")]) == 2 and not (tmp_path / "u.png").exists()


def test_a_subset_scored_at_no_budget_yet_draws_no_curve():
    """Scored pair by pair, a subset whose budget points do not exist yet has no line (its
    defaults alone are not a curve), and neither has a model not scored there."""
    board = _board([("lstm", "default", "FD001", 15.0), ("lstm", "tuned-10m", "FD001", 13.0),
                    ("lstm", "default", "FD002", 17.0), ("mamba", "default", "FD001", 16.0)])
    curves = curve_frame(board)
    assert curves[["model", "subset", "minutes"]].values.tolist() == [["lstm", "FD001", 0.0], ["lstm", "FD001", 10.0]]
