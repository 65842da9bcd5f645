"""Speed of our PyTorch regressors on this machine (a script, not a test).

    CMAPSS_DATA_DIR=/path/to/cmapss python benchmarks/bench_torch.py [--threads N] [--repeats R] \
        [--precision fp32|bf16] [--models-only]

Measures, with the standard-profile sizes and inputs (each net's own history length and
channels): one training epoch (``windows_per_epoch`` random FD001 windows, forward +
backward + AdamW) and inference over all FD001 test windows for each model; our selective
scan against the naive step-by-step reference (forward + backward); and one training step
(forward + backward + Adam) of one of our Mamba blocks against ``mambapy``'s at batch 256 x
length 30 x d_model 64. Prints tables and ratios. ``--precision bf16`` runs the model table
under bfloat16 autocast (the trainer's ``precision`` setting). Medians of ``--repeats`` runs after one
warm-up.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters._torch.mamba import MambaBlock, selective_scan_naive, selective_scan_torch  # noqa: E402
from adapters._torch.trainer import PRECISIONS, autocast, configure_threads, count_parameters, predict_windows  # noqa: E402,E501
from adapters.lstm import LSTMAdapter  # noqa: E402
from adapters.mamba import MambaAdapter  # noqa: E402
from adapters.transformer import TransformerAdapter  # noqa: E402


def median_time(fn, repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_fd001():
    from study.data.cmapss import load_subset
    from study.data.protocol import Protocol, prepare

    folder = Path(os.environ.get("CMAPSS_DATA_DIR", "data/cmapss"))
    prepared, _ = prepare(load_subset(folder, "FD001"), Protocol())
    return prepared


def bench_models(repeats: int, precision: str = "fp32") -> list[tuple]:
    prepared = load_fd001()
    y = prepared.train.windows()[1]
    rows = []
    for cls in (LSTMAdapter, TransformerAdapter, MambaAdapter):
        params = cls.params_for("standard", "FD001")
        adapter = cls(seed=0, **params)
        # the windows this net reads in the study (its history, its extra channels)
        x = adapter._inputs(prepared.train, last_only=False)
        x_test = adapter._inputs(prepared.test, last_only=False)
        torch.manual_seed(0)
        net = adapter._build_net(x.shape[-1], x.shape[1])
        opt = torch.optim.AdamW(net.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
        rng = np.random.default_rng(0)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y / 125.0)
        batch = params["batch_size"]
        per_epoch = min(params["windows_per_epoch"], len(x))

        def epoch():
            net.train()
            idx = torch.from_numpy(rng.choice(len(x), size=per_epoch, replace=False))
            for start in range(0, per_epoch, batch):
                b = idx[start:start + batch]
                opt.zero_grad()
                with autocast(precision, "cpu"):
                    out = net(xt[b])
                torch.nn.functional.mse_loss(out.float(), yt[b]).backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()

        t_epoch = median_time(epoch, max(1, repeats // 2))
        t_infer = median_time(lambda: predict_windows(net, x_test, precision=precision), repeats)
        rows.append((cls.name, count_parameters(net), per_epoch, batch, t_epoch, len(x_test), t_infer))
    return rows


def bench_scan(repeats: int) -> tuple[float, float, float, float]:
    g = torch.Generator().manual_seed(0)
    b, d, n, length = 256, 128, 16, 30
    args = dict(u=torch.randn(b, d, length, generator=g), delta=torch.randn(b, d, length, generator=g),
                A=-torch.rand(d, n, generator=g) * 4, B=torch.randn(b, n, length, generator=g),
                C=torch.randn(b, n, length, generator=g), D=torch.ones(d), delta_bias=torch.zeros(d))
    leaves = {k: v.requires_grad_() for k, v in args.items()}

    def run(fn, backward):
        def go():
            y = fn(**leaves, delta_softplus=True)
            if backward:
                y.sum().backward()
        return go

    return (median_time(run(selective_scan_torch, False), repeats), median_time(run(selective_scan_naive, False), repeats),
            median_time(run(selective_scan_torch, True), repeats), median_time(run(selective_scan_naive, True), repeats))


def bench_vs_mambapy(repeats: int) -> tuple[float, float | None, int, int | None]:
    torch.manual_seed(0)
    x = torch.randn(256, 30, 64)

    def step_of(module):
        opt = torch.optim.Adam(module.parameters())

        def step():
            opt.zero_grad()
            module(x).pow(2).mean().backward()
            opt.step()
        return step

    ours = MambaBlock(64, d_state=16, d_conv=4, expand=2)
    t_ours = median_time(step_of(ours), repeats)
    try:
        from mambapy.mamba import Mamba, MambaConfig
    except ImportError:
        print("mambapy not installed (pip install -e '.[mamba-reference]'): skipping that comparison")
        return t_ours, None, count_parameters(ours), None
    theirs = Mamba(MambaConfig(d_model=64, n_layers=1, d_state=16, d_conv=4, expand_factor=2))
    return t_ours, median_time(step_of(theirs), repeats), count_parameters(ours), count_parameters(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the trainer's choice)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", choices=[p for p in PRECISIONS if p != "fp16"], default="fp32",
                        help="autocast of the model table (fp16 needs CUDA); the scan rows are float32")
    parser.add_argument("--models-only", action="store_true", help="only the model table")
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    print(f"torch {torch.__version__}, {threads} thread(s), load average {os.getloadavg()[0]:.1f}\n")

    print(f"One training epoch and inference, FD001, standard-profile sizes, precision {args.precision}")
    print(f"{'model':<12}{'params':>9}{'windows':>9}{'epoch s':>9}{'ms/step':>9}{'test wins':>10}{'infer s':>9}{'k win/s':>9}")
    for name, n_par, per_epoch, batch, t_ep, n_test, t_inf in bench_models(args.repeats, args.precision):
        steps = -(-per_epoch // batch)
        print(f"{name:<12}{n_par:>9}{per_epoch:>9}{t_ep:>9.2f}{1000 * t_ep / steps:>9.1f}{n_test:>10}{t_inf:>9.3f}"
              f"{n_test / t_inf / 1000:>9.1f}")
    if args.models_only:
        return

    fwd_ours, fwd_naive, fb_ours, fb_naive = bench_scan(args.repeats)
    print("\nSelective scan, batch 256 x d_inner 128 x d_state 16 x length 30")
    print(f"{'':<22}{'ours s':>9}{'naive s':>9}{'speed-up':>10}")
    print(f"{'forward':<22}{fwd_ours:>9.4f}{fwd_naive:>9.4f}{fwd_naive / fwd_ours:>9.1f}x")
    print(f"{'forward + backward':<22}{fb_ours:>9.4f}{fb_naive:>9.4f}{fb_naive / fb_ours:>9.1f}x")

    t_ours, t_theirs, p_ours, p_theirs = bench_vs_mambapy(args.repeats)
    print("\nOne Mamba block, train step (forward + backward + Adam), batch 256 x length 30 x d_model 64")
    print(f"ours:    {t_ours:.4f} s  ({p_ours} parameters)")
    if t_theirs is not None:
        print(f"mambapy: {t_theirs:.4f} s  ({p_theirs} parameters)  -> ours is {t_theirs / t_ours:.1f}x faster")


if __name__ == "__main__":
    main()
