"""LSTM regressor (ours, PyTorch): the user's 2021 Keras model, done properly."""
from __future__ import annotations

from adapters._torch import (SMOKE_TRAINER_PARAMS, TRAINER_PARAMS, TRAINER_SEARCH_SPACE, TorchWindowRegressor,
                             torch_tags)
from study.search_space import Float, Int


class LSTMAdapter(TorchWindowRegressor):
    """Stacked LSTM (2 x 64, dropout 0.2) -> last hidden state -> dense head; shared trainer."""

    name = "lstm"
    tags = torch_tags("LSTM")
    default_params = {**TRAINER_PARAMS, "hidden_size": 64, "num_layers": 2, "dropout": 0.2, "head_size": 32}
    profiles = {"smoke": {**SMOKE_TRAINER_PARAMS, "hidden_size": 16, "num_layers": 1, "head_size": 8}}
    search_space = {**TRAINER_SEARCH_SPACE, "hidden_size": Int(16, 128, log=True), "num_layers": Int(1, 3),
                    "dropout": Float(0.0, 0.5)}

    def _build_net(self, n_channels: int, window: int):
        from adapters._torch.nets import LSTMRegressor

        return LSTMRegressor(n_channels, self.params["hidden_size"], self.params["num_layers"],
                             self.params["dropout"], self.params["head_size"])
