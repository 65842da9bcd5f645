"""The contract every registered adapter must honour (one suite, like sklearn's check_estimator).

Each adapter is fitted with its tiny ``test_params()`` on synthetic C-MAPSS-format data:
predictions have one finite value per test engine, the same seed gives the same
predictions, inputs are not mutated, and a perturbed RUL file changes nothing it predicts.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from study.adapter import AdapterUnavailable
from study.cmapss import load_subset
from study.protocol import Protocol, prepare
from study.registry import all_adapters

ADAPTERS = sorted(all_adapters())


@pytest.fixture(scope="module")
def perturbed_dir(synthetic_dir, tmp_path_factory):
    """The same synthetic data with a different test truth (RUL file)."""
    folder = tmp_path_factory.mktemp("perturbed")
    for path in synthetic_dir.iterdir():
        shutil.copy(path, folder / path.name)
    truth = np.loadtxt(folder / "RUL_FD001.txt")
    np.savetxt(folder / "RUL_FD001.txt", truth[::-1] * 3 + 7, fmt="%d")
    return folder


def _snapshot(engines):
    return [s.copy() for s in engines.sequences], None if engines.rul is None else [r.copy() for r in engines.rul]


def _assert_unchanged(engines, snapshot):
    seqs, rul = snapshot
    for a, b in zip(engines.sequences, seqs):
        np.testing.assert_array_equal(a, b)
    if rul is not None:
        for a, b in zip(engines.rul, rul):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ADAPTERS)
def test_adapter_honours_the_contract(name, synthetic_prepared, perturbed_dir, request):
    cls = all_adapters()[name]
    reason = cls.unavailable_reason()
    if reason:
        pytest.skip(f"{name}: {reason}")
    params = cls.test_params()
    if cls.tags.get("needs_weights"):  # pretrained weights are not downloadable here: a tiny random model
        params["model"] = str(request.getfixturevalue("tiny_chronos_dir"))
    prepared, truth = synthetic_prepared
    assert prepared.test.rul is None  # the only labels an adapter could see are training ones
    snapshots = {split: _snapshot(getattr(prepared, split)) for split in ("train", "valid", "test")}
    try:
        first = cls(seed=0, **params).fit(prepared.train, prepared.valid).predict(prepared.test)
    except AdapterUnavailable as exc:
        pytest.skip(f"{name}: {exc}")
    assert first.shape == (len(prepared.test),)
    assert np.all(np.isfinite(first))
    for split, snap in snapshots.items():
        _assert_unchanged(getattr(prepared, split), snap)

    perturbed, perturbed_truth = prepare(load_subset(perturbed_dir, "FD001", allow_unverified=True), Protocol())
    assert not np.array_equal(perturbed_truth, truth)
    second = cls(seed=0, **params).fit(perturbed.train, perturbed.valid).predict(perturbed.test)
    np.testing.assert_allclose(second, first, rtol=0, atol=1e-6,
                               err_msg=f"{name}: same seed must give the same predictions, whatever the RUL file says")
