"""LSTM regressor (ours, PyTorch): the study's baseline, on the shared trainer."""
from __future__ import annotations

from adapters.networks import (DEFAULT_TRAINER_PARAMS, SMOKE_TRAINER_PARAMS, STUDY_INPUTS, TRAINER_PARAM_RANGES,
                               TRAINER_SEARCH_SPACE, NetworkAdapter, network_params, network_tags)
from study.contract.search_space import Float, Int


class LSTMAdapter(NetworkAdapter):
    """Stacked LSTM (2 x 64, dropout 0.2) -> last hidden state -> dense head; shared trainer."""

    name = "lstm"
    tags = network_tags("LSTM")
    default_params = network_params(**STUDY_INPUTS, hidden_size=64, num_layers=2, dropout=0.2, head_size=32)
    param_ranges = {**TRAINER_PARAM_RANGES, "hidden_size": (1, None), "num_layers": (1, None), "dropout": (0, 1),
                    "head_size": (1, None)}
    profiles = {"smoke": {**SMOKE_TRAINER_PARAMS, "hidden_size": 16, "num_layers": 1, "head_size": 8},
                "default": DEFAULT_TRAINER_PARAMS}
    search_space = {**TRAINER_SEARCH_SPACE, "hidden_size": Int(16, 128, log=True), "num_layers": Int(1, 3),
                    "dropout": Float(0.0, 0.5)}

    def _build_net(self, n_channels: int, window: int):
        from adapters._torch.nets import LSTMRegressor

        return LSTMRegressor(n_channels, self.params["hidden_size"], self.params["num_layers"],
                             self.params["dropout"], self.params["head_size"])
