"""The validation-only tuning script (benchmarks/tune_torch.py): its helpers, and stopping it."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
tune = pytest.importorskip("tune_torch")


def test_time_averaging_keeps_a_perfect_countdown_and_smooths_noise():
    countdown = np.arange(50, 0, -1, dtype=np.float64)
    np.testing.assert_allclose(tune.time_averaged(countdown, 1), countdown)
    np.testing.assert_allclose(tune.time_averaged(countdown, 5), countdown)  # pred[j-i] - i == pred[j]
    rng = np.random.default_rng(0)
    noisy = countdown + rng.normal(0, 5, size=countdown.shape)
    assert np.std(tune.time_averaged(noisy, 9)[8:] - countdown[8:]) < 0.6 * np.std(noisy - countdown)


def test_variants_resolve_per_model_and_are_valid_adapter_params():
    from adapters.lstm import LSTMAdapter
    from adapters.mamba import MambaAdapter
    from adapters.transformer import TransformerAdapter

    for cls in (LSTMAdapter, TransformerAdapter, MambaAdapter):
        for variant in tune.VARIANTS:
            if variant.startswith("scan_") and cls is not MambaAdapter:
                continue
            params = tune.variant_params(cls.name, variant)
            cls(seed=0, **params)  # unknown parameters would raise here
    assert tune.variant_params("lstm", "ema_noise_big")["hidden_size"] == 128
    # every sweep compares against the same reference, whatever the adapters default to now
    # pinned: the Transformer's and Mamba's FD001 overrides came later
    pinned = {"cycle_channel": ["FD002", "FD003", "FD004"], "smoothing": 0.0, "weight_decay": 1e-4}
    assert tune.variant_params("lstm", "base") == {"history_factor": 1.0, "patience": 10, **pinned}
    assert tune.variant_params("mamba", "hist2") == {"history_factor": 2.0, "patience": 10, **pinned}
    assert tune.variant_params("transformer", "defaults") == {}


def test_summary_table_averages_over_seeds_and_skips_errors(tmp_path):
    rows = [{"model": "lstm", "subset": "FD001", "seed": 0, "variant": "base", "valid_rmse_k1": 12.0},
            {"model": "lstm", "subset": "FD001", "seed": 1, "variant": "base", "valid_rmse_k1": 13.0},
            {"model": "lstm", "subset": "FD001", "seed": 0, "variant": "cycle", "valid_rmse_k1": 14.0},
            {"model": "lstm", "subset": "FD001", "seed": 1, "variant": "cycle", "error": "boom"}]
    path = tmp_path / "tune.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    table = tune.summary_table(path)
    assert "| lstm | FD001 | 12.50 (2) | 14.00 (1) |" in table
    # rows from other validation splits get a row each (old rows are split 0)
    with path.open("a") as handle:
        handle.write("\n" + json.dumps({**rows[0], "split_seed": 2, "valid_rmse_k1": 9.0}))
    table = tune.summary_table(path)
    assert "| model | subset | split | base | cycle |" in table
    assert "| lstm | FD001 | 0 | 12.50 (2) | 14.00 (1) |" in table
    assert "| lstm | FD001 | 2 | 9.00 (1) |  |" in table


def test_split_seeds_give_other_validation_engines_and_separate_jobs(cmapss_dir):
    """A job on another split validates on other training engines (never test engines),
    and its result does not count as the same job as the study's split."""
    study_train, study_valid = tune.prepared_subset("FD001", str(cmapss_dir), 0)
    other_train, other_valid = tune.prepared_subset("FD001", str(cmapss_dir), 3)
    assert len(other_valid) == len(study_valid) == 20
    assert set(other_valid.units) != set(study_valid.units)
    everything = set(study_train.units) | set(study_valid.units)
    assert set(other_train.units) | set(other_valid.units) == everything
    assert not set(other_train.units) & set(other_valid.units)
    old_row = {"model": "lstm", "subset": "FD001", "seed": 0, "variant": "base"}  # before splits varied
    assert tune.job_key(old_row) == tune.job_key({**old_row, "split_seed": 0})
    assert tune.job_key(old_row) != tune.job_key({**old_row, "split_seed": 3})


@pytest.mark.slow
def test_stopping_the_script_stops_its_workers(cmapss_dir, tmp_path):
    """A killed sweep must not leave workers training on for minutes with nowhere to write."""
    import signal
    import subprocess

    import psutil

    out = tmp_path / "tune.jsonl"
    proc = subprocess.Popen([sys.executable, str(Path(tune.__file__)), "--models", "lstm", "--subsets", "FD001",
                             "--variants", "defaults", "--workers", "1", "--data-dir", str(cmapss_dir),
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 60
    while not parent.children() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the worker is now importing torch or training
    workers = parent.children(recursive=True)
    assert workers, "the script started no worker"
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in output, output
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"workers still running: {[p.pid for p in alive]}"
    assert not out.exists() or not out.read_text().strip()  # nothing half-done was recorded
