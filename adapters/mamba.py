"""Mamba regressor (ours): selective state-space blocks in plain PyTorch, runs anywhere;
uses mamba-ssm's fused CUDA kernel when that optional package and a GPU are present."""
from __future__ import annotations

from adapters.networks import (DEFAULT_TRAINER_PARAMS, SMOKE_TRAINER_PARAMS, STUDY_INPUTS, TRAINER_PARAM_RANGES,
                               TRAINER_SEARCH_SPACE, NetworkAdapter, network_params, network_tags)
from study.contract.search_space import Categorical, Float, Int


class MambaAdapter(NetworkAdapter):
    """Stack of Mamba blocks (d_model 32, d_state 16, expand 2; d_model 32 because the scan's
    state is d_inner x d_state per step and all network trials must fit the CPU hour) -> last step + mean over time
    -> dense head; shared trainer. ``scan_backend``: "auto" (mamba-ssm on CUDA if installed,
    else ours), "torch" (always ours) or "mamba_ssm" (required)."""

    name = "mamba"
    tags = network_tags("Mamba")
    default_params = network_params(**STUDY_INPUTS, d_model=32, n_layers=2, d_state=16, d_conv=4, expand=2,
                                    dropout=0.1, head_size=64, scan_backend="auto")
    param_ranges = {**TRAINER_PARAM_RANGES, "d_model": (1, None), "n_layers": (1, None), "d_state": (1, None),
                    "d_conv": (1, None), "expand": (1, None), "dropout": (0, 1), "head_size": (1, None)}
    profiles = {"smoke": {**SMOKE_TRAINER_PARAMS, "d_model": 16, "n_layers": 1, "d_state": 4, "head_size": 16},
                "default": DEFAULT_TRAINER_PARAMS}
    search_space = {**TRAINER_SEARCH_SPACE, "d_model": Categorical((16, 32, 64)), "n_layers": Int(1, 4),
                    "d_state": Categorical((8, 16)), "dropout": Float(0.0, 0.5)}
    # FD001 only: reports/network-settings.md#mamba-on-fd001-weight-decay-005
    subset_params = {"FD001": {"weight_decay": 0.05}}

    def _backend_info(self) -> dict:
        """The scan that ran: results from mamba-ssm's kernel and ours agree only to float tolerance."""
        from adapters._torch.mamba import mamba_ssm_scan_fn

        fused = (self.device_.type == "cuda" and self.params["scan_backend"] != "torch"
                 and mamba_ssm_scan_fn() is not None)
        return {"scan_backend": "mamba_ssm" if fused else "torch"}

    def _build_net(self, n_channels: int, window: int):
        from adapters._torch.mamba import MambaRegressor

        p = self.params
        return MambaRegressor(n_channels, p["d_model"], p["n_layers"], p["d_state"], p["d_conv"], p["expand"],
                              p["dropout"], p["head_size"], p["scan_backend"])
