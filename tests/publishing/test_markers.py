"""Numbers in prose come from the run: value markers are refreshed, unknown names refused."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from study.core.errors import StudyError
from study.publishing.markers import RunValues, refresh_values, unmarked_numbers


@pytest.fixture
def values():
    board = pd.DataFrame({"model": ["lstm", "transformer", "lstm", "transformer"],
                          "subset": ["FD001", "FD001", "FD002", "FD002"], "rmse": [14.107, 12.826, 13.75, 13.12],
                          "rmse_std": [0.5, 0.4, 0.3, 0.2], "score": [300.4, 250.6, 900, 800],
                          "fit_seconds": [102.7, 200.5, 59.7, 122.1], "n_seeds": [3, 3, 3, 3]})
    comparison = pd.DataFrame({"model": ["transformer"] * 2, "subset": ["FD001", "FD002"],
                               "difference": [-1.28, -0.64], "ci_low": [-3.26, -1.49], "ci_high": [0.63, 0.21],
                               "verdict": ["not distinguishable"] * 2})
    return RunValues(board, comparison)


def test_value_markers_are_filled_from_the_run_and_stale_numbers_replaced(values):
    text = ("The Transformer scored <!-- value:rmse/transformer/FD001 -->99.99<!-- /value --> against "
            "<!-- value:rmse/lstm/FD001 --><!-- /value --> (<!-- value:diff/transformer/FD001 --><!-- /value -->, "
            "<!-- value:ci/transformer/FD001 --><!-- /value -->); best on FD002: "
            "<!-- value:best/FD002 --><!-- /value --> at <!-- value:best-rmse/FD002 --><!-- /value -->, "
            "<!-- value:mean-fit/transformer --><!-- /value --> s per trial.")
    out = refresh_values(text, values)
    assert "99.99" not in out
    plain = out.replace("<!-- /value -->", "")
    for marker in ("rmse/transformer/FD001", "rmse/lstm/FD001", "diff/transformer/FD001", "ci/transformer/FD001",
                   "best/FD002", "best-rmse/FD002", "mean-fit/transformer"):
        plain = plain.replace(f"<!-- value:{marker} -->", "")
    assert plain == ("The Transformer scored 12.83 against 14.11 (-1.28, -3.26 to +0.63); best on FD002: "
                     "transformer at 13.12, 161 s per trial.")
    assert refresh_values(out, values) == out  # refreshing again changes nothing


@pytest.mark.parametrize("name", ["rmse/mamba/FD001", "rmse/lstm/FD009", "speed/lstm/FD001", "rmse/lstm"])
def test_a_value_the_run_does_not_have_is_an_error_naming_it(values, name):
    with pytest.raises(StudyError, match=name):
        refresh_values(f"<!-- value:{name} -->1.0<!-- /value -->", values)


def test_unmarked_numbers_finds_hand_typed_results_only():
    text = ("FD001 has 100 engines; RMSE <!-- value:rmse/lstm/FD001 -->14.11<!-- /value --> beat 12.5 "
            "in 2021.\n<!-- table:summary -->\n| 13.20 |\n<!-- /table -->\n```\nrmse 9.99\n```\n")
    assert unmarked_numbers(text) == ["12.5"]


def _predictions(errors: dict[str, list[float]], truth: list[float]) -> pd.DataFrame:
    """A long predictions table (one seed) for labelled models: truth plus each model's errors."""
    return pd.DataFrame([{"model": model, "subset": "FD001", "seed": 0, "unit": unit + 1, "y_true": true,
                          "y_pred": true + error} for model, errs in errors.items()
                         for unit, (true, error) in enumerate(zip(truth, errs))])


def test_a_post_names_which_variant_of_a_model_it_cites():
    """A run with the out-of-the-box and the tuned LSTM: ``lstm@default`` and ``lstm@tuned``
    are two numbers, a bare ``lstm`` is refused (it could be either), and the best model is
    named with its variant. Differences are computed engine by engine from the predictions:
    against the LSTM of the model's own variant unless a baseline is named."""
    board = pd.DataFrame({"model": ["lstm", "lstm", "xgboost"], "variant": ["default", "tuned", "tuned"],
                          "subset": ["FD001"] * 3, "rmse": [15.2, 12.9, 13.4], "rmse_std": [0.5, 0.4, 0.1],
                          "score": [400, 300, 320], "fit_seconds": [60, 90, 10], "n_seeds": [3, 3, 3]})
    truth = [10.0, 40.0, 80.0, 120.0]
    preds = _predictions({"lstm (default)": [6, -6, 6, -6], "lstm (tuned)": [3, -3, 3, -3],
                          "xgboost": [4, -4, 4, -4]}, truth)
    values = RunValues(board, preds=preds)
    assert values("rmse/lstm@default/FD001") == "15.20" and values("rmse/lstm@tuned/FD001") == "12.90"
    assert values("rmse/xgboost/FD001") == "13.40"  # one variant: no need to name it
    assert values("diff/xgboost/FD001") == "+1.00"  # 4 - 3: against the tuned LSTM, its own variant
    assert values("diff/xgboost/FD001/lstm@default") == "-2.00"  # 4 - 6: against the 2021 LSTM
    assert values("diff/lstm@tuned/FD001/lstm@default") == "-3.00"
    assert values("verdict/lstm@tuned/FD001/lstm@default") == "lower"
    assert values("best/FD001") == "lstm (tuned)" and values("mean-rmse/lstm@default") == "15.20"
    assert values("best/FD001/default") == "lstm (default)" and values("best-rmse/FD001/tuned") == "12.90"
    assert values("vs-best/xgboost/FD001") == "+1.00"  # against the best tuned single model, the tuned LSTM
    assert values("verdict-best/xgboost/FD001") == "higher" and values("best-single/FD001/tuned") == "lstm (tuned)"
    with_ensemble = RunValues(pd.concat([board, board.iloc[[1]].assign(model="ensemble", rmse=11.0)]),
                              preds=pd.concat([preds, _predictions({"ensemble": [1, -1, 1, -1]}, truth)]))
    assert with_ensemble("best/FD001") == "ensemble" and with_ensemble("best-single/FD001") == "lstm (tuned)"
    assert with_ensemble("best-name/FD001") == "Ensemble" and with_ensemble("best-single-name/FD001") == "LSTM (tuned)"
    assert with_ensemble("vs-best/ensemble/FD001") == "-2.00"  # 1 - 3: the ensemble against the tuned LSTM
    text = ("from <!-- value:rmse/lstm@default/FD001 --><!-- /value --> "
            "to <!-- value:rmse/lstm@tuned/FD001 -->0<!-- /value -->")
    assert refresh_values(text, values).count("<!-- /value -->") == 2 and ">15.20<" in refresh_values(text, values)
    assert ">12.90<" in refresh_values(text, values)
    with pytest.raises(StudyError, match="lstm@default, lstm@tuned"):
        values("rmse/lstm/FD001")
    with pytest.raises(StudyError, match="name the baseline"):
        values("diff/lstm@tuned/FD001")  # the baseline model itself: against which LSTM?
    with pytest.raises(StudyError):
        values("rmse/lstm@hand-tuned/FD001")


def test_parameter_counts_and_a_planners_misses_come_from_the_run():
    """``params`` is a model's trainable parameter count; ``late``/``early`` the share of its test
    engines (every subset and seed, or one subset) predicted more than N cycles late or early,
    against the capped truth the study scores with."""
    board = pd.DataFrame({"model": ["lstm", "lstm", "xgboost"], "variant": ["default", "tuned", "tuned"],
                          "subset": ["FD001"] * 3, "rmse": [15.2, 12.9, 13.4], "rmse_std": [0.5, 0.4, 0.1],
                          "score": [400, 300, 320], "fit_seconds": [60, 90, 10], "n_seeds": [1, 1, 1],
                          "n_parameters": [55873, 42753, None]})
    truth = [10.0, 40.0, 80.0, 200.0]  # the last engine's truth is capped at 125: its errors are against 125
    preds = pd.concat([_predictions({"lstm (default)": [30, -30, 12, -90], "lstm (tuned)": [11, 0, 0, -80],
                                     "xgboost": [0, 0, 0, -75]}, truth),
                       _predictions({"lstm (default)": [0, 0, 0, -75]}, truth).assign(subset="FD002")])
    values = RunValues(board, preds=preds)
    assert values("params/lstm@default/FD001") == "55,873" and values("params/lstm@tuned/FD001") == "42,753"
    # over both subsets: 2 late by more than 10 (30, 12) of 8 predictions; on FD001 alone 2 of 4
    assert values("late/lstm@default/10") == "25%" and values("late/lstm@default/10/FD001") == "50%"
    assert values("late/lstm@default/25") == "12%" and values("early/lstm@default/25/FD001") == "25%"
    # 200 - 80 = 120 is 5 above the capped truth 125: not early at all
    assert values("late/lstm@tuned/10") == "25%" and values("early/lstm@tuned/25") == "0%"
    text = "<!-- value:late/xgboost/10 -->99%<!-- /value -->"
    assert refresh_values(text, values) == "<!-- value:late/xgboost/10 -->0%<!-- /value -->"
    for name in ("params/xgboost/FD001", "late/lstm/10", "late/lstm@tuned/10/FD004", "early/lstm@tuned/ten"):
        with pytest.raises(StudyError, match=name):
            values(name)


def test_ranks_counts_tuning_evaluations_and_seed_gaps_come_from_the_run():
    """``avg-rank`` among every row or one variant's; ``count``/``where`` of subsets where a model
    is below or beyond the noise against a baseline or the best single model; ``evaluations``
    the tuning evaluations that finished (a failed one, cut off by the budget, does not count);
    ``seed-gap`` the largest spread of one engine's prediction over seeds."""
    board = pd.DataFrame({"model": ["lstm", "xgboost"] * 4, "variant": ["tuned"] * 4 + ["default"] * 4,
                          "subset": ["FD001", "FD001", "FD002", "FD002"] * 2,
                          "rmse": [12.0, 13.0, 14.0, 13.5, 15.0, 16.0, 16.0, 17.0], "rmse_std": [0.1] * 8,
                          "score": [1] * 8, "fit_seconds": [1] * 8, "n_seeds": [2] * 8})
    truth = [10.0, 40.0, 80.0, 120.0] * 5
    errors = {"lstm (tuned)": [1, -1] * 10, "xgboost (tuned)": [9, -9] * 10,
              "lstm (default)": [3, -3] * 10, "xgboost (default)": [2, -2] * 10}
    one = _predictions(errors, truth)
    two = _predictions({**errors, "xgboost (tuned)": [0.5, -0.5] * 10}, truth).assign(subset="FD002")
    shift = (one["model"] == "xgboost (tuned)") * 2.5  # a second seed 2.5 cycles off, on FD001 only
    preds = pd.concat([one, two, one.assign(seed=1, y_pred=one["y_pred"] + shift), two.assign(seed=1)])
    tuning = pd.DataFrame({"model": ["lstm", "lstm", "xgboost"], "subset": ["FD001", "FD002", "FD001"],
                           "evaluations": [3, 5, 20], "failed": [1, 1, 0],
                           "spent_s": [1800.0, 3600.0, 1800.0]})
    values = RunValues(board, preds=preds, tuning=tuning)
    # ranks among all four rows per subset: lstm@tuned 1 and 2, lstm@default 3 and 3
    assert values("avg-rank/lstm@tuned") == "1.50" and values("avg-rank/lstm@default") == "3.00"
    assert values("avg-rank/lstm@default/default") == "1.00" and values("avg-rank/xgboost@default/default") == "2.00"
    assert values("best-rank/default") == "lstm (default)"
    assert values("best-rank-name/default") == "2021 LSTM (plain settings)"
    # xgboost@tuned against lstm@tuned: far above on FD001 (beyond the noise), below on FD002
    assert values("count/above/xgboost@tuned") == "1 of 2" and values("where/higher/xgboost@tuned") == "FD001"
    assert values("where/below/xgboost@tuned") == "FD002" and values("count/lower/xgboost@tuned") == "1 of 2"
    assert values("where/below/lstm@default/xgboost@default") == "none"
    assert values("count/above/lstm@default/xgboost@default") == "2 of 2"
    assert values("where/lower/xgboost@default/best") == "FD001 and FD002"  # the best default single: lstm
    assert values("evaluations/lstm") == "2 to 4" and values("evaluations/lstm/FD001") == "2"
    assert values("evaluations/xgboost") == "20" and values("tuning-hours") == "2.00"
    assert values("seed-gap/lstm@tuned") == "0.00" and values("seed-gap/xgboost@tuned/FD001") == "2.50"
    for name in ("evaluations/mamba", "count/sideways/lstm@tuned", "avg-rank/lstm@hand-tuned",
                 "seed-gap/lstm@tuned/FD004"):
        with pytest.raises(StudyError, match=name):
            values(name)
    with pytest.raises(StudyError, match="evaluations/lstm"):
        RunValues(board, preds=preds)("evaluations/lstm")  # no tuning table in this run


def test_prose_numbers_lists_every_number_outside_markers_code_links_headings_and_tables():
    from study.publishing.markers import prose_numbers

    text = ("# Results of 2026\n"
            "FD001 has 100 engines; RMSE <!-- value:rmse/lstm/FD001 -->14.11<!-- /value --> beat 12.5,\n"
            "in 48 minutes. See [the run](reports/run-2.md), `make -j 2` and https://x.org/v1.2 at 1e-3\n"
            "<!-- table:summary -->\n| 13.20 |\n<!-- /table -->\n```\nrmse 9.99\n```\n"
            "| 7 | a hand table |\nlast line: 2,000 resamples.\n")
    assert prose_numbers(text) == [(2, "100"), (2, "12.5"), (3, "48"), (11, "2,000")]


def test_seed_band_ratio_engine_run_and_tuning_kinds_come_from_the_run():
    """``seed-rmse``/``seed-min``/``seed-max`` score each seed's predictions; ``seed-diff``/``seed-ci``
    compare with one seed of another model; ``fit-ratio``, ``engines``, ``band`` (RMSE by true-RUL
    group), ``rmse-ci``, ``gain`` (the tuning table) and ``run-minutes``/``run-trials`` (run.json)."""
    board = pd.DataFrame({"model": ["lstm", "xgboost"], "subset": ["FD001"] * 2, "rmse": [2.0, 1.0],
                          "rmse_std": [0.1] * 2, "score": [1] * 2, "fit_seconds": [90.0, 50.0], "n_seeds": [2] * 2,
                          "rmse_ci_low": [1.234, 0.5], "rmse_ci_high": [3.456, 1.5]})
    truth = [10.0, 40.0, 80.0, 120.0]
    preds = pd.concat([_predictions({"lstm": [3, -3, 3, -3], "xgboost": [1, -1, 1, -1]}, truth),
                       _predictions({"lstm": [6, -6, 6, -6], "xgboost": [1, -1, 1, -1]}, truth).assign(seed=1),
                       # 200 - 73 = 127: 2 above the capped truth, 125, as every other FD002 engine
                       _predictions({"lstm": [2, 2, 2, 2, -73]}, truth + [200.0]).assign(subset="FD002")])
    tuning = pd.DataFrame({"model": ["lstm", "lstm"], "subset": ["FD001", "FD002"], "gain": [1.44, 5.61]})
    info = {"started_at": "2026-11-30T17:10:39+0000", "total_seconds": 600.0, "n_trials": 96,
            "previous_runs": [{"started_at": "2026-11-30T16:36:40+0000", "total_seconds": 2040.0, "n_trials": 108},
                              {"started_at": "2026-11-26T21:48:51+0000", "total_seconds": None, "n_trials": 48}]}
    values = RunValues(board, preds=preds, tuning=tuning, info=info)
    assert values("seed-rmse/lstm/FD001/0") == "3.00" and values("seed-rmse/lstm/FD001/1") == "6.00"
    assert values("seed-min/lstm/FD001") == "3.00" and values("seed-max/lstm/FD001") == "6.00"
    assert values("seed-diff/xgboost/FD001/lstm/1") == "-5.00"  # 1 - 6: against seed 1 alone
    low, _, high = values("seed-ci/xgboost/FD001/lstm/1").partition(" to ")
    assert float(low) <= -5.0 <= float(high)
    assert values("fit-ratio/lstm/xgboost") == "1.8" and values("rmse-ci/lstm/FD001") == "1.23 to 3.46"
    assert values("engines/FD001") == "4" and values("engines") == "4 to 5"
    # (0, 50] holds 10 and 40 (errors 3, 3 and 6, 6 over two seeds); above 125 only FD002's capped engine
    assert values("band/lstm/FD001/0-50") == f"{((9 + 9 + 36 + 36) / 4) ** 0.5:.1f}" == "4.7"
    assert values("band/xgboost/FD001/50-120") == "1.0" and values("band/lstm/FD002/125-up") == "2.0"
    assert values("gain/lstm") == "1.4 to 5.6" and values("gain/lstm/FD002") == "5.6"
    assert values("run-minutes/2026-11-30T16:36") == "34.0" and values("run-trials/2026-11-30T17:10") == "96"
    assert values("run-minutes/2026-11-30T16:36+2026-11-30T17:10") == "44.0"
    for name in ("seed-rmse/lstm/FD001/7", "seed-diff/xgboost/FD001/lstm/3", "band/lstm/FD001/125-up",
                 "run-minutes/2026-11-26T21:48", "run-trials/2025", "gain/mamba", "engines/FD009", "fit-ratio/lstm"):
        with pytest.raises(StudyError, match=name):
            values(name)


def _file_values(tmp_path, values=None):
    from study.publishing.markers import FileValues

    return FileValues(tmp_path, values or RunValues(pd.DataFrame({"model": ["lstm"], "subset": ["FD001"],
                                                                   "rmse": [1.0]})))


def test_refit_friction_fit_counts_and_bench_come_from_the_committed_files(tmp_path):
    """``refit-*`` average seeds within a fold, then summarise folds; ``friction`` reads a cell,
    ``fits`` counts the lines of ``tune_*.jsonl``, ``bench-*`` the Mamba step times."""
    rows = [{"model": "xgboost", "profile": "default", "subset": s, "fold": f, "seed": seed,
             "rmse_selected": 10.0, "rmse_refit": 10.0 + d + (0.2 if seed else -0.2)}
            for s, f, d in (("FD001", 0, -1.0), ("FD001", 1, 0.5), ("FD002", 0, -2.0)) for seed in (0, 1)]
    pd.DataFrame(rows).to_json(tmp_path / "refit_folds.jsonl", orient="records", lines=True)
    (tmp_path / "friction.csv").write_text("model,adapter_loc,workarounds\nxgboost,51,none\n")
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "tune_a.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    (tmp_path / "sweeps" / "tune_b.jsonl").write_text('{"a": 3}\n')
    (tmp_path / "sweeps" / "other.jsonl").write_text('{"a": 4}\n')
    (tmp_path / "bench_torch.txt").write_text("One Mamba block\nours:    0.2500 s  (1 parameters)\n"
                                              "mambapy: 1.0000 s  (1 parameters)  -> ours is 4.0x faster\n")
    values = _file_values(tmp_path)
    folds = pd.Series([-1.0, 0.5, -2.0])  # per fold, the two seeds' +-0.2 cancel
    assert values("refit-mean/xgboost/default") == f"{folds.mean():+.2f}" == "-0.83"
    assert values("refit-se/xgboost/default") == f"{folds.std() / 3 ** 0.5:.2f}"
    assert values("refit-worse/xgboost/default") == "1 of 3" and values("refit-max-gain/xgboost/default") == "2.0"
    assert values("friction/xgboost/adapter_loc") == "51" and values("fits/sweeps") == "3"
    assert values("bench-step/ours") == "0.25" and values("bench-speedup") == "4.0"
    assert values("rmse/lstm/FD001") == "1.00"  # any other name: the run's
    for name in ("refit-mean/lstm/default", "friction/lstm/adapter_loc", "fits/nowhere", "bench-step/torch",
                 "published/no-such-model/FD001", "run/nowhere/rmse/lstm/FD001", "speed/lstm/FD001"):
        with pytest.raises(StudyError, match=name):
            values(name)


def test_published_superseded_and_other_runs_come_from_the_committed_files():
    """Against the committed files, recomputed here without ``RunValues``: a published RMSE from
    the CSV, a superseded run's mean RMSE from ``superseded.jsonl`` (rows between the command's
    start and the next), and another run folder's RMSE and its difference from this run's."""
    from pathlib import Path

    from study.publishing.markers import FileValues
    from study.publishing.report import run_view
    from study.records.leaderboard import leaderboard, predictions_frame
    from study.records.rows import distinct_models
    from study.records.run_folder import load_run
    from study.records.store import SUPERSEDED_FILE, ResultStore

    reports = Path(__file__).resolve().parents[2] / "reports"
    rows, info = load_run(reports / "study")
    values = FileValues(reports, RunValues(leaderboard(rows), preds=predictions_frame(distinct_models(rows)),
                                           info=info), reports / "study", read_run=run_view)
    published = pd.read_csv(Path(__file__).resolve().parents[2] / "study" / "data" / "published_results.csv")
    dast = published[(published["model"] == "DAST") & (published["subset"] == "FD002")]["rmse"].iloc[0]
    assert values("published/dast/FD002") == f"{dast:.2f}"
    starts = sorted(r["started_at"] for r in info["previous_runs"] + [info])
    begin = next(s for s in starts if s.startswith("2026-11-26T23:34"))
    end = starts[starts.index(begin) + 1]
    old = [r["rmse"] for r in ResultStore(reports / "study", name=SUPERSEDED_FILE).rows()
           if begin <= r["started_at"] < end and r["model"] == "transformer" and r["subset"] == "FD002"]
    assert len(old) == 3 and values("superseded/2026-11-26T23:34/rmse/transformer/FD002") == f"{sum(old) / 3:.2f}"
    ens = pd.read_csv(reports / "ensemble_fd001" / "leaderboard.csv").set_index("model").loc["lstm", "rmse"]
    study = pd.read_csv(reports / "study" / "leaderboard.csv")
    single = study[(study["model"] == "lstm") & (study["variant"] == "hand-tuned") & (study["subset"] == "FD001")]
    assert values("run/ensemble_fd001/rmse/lstm/FD001") == f"{ens:.2f}"
    assert values("against/ensemble_fd001/lstm@hand-tuned/FD001") == f"{ens - single['rmse'].iloc[0]:+.2f}"
    low, _, high = values("against-ci/ensemble_fd001/lstm@hand-tuned/FD001").partition(" to ")
    assert float(low) < ens - single["rmse"].iloc[0] < float(high)
    for name in ("superseded/2020-01-01/rmse/lstm/FD001", "against/ensemble_fd001/xgboost@hand-tuned/FD001"):
        with pytest.raises(StudyError, match=name):
            values(name)


def test_a_model_missing_from_the_given_comparison_is_compared_from_the_predictions():
    """A run's headline comparison may hold only some rows (the tuned ones): a marker citing
    another model against the same baseline is then computed from the predictions, not refused."""
    board = pd.DataFrame({"model": ["lstm", "transformer", "xgboost"], "subset": ["FD001"] * 3,
                          "rmse": [3.0, 2.0, 1.0], "rmse_std": [0.1] * 3, "score": [1] * 3,
                          "fit_seconds": [1] * 3, "n_seeds": [1] * 3})
    preds = _predictions({"lstm": [3, -3, 3, -3], "transformer": [2, -2, 2, -2], "xgboost": [1, -1, 1, -1]},
                         [10.0, 40.0, 80.0, 120.0])
    given = pd.DataFrame({"model": ["transformer"], "subset": ["FD001"], "baseline": ["lstm"], "difference": [-9.99],
                          "ci_low": [-10.0], "ci_high": [-9.0], "verdict": ["lower"]})
    values = RunValues(board, given, preds)
    assert values("diff/transformer/FD001") == "-9.99"  # the given comparison, reused as is
    assert values("diff/xgboost/FD001") == "-2.00" and values("count/below/xgboost") == "1 of 1"
    with pytest.raises(StudyError, match="diff/xgboost/FD001"):
        RunValues(board, given)("diff/xgboost/FD001")  # no predictions to compare with


@pytest.fixture(scope="module")
def committed():
    """The committed reports' ``FileValues``, the folder, and every trial record with its command's start."""
    from pathlib import Path

    from study.publishing.markers import FileValues
    from study.publishing.report import run_view
    from study.records.leaderboard import leaderboard, predictions_frame
    from study.records.rows import distinct_models
    from study.records.run_folder import load_run
    from study.records.store import ROWS_FILE, SUPERSEDED_FILE, ResultStore

    reports = Path(__file__).resolve().parents[2] / "reports"
    rows, info = load_run(reports / "study")
    values = FileValues(reports, RunValues(leaderboard(rows), preds=predictions_frame(distinct_models(rows)),
                                           info=info), reports / "study", read_run=run_view)
    starts = sorted(r["started_at"] for r in info["previous_runs"] + [info] if r.get("started_at"))
    records = [r for name in (SUPERSEDED_FILE, ROWS_FILE) for r in ResultStore(reports / "study", name=name).rows()]

    def of(start: str) -> dict:
        begin = next(s for s in starts if s.startswith(start))
        end = (starts[starts.index(begin) + 1:] or ["9999"])[0]
        return {(r["model"], r["subset"], r["seed"]): r for r in records if begin <= str(r.get("started_at") or "") < end}

    return values, reports, of


def _sweep(path) -> pd.DataFrame:
    frame = pd.read_json(path, lines=True)
    return frame.assign(split_seed=frame["split_seed"].fillna(0) if "split_seed" in frame else 0)


def test_sweep_kinds_recompute_from_the_committed_sweep_files(committed):
    """``sweep-*`` against the sweep files and the study's kept checkpoints, recomputed here."""
    values, reports, of = committed
    hist = _sweep(reports / "gpu_check" / "tune_hist.jsonl")
    means = hist.pivot_table(index=["model", "subset"], columns="variant", values="valid_rmse_k1")
    gain = means["base"] - means["hist2"]
    assert values("sweep-gain/gpu_check/tune_hist/base/hist2") == f"{gain.min():.1f} to {gain.max():.1f}"
    splits = _sweep(reports / "gpu_check" / "tune_splits_fd001.jsonl")
    tf = splits[(splits["model"] == "transformer") & (splits["seed"] == 0)].set_index(["split_seed", "variant"])["valid_rmse_k1"]
    base = {s: tf.get((s, "defaults"), None) for s in range(5)}
    base[0] = of("2026-11-27T01:20")[("transformer", "FD001", 0)]["info"]["best_valid_rmse"]  # the study's kept checkpoint
    gains = [base[s] - tf[(s, "defaults_cycle")] for s in range(5)]
    name = "sweep-gain/gpu_check/tune_splits_fd001/defaults+run@2026-11-27T01:20/defaults_cycle/model:transformer"
    assert values(name) == f"{min(gains):.1f} to {max(gains):.1f}"
    own = splits[(splits["variant"] == "defaults") & (splits["seed"] == 0) & splits["split_seed"].between(1, 4)]
    per_model = own.groupby("model")["valid_rmse_k1"].mean()
    assert values("sweep-mean/gpu_check/tune_splits_fd001/defaults/seed:0/split:1-4") == \
        f"{per_model.min():.1f} to {per_model.max():.1f}"
    reg = pd.concat([_sweep(reports / "gpu_check" / "tune_regularise.jsonl"), splits])
    reg = reg[reg["model"] == "mamba"].drop_duplicates(["seed", "split_seed", "variant"])
    cells = reg.set_index(["seed", "split_seed", "variant"])["valid_rmse_k1"]
    kept = of("2026-11-27T06:46")
    changes = []
    for seed, split in {(s, p) for s, p, v in cells.index if v == "defaults_wd0.05"}:
        ref = cells.get((seed, split, "defaults"), kept[("mamba", "FD001", seed)]["info"]["best_valid_rmse"])
        changes.append(ref - cells[(seed, split, "defaults_wd0.05")])
    stem = "gpu_check/tune_regularise+tune_splits_fd001/defaults+run@2026-11-27T06:46/defaults_wd0.05"
    lower = sum(c >= 0.02 for c in changes)
    assert len(changes) == 10 and values(f"sweep-count/{stem}/lower/model:mamba") == f"{lower} of 10"
    assert values(f"sweep-count/{stem}/level/model:mamba") == f"{sum(abs(c) < 0.02 for c in changes)} of 10"
    assert values(f"sweep-mean-gain/{stem}/model:mamba") == f"{sum(changes) / 10:.2f}"
    for bad in ("sweep-gain/gpu_check/tune_hist/base/nothing", "sweep-count/gpu_check/tune_hist/base/hist2/worse",
                "sweep-mean/gpu_check/no_file/base", "sweep-gain/gpu_check/tune_hist/base/hist2/depth:3"):
        with pytest.raises(StudyError, match=bad.split("/")[0]):
            values(bad)


def test_trial_replay_and_cuda_kinds_recompute_from_the_committed_files(committed):
    """``valid*``, ``train-rmse``, ``pred-gap``, ``replay-minutes``, ``epoch-ratio``, ``cuda-fit``."""
    import numpy as np

    values, reports, of = committed
    before, after = of("2026-11-26T23:34"), of("2026-11-27T01:20")
    nets = lambda recs, subset: [r for k, r in recs.items() if k[1] == subset and "best_valid_rmse" in (r.get("info") or {})]
    mean = lambda recs: f"{np.mean([r['info']['best_valid_rmse'] for r in recs]):.1f}"
    assert values("valid/2026-11-26T23:34/FD001") == mean(nets(before, "FD001"))
    assert values("valid/2026-11-27T01:20/FD001") == mean(nets(after, "FD001"))
    seed0 = sorted(r["info"]["best_valid_rmse"] for r in nets(after, "FD001") if r["seed"] == 0)
    assert len(seed0) == 3 and values("valid-range/2026-11-27T01:20/FD001/0") == f"{seed0[0]:.1f} to {seed0[-1]:.1f}"
    kept = nets(of("2026-11-27T10:17"), "FD001")
    spread = [np.ptp([r["info"]["best_valid_rmse"] for r in kept if r["model"] == m]) for m in ("lstm", "transformer", "mamba")]
    assert values("valid-spread/2026-11-27T10:17/FD001") == f"{min(spread):.1f} to {max(spread):.1f}"
    last = of("2026-11-27T06:46")[("mamba", "FD001", 2)]["info"]["history"][-1]["train_rmse"]
    assert values("train-rmse/2026-11-27T06:46/mamba/FD001/2") == f"{last:.1f}"
    later = of("2026-11-27T03:03")
    gap = max(np.abs(np.subtract(r["y_pred"], later[k]["y_pred"])).max() for k, r in after.items() if k in later)
    assert values("pred-gap/2026-11-27T03:03/2026-11-27T01:20") == f"{gap:.1g}"
    log = (reports / "ensemble_fd001" / "bf16_cost" / "run.log").read_text().splitlines()
    start = pd.Timestamp(next(x for x in log if x.startswith("start ")).split()[1])
    end = pd.Timestamp(next(x for x in log if x.startswith("end ")).split()[1])
    assert values("replay-minutes/ensemble_fd001/bf16_cost") == f"{(end - start).total_seconds() / 60:.1f}"
    fits = pd.read_json(reports / "ensemble_fd001" / "bf16_cost" / "fits.jsonl", lines=True)
    assert values("fits/ensemble_fd001/bf16_cost") == f"{len(fits)}"
    lstm = fits[fits["model"] == "lstm"]
    replay = (lstm["fit_seconds"] / lstm["epochs_run"].map(lambda e: sum(e) if isinstance(e, list) else e)).groupby(lstm["subset"]).mean()
    trials = of("2026-11-27T10:17")
    ratio = [np.mean([r["fit_seconds"] / r["info"]["epochs_run"] for k, r in trials.items() if k[:2] == ("lstm", s)]) / replay[s]
             for s in replay.index]
    assert values("epoch-ratio/ensemble_fd001/bf16_cost/lstm/2026-11-27T10:17") == f"{min(ratio):.1f} to {max(ratio):.1f}"
    cuda = [float(line.split()[4]) for line in (reports / "gpu_check" / "study_cuda_trials.txt").read_text().splitlines()
            if "/s2/" in line]
    assert values("cuda-fit/s2") == f"{min(cuda):.0f} to {max(cuda):.0f}"
    for bad in ("valid/2020-01-01/FD001", "train-rmse/2026-11-27T06:46/mamba/FD001/9", "cuda-fit/s9",
                "pred-gap/2026-11-27T03:03/2020-01-01", "epoch-ratio/ensemble_fd001/bf16_cost/xgboost/2026-11-27T10:17"):
        with pytest.raises(StudyError, match=bad.split("/")[0]):
            values(bad)


def test_seed_counts_and_firsts_count_what_they_name():
    """``seed-count`` compares with each of another model's seeds alone; ``firsts`` counts the
    subsets where a model ranks first (alone), among every row or one variant's."""
    board = pd.DataFrame({"model": ["lstm", "xgboost", "lstm", "xgboost", "mamba", "mamba"],
                          "variant": ["tuned", "tuned", "tuned", "tuned", "default", "default"],
                          "subset": ["FD001", "FD001", "FD002", "FD002", "FD001", "FD002"],
                          "rmse": [2.0, 1.0, 3.0, 3.0, 0.5, 9.0], "rmse_std": [0.1] * 6, "score": [1] * 6,
                          "fit_seconds": [1] * 6, "n_seeds": [3] * 6})
    truth = [10.0, 40.0, 80.0, 120.0] * 10
    # xgboost 1 cycle off; the lstm's seeds 3, 1 and 0.5 off: xgboost lower, level, higher
    preds = pd.concat([_predictions({"xgboost": [1, -1] * 20}, truth)]
                      + [_predictions({"lstm": [e, -e] * 20}, truth).assign(seed=s)
                         for s, e in enumerate((3.0, 1.0, 0.5))])
    values = RunValues(board, preds=preds)
    assert values("seed-count/below/xgboost@tuned/FD001/lstm@tuned") == "1 of 3"
    assert values("seed-count/lower/xgboost@tuned/FD001/lstm@tuned") == "1 of 3"
    assert values("seed-count/above/xgboost@tuned/FD001/lstm@tuned") == "1 of 3"
    assert values("seed-count/higher/xgboost@tuned/FD001/lstm@tuned") == "1 of 3"
    assert values("seed-count/unresolved/xgboost@tuned/FD001/lstm@tuned") == "1 of 3"
    # among the tuned rows xgboost is first on FD001 and ties on FD002 (a tie is not first);
    # among every row mamba (default) takes FD001
    assert values("firsts/xgboost@tuned/tuned") == "1 of 2" and values("firsts/xgboost@tuned") == "0 of 2"
    assert values("firsts/mamba@default") == "1 of 2" and values("firsts/lstm@tuned/tuned") == "0 of 2"
    for name in ("seed-count/sideways/xgboost@tuned/FD001/lstm@tuned", "seed-count/lower/xgboost@tuned/FD004/lstm@tuned",
                 "firsts/mamba@default/tuned", "firsts/ridge"):
        with pytest.raises(StudyError, match=name):
            values(name)


def test_seed_counts_firsts_and_published_counts_recompute_from_the_committed_files(committed):
    """The writeup's counts, recomputed here from the committed predictions, leaderboard and
    published CSV without the lookups under test."""
    from pathlib import Path

    from study.analysis.compare import LOWER, paired_row

    values, reports, _ = committed
    preds = values.run.preds
    fd003 = preds[preds["subset"] == "FD003"]
    mine, other = fd003[fd003["model"] == "transformer (hand-tuned)"], fd003[fd003["model"] == "lstm (hand-tuned)"]
    seeds = sorted(other["seed"].unique())
    verdicts = [paired_row(mine, other[other["seed"] == s], 125.0, "")["verdict"] for s in seeds]
    assert len(seeds) == 3
    assert values("seed-count/lower/transformer@hand-tuned/FD003/lstm@hand-tuned") == \
        f"{verdicts.count(LOWER)} of {len(seeds)}"
    board = pd.read_csv(reports / "study" / "leaderboard.csv").dropna(subset=["rmse"])
    hand = board[board["variant"] == "hand-tuned"]
    winners = hand.loc[hand.groupby("subset")["rmse"].idxmin(), "model"]
    assert values("firsts/transformer@hand-tuned/hand-tuned") == \
        f"{int((winners == 'transformer').sum())} of {hand['subset'].nunique()}"
    published = pd.read_csv(Path(__file__).resolve().parents[2] / "study" / "data" / "published_results.csv")
    zheng = published[published["model"] == "Deep LSTM"].set_index("subset")["rmse"]
    ours = board[(board["model"] == "lstm") & (board["variant"] == "hand-tuned")].set_index("subset")["rmse"]
    below = sum(ours[s] < zheng[s] for s in zheng.index if s in ours.index)
    assert values("published-count/below/lstm@hand-tuned/deep-lstm") == f"{below} of {len(zheng)}"
    above = sum(ours[s] > zheng[s] for s in zheng.index if s in ours.index)
    assert values("published-count/above/lstm@hand-tuned/deep-lstm") == f"{above} of {len(zheng)}"
    for name in ("published-count/level/lstm@hand-tuned/deep-lstm", "published-count/below/lstm@hand-tuned/no-such",
                 "published-count/below/lstm/deep-lstm"):
        with pytest.raises(StudyError, match=name):
            values(name)


def test_published_counts_compare_the_run_with_the_published_csv_subset_by_subset(tmp_path):
    """``published-count`` over the subsets both report: below, above, none where neither."""
    from pathlib import Path

    published = pd.read_csv(Path(__file__).resolve().parents[2] / "study" / "data" / "published_results.csv")
    zheng = published[published["model"] == "Deep LSTM"].set_index("subset")["rmse"]
    board = pd.DataFrame({"model": ["lstm"] * 3, "subset": ["FD001", "FD002", "FD004"],
                          "rmse": [zheng["FD001"] - 0.01, zheng["FD002"] + 0.01, zheng["FD004"] - 5]})
    values = _file_values(tmp_path, RunValues(board))
    assert values("published-count/below/lstm/deep-lstm") == "2 of 3"  # FD003: not in the run
    assert values("published-count/above/lstm/deep-lstm") == "1 of 3"
    equal = _file_values(tmp_path, RunValues(board.assign(rmse=[zheng["FD001"], zheng["FD002"], zheng["FD004"]])))
    assert equal("published-count/below/lstm/deep-lstm") == "0 of 3" == equal("published-count/above/lstm/deep-lstm")


def test_crossings_say_when_a_family_passes_the_lstm_at_an_equal_budget():
    """``crossing`` reads the budget curves: the first budget at which the model's test RMSE is
    below the LSTM's at the same budget, or that it never is; ``crossing-count`` over subsets."""
    lines = [("lstm", "FD001", (15.0, 13.0, 12.5, 12.4)), ("transformer", "FD001", (14.0, 13.5, 12.0, 12.1)),
             ("lstm", "FD002", (20.0, 17.0, 16.0, 15.0)), ("transformer", "FD002", (19.0, 18.0, 17.0, 16.0))]
    board = pd.DataFrame([{"model": m, "variant": v, "subset": s, "status": "ok", "rmse": r, "rmse_std": 0.3,
                           "n_seeds": 3, "score": 1, "fit_seconds": 1}
                          for m, s, rs in lines for v, r in zip(("default", "tuned-10m", "tuned-30m", "tuned-60m"), rs)])
    values = RunValues(board)
    assert values("crossing/transformer/FD001") == "30 minutes"
    assert values("crossing/transformer/FD002") == "not within 60 minutes"  # ahead out of the box only
    assert values("crossing-count/transformer") == "1 of 2"
    for name in ("crossing/mamba/FD001", "crossing/transformer/FD004", "crossing-count/transformer/FD001"):
        with pytest.raises(StudyError, match=name):
            values(name)


def test_budget_markers_read_the_curve_tunings_and_never_the_race():
    """``budget-*`` markers read the budget-curve tunings a run's budget points link to (here
    the committed curve journals); the race's ``evaluations`` markers never count them."""
    import json

    from study.publishing.curves import budget_frame
    from study.publishing.report import tuning_frame

    root = Path(__file__).resolve().parents[2]
    curves = root / "reports/curves"
    rows = [{"tuning": {"dir": str(curves / "tuner-a"), "budget_point_s": 600.0}},
            {"tuning": {"dir": str(curves / "tuner-b"), "budget_point_s": 3600.0}},
            {"tuning": {"dir": str(root / "reports/tuning"), "study_id": "race"}}]
    assert set(tuning_frame(rows)["subset"]) == {"FD001", "FD002", "FD003", "FD004"}  # the race's 32 pairs only
    assert len(tuning_frame(rows)) == 32
    values = RunValues(pd.DataFrame(columns=["model", "variant", "subset"]), budgets=budget_frame(rows))
    summary = json.loads((curves / "tuner-a/lstm-FD001.json").read_text())
    assert values("budget-valid/lstm/FD001/30") == f"{summary['incumbents']['1800']['valid_rmse']:.2f}"
    assert values("budget-evaluations/lstm/60/FD001") == f"{summary['n_evaluations'] - summary['n_failed']}"
    tuned = sorted(set(budget_frame(rows).query("model == 'lstm'")["subset"]))  # grows as the tuners run
    counts = sorted(int(values(f"budget-evaluations/lstm/10/{subset}")) for subset in tuned)
    low, high = counts[0], counts[-1]
    assert values("budget-evaluations/lstm/10") == (f"{low}" if low == high else f"{low} to {high}")
    assert float(values("budget-valid/transformer/FD004/0")) > float(values("budget-valid/transformer/FD004/60"))
    assert float(values("budget-hours")) > 5
    for name in ("budget-valid/lstm/FD009/10", "budget-evaluations/ridge/10", "budget-hours/x"):
        with pytest.raises(StudyError, match=name):
            values(name)
    with pytest.raises(StudyError, match="no budget-curve tuning"):
        RunValues(pd.DataFrame(columns=["model", "variant", "subset"]))("budget-hours")
