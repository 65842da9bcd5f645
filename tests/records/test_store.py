"""The append-only row store and the leaderboard derived from it."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from study.records.leaderboard import leaderboard, predictions_frame, ranks, to_markdown
from study.records.selection import configs_from, current_rows, remember_configs, row_config, study_rows
from study.records.store import ResultStore, config_key, trial_key


def _row(model, subset, seed, rmse, status="ok", **extra):
    base = {"key": trial_key(model, {}, subset, seed, "p", "d"), "model": model, "subset": subset,
            "seed": seed, "status": status, "family": "f", "formulation": "regression", "reason": None}
    if status == "ok":
        base.update(rmse=rmse, rmse_raw=rmse + 1, score=10 * rmse, score_mean=rmse / 10, mae=rmse - 1,
                    rmse_ci_low=rmse - 1, rmse_ci_high=rmse + 1, fit_seconds=2.0, predict_seconds=0.5,
                    n_test_engines=3, n_parameters=None, units=[1, 2, 3], y_true=[5, 6, 7],
                    y_pred=[rmse, rmse, rmse])
    return {**base, **extra}


def test_torn_last_line_is_ignored_and_next_append_starts_clean(tmp_path):
    store = ResultStore(tmp_path)
    store.append(_row("a", "FD001", 0, 10.0))
    with open(store.path, "a") as handle:
        handle.write('{"key": "half-writ')  # a writer killed mid-line
    store.append(_row("a", "FD001", 1, 12.0))
    assert [r["seed"] for r in store.rows()] == [0, 1]


def test_append_returns_the_row_exactly_as_a_later_read_sees_it(tmp_path):
    import numpy as np

    store = ResultStore(tmp_path)
    stored = store.append({**_row("a", "FD001", 0, 12.5), "rmse": np.float32(12.5), "y_pred": np.arange(3),
                           "path": tmp_path})
    assert stored == store.rows()[-1]
    assert stored["y_pred"] == [0, 1, 2] and stored["path"] == str(tmp_path)


def test_trial_key_depends_on_every_identity_field():
    base = trial_key("m", {"a": 1}, "FD001", 0, "p", "d")
    variants = [trial_key("n", {"a": 1}, "FD001", 0, "p", "d"), trial_key("m", {"a": 2}, "FD001", 0, "p", "d"),
                trial_key("m", {"a": 1}, "FD002", 0, "p", "d"), trial_key("m", {"a": 1}, "FD001", 1, "p", "d"),
                trial_key("m", {"a": 1}, "FD001", 0, "q", "d"), trial_key("m", {"a": 1}, "FD001", 0, "p", "e")]
    assert base not in variants and len(set(variants)) == len(variants)


def test_leaderboard_means_over_seeds_and_keeps_failures_visible():
    rows = [_row("a", "FD001", 0, 10.0), _row("a", "FD001", 1, 12.0),
            _row("b", "FD001", 0, None, status="failed", reason="boom")]
    table = leaderboard(rows).set_index("model")
    assert table.loc["a", "rmse"] == pytest.approx(11.0)
    assert table.loc["a", "rmse_std"] == pytest.approx(math.sqrt(2))
    assert table.loc["a", "score"] == pytest.approx(110.0)
    assert table.loc["a", "n_seeds"] == 2
    assert table.loc["b", "status"] == "failed" and table.loc["b", "reason"] == "boom"
    assert math.isnan(table.loc["b", "rmse"])
    assert "| a | hand-tuned | FD001 | ok | 11.00 |" in to_markdown(leaderboard(rows))


def test_partial_failure_is_flagged_in_the_status():
    rows = [_row("a", "FD001", 0, 10.0), _row("a", "FD001", 1, None, status="failed", reason="x")]
    assert leaderboard(rows)["status"].iloc[0] == "ok (1 of 2 seeds failed)"


def test_a_rerun_row_supersedes_the_older_one():
    old, new = _row("a", "FD001", 0, 10.0), _row("a", "FD001", 0, 20.0)
    assert current_rows([old, new]) == [new]
    assert leaderboard(study_rows([old, new]))["rmse"].iloc[0] == 20.0
    assert len(predictions_frame(study_rows([old, new]))) == 3


def test_average_rank_uses_only_models_with_every_subset():
    rows = [_row("a", "FD001", 0, 10.0), _row("a", "FD002", 0, 20.0), _row("b", "FD001", 0, 11.0),
            _row("b", "FD002", 0, 15.0), _row("c", "FD001", 0, 1.0)]
    result = ranks(leaderboard(rows)).set_index("model")
    assert list(result.index) == ["a", "b"]
    assert result.loc["a", "average_rank"] == 1.5


def test_study_rows_drop_superseded_parameters_and_other_protocols():
    old = {**_row("a", "FD001", 0, 10.0), "params": {"lr": 1}, "protocol_hash": "p", "data_fingerprint": "d"}
    new = {**_row("a", "FD001", 1, 20.0), "key": "k-new", "params": {"lr": 2}, "protocol_hash": "p",
           "data_fingerprint": "d"}
    other = {**_row("b", "FD001", 0, 5.0), "params": {}, "protocol_hash": "q", "data_fingerprint": "d"}
    kept = study_rows([old, other, new], protocol_hash="p")
    assert [r["key"] for r in kept] == ["k-new"]
    assert [r["model"] for r in study_rows([old, new, other])] == ["b"]  # default: the newest row's protocol


def test_study_rows_keep_per_subset_settings_and_supersede_one_subset_at_a_time():
    def row(subset, seed, params, key):
        return {**_row("a", subset, seed, 10.0), "key": key, "params": params, "protocol_hash": "p",
                "data_fingerprint": "d"}

    fd001_old = row("FD001", 0, {"lr": 1}, "k1")
    fd002 = row("FD002", 0, {"lr": 1}, "k2")
    fd001_new = row("FD001", 0, {"lr": 1, "history": 3}, "k3")  # a setting chosen for FD001 only
    kept = study_rows([fd001_old, fd002, fd001_new], protocol_hash="p")
    assert sorted(r["key"] for r in kept) == ["k2", "k3"]


def test_current_rows_follow_the_order_rows_were_last_written():
    first, second = _row("a", "FD001", 0, 10.0), _row("a", "FD001", 1, 11.0)
    rerun = {**first, "rmse": 9.0}  # --force wrote the first key again, last
    assert [(r["seed"], r["rmse"]) for r in current_rows([first, second, rerun])] == [(1, 11.0), (0, 9.0)]


def test_study_rows_show_the_named_configuration_and_count_seeds_of_one_configuration_together():
    def row(seed, params, **extra):
        return {**_row("a", "FD001", seed, 10.0 + seed), "key": f"k{seed}-{sorted(params.items())}",
                "params": params, "protocol_hash": "p", "data_fingerprint": "d", **extra}

    default = row(0, {"lr": 1.0})
    tuned = row(0, {"lr": 2.0})
    assert study_rows([default, tuned]) == [tuned]  # without a plan: the newest configuration
    assert study_rows([default, tuned], configs={("a", "FD001"): [row_config(default)]}) == [default]
    assert study_rows([default, tuned], configs={("a", "FD001"): ["no-such-config"]}) == [tuned]
    # a row written before its model had a key-neutral option (params without it) and a new
    # seed's row (params with it, config from the key's params) are one configuration
    new_seed = row(1, {"lr": 1.0, "precision": "fp32"},
                   config=config_key("a", {"lr": 1.0}, "FD001", "p", "d"))
    assert sorted(r["seed"] for r in study_rows([default, new_seed])) == [0, 1]


def test_markdown_prints_counts_as_counts_even_beside_missing_values():
    table = pd.DataFrame({"model": ["a", "b"], "rmse": [12.0, 13.456], "n_parameters": [76482.0, None]})
    assert to_markdown(table).splitlines()[2:] == ["| a | 12.00 | 76482 |", "| b | 13.46 |  |"]


def test_rows_that_stored_key_neutral_params_join_the_configuration_of_new_rows():
    """Rows written before rows carried a configuration stored every param, key-neutral ones
    included (lstm's ``ensemble: 1``); their configuration is hashed as their key was."""
    def row(seed, params, **extra):
        return {**_row("lstm", "FD001", seed, 10.0), "key": f"k{seed}", "params": params, "protocol_hash": "p",
                "data_fingerprint": "d", **extra}

    older = [row(s, {"lr": 1.0, "ensemble": 1, "precision": "fp32"}) for s in range(3)]
    new_seed = row(3, {"lr": 1.0, "ensemble": 1, "precision": "fp32"},
                   config=config_key("lstm", {"lr": 1.0}, "FD001", "p", "d"))
    assert sorted(r["seed"] for r in study_rows([*older, new_seed])) == [0, 1, 2, 3]


def test_each_protocol_keeps_the_configuration_last_asked_for_on_it():
    """D1, then D2, then D1 again on protocol p; then another configuration on protocol q: the
    tables of p still show D1, as its last request there."""
    def row(config, protocol, seed=0):
        return {**_row("a", "FD001", seed, 10.0), "key": f"{config}{protocol}{seed}", "params": {},
                "config": config + protocol, "protocol_hash": protocol, "data_fingerprint": "d"}

    rows = [row("D1", "p"), row("D2", "p"), row("E", "q")]
    asked: dict = {}
    for configuration in ("D1p", "D2p", "D1p", "Eq"):
        asked = remember_configs(asked, {"a/FD001": configuration})
    assert asked == {"a/FD001": ["D2p", "D1p", "Eq"]}
    configs = configs_from({"configs": asked})
    assert [r["config"] for r in study_rows(rows, protocol_hash="p", configs=configs)] == ["D1p"]
    assert [r["config"] for r in study_rows(rows, protocol_hash="q", configs=configs)] == ["Eq"]


def test_a_variants_key_names_it_but_its_computation_keeps_the_plain_key():
    """The hand-chosen settings keep the plain key (the committed study's rows); any other
    profile and every tuning get their own, so two variants with equal parameters are two rows."""
    from study.records.store import variant_trial_key

    plain = trial_key("m", {"a": 1}, "FD001", 0, "p", "d")
    assert variant_trial_key(plain, "standard") == plain and variant_trial_key(plain, None) == plain
    keys = {variant_trial_key(plain, "default"), variant_trial_key(plain, "smoke"),
            variant_trial_key(plain, "default", "study-1"), variant_trial_key(plain, "default", "study-2")}
    assert len(keys) == 4 and plain not in keys


def test_a_default_trial_equal_to_a_hand_tuned_one_is_a_copy_with_its_own_identity():
    from study.execution.runner import shared_rows
    from study.execution.trial import TrialSpec
    from study.records.rows import variant
    from study.records.store import variant_trial_key

    plain = trial_key("m", {}, "FD001", 0, "p", "d")
    hand = {"key": plain, "config": "c", "model": "m", "subset": "FD001", "seed": 0, "status": "ok",
            "profile": "standard", "y_pred": [1.0, 2.0], "fit_seconds": 3.0}
    spec = TrialSpec("m", "FD001", 0, {}, variant_trial_key(plain, "default"), "c", profile="default", same_as=plain)
    other = TrialSpec("m", "FD001", 1, {}, "k1", "c", profile="default", same_as="elsewhere")
    (copy,) = shared_rows([spec, other], [hand])
    assert copy["key"] == spec.key and copy["profile"] == "default" and variant(copy) == "default"
    assert copy["copied_from"] == plain and copy["same_as"] == plain
    assert copy["y_pred"] == hand["y_pred"] and copy["fit_seconds"] == 3.0 and "tuning" not in copy


def test_a_complete_last_row_without_its_newline_is_kept(tmp_path):
    store = ResultStore(tmp_path)
    row = {"key": "k", "model": "m", "subset": "FD001", "seed": 0, "status": "skipped"}
    store.path.write_text(json.dumps(row))
    assert store.repair_tail() is None
    (read,) = store.rows()  # a version 1 row, read through the migration (it gains its config)
    assert {name: read[name] for name in row} == row
    assert store.path.read_text().endswith("\n")
