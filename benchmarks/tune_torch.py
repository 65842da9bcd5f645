"""Tune our PyTorch regressors on the validation engines only (a script, not a test).

    CMAPSS_DATA_DIR=/path/to/cmapss python benchmarks/tune_torch.py \
        --models lstm transformer mamba --subsets FD001 FD003 --seeds 0 1 \
        --variants base ema ema_noise --workers 2 --out tune.jsonl

Each job trains one adapter (standard-profile parameters plus one named variant) on the
training engines, with early stopping on the validation engines, exactly as a study trial
does, and records the validation RMSE of the kept weights. The test engines are never
loaded into a model and the test RUL file is dropped as soon as the data are prepared, so
nothing chosen here can be tuned on the test set. Results are appended to ``--out`` one
JSON line per job as each finishes; a rerun skips jobs already there.

``--split-seeds`` repeats each job on other engine-disjoint validation splits (the protocol's
``split_seed``; the study uses 0): with 20 validation engines on FD001/FD003, one split can be
easier or harder than the test engines, and a choice that holds on several splits rests on
more engines. Every split still draws its validation engines from the training file only.

Besides the selection metric (RMSE over all validation windows) it records, from the same
predictions, the RMSE over validation windows whose true RUL is below the cap (the
degrading part, which dominates the test set) and the effect of test-time averaging: the
prediction at cycle t as the mean over the last k windows of (prediction - cycles since).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Named changes to the standard-profile parameters. ``{size}`` variants are per model.
#: ``base`` is the reference every sweep so far was measured against: the settings before the
#: longer history became the default (history = the protocol window, patience 10), so that
#: files from different days compare (it pins the settings adapters changed since, per-subset
#: ones included); ``defaults`` is whatever the adapters default to now, per-subset settings
#: included (the Transformer's cycle count and smoothing on FD001 since 2026-11-27: rows
#: written before that compare with ``defaults_cycle_smooth`` for that cell; Mamba's weight
#: decay 0.05 on FD001 later that day: compare with ``defaults_wd0.05``). Since then each row
#: also records the parameters it ran with.
#: The shared settings before any per-subset (FD001) override:
BEFORE_FD001: dict = {"cycle_channel": ["FD002", "FD003", "FD004"], "smoothing": 0.0, "weight_decay": 1e-4}
BASE: dict = {"history_factor": 1.0, "patience": 10, **BEFORE_FD001}
VARIANTS: dict[str, dict] = {
    "defaults": {},
    "base": BASE,
    "ema": {**BASE, "ema_decay": 0.995},
    "ema_noise": {**BASE, "ema_decay": 0.995, "input_noise": 0.1},
    "ema_noise_lr1e-3": {**BASE, "ema_decay": 0.995, "input_noise": 0.1, "lr": 1e-3},
    "ema_noise_wd": {**BASE, "ema_decay": 0.995, "input_noise": 0.1, "weight_decay": 0.05},
    "ema_noise_drop": {**BASE, "ema_decay": 0.995, "input_noise": 0.1, "dropout": 0.3},
    "ema_noise_b64": {**BASE, "ema_decay": 0.995, "input_noise": 0.1, "batch_size": 64},
    "ema_noise_long": {**BASE, "ema_decay": 0.995, "input_noise": 0.1, "epochs": 60, "patience": 15},
    "ema_noise_big": {**BASE, "ema_decay": 0.995, "input_noise": 0.1, "{size}": "big"},
    "ema_noise_small": {**BASE, "ema_decay": 0.995, "input_noise": 0.1, "{size}": "small"},
    "noise": {**BASE, "input_noise": 0.1},
    "cycle": {**BASE, "cycle_channel": True},
    "hist2": {**BASE, "history_factor": 2.0},
    "hist1.5": {**BASE, "history_factor": 1.5},
    "smooth": {**BASE, "smoothing": 0.2},
    "hist2_smooth": {**BASE, "history_factor": 2.0, "smoothing": 0.2},
    "defaults_hist3": {"history_factor": 3.0},  # today's defaults, three windows of history
    "defaults_smooth": {"smoothing": 0.2},       # today's defaults, causal smoothing of the inputs
    "defaults_cycle": {"cycle_channel": True},   # today's defaults, the cycle count on every subset
    "defaults_cycle_smooth": {"cycle_channel": True, "smoothing": 0.2},
    # the defaults before the FD001 overrides (2026-11-27), for second-seed checks
    "defaults_before_fd001": BEFORE_FD001,
    # the one-cycle schedule fitted to the epochs a run really gets: with 30 epochs and
    # patience 6, FD001 runs stopped at epoch 12-20 and kept a checkpoint from near the peak
    # learning rate (epoch 6), before the schedule's annealing phase
    "defaults_anneal15": {"epochs": 15, "patience": 15},
    # against overfitting (FD001's 80 training engines: Mamba's training RMSE fell to 7 while
    # its validation RMSE rose after epoch 6-8)
    "defaults_noise": {"input_noise": 0.1},
    "defaults_drop0.3": {"dropout": 0.3},
    "defaults_wd0.05": {"weight_decay": 0.05},
    "defaults_lr1e-3": {"lr": 1e-3},
    "defaults_bf16": {"precision": "bf16"},     # today's defaults, bfloat16 autocast (faster on this CPU)
    "defaults_bf16_ens3": {"precision": "bf16", "ensemble": 3},  # and three networks per fit
    # smaller nets against the same overfitting (Mamba on FD001, with its weight decay 0.05)
    "defaults_small": {"{size}": "small"},
    "defaults_1layer": {"{size}": "1layer"},
    # Mamba only: our scan vs mamba-ssm's fused CUDA kernel (GPU check)
    "scan_torch": {"scan_backend": "torch"},
    "scan_kernel": {"scan_backend": "mamba_ssm"},
}
SIZES: dict[str, dict[str, dict]] = {
    "lstm": {"big": {"hidden_size": 128}, "small": {"hidden_size": 32}, "1layer": {"num_layers": 1}},
    "transformer": {"big": {"d_model": 96, "dim_feedforward": 192}, "small": {"d_model": 32, "dim_feedforward": 64},
                    "1layer": {"n_layers": 1}},
    "mamba": {"big": {"d_model": 48}, "small": {"d_model": 24}, "1layer": {"n_layers": 1}},
}
TTA_WINDOWS = (1, 3, 5, 9)


def variant_params(model: str, variant: str) -> dict:
    """The overrides a named variant makes for one model."""
    params = dict(VARIANTS[variant])
    size = params.pop("{size}", None)
    if size:
        params.update(SIZES[model][size])
    return params


def time_averaged(pred: np.ndarray, k: int) -> np.ndarray:
    """Prediction at window j as the mean of pred[j - i] - i over i < k (fewer at the start)."""
    out = np.empty_like(pred)
    for j in range(len(pred)):
        i = np.arange(min(k, j + 1))
        out[j] = np.mean(pred[j - i] - i)
    return np.clip(out, 0.0, None)


@lru_cache(maxsize=None)
def _raw_subset(name: str, data_dir: str):
    """The verified, parsed files of one subset (read once per worker, whatever the split)."""
    from study.data.cmapss import load_subset

    return load_subset(Path(data_dir), name)


@lru_cache(maxsize=None)
def prepared_subset(name: str, data_dir: str, split_seed: int = 0):
    """Train/valid engines of one subset and validation split (cached per worker). The test
    RUL is discarded here."""
    from study.data.protocol import Protocol, prepare

    prepared, _test_rul_dropped = prepare(_raw_subset(name, data_dir), Protocol(split_seed=split_seed))
    return prepared.train, prepared.valid


def run_job(job: dict, data_dir: str, device: str, threads: int) -> dict:
    """Fit one adapter on train (early-stopped on valid) and score it on valid only."""
    import torch

    torch.set_num_threads(threads)
    from adapters.lstm import LSTMAdapter
    from adapters.mamba import MambaAdapter
    from adapters.transformer import TransformerAdapter
    from study.data.protocol import Protocol

    train, valid = prepared_subset(job["subset"], data_dir, split_seed(job))
    cls = {a.name: a for a in (LSTMAdapter, TransformerAdapter, MambaAdapter)}[job["model"]]
    params = {**cls.params_for("standard", job["subset"]), **variant_params(job["model"], job["variant"]), "device": device}
    adapter = cls(seed=job["seed"], **params)
    adapter.context.threads = threads
    start = time.perf_counter()
    adapter.fit(train, valid)
    fit_seconds = time.perf_counter() - start
    y, engine = valid.windows()[1:]
    pred = adapter.predict_windows(adapter._inputs(valid, last_only=False))
    row = {**job, "params": {k: v for k, v in params.items() if k != "device"},
           "fit_seconds": round(fit_seconds, 1), "device": str(adapter.device_),
           "best_epoch": adapter.info_["best_epoch"], "epochs_run": adapter.info_["epochs_run"],
           "n_parameters": adapter.info_["n_parameters"], "valid_units": [int(u) for u in valid.units]}
    degrading = y < Protocol().max_rul
    per_engine = np.split(pred, np.flatnonzero(np.diff(engine)) + 1)  # windows come grouped by engine
    for k in TTA_WINDOWS:
        err = np.concatenate([time_averaged(p, k) for p in per_engine]) - y
        row[f"valid_rmse_k{k}"] = round(float(np.sqrt(np.mean(err ** 2))), 4)
        row[f"valid_rmse_degrading_k{k}"] = round(float(np.sqrt(np.mean(err[degrading] ** 2))), 4)
    return row


def summary_table(path: Path, metric: str = "valid_rmse_k1") -> str:
    """Markdown table: mean ``metric`` (and seed count) per model, subset and variant; one
    row per validation split too when the file holds several."""
    import pandas as pd

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    frame = pd.DataFrame([{**r, "split_seed": split_seed(r)} for r in rows if "error" not in r])
    keys = ["model", "subset"] + (["split_seed"] if frame["split_seed"].nunique() > 1 else [])
    cells = frame.groupby([*keys, "variant"])[metric].agg(["mean", "count"])
    cells["text"] = [f"{m:.2f} ({n})" for m, n in zip(cells["mean"], cells["count"])]
    table = cells["text"].unstack("variant").fillna("")
    header = "| " + " | ".join(k.replace("_seed", "") for k in keys) + " | " + " | ".join(table.columns) + " |"
    lines = [header, "|" + "---|" * (len(table.columns) + len(keys))]
    lines += ["| " + " | ".join([*map(str, index), *row]) + " |" for index, row in zip(table.index, table.to_numpy())]
    return "\n".join(lines)


def split_seed(job: dict) -> int:
    """The job's validation split (rows written before splits were varied used the study's, 0)."""
    return int(job.get("split_seed", 0))


def job_key(job: dict) -> tuple:
    return job["model"], job["subset"], job["seed"], job["variant"], split_seed(job)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["lstm", "transformer", "mamba"])
    parser.add_argument("--subsets", nargs="+", default=["FD001", "FD003"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--split-seeds", nargs="+", type=int, default=[0],
                        help="validation splits to repeat each job on (the study's split is 0)")
    parser.add_argument("--variants", nargs="+", default=["base", "ema", "ema_noise"], choices=sorted(VARIANTS),
                        metavar="VARIANT", help="named changes to the standard settings, one of: "
                        + ", ".join(sorted(VARIANTS)))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--deadline-s", type=float, default=None, help="submit no job after this many seconds")
    parser.add_argument("--data-dir", default=os.environ.get("CMAPSS_DATA_DIR", "data/cmapss"))
    parser.add_argument("--out", type=Path, default=Path("tune_torch.jsonl"))
    parser.add_argument("--summarise", type=Path, metavar="JSONL",
                        help="print the mean validation RMSE (seeds) per model, subset and variant of a results file")
    args = parser.parse_args(argv)
    if args.summarise:
        if not args.summarise.is_file():
            parser.error(f"--summarise {args.summarise}: no such file")
        print(summary_table(args.summarise))
        return 0

    done = set()
    if args.out.exists():
        done = {job_key(json.loads(line)) for line in args.out.read_text().splitlines() if line.strip()}
    # split- and seed-major, then variant: the first results to arrive already compare every variant
    jobs = [{"model": m, "subset": s, "seed": seed, "variant": v, "split_seed": split}
            for split in args.split_seeds for seed in args.seeds for s in args.subsets
            for m in args.models for v in args.variants]
    jobs = [j for j in jobs if job_key(j) not in done]
    print(f"{len(jobs)} jobs ({len(done)} already in {args.out})", flush=True)
    start = time.perf_counter()
    import multiprocessing as mp

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the workers too
    queue = list(jobs)
    pool = ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"))
    try:
        _run_queue(pool, queue, args, start)
    except KeyboardInterrupt:
        # a worker cannot write its result without this process: stop it instead of letting
        # it train on for minutes (the unfinished jobs rerun on the next call)
        for child in mp.active_children():
            child.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        print(f"interrupted: {len(queue)} jobs not started, running ones stopped; a rerun resumes", flush=True)
        return 130
    pool.shutdown()
    print(f"skipped {len(queue)} jobs at the deadline" if queue else "all jobs done", flush=True)
    return 0


def _run_queue(pool: ProcessPoolExecutor, queue: list[dict], args: argparse.Namespace, start: float) -> None:
    """Keep ``args.workers`` jobs running; append each result to ``args.out`` as it finishes."""
    pending = {}
    while queue or pending:
        while queue and len(pending) < args.workers and (
                args.deadline_s is None or time.perf_counter() - start < args.deadline_s):
            job = queue.pop(0)
            pending[pool.submit(run_job, job, args.data_dir, args.device, args.threads)] = job
        if not pending:
            break
        future = next(as_completed(pending))
        job = pending.pop(future)
        try:
            row = future.result()
        except Exception as exc:  # keep going: one broken variant must not lose the others
            row = {**job, "error": f"{type(exc).__name__}: {exc}"}
        with args.out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"[{time.perf_counter() - start:6.0f}s] {json.dumps(row)}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
