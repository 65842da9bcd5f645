"""A small 1D-CNN in the C-MAPSS study through the public network kit: an example plugin."""
from __future__ import annotations

from adapters.networks import (DEFAULT_TRAINER_PARAMS, SMOKE_TRAINER_PARAMS, TRAINER_SEARCH_SPACE, NetworkAdapter,
                               network_params, network_tags)
from study.contract.search_space import Int


class TinyCNNAdapter(NetworkAdapter):
    """Two 1D convolutions over time, global average pooling, a linear head;
    trained by the study's shared trainer on the protocol's windows, no cycle channel."""

    name = "tiny-cnn"
    tags = network_tags("CNN", library="torch (study-cnn example)", install_hint="pip install torch")
    default_params = network_params(history_factor=1.0, cycle_channel=False, channels=32, kernel_size=5)
    profiles = {"smoke": {**SMOKE_TRAINER_PARAMS, "channels": 8}, "default": DEFAULT_TRAINER_PARAMS}
    search_space = {**TRAINER_SEARCH_SPACE, "channels": Int(8, 64, log=True)}

    def _build_net(self, n_channels: int, window: int):
        from torch import nn

        class CNN(nn.Module):
            def __init__(self, width: int, kernel: int):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Conv1d(n_channels, width, kernel, padding="same"), nn.ReLU(),
                    nn.Conv1d(width, width, kernel, padding="same"), nn.ReLU(), nn.AdaptiveAvgPool1d(1))
                self.head = nn.Linear(width, 1)

            def forward(self, x):  # (batch, window, channels) -> (batch,) RUL / label_scale
                return self.head(self.body(x.transpose(1, 2)).squeeze(-1)).squeeze(-1)

        return CNN(self.params["channels"], self.params["kernel_size"])
