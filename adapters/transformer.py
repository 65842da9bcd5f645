"""Transformer encoder regressor (ours, PyTorch), sized for C-MAPSS's small data."""
from __future__ import annotations

from adapters.networks import (DEFAULT_TRAINER_PARAMS, SMOKE_TRAINER_PARAMS, STUDY_INPUTS, TRAINER_PARAM_RANGES,
                               TRAINER_SEARCH_SPACE, NetworkAdapter, network_params, network_tags)
from study.contract.search_space import Categorical, Float, Int


class TransformerAdapter(NetworkAdapter):
    """Pre-norm encoder (2 layers, d_model 64, 4 heads) with sinusoidal positions, attention
    pooling + last step into a dense head; shared trainer."""

    name = "transformer"
    tags = network_tags("Transformer")
    default_params = network_params(**STUDY_INPUTS, d_model=64, n_heads=4, n_layers=2, dim_feedforward=128,
                                    dropout=0.1, head_size=64)
    param_ranges = {**TRAINER_PARAM_RANGES, "d_model": (1, None), "n_heads": (1, None), "n_layers": (1, None),
                    "dim_feedforward": (1, None), "dropout": (0, 1), "head_size": (1, None)}
    profiles = {"smoke": {**SMOKE_TRAINER_PARAMS, "d_model": 16, "n_heads": 2, "n_layers": 1,
                          "dim_feedforward": 32, "head_size": 16},
                "default": DEFAULT_TRAINER_PARAMS}
    # widths all divisible by the 4 heads
    search_space = {**TRAINER_SEARCH_SPACE, "d_model": Categorical((32, 64, 128)), "n_layers": Int(1, 4),
                    "dim_feedforward": Categorical((64, 128, 256)), "dropout": Float(0.0, 0.5)}
    # FD001 only: reports/network-settings.md#transformer-on-fd001-cycle-channel-and-smoothing-02
    subset_params = {"FD001": {"cycle_channel": True, "smoothing": 0.2}}

    def _build_net(self, n_channels: int, window: int):
        from adapters._torch.nets import TransformerRegressor

        p = self.params
        return TransformerRegressor(n_channels, window, p["d_model"], p["n_heads"], p["n_layers"],
                                    p["dim_feedforward"], p["dropout"], p["head_size"])
