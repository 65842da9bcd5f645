"""Shared fixtures: the real C-MAPSS folder (CI points CMAPSS_DATA_DIR at it) and synthetic data."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def real_data_dir() -> Path | None:
    """The verified C-MAPSS folder: $CMAPSS_DATA_DIR, else the workspace copy beside the repo."""
    env = os.environ.get("CMAPSS_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data" / "cmapss")
    for folder in candidates:
        if (folder / "train_FD001.txt").is_file():
            return folder
    return None


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test that reads the real data (``needs_data``) and, without the data, skip
    it with the reason up front (listed at the end by ``-rs``) rather than silently inside the
    fixture."""
    found = real_data_dir()
    for item in items:
        if "cmapss_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_data)
            if found is None:
                item.add_marker(pytest.mark.skip(reason="needs the real C-MAPSS files: set CMAPSS_DATA_DIR (CI does)"))


@pytest.fixture(scope="session")
def cmapss_dir() -> Path:
    folder = real_data_dir()
    if folder is None:
        pytest.skip("real C-MAPSS data not found: set CMAPSS_DATA_DIR (CI does)")
    return folder


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    from study.data.synthetic import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A synthetic FD001 of 15 training engines: a tuning of a few evaluations in seconds."""
    from study.data.synthetic import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("tune-data"), subsets=("FD001",), n_train=15)


@pytest.fixture(scope="session")
def synthetic_prepared(synthetic_dir):
    """FD001-format synthetic subset, prepared with the default protocol."""
    from study.data.cmapss import load_subset
    from study.data.protocol import Protocol, prepare

    return prepare(load_subset(synthetic_dir, "FD001", allow_unverified=True), Protocol())


@pytest.fixture(scope="session")
def tiny_chronos_dir(tmp_path_factory):
    """A randomly initialised micro Chronos-Bolt model saved as a local model folder (tests
    only: random weights are never used for a reported score); the same one the check kit uses."""
    if importlib.util.find_spec("chronos") is None:
        pytest.skip("chronos-forecasting not installed")
    from adapters.chronos import build_tiny_random_model

    return build_tiny_random_model(tmp_path_factory.mktemp("tiny-chronos") / "tiny-chronos-bolt")


@pytest.fixture
def one_torch_thread():
    """Small tensors: one thread is fastest and keeps results independent of the machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
