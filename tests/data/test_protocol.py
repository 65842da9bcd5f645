"""The protocol: labels, engine split, scaling on training engines only, windows, hashing."""
from __future__ import annotations

import dataclasses
import pickle
import shutil

import numpy as np
import pytest

from study.data.cmapss import load_subset
from study.data.protocol import DEFAULT_WINDOWS, EngineSet, Protocol, capped_rul, prepare, split_engines


def test_labels_are_piecewise_linear_capped_and_zero_at_the_last_cycle():
    rul = capped_rul(200, Protocol())
    assert rul[-1] == 0 and rul[-2] == 1
    assert rul.max() == 125 and rul[0] == 125
    assert np.all(np.diff(rul) <= 0)


def test_split_is_by_engine_disjoint_and_seeded():
    units = np.arange(1, 101)
    train, valid = split_engines(units, 0.2, seed=0)
    assert len(valid) == 20 and not set(train) & set(valid) and len(train) + len(valid) == 100
    assert np.array_equal(valid, split_engines(units, 0.2, seed=0)[1])
    assert not np.array_equal(valid, split_engines(units, 0.2, seed=1)[1])


def test_prepared_sets_have_the_right_engines_and_no_test_labels(synthetic_prepared):
    prepared, truth = synthetic_prepared
    assert len(prepared.train) + len(prepared.valid) == 12
    assert not set(prepared.train.units) & set(prepared.valid.units)
    assert prepared.test.rul is None
    assert len(truth) == len(prepared.test) == 8
    assert not any(hasattr(prepared, name) for name in ("truth", "test_rul"))


def test_scaler_is_fitted_on_training_engines_only(synthetic_dir):
    raw = load_subset(synthetic_dir, "FD001", allow_unverified=True)
    base, _ = prepare(raw, Protocol())
    shifted_test = raw.test.copy()
    shifted_test["s2"] += 1000.0
    shifted_valid_units = base.valid.units
    shifted_train = raw.train.copy()
    shifted_train.loc[shifted_train["unit"].isin(shifted_valid_units), "s3"] += 1000.0
    again, _ = prepare(dataclasses.replace(raw, test=shifted_test, train=shifted_train), Protocol())
    for a, b in zip(base.train.sequences, again.train.sequences):
        np.testing.assert_array_equal(a, b)
    train_values = np.concatenate(base.train.sequences)
    np.testing.assert_allclose(train_values.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(train_values.std(axis=0), 1, atol=1e-3)


def test_multi_condition_subsets_are_normalised_per_condition(synthetic_dir):
    prepared, _ = prepare(load_subset(synthetic_dir, "FD002", allow_unverified=True), Protocol())
    values = np.concatenate(prepared.train.sequences)
    conds = np.concatenate(prepared.train.conditions)
    assert len(np.unique(conds)) == 6
    for c in np.unique(conds):
        np.testing.assert_allclose(values[conds == c].mean(axis=0), 0, atol=1e-3)


def test_windows_end_at_each_cycle_and_carry_the_label_of_their_last_cycle(synthetic_prepared):
    prepared, _ = synthetic_prepared
    engines = prepared.train
    x, y, idx = engines.windows()
    w = DEFAULT_WINDOWS["FD001"]
    assert x.shape == (sum(len(s) - w + 1 for s in engines.sequences), w, 14)
    first = engines.sequences[0]
    np.testing.assert_array_equal(x[0], first[:w])
    assert y[0] == engines.rul[0][w - 1]
    last_of_first = np.flatnonzero(idx == 0)[-1]
    np.testing.assert_array_equal(x[last_of_first], first[-w:])
    assert y[last_of_first] == 0


def test_short_engines_are_front_padded_by_repeating_the_first_cycle():
    seq = np.arange(10, dtype=np.float32).reshape(5, 2)
    engines = EngineSet("FD001", np.array([1]), (seq,), (np.zeros(5, int),), ("a", "b"), window=8)
    last = engines.last_windows()[0]
    assert last.shape == (8, 2)
    np.testing.assert_array_equal(last[:4], np.repeat(seq[:1], 4, axis=0))
    np.testing.assert_array_equal(last[3:], seq)


def test_protocol_hash_changes_with_any_setting():
    base = Protocol()
    assert base.hash() == Protocol().hash()
    assert base.hash() != dataclasses.replace(base, max_rul=130).hash()
    assert base.hash() != dataclasses.replace(base, windows={**DEFAULT_WINDOWS, "FD001": 40}).hash()
    assert base.hash() in base.card()


@pytest.mark.parametrize("subset", ["FD002", "FD004"])
def test_real_multi_condition_subset_finds_six_conditions(cmapss_dir, subset):
    prepared, truth = prepare(load_subset(cmapss_dir, subset), Protocol())
    assert len(np.unique(np.concatenate(prepared.train.conditions))) == 6
    assert prepared.test.last_windows().shape == (len(truth), DEFAULT_WINDOWS[subset], 14)


def test_readme_shows_the_current_protocol_card():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("<!-- protocol-card:start -->")[1].split("<!-- protocol-card:end -->")[0]
    assert block.strip() == Protocol().card().strip()


@pytest.mark.parametrize("change, message", [({"condition_normalisation": "per-condition"}, "condition_normalisation"),
                                             ({"short_engine_policy": "drop"}, "short_engine_policy"),
                                             ({"validation_fraction": 1.0}, "validation_fraction")])
def test_unknown_protocol_settings_are_refused_not_silently_replaced(change, message):
    with pytest.raises(ValueError, match=message):
        Protocol(**change)


def test_global_normalisation_is_what_the_card_says(synthetic_dir):
    assert "per operating condition" in Protocol().card()
    assert "one z-score per channel" in Protocol(condition_normalisation="global").card()


def test_a_protocol_without_validation_engines_prepares_an_empty_validation_set(synthetic_prepared, synthetic_dir):
    raw = load_subset(synthetic_dir, "FD001", allow_unverified=True)
    prepared, _ = prepare(raw, Protocol(validation_fraction=0.0))
    assert len(prepared.valid) == 0 and len(prepared.train) == len(synthetic_prepared[0].train) + len(
        synthetic_prepared[0].valid)
    assert prepared.valid.windows()[0].shape[0] == 0


def test_each_test_engine_is_seen_up_to_its_last_cycle(synthetic_dir):
    """Changing a test engine's last cycle changes what models see of it; cutting its history
    to one window before that changes nothing."""
    raw = load_subset(synthetic_dir, "FD001", allow_unverified=True)
    window = Protocol().windows["FD001"]
    base, _ = prepare(raw, Protocol())

    last_rows = raw.test.groupby("unit").tail(1).index
    bumped = raw.test.copy()
    bumped.loc[last_rows, "s2"] += 50.0
    moved, _ = prepare(dataclasses.replace(raw, test=bumped), Protocol())
    channel = Protocol().channels.index("s2")
    before, after = base.test.last_windows(), moved.test.last_windows()
    assert np.all(after[:, -1, channel] > before[:, -1, channel] + 1)  # the last cycle is in every last window
    np.testing.assert_array_equal(after[:, :-1], before[:, :-1])

    tail = raw.test.groupby("unit").tail(window).copy()
    tail["cycle"] = tail.groupby("unit").cumcount() + 1
    cut, _ = prepare(dataclasses.replace(raw, test=tail.reset_index(drop=True)), Protocol())
    np.testing.assert_array_equal(cut.test.last_windows(), before)
    for full, short in zip(base.test.sequences, cut.test.sequences):
        np.testing.assert_array_equal(full[-window:], short)


def test_the_last_window_of_a_test_engine_is_its_final_cycles_normalised_on_training_engines(synthetic_dir):
    raw = load_subset(synthetic_dir, "FD001", allow_unverified=True)
    protocol = Protocol()
    prepared, _ = prepare(raw, protocol)
    channels = list(protocol.channels)
    train_rows = raw.train[raw.train["unit"].isin(prepared.train.units)][channels]
    mean, std = train_rows.mean().to_numpy(), train_rows.std(ddof=0).to_numpy()
    window = protocol.windows["FD001"]
    for i, (unit, engine) in enumerate(raw.test.groupby("unit")):
        assert prepared.test.units[i] == unit
        expected = (engine[channels].to_numpy()[-window:] - mean) / std
        np.testing.assert_allclose(prepared.test.last_windows()[i], expected, rtol=1e-4, atol=1e-4)


def test_nothing_given_to_an_adapter_depends_on_the_test_rul_file(synthetic_dir, tmp_path):
    """Prepare the same data with a different RUL file: every set an adapter receives must be
    identical to the last byte, attributes hidden beside the declared fields included. Only
    the data fingerprint (a checksum of every file) may differ."""
    for path in synthetic_dir.iterdir():
        shutil.copy(path, tmp_path / path.name)
    truth = np.loadtxt(tmp_path / "RUL_FD001.txt")
    np.savetxt(tmp_path / "RUL_FD001.txt", truth[::-1] * 3 + 7, fmt="%d")
    original, original_truth = prepare(load_subset(synthetic_dir, "FD001", allow_unverified=True), Protocol())
    other, other_truth = prepare(load_subset(tmp_path, "FD001", allow_unverified=True), Protocol())
    assert not np.array_equal(original_truth, other_truth)
    for split in ("train", "valid", "test"):
        assert pickle.dumps(getattr(original, split)) == pickle.dumps(getattr(other, split)), split
    rest = [{name: value for name, value in vars(prepared).items()
             if name not in ("train", "valid", "test", "data_fingerprint")} for prepared in (original, other)]
    assert pickle.dumps(rest[0]) == pickle.dumps(rest[1])
