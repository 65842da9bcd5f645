"""Backward compatibility (study/records/migration.py): the committed study and tunings read, key
and resolve exactly as they were written, and every producer's rows carry today's schema version.

The committed files are only read. Each key is recomputed from the row's own fields with today's
functions, so changing one entry of a migration table (or the hash) fails here."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from study.analysis.ensemble import ENSEMBLE_MODELS, combine
from study.contract.registry import get_adapter
from study.execution.executors import failed_row
from study.execution.runner import shared_rows, tuning_identity
from study.execution.trial import TrialSpec, run_trial
from study.records import migration
from study.records.keys import config_key, digest, trial_key
from study.records.leaderboard import leaderboard
from study.records.migration import current_params, key_params, migrate_row, row_config, schema_version
from study.records.rows import SCHEMA_VERSION, UNVERSIONED, Field
from study.records.run_folder import load_run
from study.records.selection import study_rows
from study.records.store import ResultStore, row_problem, variant_trial_key
from study.records.tuned_configs import load_tuned

ROOT = Path(__file__).resolve().parents[2]
STUDY, ENSEMBLE_RUN, TUNING = ROOT / "reports/study", ROOT / "reports/ensemble_fd001", ROOT / "reports/tuning"
TUNER_FOLDERS = sorted((ROOT / "reports/curves").glob("tuner-*/"))
PLUGIN_DIR = Path(__file__).parents[1] / "fake_plugin"


def _raw(folder: Path) -> list[dict]:
    """The committed rows as they were written (not migrated), shared arrays put back; every line one."""
    rows = ResultStore(folder, warn=pytest.fail).rows(migrate=False)
    assert len(rows) == len([line for line in (folder / "trials.jsonl").read_text().splitlines() if line.strip()])
    return rows


def _recomputed(row: dict) -> tuple[str, str, str]:
    """(key, config, plain key) of a trial row, from its own fields, as today's runner plans them."""
    model, params = row[Field.MODEL], key_params(row[Field.MODEL], row[Field.PARAMS])
    args = (row[Field.SUBSET], row[Field.PROTOCOL_HASH], row[Field.DATA_FINGERPRINT])
    plain = trial_key(model, params, args[0], row[Field.SEED], args[1], args[2])
    link = row.get(Field.TUNING)
    key = variant_trial_key(plain, row.get(Field.PROFILE), tuning_identity(link) if link else None)
    return key, config_key(model, params, *args), plain


@pytest.mark.parametrize("folder", [STUDY, ENSEMBLE_RUN], ids=lambda p: p.name)
def test_every_committed_key_and_configuration_is_what_todays_code_computes(folder):
    rows = _raw(folder)
    trials = [r for r in rows if r[Field.MODEL] not in ENSEMBLE_MODELS]
    # the study as first committed is all version 1; rows added since (the budget curves) are version 2
    versions = [r.get(Field.SCHEMA_VERSION, 1) for r in rows]
    assert trials and versions[0] == 1 and set(versions) <= {1, SCHEMA_VERSION} and versions == sorted(versions)
    for row in trials:
        key, config, plain = _recomputed(row)
        assert key == row[Field.KEY], (row[Field.MODEL], row[Field.SUBSET], row[Field.SEED])
        assert config == row.get(Field.CONFIG, config) == migrate_row(row)[Field.CONFIG]
        assert row.get(Field.SAME_AS, plain) == plain
    # ensembles: their key from their members' keys, their configuration from the members'
    configs = {r[Field.KEY]: row_config(r) for r in trials}
    for row in (r for r in rows if r[Field.MODEL] in ENSEMBLE_MODELS):
        members = row[Field.INFO]["member_keys"]
        name, params = row[Field.MODEL], row[Field.PARAMS]
        assert row[Field.KEY] == digest([name, params, sorted(members.values())])
        if all(k in configs for k in members.values()):
            assert row[Field.CONFIG] == digest([name, params, row[Field.SUBSET],
                                                sorted(configs[k] for k in members.values())])


def test_a_changed_migration_entry_would_be_caught():
    """The recomputation above is sensitive to the tables: one changed entry changes keys."""
    row = next(r for r in _raw(STUDY) if r[Field.MODEL] == "xgboost" and "threads" in r[Field.PARAMS])
    assert _recomputed(row)[0] == row[Field.KEY]
    original = migration.THREADS_KEY_ENTRY
    try:
        migration.THREADS_KEY_ENTRY = {**original, "xgboost": {"n_jobs": 4}}
        assert _recomputed(row)[0] != row[Field.KEY]
    finally:
        migration.THREADS_KEY_ENTRY = original


@pytest.mark.parametrize("folder", [STUDY, ENSEMBLE_RUN], ids=lambda p: p.name)
def test_the_committed_runs_load_and_select_as_written(folder):
    """Reading migrates (config filled, today's version) and changes nothing the tables show: the
    leaderboard from migrated rows equals the one from the rows as written, and the committed one."""
    raw, read = _raw(folder), ResultStore(folder, warn=pytest.fail).rows()
    assert len(read) == len(raw) and all(r[Field.SCHEMA_VERSION] == SCHEMA_VERSION for r in read)
    assert all({**r, Field.CONFIG: m[Field.CONFIG], Field.SCHEMA_VERSION: SCHEMA_VERSION} == m
               for r, m in zip(raw, read))
    info = json.loads((folder / "run.json").read_text())
    board = leaderboard(study_rows(read, info.get("protocol_hash")))
    assert board.equals(leaderboard(study_rows(raw, info.get("protocol_hash"))))
    loaded, _ = load_run(folder)
    committed = pd.read_csv(folder / "leaderboard.csv")
    mine = leaderboard(loaded)
    assert sorted(zip(mine["model"], mine["subset"])) == sorted(zip(committed["model"], committed["subset"]))
    merged = mine.merge(committed, on=["model", "variant", "subset"], suffixes=("", "_committed"))
    assert len(merged) == len(committed)
    assert (merged["rmse"] - merged["rmse_committed"]).abs().max() < 0.006  # the csv holds 2 decimals


def test_every_committed_tuning_resolves_to_the_configuration_its_rows_ran():
    """Each tuned row's parameters are its profile's defaults under its tuning's selection, read
    by today's code (an XGBoost ``n_jobs`` under today's name), and key as the row did."""
    tuned = load_tuned(TUNING)
    rows = [r for r in _raw(STUDY) if r.get(Field.TUNING, {}).get("dir") == "reports/tuning"]
    assert rows
    for row in rows:
        model, subset = row[Field.MODEL], row[Field.SUBSET]
        cls = get_adapter(model)
        params = {**cls.params_for(row[Field.PROFILE], subset), **tuned[model, subset].params}
        assert key_params(model, params) == key_params(model, row[Field.PARAMS]), (model, subset)
        assert tuned[model, subset].link["study_id"] == row[Field.TUNING]["study_id"]
    assert "n_jobs" not in tuned["xgboost", "FD001"].params and "threads" in tuned["xgboost", "FD001"].params


@pytest.mark.parametrize("folder", [TUNING, *TUNER_FOLDERS], ids=lambda p: p.name)
def test_every_committed_tuning_summary_keeps_its_study_id(folder):
    """A summary's study id is the hash of its settings (a resume must match it)."""
    summaries = sorted(folder.glob("*-FD00?.json"))
    assert summaries
    tuned = load_tuned(folder)
    for path in summaries:
        summary = json.loads(path.read_text())
        settings = {k: v for k, v in summary["settings"].items() if k != "study_id"}
        if "study_id" in summary["settings"]:  # written since the settings held it
            assert digest([settings]) == summary["study_id"], path.name
        if summary["best_params"] is not None:
            resolved = tuned[summary["model"], summary["subset"]].params
            assert resolved == current_params(summary["model"], summary["best_params"])


def test_the_migration_tables_name_parameters_the_models_have_at_those_values():
    for model, neutral in migration.KEY_NEUTRAL_PARAMS.items():
        defaults = get_adapter(model).default_params
        assert all(name in defaults and defaults[name] == value for name, value in neutral.items()), model
    for model in {**migration.THREADS_KEY_ENTRY, **migration.RENAMED_PARAMS}:
        assert "threads" in get_adapter(model).default_params, model
    adapter_attrs = {"key_neutral_params", "threads_key_entry", "key_params", "current_params"}
    for model in migration.THREADS_KEY_ENTRY:
        assert not adapter_attrs & set(dir(get_adapter(model))), model  # the contract carries none of it


def test_the_thread_setting_leaves_resume_keys_as_the_committed_rows_hashed_them():
    for name, before in [("xgboost", {"n_jobs": 2}), ("sktime-rocket", {"n_jobs": 2}),
                         ("autogluon-tabular", {"threads": 1}), ("darts-tft", {"threads": 1}),
                         ("lstm", {"threads": None})]:
        cls = get_adapter(name)
        keys = [key_params(name, {**cls.default_params, "threads": n}) for n in (None, 1, 4)]
        assert keys[0] == keys[1] == keys[2], name
        assert all(keys[0][param] == value for param, value in before.items()), name
        assert "threads" not in keys[0] or before == {"threads": keys[0]["threads"]}
    # a model with no old rows: the CPU share is simply not in its key
    assert key_params("a-new-plugin", {"lr": 1.0, "threads": 4}) == {"lr": 1.0}


def test_an_old_row_is_read_and_migrated(tmp_path):
    """A version 1 row (no schema_version, no config, an old parameter name) reads as today's:
    its params as written (they are what its key hashed), its configuration filled in."""
    params = {"n_estimators": 10, "n_jobs": None}
    old = {"key": trial_key("xgboost", params, "FD001", 0, "p", "d"), "model": "xgboost", "subset": "FD001",
           "seed": 0, "status": "failed", "reason": "x", "params": params, "protocol_hash": "p",
           "data_fingerprint": "d"}
    assert schema_version(old) == UNVERSIONED
    (tmp_path / "trials.jsonl").write_text(json.dumps(old) + "\n")
    read = ResultStore(tmp_path, warn=pytest.fail).rows()[0]
    assert read[Field.SCHEMA_VERSION] == SCHEMA_VERSION and read[Field.PARAMS] == params
    assert read[Field.CONFIG] == config_key("xgboost", params, "FD001", "p", "d")
    assert migrate_row(read) is read  # today's rows pass through
    assert current_params("xgboost", params) == {"n_estimators": 10, "threads": None}
    assert current_params("xgboost", {"n_jobs": 2, "threads": 1}) == {"threads": 1}  # today's name wins


def test_every_producers_rows_carry_the_schema_version_and_validate(monkeypatch, synthetic_prepared):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    get_adapter("test-constant")
    prepared, truth = synthetic_prepared

    def spec(seed: int, **changes) -> TrialSpec:
        return replace(TrialSpec("test-constant", "FD001", seed, {"offset": float(seed), "delay": 0.0},
                                 key=f"k{seed}", config="c", profile="standard"), **changes)

    trials = [run_trial(spec(seed), prepared, truth, 125) for seed in (0, 1)]
    failed = failed_row(spec(2), prepared, "worker process crashed", 1.0)
    copy = shared_rows([spec(0, key="k0-default", profile="default", same_as="k0")], trials)[0]
    members = [{**trials[0], Field.MODEL: "a"}, {**trials[0], Field.MODEL: "b", Field.KEY: "kb"}]
    ensemble = combine(members, "greedy", 125)
    for row in (*trials, failed, copy, ensemble):
        assert row[Field.SCHEMA_VERSION] == SCHEMA_VERSION, row[Field.MODEL]
        assert row_problem(json.loads(json.dumps(row))) is None, row[Field.MODEL]
    assert copy[Field.COPIED_FROM] == "k0" and copy[Field.KEY] == "k0-default" and copy[Field.PROFILE] == "default"
    assert "numpy" in ensemble[Field.VERSIONS] and ensemble[Field.MACHINE]  # an ensemble row stands alone too
