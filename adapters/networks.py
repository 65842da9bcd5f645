"""The public network kit: put a PyTorch ``nn.Module`` into the study with the shared trainer.

Our LSTM, Transformer and Mamba are built with exactly this API (``adapters/lstm.py``)::

    from adapters.networks import SMOKE_TRAINER_PARAMS, NetworkAdapter, network_params, network_tags

    class TinyCNN(NetworkAdapter):
        name = "tiny-cnn"
        tags = network_tags("CNN", library="torch (my_package)")
        default_params = network_params(history_factor=1.0, cycle_channel=False, channels=32)
        profiles = {"smoke": {**SMOKE_TRAINER_PARAMS, "channels": 8}}

        def _build_net(self, n_channels: int, window: int):
            import torch.nn as nn                     # torch inside methods: listing stays cheap
            return MyNet(n_channels, self.params["channels"])  # (batch, window, n_channels) -> (batch,)

The conventions, each an explicit parameter of ``network_params`` with its default:

- **Window** (``history_factor``, default 1.0): the net reads ``round(window x history_factor)``
  cycles ending at the protocol's window end (``window``: FD001 30, FD002 20, FD003 30, FD004
  15). The windows end at the same cycles whatever the factor, so the same windows are
  labelled and scored; cycles before an engine's first are its first cycle repeated.
- **Channels**: the protocol's 14 z-scored sensors, plus, with ``cycle_channel``, the cycle
  number (standardised on the training windows) as one more channel. ``cycle_channel`` is
  False (default), True, or the subsets it applies to (``["FD002", "FD004"]``).
  ``smoothing`` (default 0.0, off) is causal exponential smoothing of the inputs.
- **Labels** (``label_scale``, default None): the net is trained (MSE) on the capped RUL at
  each window's end divided by ``label_scale``; None divides by the largest training label
  (the protocol's cap, 125, on C-MAPSS). Predictions are the net's output times
  ``label_scale``, clipped at 0; one per test engine, from its last window.
- **Trainer** (``TRAINER_SETTINGS``): AdamW, one-cycle schedule, random training windows
  per epoch, early stopping on the engine-disjoint validation windows (best checkpoint
  kept), ``ensemble`` nets per trial, ``precision``, ``device``; any can be overridden in
  ``network_params(...)`` or with ``--set MODEL.PARAM=VALUE``.

``STUDY_INPUTS`` holds the input settings our built-in nets use (chosen on validation
engines, README "The protocol card"); pass them (``network_params(**STUDY_INPUTS, ...)``)
to compare on equal terms with them.
"""
from __future__ import annotations

from typing import Any

from adapters._torch import PLAIN_TRAINER_PARAMS as _PLAIN
from adapters._torch import SMOKE_TRAINER_PARAMS as _SMOKE
from adapters._torch import TRAINER_PARAM_RANGES as _RANGES
from adapters._torch import TRAINER_SEARCH_SPACE as _SPACE
from adapters._torch import TRAINER_PARAMS as _ALL
from adapters._torch import TorchWindowRegressor, torch_tags

#: The input-convention parameters (explicit in ``network_params``).
INPUT_PARAMS = ("history_factor", "cycle_channel", "smoothing", "label_scale")
#: The shared trainer's settings, without the input conventions.
TRAINER_SETTINGS: dict[str, Any] = {name: value for name, value in _ALL.items() if name not in INPUT_PARAMS}
#: What our LSTM, Transformer and Mamba read: twice the window, the cycle count on FD002-FD004.
STUDY_INPUTS: dict[str, Any] = {"history_factor": _ALL["history_factor"], "cycle_channel": _ALL["cycle_channel"],
                                "smoothing": _ALL["smoothing"]}
#: Valid ranges of the trainer's and the input conventions' numeric settings, for an adapter's
#: ``param_ranges`` (add the net's own: ``{**TRAINER_PARAM_RANGES, "channels": (1, None)}``).
TRAINER_PARAM_RANGES: dict[str, tuple[float | None, float | None]] = {**_RANGES, "label_scale": (0, None)}
#: What the tuner may vary in the trainer and input conventions (``study.contract.search_space``), for an
#: adapter's ``search_space`` (add the net's own: ``{**TRAINER_SEARCH_SPACE, "channels": Int(8, 64)}``).
TRAINER_SEARCH_SPACE: dict[str, Any] = dict(_SPACE)
#: The plain trainer and input settings, for ``profiles["default"]`` (what a network gives
#: out of the box; the tuner starts there): no setting chosen by hand on validation engines.
DEFAULT_TRAINER_PARAMS: dict[str, Any] = dict(_PLAIN)
#: Tiny trainer settings for profiles["smoke"] and the check kit (seconds on synthetic data).
SMOKE_TRAINER_PARAMS: dict[str, Any] = dict(_SMOKE)


def network_params(*, history_factor: float = 1.0, cycle_channel: bool | str | list[str] = False,
                   smoothing: float = 0.0, label_scale: float | None = None, **params: Any) -> dict[str, Any]:
    """A network adapter's ``default_params``: the trainer's settings, the input and label
    conventions (module docstring), then the net's own parameters (``params``, which may
    also override a trainer setting, e.g. ``epochs=50``)."""
    return {**TRAINER_SETTINGS, "history_factor": history_factor, "cycle_channel": cycle_channel,
            "smoothing": smoothing, "label_scale": label_scale, **params}


def network_tags(family: str, library: str = "torch (ours)", **tags: Any) -> dict[str, Any]:
    """The capability tags of a network adapter (``family``: "CNN", "LSTM"...); ``tags``
    add or override any (``install_hint="pip install my-package"`` for a plugin)."""
    return {**torch_tags(family), "library": library, **tags}


class NetworkAdapter(TorchWindowRegressor):
    """Base class of a network in the study: subclass it, set ``name``, ``tags``
    (``network_tags``), ``default_params`` (``network_params``) and ``profiles``, and write
    ``_build_net(n_channels, window)`` returning an ``nn.Module`` that maps a float32 batch
    ``(batch, window, n_channels)`` to ``(batch,)`` RUL divided by ``label_scale``.

    ``window`` there is the history the net reads (protocol window x ``history_factor``);
    ``n_channels`` counts the cycle channel when it is on. Training, early stopping,
    ensembles, devices, threads (``self.context.threads``) and the ``info_`` of each trial
    (parameter count, epochs, validation RMSE) are the shared trainer's.
    """

    @classmethod
    def check_params(cls, workdir):
        """The check kit's settings: the smoke profile with a little more training (3 epochs
        of 1024 windows, still well under a second for our nets), so that the predictions
        depend on the weights (after two tiny epochs a net may predict 0 for every engine,
        and seeds could not be told apart)."""
        params = cls.test_params()
        return {**params, "epochs": max(3, params.get("epochs", 3)),
                "windows_per_epoch": max(1024, params.get("windows_per_epoch", 1024))}


__all__ = ["DEFAULT_TRAINER_PARAMS", "INPUT_PARAMS", "NetworkAdapter", "SMOKE_TRAINER_PARAMS", "STUDY_INPUTS", "TRAINER_PARAM_RANGES",
           "TRAINER_SEARCH_SPACE", "TRAINER_SETTINGS", "network_params", "network_tags"]
