"""The protocol's windows, labels, split and card, checked on hand-made engines and against the
committed study: what every model is shown and scored on."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from study.data.cmapss import load_subset
from study.data.protocol import EngineSet, Protocol, capped_rul, prepare, split_engines
from study.records.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]


def _engines(labelled: bool = True, window: int = 4) -> EngineSet:
    """Engines of 6, 2 and 4 cycles; channel a is 100 x engine + cycle index, channel b its negative."""
    lengths = (6, 2, 4)
    seqs = tuple(np.array([[100 * e + t, -(100 * e + t)] for t in range(n)], dtype=np.float32)
                 for e, n in enumerate(lengths))
    conds = tuple(np.zeros(n, dtype=int) for n in lengths)
    rul = tuple(np.arange(n - 1, -1, -1, dtype=np.float32) + 10 for n in lengths) if labelled else None
    return EngineSet("FD001", np.array([1, 2, 3]), seqs, conds, ("a", "b"), window=window, rul=rul)


def test_every_window_ends_at_one_cycle_and_carries_that_cycles_label():
    x, y, idx = _engines().windows()
    # 6 cycles -> 3 windows; 2 cycles, padded to 4 -> 1; 4 cycles -> 1
    assert x.shape == (5, 4, 2) and x.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_array_equal(idx, [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(x[:, -1, 0], [3, 4, 5, 101, 203])  # each window's last cycle
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(x[3, :, 0], [100, 100, 100, 101])  # the short engine, first cycle repeated
    np.testing.assert_array_equal(x[:, :, 1], -x[:, :, 0])
    np.testing.assert_array_equal(y, [12, 11, 10, 10, 10])  # the label of each window's last cycle


def test_longer_history_reads_further_back_from_the_same_window_ends():
    engines = _engines()
    x, y, idx = engines.windows()
    x6, y6, idx6 = engines.windows(history=6)
    assert x6.shape == (5, 6, 2)
    np.testing.assert_array_equal(x6[:, -4:], x)  # the protocol's window is the end of the longer one
    np.testing.assert_array_equal(y6, y)
    np.testing.assert_array_equal(idx6, idx)
    np.testing.assert_array_equal(x6[0, :, 0], [0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(engines.windows(history=2)[0], x)  # never shorter than the protocol's window


def test_the_last_windows_are_each_engines_final_cycles_for_any_history():
    engines = _engines(labelled=False)
    last = engines.last_windows()
    assert last.shape == (3, 4, 2) and last.dtype == np.float32
    np.testing.assert_array_equal(last[:, :, 0], [[2, 3, 4, 5], [100, 100, 100, 101], [200, 201, 202, 203]])
    np.testing.assert_array_equal(engines.last_windows(history=5)[:, :, 0],
                                  [[1, 2, 3, 4, 5], [100, 100, 100, 100, 101], [200, 200, 201, 202, 203]])
    np.testing.assert_array_equal(engines.last_windows(history=1), last)
    x, y, _ = engines.windows()
    assert np.isnan(y).all() and len(y) == 5
    with pytest.raises(ValueError):
        engines.last_rul()
    np.testing.assert_array_equal(_engines().last_rul(), [10, 10, 10])
    assert _engines().last_rul().dtype == np.float32


def test_padded_repeats_the_first_cycle_only_when_an_engine_is_short():
    engines = _engines()
    np.testing.assert_array_equal(engines.padded(0), engines.sequences[0])
    np.testing.assert_array_equal(engines.padded(1)[:, 0], [100, 100, 100, 101])
    np.testing.assert_array_equal(engines.padded(0, 8)[:, 0], [0, 0, 0, 1, 2, 3, 4, 5])
    assert len(engines) == 3 and engines.n_channels == 2


def test_labels_count_down_to_the_rul_at_the_last_cycle_and_stop_at_the_cap():
    protocol = Protocol(max_rul=5, rul_at_last_cycle=2)
    np.testing.assert_array_equal(capped_rul(6, protocol), [5, 5, 5, 4, 3, 2])
    assert capped_rul(6, protocol).dtype == np.float32
    np.testing.assert_array_equal(capped_rul(3, Protocol()), [2, 1, 0])


@pytest.mark.parametrize("n, fraction, expected", [(100, 0.2, 20), (12, 0.2, 2), (3, 0.1, 1), (10, 0.25, 2), (10, 0, 0)])
def test_the_validation_split_takes_the_rounded_share_of_engines(n, fraction, expected):
    train, valid = split_engines(np.arange(1, n + 1), fraction, seed=0)
    assert len(valid) == expected and len(train) == n - expected
    assert sorted(np.concatenate([train, valid])) == list(range(1, n + 1))
    assert list(train) == sorted(train) and list(valid) == sorted(valid)


def test_the_committed_study_ran_todays_default_protocol():
    """The protocol hash is in every row's key: a changed default (or a changed hash) would make
    the committed study unresumable and its numbers another protocol's."""
    info = json.loads((ROOT / "reports/study/run.json").read_text())
    assert Protocol().hash() == info["protocol_hash"]
    assert Protocol().as_dict() == info["protocol"]
    changed = dataclasses.replace(Protocol(), max_rul=130)
    assert changed.max_rul == 130 and Protocol().max_rul == 125 and changed.hash() != Protocol().hash()
    assert len(Protocol().hash()) == 12 and isinstance(Protocol().as_dict()["channels"], list)


def test_each_split_keeps_its_engines_in_file_order_with_their_own_cycles(synthetic_dir):
    raw = load_subset(synthetic_dir, "FD001", allow_unverified=True)
    prepared, truth = prepare(raw, Protocol())
    lengths = raw.train.groupby("unit").size()
    for engines in (prepared.train, prepared.valid):
        assert list(engines.units) == sorted(engines.units)
        assert [len(s) for s in engines.sequences] == [lengths[u] for u in engines.units]
        assert [len(r) for r in engines.rul] == [lengths[u] for u in engines.units]
        assert all(r[-1] == 0 for r in engines.rul)
        assert all(len(c) == len(s) for c, s in zip(engines.conditions, engines.sequences))
    assert list(prepared.test.units) == list(range(1, 9)) and prepared.test.window == 30
    assert prepared.test.channels == Protocol().channels and prepared.test.sequences[0].dtype == np.float32
    np.testing.assert_array_equal(truth, raw.test_rul)
    assert prepared.verified is False and prepared.name == "FD001"
    assert prepared.protocol_hash == Protocol().hash() and len(prepared.data_fingerprint) == 12


def test_an_empty_engine_set_has_no_windows_of_the_usual_shapes_and_types():
    empty = EngineSet("FD001", np.array([], dtype=int), (), (), ("a", "b"), window=4, rul=())
    x, y, idx = empty.windows(history=6)
    assert (x.shape, y.shape, idx.shape) == ((0, 6, 2), (0,), (0,))
    assert (x.dtype, y.dtype, idx.dtype.kind) == (np.float32, np.float32, "i")


def test_preparing_a_multi_condition_subset_twice_gives_the_same_conditions(synthetic_dir):
    raw = load_subset(synthetic_dir, "FD002", allow_unverified=True)
    np.random.seed(1)
    first, _ = prepare(raw, Protocol())
    np.random.seed(2)  # the clustering's own seed, not the global one, decides
    second, _ = prepare(raw, Protocol())
    for a, b in zip(first.test.conditions, second.test.conditions):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first.test.sequences, second.test.sequences):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("subset", ["FD001", "FD002"])
def test_a_constant_channel_is_centred_not_divided_by_zero(synthetic_dir, subset):
    raw = load_subset(synthetic_dir, subset, allow_unverified=True)
    train, test = raw.train.copy(), raw.test.copy()
    train["s2"], test["s2"] = 5.0, 6.0
    import dataclasses

    prepared, _ = prepare(dataclasses.replace(raw, train=train, test=test), Protocol())
    channel = Protocol().channels.index("s2")
    assert np.all(np.concatenate(prepared.train.sequences)[:, channel] == 0)
    assert np.allclose(np.concatenate(prepared.test.sequences)[:, channel], 1.0)  # shifted by 1, scale 1


def test_global_normalisation_is_one_z_score_even_on_a_multi_condition_subset(synthetic_dir):
    raw = load_subset(synthetic_dir, "FD002", allow_unverified=True)
    prepared, _ = prepare(raw, Protocol(condition_normalisation="global"))
    assert set(np.concatenate(prepared.train.conditions + prepared.test.conditions)) == {0}
    values = np.concatenate(prepared.train.sequences)
    np.testing.assert_allclose(values.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(values.std(axis=0), 1, atol=1e-3)


def test_the_data_fingerprint_is_the_committed_studys_and_ignores_the_order_of_files(cmapss_dir, synthetic_dir):
    """The fingerprint is in every row's key: the same files must give the committed study's."""
    import dataclasses

    committed = {row["subset"]: row["data_fingerprint"] for row in ResultStore(ROOT / "reports/study").rows()}
    raw = load_subset(cmapss_dir, "FD001")
    assert prepare(raw, Protocol())[0].data_fingerprint == committed["FD001"]
    reordered = dataclasses.replace(raw, checksums=dict(reversed(list(raw.checksums.items()))))
    assert prepare(reordered, Protocol())[0].data_fingerprint == committed["FD001"]
    other = prepare(load_subset(synthetic_dir, "FD001", allow_unverified=True), Protocol())[0]
    assert other.data_fingerprint != committed["FD001"]


def test_every_split_names_its_subset_and_an_empty_one_keeps_the_protocols_shape(synthetic_dir):
    raw = load_subset(synthetic_dir, "FD003", allow_unverified=True)
    prepared, _ = prepare(raw, Protocol(validation_fraction=0.0))
    assert [s.subset for s in (prepared.train, prepared.valid, prepared.test)] == ["FD003"] * 3
    empty = prepared.valid
    assert len(empty) == 0 and len(empty.units) == 0 and empty.conditions == () and empty.rul == ()
    assert empty.channels == Protocol().channels and empty.window == Protocol().windows["FD003"]
    assert prepared.test.rul is None and prepared.train.window == Protocol().windows["FD003"]
