"""Mamba (selective state-space model, Gu & Dao 2023) in plain PyTorch, fast on CPU.

The selective scan, with ``mamba_ssm``'s ``selective_scan_ref`` semantics
(u, delta: (batch, d_inner, L); A: (d_inner, N); B, C: (batch, N, L)):

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t,    y_t = C_t . h_t + D * u_t

``selective_scan_torch`` computes the decays and inputs for all steps at once (vectorised
over batch, channels and states) and runs the linear recurrence with a small custom
autograd function: one fused multiply-add per time step forward and one per step
backward (C-MAPSS windows are 15-30 steps, so a loop over time is cheaper than a
log-depth parallel scan, which does ~2 log2(L) passes over the same tensors). There is
never a Python loop over batch items. ``selective_scan_naive`` is the literal
step-by-step definition, kept as the test oracle. On a CUDA machine with the optional
``mamba-ssm`` package the same model calls its fused kernel instead; that import happens
lazily, only when CUDA is available, so CPU-only machines never touch CUDA-only code.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from adapters._torch.nets import mlp_head

SCAN_BACKENDS = ("auto", "torch", "mamba_ssm")


class _LinearRecurrence(torch.autograd.Function):
    """h[t] = a[t] * h[t-1] + b[t] along dim 0 (h[-1] = 0), with a hand-written backward:
    g[t] = dL/dh[t] + a[t+1] * g[t+1];  dL/db[t] = g[t];  dL/da[t] = g[t] * h[t-1]."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h = torch.empty_like(b)
        h[0] = b[0]
        for t in range(1, b.shape[0]):
            torch.addcmul(b[t], a[t], h[t - 1], out=h[t])
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h: torch.Tensor):
        a, h = ctx.saved_tensors
        grad_h = grad_h.contiguous()
        g = torch.empty_like(grad_h)
        g[-1] = grad_h[-1]
        for t in range(grad_h.shape[0] - 2, -1, -1):
            torch.addcmul(grad_h[t], a[t + 1], g[t + 1], out=g[t])
        grad_a = torch.zeros_like(a)
        grad_a[1:] = g[1:] * h[:-1]
        return grad_a, g


def linear_recurrence(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All states of h[t] = a[t] * h[t-1] + b[t] (time on dim 0, h[-1] = 0)."""
    return _LinearRecurrence.apply(a.contiguous(), b.contiguous())


def _prepare_delta(delta: torch.Tensor, delta_bias: torch.Tensor | None, delta_softplus: bool) -> torch.Tensor:
    delta = delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].float()
    return F.softplus(delta) if delta_softplus else delta


def _finish(y: torch.Tensor, u: torch.Tensor, D: torch.Tensor | None, z: torch.Tensor | None,
            dtype: torch.dtype) -> torch.Tensor:
    if D is not None:
        y = y + u * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)


def selective_scan_torch(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Our CPU/GPU-agnostic selective scan (same arguments and result as ``selective_scan_ref``)."""
    dtype = u.dtype
    u, delta = u.float(), _prepare_delta(delta, delta_bias, delta_softplus)
    # Time first, so each step of the recurrence is one contiguous (batch, d_inner, N) block.
    delta_t = delta.permute(2, 0, 1).unsqueeze(-1)                     # (L, b, d, 1)
    decay = torch.exp(delta_t * A.float())                             # (L, b, d, N)
    drive = (delta_t * u.permute(2, 0, 1).unsqueeze(-1)) * B.float().permute(2, 0, 1).unsqueeze(2)
    h = linear_recurrence(decay, drive)                                # (L, b, d, N)
    y = torch.einsum("lbdn,bnl->bdl", h, C.float())
    return _finish(y, u, D, z, dtype)


def selective_scan_naive(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The literal definition, one time step at a time (test oracle; slow by design)."""
    dtype = u.dtype
    u, delta = u.float(), _prepare_delta(delta, delta_bias, delta_softplus)
    A, B, C = A.float(), B.float(), C.float()
    batch, d_inner, length = u.shape
    h = u.new_zeros(batch, d_inner, A.shape[1])
    ys = []
    for t in range(length):
        dA = torch.exp(delta[:, :, t, None] * A[None])                      # (b, d, N)
        dBu = delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]    # (b, d, N)
        h = dA * h + dBu
        ys.append((h * C[:, None, :, t]).sum(-1))                         # (b, d)
    return _finish(torch.stack(ys, dim=-1), u, D, z, dtype)


@lru_cache(maxsize=1)
def mamba_ssm_scan_fn():
    """``mamba_ssm``'s fused CUDA ``selective_scan_fn``, or None. Imported only when CUDA is
    available: the package cannot even be imported without its CUDA extension."""
    if not torch.cuda.is_available():
        return None
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # ImportError, or a CUDA extension built for another torch
        return None
    return selective_scan_fn


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   backend: str = "auto"):
    """Dispatch: ``mamba_ssm``'s kernel for CUDA tensors when installed ("auto"), else ours."""
    if backend not in SCAN_BACKENDS:
        raise ValueError(f"scan backend must be one of {SCAN_BACKENDS}, got {backend!r}")
    if backend != "torch" and u.is_cuda:
        fn = mamba_ssm_scan_fn()
        if fn is not None:
            return fn(u.contiguous(), delta.contiguous(), A.contiguous(), B.contiguous(), C.contiguous(),
                      D, z.contiguous() if z is not None else None, delta_bias, delta_softplus)
    if backend == "mamba_ssm":
        raise RuntimeError("scan backend 'mamba_ssm' needs a CUDA tensor and the mamba-ssm package "
                           "(pip install -e '.[mamba-cuda]' on a CUDA machine)")
    return selective_scan_torch(u, delta, A, B, C, D, z, delta_bias, delta_softplus)


class MambaMixer(nn.Module):
    """One Mamba mixer (as in ``mamba_ssm``'s ``Mamba``): input/gate projection, causal
    depthwise convolution, input-dependent delta, B and C, selective scan, gated output."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | str = "auto", dt_min: float = 1e-3, dt_max: float = 0.1,
                 scan_backend: str = "auto"):
        super().__init__()
        self.d_inner = expand * d_model
        self.d_state = d_state
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.scan_backend = scan_backend
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        # Mamba's initialisation: delta starts log-uniform in [dt_min, dt_max] (bias = softplus^-1).
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        # S4D-real initialisation: A = -(1..N) for every channel, kept as log for positivity.
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        length = h.shape[1]
        x, z = self.in_proj(h).transpose(1, 2).chunk(2, dim=1)           # (b, d_inner, L) each
        x = F.silu(self.conv1d(x)[..., :length])
        dt, B, C = self.x_proj(x.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ self.dt_proj.weight.T).transpose(1, 2)              # bias added in the scan
        y = selective_scan(x, delta, -torch.exp(self.A_log.float()), B.transpose(1, 2), C.transpose(1, 2),
                           self.D.float(), z, self.dt_proj.bias.float(), True, backend=self.scan_backend)
        return self.out_proj(y.transpose(1, 2))


class MambaBlock(nn.Module):
    """Pre-norm residual block around a mixer: h + dropout(mixer(RMSNorm(h)))."""

    def __init__(self, d_model: int, dropout: float = 0.0, **mixer_kwargs):
        super().__init__()
        self.norm = nn.RMSNorm(d_model)
        self.mixer = MambaMixer(d_model, **mixer_kwargs)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.dropout(self.mixer(self.norm(h)))


class MambaRegressor(nn.Module):
    """Channel embedding, a stack of Mamba blocks, final RMSNorm; the last step (which has
    read the whole window: the scan is causal) and the mean over time into a dense head."""

    def __init__(self, n_channels: int, d_model: int = 64, n_layers: int = 2, d_state: int = 16,
                 d_conv: int = 4, expand: int = 2, dropout: float = 0.1, head_size: int = 64,
                 scan_backend: str = "auto"):
        super().__init__()
        self.embed = nn.Linear(n_channels, d_model)
        self.blocks = nn.ModuleList(
            MambaBlock(d_model, dropout, d_state=d_state, d_conv=d_conv, expand=expand, scan_backend=scan_backend)
            for _ in range(n_layers))
        self.norm = nn.RMSNorm(d_model)
        self.head = mlp_head(2 * d_model, head_size, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        return self.head(torch.cat([h[:, -1], h.mean(dim=1)], dim=-1)).squeeze(-1)
