"""Shared code of our PyTorch regressors (LSTM, Transformer, Mamba).

This module is torch-free at import time (the registry imports every public adapter
module, and those import ``TorchWindowRegressor`` from here); ``trainer``, ``nets`` and
``mamba`` import torch and are loaded only inside ``_fit`` / ``_predict``.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import replace
from typing import Any

import numpy as np

from adapters.features import window_end_cycles
from study.contract.adapter import Adapter, AdapterError
from study.contract.search_space import Categorical, Float, Int
from study.data.protocol import EngineSet
from study.data.scoring import rmse

#: Trainer settings shared by every torch adapter (here, not in trainer.py, so that reading
#: an adapter's defaults needs no torch import). Unknown keys are ignored by TrainConfig.
#: The study's hand-chosen ("hand-tuned", ``standard`` profile) trainer settings; how each was
#: chosen on validation engines: reports/network-settings.md.
TRAINER_PARAMS: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 128,  # reports/network-settings.md#batch-size-windows-per-epoch-and-learning-rate-128-8192-3e-3
    "windows_per_epoch": 8192,   # random training windows per epoch: same cost on every subset
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "schedule": "onecycle",
    "grad_clip": 1.0,
    "patience": 6,  # reports/network-settings.md#early-stopping-patience-6-not-10
    "ema_decay": 0.0,            # > 0: select and keep an exponential moving average of the weights
    "input_noise": 0.0,          # std of Gaussian noise on the z-scored training inputs
    # the cycle count as one more input channel, on these subsets (True/False: all/none);
    # reports/network-settings.md#the-cycle-count-as-an-input-channel-fd002-fd003-fd004
    "cycle_channel": ["FD002", "FD003", "FD004"],
    # cycles the net reads, as a multiple of the protocol's window (windows end where the
    # protocol's do); reports/network-settings.md#history-20-windows-history_factor
    "history_factor": 2.0,
    # causal exponential smoothing of the channels (weight of the newest cycle; 0: off);
    # reports/network-settings.md#causal-smoothing-of-the-inputs-off-smoothing-00
    "smoothing": 0.0,
    # nets per trial, their mean predicted; reports/network-settings.md#nets-per-trial-1-ensemble
    "ensemble": 1,
    # "fp32", "bf16" or "fp16" (trainer.PRECISIONS); reports/network-settings.md#precision-fp32-precision
    "precision": "fp32",
    "device": "auto",
    "threads": None,
}

#: The plain, documented defaults of the shared trainer and the input conventions: the
#: ``default`` profile of our networks (what they give with no tuning effort, and where the
#: tuner starts) and ``TrainConfig``'s field defaults. Adam's usual learning rate, batch 256,
#: patience 10, the protocol's window as it is (no longer history, no cycle channel, no
#: smoothing): none of the choices made by hand on validation engines (``TRAINER_PARAMS``).
PLAIN_TRAINER_PARAMS: dict[str, Any] = {
    "epochs": 30, "batch_size": 256, "windows_per_epoch": 4096, "lr": 1e-3, "weight_decay": 1e-4,
    "schedule": "onecycle", "grad_clip": 1.0, "patience": 10, "ema_decay": 0.0, "input_noise": 0.0,
    "history_factor": 1.0, "cycle_channel": False, "smoothing": 0.0,
}

#: What the tuner may change in the shared trainer (each net adds its width, depth and
#: dropout). Ranges bracket the defaults by about an order of magnitude (rates, decay) or a
#: factor of two to three (history, batch, epochs; early stopping still picks the epoch).
TRAINER_SEARCH_SPACE: dict[str, Any] = {
    "lr": Float(3e-4, 1e-2, log=True),
    "weight_decay": Float(1e-6, 0.1, log=True),
    "history_factor": Categorical((1.0, 1.5, 2.0, 3.0)),
    "cycle_channel": Categorical((False, True)),  # the cycle count as an input channel
    "batch_size": Categorical((64, 128, 256)),
    "windows_per_epoch": Categorical((4096, 8192, 16384)),
    "epochs": Int(10, 60),
}

#: Tiny settings for CI smoke runs and contract tests (seconds on synthetic data).
SMOKE_TRAINER_PARAMS: dict[str, Any] = {"epochs": 2, "windows_per_epoch": 512, "batch_size": 128, "patience": 2}

#: Valid values of the trainer settings (inclusive; None = unbounded), see ``Adapter.param_ranges``.
TRAINER_PARAM_RANGES: dict[str, tuple[float | None, float | None]] = {
    "epochs": (1, None), "batch_size": (1, None), "windows_per_epoch": (1, None), "lr": (0, None),
    "weight_decay": (0, None), "grad_clip": (0, None), "patience": (0, None), "ema_decay": (0, 1),
    "input_noise": (0, None), "history_factor": (1, None), "smoothing": (0, 1), "ensemble": (1, None),
    "threads": (1, None),
}


def causal_smoothing(sequence: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average along time (axis 0): s_t = alpha x_t + (1 - alpha) s_(t-1),
    starting at s_0 = x_0. Causal: s_t depends on cycles up to t only."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"smoothing must be in (0, 1], got {alpha}")
    from scipy.signal import lfilter

    x = np.asarray(sequence, dtype=np.float64)
    if len(x) == 0:
        return np.asarray(sequence)
    smoothed = lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=(1.0 - alpha) * x[:1])[0]
    return smoothed.astype(sequence.dtype)


def torch_tags(family: str) -> dict[str, Any]:
    """The capability tags all our torch regressors share."""
    return {
        "library": "torch (ours)",
        "family": family,
        "formulation": "regression",
        "python_dependencies": ["torch"],
        "install_extra": "torch",
        "needs_weights": False,
    }


class TorchWindowRegressor(Adapter):
    """Base of our torch adapters: windows in, one shared trainer, last window out.

    Subclasses set ``name``/``tags``/``default_params``/``profiles`` and build their net in
    ``_build_net``. ``info_`` gets the parameter count, best epoch, epochs run, device,
    validation RMSE of the kept checkpoint and the per-epoch history.
    """

    # what the trials before these parameters existed ran: one net, float32, labels / largest label
    fidelity_param = "epochs"  # the tuner's rungs are epochs (``_rung_hook``)

    @abstractmethod
    def _build_net(self, n_channels: int, window: int):
        """The nn.Module mapping (batch, window, n_channels) -> (batch,) scaled RUL."""

    # ----- inputs ---------------------------------------------------------------------
    def uses_cycle_channel(self, subset: str) -> bool:
        """``cycle_channel`` is a bool, or the subsets it applies to (a list, or "FD002,FD004")."""
        setting = self.params.get("cycle_channel")
        if isinstance(setting, str):
            if setting.lower() in ("true", "false"):
                return setting.lower() == "true"
            setting = [name.strip() for name in setting.split(",")]
        if isinstance(setting, (list, tuple, set, frozenset)):
            return subset in setting
        return bool(setting)

    def history(self, engines: EngineSet) -> int:
        """Cycles per input window: the protocol's window times ``history_factor``."""
        factor = float(self.params.get("history_factor") or 1.0)
        if factor < 1.0:
            raise ValueError(f"history_factor must be >= 1 (windows end where the protocol's do), got {factor}")
        return max(engines.window, int(round(engines.window * factor)))

    def _inputs(self, engines: EngineSet, last_only: bool) -> np.ndarray:
        """The windows the net reads: ``history`` cycles ending where the protocol's windows
        end, optionally smoothed, optionally with the cycle number as one more (standardised)
        channel."""
        alpha = float(self.params.get("smoothing") or 0.0)
        if alpha:
            engines = replace(engines, sequences=tuple(causal_smoothing(s, alpha) for s in engines.sequences))
        history = self.history(engines)
        x = engines.last_windows(history) if last_only else engines.windows(history)[0]
        if not self.uses_cycle_channel(engines.subset):
            return x
        ends = window_end_cycles(engines, last_only)
        offsets = np.arange(history - 1, -1, -1, dtype=np.float32)
        cycles = np.maximum(ends[:, None] - offsets[None, :], 1.0)
        if not hasattr(self, "cycle_scale_"):
            self.cycle_scale_ = (float(cycles.mean()), float(cycles.std()) or 1.0)
        mean, std = self.cycle_scale_
        return np.concatenate([x, ((cycles - mean) / std)[..., None].astype(np.float32)], axis=-1)

    # ----- the contract ---------------------------------------------------------------
    def _fit(self, train: EngineSet, valid: EngineSet | None) -> None:
        from adapters._torch.trainer import (TrainConfig, configure_threads, count_parameters,
                                             select_device, seed_torch, train_regressor)

        members = int(self.params.get("ensemble", 1))
        if members < 1:
            raise AdapterError(f"{self.name}: ensemble must be >= 1, got {members}")
        threads = configure_threads(self.threads)
        self.device_ = select_device(self.params.get("device", "auto"))
        self.__dict__.pop("cycle_scale_", None)  # fitted on this fit's training windows only
        x, y = self._inputs(train, last_only=False), train.windows()[1]
        xv = yv = None
        if valid is not None and len(valid):
            xv, yv = self._inputs(valid, last_only=False), valid.windows()[1]
        budget = self.context.time_budget_s
        config = TrainConfig.from_params(self.params, label_scale=float(self.params.get("label_scale") or max(y.max(), 1.0)),
                                         time_budget_s=budget / members if budget else None)
        self.label_scale_ = config.label_scale
        self.nets_, results = [], []
        for member in range(members):
            member_seed = self.seed * members + member
            seed_torch(member_seed)
            net = self._build_net(x.shape[-1], x.shape[1])
            progress = self.context.progress if members == 1 else _prefixed(
                self.context.progress, f"net {member + 1}/{members}: ")
            on_epoch = self._rung_hook(config) if members == 1 else None
            results.append(train_regressor(net, x, y, xv, yv, config, seed=member_seed, device=self.device_,
                                           progress=progress, on_epoch=on_epoch))
            self.nets_.append(net)
        self.info_ = {"n_parameters": sum(count_parameters(net) for net in self.nets_),
                      "n_train_windows": int(len(x)),
                      "n_valid_windows": int(len(xv)) if xv is not None else 0, "threads": threads}
        if members == 1:
            self.info_.update(results[0].as_info())
        else:
            self.info_.update(_ensemble_info(results, self.predict_windows(xv) if xv is not None else None, yv))
        self.info_.update(self._backend_info())

    def _rung_hook(self, config):
        """The trainer's per-epoch hook when the tuner watches rungs (``context.monitor``): the
        kept weights predict the monitor's cut validation engines as ``_predict`` would.
        Ensembles (``ensemble`` > 1) are not stopped early: their nets train one after another."""
        monitor = self.context.monitor
        if monitor is None:
            return None
        from adapters._torch.trainer import predict_windows

        def predict(net, engines: EngineSet) -> np.ndarray:
            return np.clip(predict_windows(net, self._inputs(engines, last_only=True), self.device_,
                                           label_scale=config.label_scale, precision=config.precision), 0.0, None)

        return lambda epoch, kept: monitor.after_step(epoch, lambda engines: predict(kept(), engines), config.epochs)

    def refit_params(self) -> dict[str, Any]:
        """The kept epoch as the epoch count (the same windows per epoch, so the same number
        of optimiser steps per epoch); without validation windows the trainer keeps the last
        epoch and never stops early. An ensemble refits every net with its members' mean
        kept epoch. A fit without validation windows selected nothing: the same parameters."""
        if not self.info_.get("n_valid_windows"):
            return dict(self.params)
        kept = self.info_["best_epoch"]
        epochs = int(round(float(np.mean(kept)))) if isinstance(kept, list) else int(kept)
        return {**self.params, "epochs": max(1, epochs)}

    def _backend_info(self) -> dict[str, Any]:
        """Which kernels a net ran on, where that can differ between machines (see Mamba)."""
        return {}

    def predict_windows(self, x: np.ndarray) -> np.ndarray:
        """RUL (cycles) for windows built by ``_inputs``: each net's prediction clipped at 0 (as
        in its validation), then the mean over the trial's nets."""
        from adapters._torch.trainer import predict_windows

        precision = self.params.get("precision", "fp32")
        return np.mean([np.clip(predict_windows(net, x, self.device_, label_scale=self.label_scale_,
                                                precision=precision), 0.0, None)
                        for net in self.nets_], axis=0)

    def _predict(self, test: EngineSet) -> np.ndarray:
        return self.predict_windows(self._inputs(test, last_only=True))


def _prefixed(progress, prefix: str):
    """A progress callback that names the ensemble member."""
    return lambda message: progress(prefix + message)


def _ensemble_info(results: list, valid_pred: np.ndarray | None, valid_rul: np.ndarray | None) -> dict[str, Any]:
    """Info of an ensemble trial: per-net training summaries, summed times, and the validation
    RMSE of the nets' mean (each net kept its own best-validation checkpoint)."""
    info: dict[str, Any] = {
        "n_members": len(results),
        "members": [result.as_info() for result in results],
        "best_epoch": [result.best_epoch for result in results],
        "epochs_run": [result.epochs_run for result in results],
        "member_valid_rmse": [result.best_valid_rmse for result in results],
        "best_valid_rmse": None,
        "train_seconds": sum(result.train_seconds for result in results),
        "device": results[0].device,
        "precision": results[0].precision,
    }
    if valid_pred is not None and len(valid_pred):
        info["best_valid_rmse"] = rmse(valid_rul, valid_pred)
    return info
