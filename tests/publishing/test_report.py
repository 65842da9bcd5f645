"""Report generation: sections, numbers equal to the rows, figures, references kept apart."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from study.data.published import published_results
from study.execution.runner import RunConfig, run_study
from study.publishing.report import FIGURES, refresh_markers, write_report
from study.records.store import ResultStore, trial_key

ROOT = Path(__file__).resolve().parents[2]


def _synthetic_rows(tmp_path: Path) -> Path:
    """A run folder with hand-made rows: two models, two subsets, two seeds, one failure."""
    store = ResultStore(tmp_path)
    rng = np.random.default_rng(0)
    truths = {subset: rng.uniform(5, 200, 20) for subset in ("FD001", "FD003")}  # one RUL file per subset
    for model, family, base in (("alpha", "LSTM", 14.0), ("beta", "GBDT", 12.0)):
        for subset in ("FD001", "FD003"):
            for seed in (0, 1):
                truth = truths[subset]
                pred = np.minimum(truth, 125) + rng.normal(0, base, 20)
                store.append({"key": trial_key(model, {}, subset, seed, "p", "d"), "model": model,
                              "subset": subset, "seed": seed, "status": "ok", "family": family, "params": {},
                              "protocol_hash": "abc123", "data_fingerprint": "d",
                              "formulation": "regression", "reason": None, "rmse": base + seed,
                              "rmse_raw": base + 5, "score": 100.0 * base, "score_mean": 5 * base, "mae": base - 2,
                              "rmse_ci_low": base - 2, "rmse_ci_high": base + 2, "fit_seconds": base,
                              "predict_seconds": 0.1, "n_test_engines": 20, "n_parameters": 1234,
                              "units": list(range(1, 21)), "y_true": truth.tolist(), "y_pred": pred.tolist(),
                              "peak_rss_mb": 300.0, "n_warnings": 1})
    store.append({"key": "gamma-fail", "model": "gamma", "subset": "FD001", "seed": 0, "status": "failed",
                  "family": "Mamba", "formulation": "regression", "reason": "RuntimeError: exploded",
                  "params": {}, "protocol_hash": "abc123", "data_fingerprint": "d"})
    (tmp_path / "run.json").write_text(json.dumps({
        "config": {"profile": "standard"}, "protocol_hash": "abc123", "protocol_card": "- **Labels**: card",
        "protocol": {"max_rul": 125}, "data_verified": False, "data_checksums": {"FD001": {"train_FD001.txt": "f" * 64}},
        "versions": {"numpy": "2"}, "machine": {"cpu_count": 2}}))
    return tmp_path


@pytest.mark.slow
def test_report_from_synthetic_rows_has_every_section_and_the_row_numbers(tmp_path):
    run = _synthetic_rows(tmp_path)
    text = write_report(run).read_text()
    assert "| beta | hand-tuned | GBDT | 12.50 ± 0.71 | 12.50 ± 0.71 | 12 | 2 |" in text  # the summary line
    for heading in ("## Summary", "## FD001", "## FD003", "## Against the baseline (lstm), engine by engine",
                    "## Ranking across subsets", "## Published results (reported, not reproduced here)",
                    "## Figures", "## Library friction", "## Protocol", "## Data checksums", "## Versions and machine"):
        assert heading in text
    assert "UNVERIFIED DATA" in text
    assert "`--set`" not in text  # no overrides in this run

    info = json.loads((run / "run.json").read_text())
    info["config"]["model_params"] = {"beta": {"ensemble": 3, "kind": "big"}}
    (run / "run.json").write_text(json.dumps(info))
    assert "(`--set`), on top of the profile's: `beta.ensemble=3`, `beta.kind='big'`." in write_report(run).read_text()
    assert "`gamma` FD001 seed 0: **failed** - RuntimeError: exploded" in text
    assert "| 12.50 ± 0.71 |" in text and "| 14.50 ± 0.71 |" in text  # mean and std over the two seeds
    fd001 = text.split("## FD001")[1].split("## FD003")[0]
    assert fd001.index("| beta |") < fd001.index("| alpha |")  # ranked by RMSE
    for name in FIGURES.values():
        assert (run / name).stat().st_size > 1000
        assert f"]({name})" in text


@pytest.mark.slow
def test_report_compares_every_model_with_the_chosen_baseline_engine_by_engine(tmp_path):
    run = _synthetic_rows(tmp_path)
    assert "_`lstm` has no results in this run" in write_report(run).read_text()  # the default baseline is absent
    writeup = tmp_path / "writeup.md"
    writeup.write_text("<!-- table:vs-baseline -->\n<!-- /table -->\n")
    text = write_report(run, writeup, baseline="alpha").read_text()
    section = text.split("## Against the baseline (alpha), engine by engine")[1].split("## Ranking")[0]
    assert "| model | FD001 | FD003 |" in section
    # beta's noise is 12 against alpha's 14, on 20 engines: too few to tell apart at 95%
    line = next(row for row in section.splitlines() if row.startswith("| beta |"))
    assert line.count("not distinguishable") + line.count(" lower") == 2 and "| alpha |" not in section
    assert writeup.read_text().count("| beta |") == 1


@pytest.mark.slow
def test_report_rebuilds_stale_tables_from_the_trial_rows(tmp_path):
    """A folder whose derived tables lag behind trials.jsonl (written by older code, or edited)
    gets them rebuilt: every successful trial's predictions, every model's leaderboard lines."""
    run = _synthetic_rows(tmp_path)
    (run / "predictions.csv").write_text("model,subset,seed,unit,y_true,y_pred\nalpha,FD001,0,1,1.0,2.0\n")
    (run / "leaderboard.md").write_text("stale\n")
    write_report(run)
    predictions = pd.read_csv(run / "predictions.csv")
    assert len(predictions) == 2 * 2 * 2 * 20  # models x subsets x seeds x engines; the failure has none
    assert set(predictions["model"]) == {"alpha", "beta"}
    board = (run / "leaderboard.md").read_text()
    assert board.startswith("> **Unverified data**") and "| beta | hand-tuned | FD003 |" in board
    assert len(pd.read_csv(run / "leaderboard.csv")) == 5  # alpha/beta x FD001/FD003, gamma FD001


@pytest.mark.slow
def test_reference_rows_never_enter_the_measured_ranking(tmp_path):
    run = _synthetic_rows(tmp_path)
    text = write_report(run).read_text()
    measured = text.split("## Published results")[0]
    for model in published_results()["model"].unique():
        assert f"| {model} |" not in measured
    reference = text.split("## Published results")[1].split("## Figures")[0]
    assert "DAST" in reference and "Zhang, Song, Li" in reference


@pytest.mark.slow
def test_writeup_tables_between_markers_are_refreshed(tmp_path):
    run = _synthetic_rows(tmp_path)
    writeup = tmp_path / "writeup.md"
    writeup.write_text("Intro\n<!-- table:leaderboard-FD001 -->\nstale\n<!-- /table -->\nOutro\n"
                       "<!-- table:unknown-name -->\nkept\n<!-- /table -->\n")
    write_report(run, writeup)
    text = writeup.read_text()
    assert "stale" not in text and "| 12.50 ± 0.71 |" in text and "kept" in text and text.endswith("<!-- /table -->\n")
    assert refresh_markers(text, {}) == text
    empty_blocks = "<!-- table:a -->\n<!-- /table -->\nmiddle\n<!-- table:b -->\n<!-- /table -->\n"
    assert refresh_markers(empty_blocks, {"a": "A\n", "b": "B"}) == \
        "<!-- table:a -->\nA\n<!-- /table -->\nmiddle\n<!-- table:b -->\nB\n<!-- /table -->\n"


@pytest.mark.slow
def test_report_of_a_real_smoke_run_matches_its_leaderboard(cmapss_dir, tmp_path):
    config = RunConfig(out=tmp_path, profile="smoke", models=["xgboost"], subsets=["FD001"], data_dir=cmapss_dir,
                       offline=True)
    run_study(config, Console(file=open(os.devnull, "w")))
    result = subprocess.run([sys.executable, "-m", "study.report", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "report.md").read_text()
    rmse = pd.read_csv(tmp_path / "leaderboard.csv")["rmse"].iloc[0]
    assert re.search(rf"\| xgboost \| smoke \| GBDT \| {rmse:.2f} \(1 seed\) \|", text)
    assert "Protocol" in text and "963b5e22" in text


def test_report_of_an_empty_folder_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "study.report", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "holds no trial rows" in result.stderr


def test_report_of_a_run_without_any_successful_trial_lists_why(tmp_path):
    store = ResultStore(tmp_path)
    for subset in ("FD001", "FD002"):
        store.append({"key": f"skip-{subset}", "model": "chronos", "subset": subset, "seed": 0, "status": "skipped",
                      "family": "foundation", "formulation": "regression", "reason": "no local weights",
                      "params": {}, "protocol_hash": "abc123", "data_fingerprint": "d"})
    (tmp_path / "run.json").write_text(json.dumps({"config": {"profile": "smoke"}, "protocol_hash": "abc123"}))
    text = write_report(tmp_path).read_text()
    assert "`chronos` FD001 seed 0: **skipped** - no local weights" in text


@pytest.mark.slow
def test_report_refuses_a_baseline_or_writeup_that_is_not_there(tmp_path):
    run = _synthetic_rows(tmp_path)
    result = subprocess.run([sys.executable, "-m", "study.report", str(run), "--baseline", "nosuch"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "models with results: alpha, beta" in result.stderr
    result = subprocess.run([sys.executable, "-m", "study.report", str(run), "--writeup", str(tmp_path / "no.md")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.slow
def test_a_report_shows_a_models_variants_side_by_side_and_keeps_them_apart_in_its_views(tmp_path):
    """The next study holds default, tuned and hand-tuned rows of one model: the tables show
    one line per variant, and the views keyed on the model (ranks, figures, comparisons) see
    "lstm (default)" and "lstm (tuned)" as two models instead of mixing their predictions."""
    store = ResultStore(tmp_path)
    rng = np.random.default_rng(1)
    truth = rng.uniform(5, 200, 20)
    for model, identity, noise in (("lstm", {"profile": "default"}, 20.0),
                                   ("lstm", {"profile": "standard", "tuning": {"folder": "t"}}, 10.0),
                                   ("xgb", {"profile": "standard"}, 15.0)):
        for subset in ("FD001", "FD003"):
            pred = np.minimum(truth, 125) + rng.normal(0, noise, 20)
            store.append({"key": f"{model}-{identity['profile']}-{subset}", "model": model, "subset": subset,
                          "seed": 0, "status": "ok", "family": "F", "params": {}, "protocol_hash": "p",
                          "data_fingerprint": "d", "rmse": noise, "units": list(range(1, 21)),
                          "y_true": truth.tolist(), "y_pred": pred.tolist(), "fit_seconds": 1.0, **identity})
    (tmp_path / "run.json").write_text(json.dumps({"config": {"profile": "standard"}, "protocol_hash": "p"}))
    text = write_report(tmp_path, baseline="xgb").read_text()
    assert "| lstm | tuned | F | 10.00 (1 seed) |" in text and "| lstm | default | F | 20.00 (1 seed) |" in text
    assert "| lstm (tuned) | 1.0" in text and "| lstm (default) | 3.0" in text  # the average-rank table
    assert list(tmp_path.glob("fig_*.png"))


def test_the_report_sets_each_models_default_tuned_and_hand_tuned_results_side_by_side(tmp_path):
    """The equal-budget question, answered per model: out of the box, after tuning (with the
    evaluations the budget paid for), and the hand-chosen settings as a labelled third."""
    import copy

    from study.publishing.report import tuning_section, variants_table
    from study.records.leaderboard import leaderboard
    from study.records.run_folder import load_run

    rows, _ = load_run(ROOT / "reports/study")
    hand = [r for r in rows if r["model"] == "xgboost" and r["subset"] == "FD001" and r.get("profile") == "standard"]
    default = [dict(copy.deepcopy(r), key=r["key"] + "d", config="d", profile="default", rmse=r["rmse"] + 2)
               for r in hand]
    tuned = [dict(copy.deepcopy(r), key=r["key"] + "t", config="t", rmse=r["rmse"] - 1,
                  tuning={"dir": str(tmp_path / "gone"), "n_evaluations": 23}) for r in hand]
    assert variants_table(hand, leaderboard(hand)) is None  # one variant: nothing to set side by side
    every = hand + default + tuned
    table = variants_table(every, leaderboard(every))
    line = next(l for l in table.splitlines() if l.startswith("| xgboost | FD001"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    mean = np.mean([r["rmse"] for r in hand])
    assert cells[2].startswith(f"{mean + 2:.2f}") and cells[3].startswith(f"{mean - 1:.2f}")
    assert cells[4].startswith(f"{mean:.2f}") and cells[5] == "-3.00" and cells[6] == "23"
    assert "not here to read" in tuning_section(tuned)  # the link is kept even when its folder is not
    assert tuning_section(hand) is None


@pytest.mark.slow
def test_each_variant_is_compared_with_the_lstm_of_its_own_variant_and_the_tuned_with_the_2021_lstm(tmp_path):
    """Default, tuned: the equal race compares tuned with tuned, the "then and now" table the
    tuned models with the out-of-the-box LSTM, and the post's markers give the same numbers."""
    from study.analysis.compare import compare_to_baseline
    from study.records.leaderboard import predictions_frame
    from study.records.rows import distinct_models
    from study.records.run_folder import load_run

    store = ResultStore(tmp_path)
    rng = np.random.default_rng(2)
    truth = rng.uniform(5, 200, 30)
    for model, kind, noise in (("lstm", "default", 20.0), ("lstm", "tuned", 10.0), ("xgb", "default", 15.0),
                               ("xgb", "tuned", 12.0)):
        identity = {"profile": "default", **({"tuning": {"study_id": "s"}} if kind == "tuned" else {})}
        pred = np.minimum(truth, 125) + rng.normal(0, noise, 30)
        store.append({"key": f"{model}-{kind}", "model": model, "subset": "FD001", "seed": 0, "status": "ok",
                      "family": "F", "params": {}, "protocol_hash": "p", "data_fingerprint": "d", "rmse": noise,
                      "units": list(range(1, 31)), "y_true": truth.tolist(), "y_pred": pred.tolist(),
                      "fit_seconds": 1.0, **identity})
    (tmp_path / "run.json").write_text(json.dumps({"config": {"profile": "default"}, "protocol_hash": "p"}))
    post = tmp_path / "post.md"
    post.write_text("<!-- value:diff/xgb@tuned/FD001 --><!-- /value --> and "
                    "<!-- value:diff/xgb@tuned/FD001/lstm@default --><!-- /value -->\n")
    text = write_report(tmp_path, post).read_text()
    section = text.split("## Against the baseline (lstm)")[1].split("## Ensembles")[0]
    equal, then, plain = (section.split(f"### {title}")[1].split("###")[0] for title in
                          ("At equal effort", "Then and now", "Out of the box"))
    assert "| xgb (tuned) |" in equal and "xgb (default)" not in equal and "lstm (default)" not in equal
    assert "| xgb (tuned) |" in then and "| lstm (tuned) |" in then and "xgb (default)" not in then
    assert "| xgb (default) |" in plain and "tuned" not in plain.replace("`", "").split("\n", 1)[1]
    preds = predictions_frame(distinct_models(load_run(tmp_path)[0]))
    expected = [compare_to_baseline(preds[preds["model"].isin(["xgb (tuned)", base])], base, 125)
                .iloc[0]["difference"] for base in ("lstm (tuned)", "lstm (default)")]
    assert f"{expected[0]:+.2f}" in equal and f"{expected[1]:+.2f}" in then
    assert post.read_text() == (f"<!-- value:diff/xgb@tuned/FD001 -->{expected[0]:+.2f}<!-- /value --> and "
                                f"<!-- value:diff/xgb@tuned/FD001/lstm@default -->{expected[1]:+.2f}<!-- /value -->\n")


def test_each_crossing_says_whether_the_test_engines_confirm_it():
    import numpy as np

    from study.publishing.report import crossing_verdicts

    table = pd.DataFrame({"subset": ["FD001", "FD004"], "model": ["transformer", "mamba"],
                          "passes_after_minutes": [30.0, np.nan], "finding": ["a", "b"]})
    comparison = pd.DataFrame({"subset": ["FD001", "FD004"], "model": ["transformer (tuned-30m)", "mamba (tuned-30m)"],
                               "difference": [-1.5, 0.4], "ci_low": [-2.5, -0.2], "ci_high": [-0.4, 1.0],
                               "verdict": ["lower", "not distinguishable"]})
    out = crossing_verdicts(table, {"vs-baseline-tuned-30m": ("t", comparison)}, "lstm")
    assert out["engine by engine at that budget"].tolist() == ["-1.50 (-2.50 to -0.40) lower", ""]
    assert crossing_verdicts(table, {}, "lstm")["engine by engine at that budget"].tolist() == ["", ""]
