"""Darts' Temporal Fusion Transformer in the forecast-threshold formulation."""
from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from adapters.features import fit_health_indicator, pad_front, ruls_from_forecasts
from study.contract.adapter import Adapter
from study.contract.search_space import Categorical, Float, Int
from study.data.protocol import EngineSet


# ----- the library's own format -------------------------------------------------------

def to_darts_series(series: list[np.ndarray], min_length: int = 1) -> list:
    """Darts ``TimeSeries`` (integer time index, one component per column), one per engine
    in order, front-padded to ``min_length``."""
    from darts import TimeSeries

    return [TimeSeries.from_values(pad_front(np.asarray(s, dtype=np.float32), min_length)) for s in series]


def darts_forecasts_to_array(forecasts: list) -> np.ndarray:
    """Darts forecasts (one deterministic univariate series each) as ``(series, horizon)``."""
    return np.stack([np.asarray(f.values(copy=False))[:, 0] for f in forecasts])


class DartsTFTAdapter(Adapter):
    """Forecast a health indicator with Darts' ``TFTModel``; RUL = steps to the failure level.

    Darts' neural models always read the target's own past values, and a test engine's RUL
    history is the answer, so RUL is never a Darts target. Instead a scalar health indicator
    (HI: a linear map from the normalised sensors to capped-RUL / cap, fitted on training
    engines, see ``adapters.features.fit_health_indicator``) is the target: the TFT learns to
    forecast HI trajectories of training engines, each test engine's HI history (sensors only)
    is forecast ``horizon`` cycles ahead, and the RUL is the number of steps until the
    forecast first falls to the HI level training engines reach at failure (capped at the
    protocol cap; no crossing within the horizon gives the horizon).
    """

    name = "darts-tft"
    tags = {
        "library": "darts",
        "family": "Transformer (TFT)",
        "formulation": "forecast-threshold",
        "python_dependencies": ["darts", "torch"],
        "import_modules": ["darts.models.forecasting.tft_model"],
        "install_extra": "darts",
        "needs_weights": False,
        "conversions": 3,  # sensors -> HI series -> darts TimeSeries -> forecast array -> RUL
        "workarounds": [
            "forecast-threshold on a health indicator: Darts' neural models always read the "
            "target's past, so RUL cannot be the target without leaking the test answer",
            "add_relative_index=True: TFTModel refuses to fit without future covariates",
            "pl_trainer_kwargs (cpu accelerator, no progress bar/summary/logger): Lightning "
            "defaults print and write lightning_logs/ into the working directory",
            "front-padding short test engines: a series shorter than input_chunk_length cannot "
            "be forecast",
            "threads=1 around fit/predict: with 2 intra-op threads on a shared 2-core "
            "machine a TFT step took 40x longer (2.1 s vs 0.05 s at batch 128)",
            "likelihood=None + MSELoss: the default quantile likelihood makes predictions "
            "sampled (non-deterministic unless num_samples and seeds are pinned)",
        ],
    }
    default_params = {
        "input_chunk_length": 30,
        "output_chunk_length": 10,
        "hidden_size": 16,
        "lstm_layers": 1,
        "num_attention_heads": 2,
        "dropout": 0.1,
        "batch_size": 128,
        "n_epochs": 12,
        "learning_rate": 1e-3,
        "max_samples_per_ts": None,
        "horizon": 125,
        "threads": 1,  # at most one thread (workarounds), fewer never: the base class applies the share
        "max_samples_seen": 150_000,
        # added to the failure level of the health indicator (in HI units: 1 = the RUL cap):
        # > 0 calls failure earlier, < 0 later; 0 is the level training engines reach at failure
        "threshold_shift": 0.0,
    }
    param_ranges = {"input_chunk_length": (1, None), "output_chunk_length": (1, None), "hidden_size": (1, None),
                    "lstm_layers": (1, None), "num_attention_heads": (1, None), "dropout": (0, 1),
                    "batch_size": (1, None), "n_epochs": (1, None), "learning_rate": (0, None),
                    "max_samples_per_ts": (1, None), "horizon": (1, None), "threads": (1, None),
                    "max_samples_seen": (1, None)}
    profiles = {"smoke": {"input_chunk_length": 12, "output_chunk_length": 6, "hidden_size": 4,
                          "num_attention_heads": 1, "batch_size": 64, "n_epochs": 1, "horizon": 40},
                # TFTModel's own num_attention_heads (4); its other defaults are the adapter's
                # (hidden 16, 1 LSTM layer, dropout 0.1, Adam at 1e-3); the chunk lengths have no
                # library default, and batch size, epochs and max_samples_seen bound the cost
                "default": {"num_attention_heads": 4}}
    fidelity_param = "n_epochs"  # the tuner's rungs are epochs (``_rung_callback``)
    search_space = {"hidden_size": Categorical((8, 16, 32, 64)), "input_chunk_length": Int(15, 60),
                    "dropout": Float(0.0, 0.4), "learning_rate": Float(1e-4, 1e-2, log=True),
                    "threshold_shift": Float(-0.1, 0.1)}

    @classmethod
    def check_params(cls, workdir: Path) -> dict:
        """The smoke settings trained until the forecasts follow each synthetic engine (about 2 s
        a fit), with the failure level raised into their range: at the smoke settings every
        forecast stays above the level, every RUL is the horizon, and the check kit could not
        see whether two seeds train two different networks. For the check kit only."""
        return {**cls.test_params(), "learning_rate": 0.01, "n_epochs": 10, "dropout": 0.0, "horizon": 125,
                "threshold_shift": 0.2}

    def _fit(self, train: EngineSet, valid: EngineSet | None) -> None:
        import torch
        from darts.models import TFTModel

        p = self.params
        self.hi_ = fit_health_indicator(train)
        min_length = p["input_chunk_length"] + p["output_chunk_length"]
        series = to_darts_series(self.hi_.transform(train), min_length=min_length)
        # Fewer epochs on the big subsets, so every subset costs about the same.
        n_samples = sum(max(0, len(s) - min_length + 1) for s in series)
        epochs = max(1, min(p["n_epochs"], p["max_samples_seen"] // max(n_samples, 1)))
        self._workdir = tempfile.TemporaryDirectory(prefix="darts-tft-")
        work_dir = Path(self.context.artifacts_dir or self._workdir.name)
        self.model_ = TFTModel(
            input_chunk_length=p["input_chunk_length"], output_chunk_length=p["output_chunk_length"],
            hidden_size=p["hidden_size"], lstm_layers=p["lstm_layers"],
            num_attention_heads=p["num_attention_heads"], dropout=p["dropout"],
            batch_size=p["batch_size"], n_epochs=epochs, add_relative_index=True,
            likelihood=None, loss_fn=torch.nn.MSELoss(), optimizer_kwargs={"lr": p["learning_rate"]},
            random_state=self.seed, work_dir=str(work_dir), save_checkpoints=False,
            pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                               "enable_model_summary": False, "logger": False,
                               "enable_checkpointing": False, "callbacks": self._rung_callback(epochs)},
        )
        self.context.progress("training TFT")
        with _quiet_lightning():
            self.model_.fit(series, max_samples_per_ts=p["max_samples_per_ts"], verbose=False)
        self.info_ = {"hi_threshold": self.hi_.threshold, "n_train_series": len(series),
                      "n_train_samples": n_samples, "n_epochs": epochs,
                      "n_parameters": int(sum(t.numel() for t in self.model_.model.parameters()))}

    def _rung_callback(self, epochs: int) -> list:
        """A Lightning callback that reports to the tuner's rung monitor (``context.monitor``)
        after each epoch, with the forecasts of the network as it stands (the TFT keeps its last
        weights), and stops the fit when told; [] when no tuner watches. Darts predicts with the
        module it holds after a fit, through a Trainer of its own that takes the module over: the
        callback lends it the module in training and gives it back to the training Trainer, in
        training mode, before training goes on. Darts forks the torch
        random state around a prediction, so the training's random draws are not disturbed."""
        monitor = self.context.monitor
        if monitor is None:
            return []
        import pytorch_lightning as pl

        adapter = self

        class RungCallback(pl.Callback):
            def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
                def predict(engines: EngineSet) -> np.ndarray:
                    darts, held = adapter.model_, adapter.model_.model  # Darts sets .model after fit
                    darts.model = module
                    try:
                        with _quiet_lightning():
                            return adapter._predict(engines)
                    finally:
                        darts.model = held
                        module.trainer = trainer
                        module.train()

                if monitor.after_step(trainer.current_epoch + 1, predict, epochs):
                    trainer.should_stop = True

        return [RungCallback()]

    def _predict(self, test: EngineSet) -> np.ndarray:
        p = self.params
        series = to_darts_series(self.hi_.transform(test), min_length=p["input_chunk_length"])
        with _quiet_lightning():
            forecasts = self.model_.predict(n=p["horizon"], series=series, verbose=False,
                                            batch_size=max(len(series), 1))
        threshold = self.hi_.threshold + float(p["threshold_shift"])
        return ruls_from_forecasts(darts_forecasts_to_array(forecasts), threshold, self.hi_.cap)


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's info lines ("GPU available: False", a litmodels tip) on every fit and
    predict: warnings and errors still show."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
