"""One shared trainer for every window regressor written in PyTorch (LSTM, Transformer, Mamba).

Fairness lives here: all three nets see the same windows, the same loss (MSE on labels
scaled to [0, 1] by the RUL cap), the same optimiser (AdamW), schedule (OneCycle or
cosine), gradient clipping, per-epoch window sampling, and the same model selection:
the epoch with the lowest RMSE over *all* windows of the engine-disjoint validation
engines (every window weighs the same; the test set's random truncation points make any
window a plausible "last window"). The test set is never seen here.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from adapters._torch import PLAIN_TRAINER_PARAMS as _PLAIN
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from study.core.environment import available_cores, cpu_facts, cpu_has_native_bfloat16
from study.data.scoring import rmse

#: Windows per forward pass when predicting (validation each epoch, test). 256, not 2048:
#: smaller batches stay in the CPU cache (FD004, 10,000 windows, one thread: Mamba 6.0 -> 3.4 s,
#: Transformer 2.0 -> 1.6 s, LSTM 0.66 -> 0.55 s); per-window outputs do not depend on it.
EVAL_BATCH_SIZE = 256

#: Mixed precision: "fp32" (none, the default), "bf16" (autocast to bfloat16, CPU or CUDA) or
#: "fp16" (autocast to float16 with a gradient scaler, CUDA only). Weights, optimiser state,
#: the loss and our Mamba scan stay float32 in every mode.
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Settings of one training run (built from an adapter's params; the field defaults are
    the plain defaults, ``PLAIN_TRAINER_PARAMS``, the one place they are written)."""

    epochs: int = _PLAIN["epochs"]
    batch_size: int = _PLAIN["batch_size"]
    windows_per_epoch: int = _PLAIN["windows_per_epoch"]
    lr: float = _PLAIN["lr"]
    weight_decay: float = _PLAIN["weight_decay"]
    schedule: str = _PLAIN["schedule"]
    grad_clip: float = _PLAIN["grad_clip"]
    patience: int = _PLAIN["patience"]
    label_scale: float = 125.0
    eval_batch_size: int = EVAL_BATCH_SIZE
    time_budget_s: float | None = None
    budget_fraction: float = 0.8   # stop once this share of the budget is (about to be) spent
    ema_decay: float = _PLAIN["ema_decay"]  # > 0: evaluate and keep an exponential moving average of the weights
    input_noise: float = _PLAIN["input_noise"]  # std of Gaussian noise added to (z-scored) training inputs
    precision: str = "fp32"        # see PRECISIONS

    @classmethod
    def from_params(cls, params: dict, **extra) -> TrainConfig:
        """Pick the trainer's fields out of an adapter's params."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in {**params, **extra}.items() if k in names})


@dataclass
class TrainResult:
    """What happened during training (goes into the adapter's ``info_``)."""

    best_epoch: int
    epochs_run: int
    best_valid_rmse: float | None
    stopped: str
    train_seconds: float
    seconds_per_epoch: float
    device: str
    threads: int
    history: list[dict] = field(default_factory=list)
    precision: str = "fp32"

    def as_info(self) -> dict:
        """Flat, JSON-ready summary (the per-epoch history is kept short)."""
        info = asdict(self)
        info["history"] = [{k: round(v, 4) if isinstance(v, float) else v for k, v in h.items()}
                           for h in self.history]
        return info


def default_threads() -> int:
    """Cores this process may use minus those already busy (1-minute load average).

    Oversubscribing hurts badly: on a 2-core machine whose other core is busy, torch with
    2 threads ran a GRU step 50x slower than with 1 (threads spin waiting for each other).
    ``CMAPSS_TORCH_THREADS`` overrides the guess.
    """
    if os.environ.get("CMAPSS_TORCH_THREADS"):
        return max(1, int(os.environ["CMAPSS_TORCH_THREADS"]))
    cores = available_cores()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


def configure_threads(threads: int | None = None) -> int:
    """Size torch's intra-op thread pool to the machine (or to ``threads``); returns it."""
    if os.environ.get("CMAPSS_TORCH_THREADS"):  # an explicit override beats the runner's share
        threads = int(os.environ["CMAPSS_TORCH_THREADS"])
    n = max(1, int(threads)) if threads else default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def select_device(preference: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU; asking for CUDA without one is an error."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={preference!r} requested but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    return torch.device(preference)


def seed_torch(seed: int) -> None:
    """Seed torch's global RNG (weight init, dropout); sampling uses its own generator."""
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The forward pass's precision context: a no-op for "fp32", else ``torch.autocast``."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision 'fp16' needs a CUDA device (float16 training needs its gradient scaler); "
                         "use 'bf16' or 'fp32' on the CPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU does not support bfloat16; use precision 'fp16' or 'fp32'")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bfloat16():
        raise ValueError(f"this CPU ({cpu_facts()['cpu_model']}) has no native bfloat16 (AVX-512 BF16 or AMX), "
                         "which oneDNN needs for bfloat16 LSTM layers and without which bfloat16 is slower "
                         "than float32 anyway; use precision 'fp32'")
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


@torch.no_grad()
def predict_windows(model: nn.Module, x: np.ndarray, device: torch.device | str = "cpu",
                    batch_size: int = EVAL_BATCH_SIZE, label_scale: float = 125.0,
                    precision: str = "fp32") -> np.ndarray:
    """RUL for each window (n, time, channels) -> (n,), in cycles (not clipped)."""
    model.eval()
    device = torch.device(device)
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(device)
        with autocast(precision, device):
            pred = model(xb)
        out.append(pred.float().reshape(-1).cpu())
    if not out:
        return np.zeros(0, dtype=np.float32)
    return (torch.cat(out).numpy() * label_scale).astype(np.float32)


def _kept_weights(evaluated: nn.Module, best_state: dict | None) -> nn.Module:
    """The net as a stop now would leave it: the best checkpoint so far, on a copy (training
    goes on with the live weights), or the evaluated weights when nothing was selected."""
    if best_state is None:
        return evaluated
    import copy

    kept = copy.deepcopy(evaluated)
    kept.load_state_dict(best_state)
    return kept


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total,
                                                   pct_start=0.2, anneal_strategy="cos",
                                                   div_factor=10.0, final_div_factor=100.0)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=config.lr * 0.01)
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ValueError(f"schedule must be 'onecycle', 'cosine' or 'constant', got {config.schedule!r}")


def train_regressor(model: nn.Module, x_train: np.ndarray, y_train: np.ndarray,
                    x_valid: np.ndarray | None, y_valid: np.ndarray | None, config: TrainConfig,
                    seed: int, device: torch.device | str = "cpu",
                    progress: Callable[[str], None] = lambda message: None,
                    on_epoch: Callable[[int, Callable[[], nn.Module]], str | None] | None = None) -> TrainResult:
    """Train ``model`` in place on windows -> RUL and load the best validation checkpoint.

    Each epoch draws ``windows_per_epoch`` random training windows (seeded), so an epoch
    costs the same on every subset. Without validation data the last epoch is kept.
    ``on_epoch(epoch, kept)``, if given, is called after each epoch with a function that
    returns the weights a stop now would keep; a returned string stops training (the tuner's
    rungs, ``study.contract.fidelity``) and becomes ``stopped``.
    """
    start = time.perf_counter()
    device = torch.device(device)
    threads = torch.get_num_threads()
    rng = np.random.default_rng(seed)
    model.to(device)
    x_t = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    y_t = torch.from_numpy(np.asarray(y_train, dtype=np.float32) / config.label_scale)
    if device.type != "cpu":
        x_t, y_t = x_t.to(device), y_t.to(device)
    has_valid = x_valid is not None and y_valid is not None and len(x_valid) > 0
    per_epoch = min(int(config.windows_per_epoch), len(x_t)) if config.windows_per_epoch else len(x_t)
    steps_per_epoch = max(1, math.ceil(per_epoch / config.batch_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _scheduler(optimizer, config, steps_per_epoch)
    loss_fn = nn.MSELoss()
    autocast(config.precision, device)  # an unusable precision fails here, before the first epoch
    scaler = torch.amp.GradScaler(device.type) if config.precision == "fp16" else None
    # the weights that are evaluated and kept: the live ones, or their moving average
    averaged = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
                if config.ema_decay > 0 else None)
    evaluated = averaged.module if averaged is not None else model
    noise = torch.Generator().manual_seed(seed) if config.input_noise > 0 else None

    best_state, best_rmse, best_epoch = None, math.inf, 0
    history: list[dict] = []
    stopped, epochs_run, stale = "completed", 0, 0
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        idx = torch.from_numpy(rng.choice(len(x_t), size=per_epoch, replace=False))
        total_loss = 0.0
        for step in range(steps_per_epoch):
            batch = idx[step * config.batch_size:(step + 1) * config.batch_size]
            xb, yb = x_t[batch], y_t[batch]
            if noise is not None:  # drawn on the CPU so a seed gives the same noise everywhere
                xb = xb + config.input_noise * torch.randn(xb.shape, generator=noise).to(xb.device)
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast(config.precision, device):
                out = model(xb)
            loss = loss_fn(out.float().reshape(-1), yb)
            if scaler is None:
                loss.backward()
                if config.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
            else:  # float16: scale the loss so small gradients survive, unscale before clipping
                scaler.scale(loss).backward()
                if config.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
            scheduler.step()
            if averaged is not None:
                averaged.update_parameters(model)
            total_loss += float(loss.detach()) * len(batch)
        train_rmse = math.sqrt(total_loss / per_epoch) * config.label_scale
        epochs_run = epoch
        record = {"epoch": epoch, "train_rmse": train_rmse, "lr": optimizer.param_groups[0]["lr"]}
        if has_valid:
            pred = predict_windows(evaluated, x_valid, device, config.eval_batch_size, config.label_scale,
                                   config.precision)
            valid_rmse = rmse(y_valid, np.clip(pred, 0, None))
            record["valid_rmse"] = valid_rmse
            if valid_rmse < best_rmse - 1e-4:
                best_rmse, best_epoch, stale = valid_rmse, epoch, 0
                best_state = {k: v.detach().clone() for k, v in evaluated.state_dict().items()}
            else:
                stale += 1
        record["seconds"] = time.perf_counter() - epoch_start
        history.append(record)
        valid_text = f", valid RMSE {record['valid_rmse']:.2f} (best {best_rmse:.2f} @ {best_epoch})" if has_valid else ""
        progress(f"epoch {epoch}/{config.epochs}: train RMSE {train_rmse:.2f}{valid_text}")
        if has_valid and stale >= config.patience:
            stopped = f"early stop: no validation improvement for {config.patience} epochs"
            break
        if on_epoch is not None:
            told = on_epoch(epoch, lambda: _kept_weights(evaluated, best_state))
            if told:
                stopped = told
                break
        if config.time_budget_s:
            elapsed = time.perf_counter() - start
            mean_epoch = elapsed / epoch
            if elapsed + mean_epoch > config.budget_fraction * config.time_budget_s:
                stopped = f"time budget: {elapsed:.0f} s of {config.time_budget_s:.0f} s used"
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = epochs_run
        if averaged is not None:
            model.load_state_dict(evaluated.state_dict())
    elapsed = time.perf_counter() - start
    return TrainResult(best_epoch=best_epoch, epochs_run=epochs_run,
                       best_valid_rmse=best_rmse if has_valid and math.isfinite(best_rmse) else None,
                       stopped=stopped, train_seconds=elapsed,
                       seconds_per_epoch=elapsed / max(1, epochs_run), device=str(device),
                       threads=threads, history=history, precision=config.precision)
