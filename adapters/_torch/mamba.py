"""Mamba (selective state-space model, Gu & Dao 2023) in plain PyTorch, fast on CPU.

The selective scan, with ``mamba_ssm``'s ``selective_scan_ref`` semantics
(u, delta: (batch, d_inner, L); A: (d_inner, N); B, C: (batch, N, L)):

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t,    y_t = C_t . h_t + D * u_t

``selective_scan_torch`` loops over the 15-30 time steps only, each step vectorised over
batch, channels and states, inside a custom autograd function with a hand-written
backward (so autograd stores no per-step graph). On a memory-bound CPU this beats both
materialising all (L, batch, d_inner, N) decays at once and a log-depth parallel scan,
which makes ~2 log2(L) passes over tensors of that size. There is never a Python loop
over batch items. ``selective_scan_naive`` is the literal
step-by-step definition, kept as the test oracle. On a CUDA machine with the optional
``mamba-ssm`` package the same model calls its fused kernel instead; that import happens
lazily, only when CUDA is available, so CPU-only machines never touch CUDA-only code.
"""
from __future__ import annotations

import warnings

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from adapters._torch.nets import mlp_head

SCAN_BACKENDS = ("auto", "torch", "mamba_ssm")


class _SelectiveScanFn(torch.autograd.Function):
    """The recurrence with C folded in, one time step at a time, hand-differentiated.

    Inputs are time-major so every step reads contiguous blocks: u, delta (L, b, d);
    A (d, N); B, C (L, b, N). Returns y (L, b, d). Nothing of size (L, b, d, N) is built
    except the saved states (needed by the backward pass); the decays exp(delta*A) are
    recomputed per step, which is cheaper than storing them on a memory-bound CPU (measured:
    storing them made a training step 30% slower). The per-step contractions over N are a
    multiply and a sum, and dA is accumulated per batch item and summed once at the end:
    on a CPU, batched matrix-vector ``bmm`` calls and a per-step ``einsum`` into (d, N) were
    1.5x and 15x slower than that, and the two together took half of a training step.
    Backward, with g the gradient reaching h[t] (from y[t] and from h[t+1]):
    g[t] = dy[t] C[t] + exp(delta[t+1] A) g[t+1];  dB[t] = sum_d g[t] (delta u)[t];
    dC[t] = sum_d dy[t] h[t];  d(delta u)[t] = sum_n g[t] B[t];
    d(delta[t] A) = g[t] h[t-1] exp(delta[t] A).
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C):
        states = u.new_empty(*u.shape, A.shape[1])
        y = _scan_forward(u, delta, A, B, C, states)
        ctx.save_for_backward(u, delta, A, B, C, states)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        u, delta, A, B, C, states = ctx.saved_tensors
        length, batch, d_inner = u.shape
        grad_y = grad_y.contiguous()
        x = delta * u
        grad_x, grad_delta = torch.empty_like(u), torch.zeros_like(u)
        grad_B, grad_C = torch.empty_like(B), torch.empty_like(C)
        carry = u.new_zeros(batch, d_inner, A.shape[1])
        grad_A_per_item = u.new_zeros(batch, d_inner, A.shape[1])  # summed over the batch at the end
        for t in range(length - 1, -1, -1):
            torch.bmm(grad_y[t, :, None, :], states[t], out=grad_C[t, :, None, :])
            g = torch.addcmul(carry, grad_y[t, :, :, None], C[t, :, None, :])
            torch.sum(g * B[t, :, None, :], dim=-1, out=grad_x[t])
            torch.bmm(x[t, :, None, :], g, out=grad_B[t, :, None, :])
            if t > 0:
                decay = torch.exp(delta[t, :, :, None] * A)
                carry = g * decay
                grad_log_decay = carry * states[t - 1]                  # d/d(delta[t] * A)
                grad_A_per_item.addcmul_(grad_log_decay, delta[t, :, :, None])
                grad_delta[t] = (grad_log_decay * A).sum(-1)
        grad_delta += grad_x * u
        return grad_x * delta, grad_delta, grad_A_per_item.sum(0), grad_B, grad_C


def _scan_forward(u, delta, A, B, C, states: torch.Tensor | None = None) -> torch.Tensor:
    """The recurrence, time-major (see ``_SelectiveScanFn``), returning y (L, b, d).

    With ``states`` (L, b, d, N) every state is written there for the backward pass; without
    it (inference: validation, predict) only the current state is kept. Same arithmetic in
    the same order either way, so the same numbers. Skipping the stored states cut the
    validation pass of a standard-size Mamba on FD004 (10,000 windows, one CPU thread) from
    6.0 to 3.7 s at batch 2048 and from 3.4 to 2.7 s at the trainer's batch of 256."""
    length, batch, d_inner = u.shape
    y = u.new_empty(length, batch, d_inner)
    x = delta * u
    h = u.new_zeros(batch, d_inner, A.shape[1])
    for t in range(length):
        decay = torch.exp(delta[t, :, :, None] * A)
        h = torch.addcmul(x[t, :, :, None] * B[t, :, None, :], decay, h,
                          out=states[t] if states is not None else None)
        torch.sum(h * C[t, :, None, :], dim=-1, out=y[t])
    return y


def _compute_dtype(u: torch.Tensor) -> torch.dtype:
    """float32 like mamba_ssm (half precision inputs are upcast); float64 stays float64."""
    return torch.float64 if u.dtype == torch.float64 else torch.float32


def _prepare_delta(delta: torch.Tensor, delta_bias: torch.Tensor | None, delta_softplus: bool,
                   dtype: torch.dtype) -> torch.Tensor:
    delta = delta.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].to(dtype)
    return F.softplus(delta) if delta_softplus else delta


def _finish(y: torch.Tensor, u: torch.Tensor, D: torch.Tensor | None, z: torch.Tensor | None,
            dtype: torch.dtype) -> torch.Tensor:
    if D is not None:
        y = y + u * D.to(y.dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(dtype)


def selective_scan_torch(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Our CPU/GPU-agnostic selective scan (same arguments and result as ``selective_scan_ref``)."""
    dtype, work = u.dtype, _compute_dtype(u)
    u, delta = u.to(work), _prepare_delta(delta, delta_bias, delta_softplus, work)
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C))
    scan = _SelectiveScanFn.apply if needs_grad else _scan_forward
    y = scan(u.permute(2, 0, 1).contiguous(), delta.permute(2, 0, 1).contiguous(),
             A.to(work).contiguous(), B.to(work).permute(2, 0, 1).contiguous(),
             C.to(work).permute(2, 0, 1).contiguous())
    return _finish(y.permute(1, 2, 0), u, D, z, dtype)


def selective_scan_naive(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The literal definition, one time step at a time with plain autograd (test oracle)."""
    dtype, work = u.dtype, _compute_dtype(u)
    u, delta = u.to(work), _prepare_delta(delta, delta_bias, delta_softplus, work)
    A, B, C = A.to(work), B.to(work), C.to(work)
    batch, d_inner, length = u.shape
    h = u.new_zeros(batch, d_inner, A.shape[1])
    ys = []
    for t in range(length):
        decay = torch.exp(delta[:, :, t, None] * A[None])                   # (b, d, N)
        drive = delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]  # (b, d, N)
        h = decay * h + drive
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
    except Exception as exc:  # absent: ours, silently; broken (a CUDA extension built for another
        # torch, a missing dependency or extension module): ours, with a warning
        if isinstance(exc, ModuleNotFoundError) and exc.name == "mamba_ssm":
            return None
        warnings.warn(f"mamba_ssm is installed but its kernel cannot be loaded ({exc!r}); "
                      "using our PyTorch scan instead", RuntimeWarning, stacklevel=2)
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
