"""Stored NeRV weights: per-tensor quantization (own range or a fixed grid) and loading it back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rinr_core.errors import ConfigError
from rinr_core.nerv.model import Nerv
from rinr_core.quantize import QuantTensor, check_bits, fake_quantize, quantize_tensor

Grid = list[tuple[float, float]]  # per tensor (lo, step) of a fixed quantization grid


def _on_grid(t: torch.Tensor, lo: float, step: float, bits: int) -> torch.Tensor:
    """Integer codes of ``t`` on the grid ``lo + q * step``, ``q`` clamped to ``bits`` bits."""
    return torch.round((t - lo) / step).clamp(0, 2**bits - 1)


def _fake_quantized(model: Nerv, bits: int, grid: Grid | None) -> dict[str, torch.Tensor]:
    """Parameters rounded as they will be stored, with a straight-through gradient."""
    out = {}
    for k, (name, p) in enumerate(model.named_parameters()):
        if grid is None:
            out[name] = fake_quantize(p.reshape(1, -1), bits).reshape(p.shape)
        else:
            lo, step = grid[k]
            out[name] = p + (lo + _on_grid(p, lo, step, bits) * step - p).detach()
    return out


def quantize_nerv(model: Nerv, bits: int, grid: Grid | None = None) -> list[QuantTensor]:
    """The stored form of every parameter: per-tensor ``bits``-bit codes.

    With ``grid`` (one ``(lo, step)`` per tensor, e.g. an earlier version's), codes are taken on
    that fixed grid (clamped), so they can be shipped as a difference to the earlier codes.
    """
    check_bits(bits)
    out = []
    for k, p in enumerate(model.parameters()):
        if grid is None:
            out.append(quantize_tensor(p, bits))
            continue
        lo, step = grid[k]
        t = p.detach().double().cpu()
        codes = _on_grid(t, lo, step, bits).to(torch.int64).numpy().astype(np.uint32).reshape(-1)
        out.append(QuantTensor(codes=codes, lo=lo, step=step, shape=tuple(p.shape), bits=bits))
    return out


def load_quantized(model: Nerv, tensors: Sequence[QuantTensor]) -> Nerv:
    """Overwrite ``model``'s parameters with dequantized stored tensors (in place); returns it."""
    params = list(model.parameters())
    if len(params) != len(tensors):
        raise ConfigError(f"NeRV has {len(params)} tensors, got {len(tensors)} stored ones")
    with torch.no_grad():
        for p, q in zip(params, tensors, strict=True):
            if tuple(p.shape) != tuple(q.shape):
                raise ConfigError(f"stored NeRV tensor of shape {q.shape} does not fit parameter {tuple(p.shape)}")
            p.copy_(torch.from_numpy(q.dequantize()).to(p.device))
    return model
