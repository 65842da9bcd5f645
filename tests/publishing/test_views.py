"""What a figure or a post shows of a run with several variants per model, and under which name."""
from __future__ import annotations

from matplotlib.colors import to_rgb

from study.publishing import figures
from study.publishing.views import display_name, headline_rows


def _row(model: str, kind: str, subset: str = "FD001") -> dict:
    identity = {"default": {"profile": "default"}, "tuned": {"profile": "default", "tuning": {"study_id": "s"}},
                "hand-tuned": {"profile": "standard"}}[kind]
    return {"model": model, "subset": subset, "seed": 0, **identity}


def test_the_headline_view_is_every_model_at_equal_effort_plus_the_2021_baseline():
    rows = [_row("lstm", k) for k in ("default", "tuned", "hand-tuned")]
    rows += [_row("xgboost", k) for k in ("tuned", "hand-tuned")]
    rows += [_row("chronos", "default"), _row("mamba", "default"), _row("mamba", "hand-tuned")]
    rows += [_row("ensemble", "tuned"), _row("ensemble-nnls", "tuned"), _row("ensemble", "default")]
    shown = sorted(r["model"] for r in headline_rows(rows))
    assert shown == ["chronos", "ensemble (tuned)", "lstm (default)", "lstm (tuned)", "mamba (default)",
                     "xgboost (tuned)"]


def test_a_run_without_variants_is_shown_whole_under_its_own_names():
    rows = [_row("lstm", "hand-tuned"), _row("xgboost", "hand-tuned"), _row("lstm", "hand-tuned", "FD002")]
    assert headline_rows(rows) is rows


def test_readers_see_model_names_and_the_2021_lstm_by_name():
    assert display_name("xgboost (tuned)") == "XGBoost" and display_name("lstm (tuned)") == "LSTM (tuned)"
    assert display_name("lstm (default)") == "2021 LSTM (plain settings)"
    assert display_name("mamba (default)") == "Mamba (default)" and display_name("my-plugin") == "my-plugin"


def test_a_variant_keeps_its_models_hue_lighter_out_of_the_box():
    colours = figures.model_colours(["lstm (tuned)", "lstm (default)", "lstm (hand-tuned)", "plug (default)"])
    tuned, default, hand = (to_rgb(colours[f"lstm ({k})"]) for k in ("tuned", "default", "hand-tuned"))
    assert colours["lstm (tuned)"] == figures.MODEL_COLOURS["lstm"]
    assert all(d > t for d, t in zip(default, tuned) if t < 1) and all(h <= t for h, t in zip(hand, tuned))
    assert len(set(colours.values())) == 4


def _budget_row(model: str, minutes: int, subset: str = "FD001") -> dict:
    return {"model": model, "subset": subset, "seed": 0, "profile": "default",
            "tuning": {"study_id": "c", "budget_point_s": 60.0 * minutes}}


def test_the_headline_takes_the_largest_budget_a_model_has_on_every_subset():
    """Once the budget curves are scored, a family is shown at its largest budget point; a
    budget scored on some subsets only (the curves scored pair by pair) does not replace
    the equal-budget rows until it is everywhere; families without curves keep theirs."""
    rows = [_row(m, k, s) for m in ("lstm", "xgboost", "sktime-rocket") for k in ("default", "tuned")
            for s in ("FD001", "FD004")]
    rows += [_budget_row(m, b, s) for m in ("lstm", "xgboost") for b in (10, 30, 60) for s in ("FD001", "FD004")]
    rows = [r for r in rows if not (r["model"] == "xgboost" and r["subset"] == "FD001"
                                    and r.get("tuning", {}).get("budget_point_s") == 3600.0)]
    shown = sorted({r["model"] for r in headline_rows(rows)})
    assert shown == ["lstm (default)", "lstm (tuned-60m)", "sktime-rocket (tuned)", "xgboost (tuned-30m)"]
    assert display_name("xgboost (tuned-30m)") == "XGBoost (30 min tuning)"
    assert display_name("lstm (tuned-60m)") == "LSTM (60 min tuning)"
