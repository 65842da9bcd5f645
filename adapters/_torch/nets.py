"""The LSTM and Transformer window regressors: (batch, time, channels) -> (batch,) scaled RUL."""
from __future__ import annotations

import math

import torch
from torch import nn


def mlp_head(d_in: int, hidden: int, dropout: float) -> nn.Sequential:
    """The dense head every regressor ends with: Linear-GELU-Dropout-Linear to one output."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1))


class LSTMRegressor(nn.Module):
    """The baseline: stacked LSTM with inter-layer dropout, the last hidden state (it has read
    the whole window) into a dense head."""

    def __init__(self, n_channels: int, hidden_size: int = 64, num_layers: int = 2,
                 dropout: float = 0.2, head_size: int = 32):
        super().__init__()
        self.lstm = nn.LSTM(n_channels, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = mlp_head(hidden_size, head_size, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(self.dropout(out[:, -1])).squeeze(-1)


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """The fixed sine/cosine positional encoding of Vaswani et al., (length, d_model)."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
    return pe


class AttentionPooling(nn.Module):
    """A learned score per time step, softmax over time, weighted sum: lets the head look
    wherever the degradation shows (usually the end of the window)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.score = nn.Linear(d_model, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(h), dim=1)  # (batch, time, 1)
        return (weights * h).sum(dim=1)


class TransformerRegressor(nn.Module):
    """A small pre-norm Transformer encoder over the window (sized for C-MAPSS's few
    thousand training windows): channel embedding + sinusoidal positions, then attention
    pooling concatenated with the last time step into a dense head."""

    def __init__(self, n_channels: int, window: int, d_model: int = 64, n_heads: int = 4,
                 n_layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1,
                 head_size: int = 64):
        super().__init__()
        self.embed = nn.Linear(n_channels, d_model)
        self.register_buffer("positions", sinusoidal_positions(max(window, 1), d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward, dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.pool = AttentionPooling(d_model)
        self.dropout = nn.Dropout(dropout)
        self.head = mlp_head(2 * d_model, head_size, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        if length > self.positions.shape[0]:
            pos = sinusoidal_positions(length, self.positions.shape[1]).to(x.device)
        else:
            pos = self.positions[:length]
        h = self.dropout(self.embed(x) + pos)
        h = self.encoder(h)
        features = torch.cat([self.pool(h), h[:, -1]], dim=-1)
        return self.head(features).squeeze(-1)
