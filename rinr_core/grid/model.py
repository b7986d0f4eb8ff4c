"""The grid codec's networks in torch: upsampling + synthesis, and the float entropy model.

Networks are lists of tensors in :attr:`GridArch.tensor_shapes` order with a leading batch
dimension of 1 (one network shared by every frame of a stream) or ``B`` (one network per
frame of a per-frame batch); latents are ``[B, 1, h_l, w_l]`` per level. The same functions
train (with gradients) and decode (from the stored weights), so a decoder renders exactly what
the encoder measured. :func:`latent_bits` is the training-time rate: the float twin of the
integer entropy model (:mod:`rinr_core.grid.arm`) with the same inputs
(:mod:`rinr_core.grid.context`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from rinr_core.grid.arch import GridArch
from rinr_core.grid.context import OFFSETS, level_shift
from rinr_core.grid.laplace import T_MAX, T_MIN

LATENT_LIMIT = 127
"""Largest magnitude of a latent (they are clamped to it)."""
MIN_PROBABILITY = 2.0**-20
"""Floor of a latent's modelled probability (about what the ANS coder can give it)."""


def init_networks(arch: GridArch, count: int, generator: torch.Generator,
                  device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Fresh networks (``count`` copies): weights and biases uniform in ``+-1/sqrt(fan_in)``
    (torch's default for linear layers), the residual 3x3 conv zero (it starts as identity).

    Measured on a real 160 px frame, this plain init reached 30% fewer bits at equal PSNR
    than starting the entropy model near ``(0, 0)`` and the output at mid grey.
    """
    out = []
    shapes = arch.tensor_shapes
    n_syn = len(arch.synthesis_shapes)
    for k, shape in enumerate(shapes):
        weight = shapes[k - 1] if len(shape) == 1 else shape
        fan_in = weight[1] * (weight[2] * weight[3] if len(weight) == 4 else 1)
        bound = 1.0 / math.sqrt(fan_in)
        value = (torch.rand((count, *shape), generator=generator) * 2 - 1) * bound
        if arch.conv3 and k >= n_syn - 2 and k < n_syn:
            value = torch.zeros((count, *shape))
        out.append(value.to(device))
    return out


def upsample(latents: Sequence[torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Every level bilinearly upsampled to ``height x width`` and stacked: ``[B, L, H, W]``."""
    up = [z if tuple(z.shape[-2:]) == (height, width) else
          F.interpolate(z, size=(height, width), mode="bilinear", align_corners=False)
          for z in latents]
    return torch.cat(up, dim=1)


def synthesize(arch: GridArch, networks: Sequence[torch.Tensor], latents: Sequence[torch.Tensor],
               height: int, width: int) -> torch.Tensor:
    """RGB ``[B, 3, H, W]`` (unclamped, ``[0, 1]`` scale) of latents through the synthesis."""
    x = upsample(latents, height, width)
    batch = x.shape[0]
    x = x.reshape(batch, arch.levels, height * width).transpose(1, 2)  # [B, pixels, levels]
    layers = len(arch.synthesis) + 1
    for k in range(layers):
        x = _dense(x, networks[2 * k], networks[2 * k + 1])
        if k < layers - 1:
            x = torch.relu(x)
    x = x.transpose(1, 2).reshape(batch, 3, height, width)
    if arch.conv3:
        weight, bias = networks[2 * layers], networks[2 * layers + 1]
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        if weight.shape[0] == 1:
            residual = F.conv2d(padded, weight[0], bias[0])
        else:
            residual = F.conv2d(padded.reshape(1, batch * 3, height + 2, width + 2),
                                weight.reshape(batch * 3, 3, 3, 3), bias.reshape(batch * 3),
                                groups=batch).reshape(batch, 3, height, width)
        x = x + residual
    return x


def _dense(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x @ W^T + b`` for ``x`` ``[B, n, in]``: one shared layer (``W`` ``[1, out, in]``) as
    one matrix product over every row, or one layer per batch item (``[B, out, in]``)."""
    if weight.shape[0] == 1:
        return F.linear(x, weight[0], bias[0])
    return torch.baddbmm(bias[:, None, :], x, weight.transpose(1, 2))


def arm_forward(arch: GridArch, networks: Sequence[torch.Tensor], contexts: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Laplace ``(mean, log2 scale)`` ``[B, n]`` of contexts ``[B, n, inputs]`` (float model)."""
    tensors = networks[len(arch.synthesis_shapes):]
    x = contexts
    layers = len(tensors) // 2
    for k in range(layers):
        x = _dense(x, tensors[2 * k], tensors[2 * k + 1])
        if k < layers - 1:
            x = torch.relu(x)
    return x[..., 0], x[..., 1]


def shift_grid(reference: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """``reference[..., y - sy, x - sx]`` with coordinates clamped to the grid (whole latents)."""
    h, w = reference.shape[-2:]
    rows = (torch.arange(h, device=reference.device) - shift[1]).clamp(0, h - 1)
    cols = (torch.arange(w, device=reference.device) - shift[0]).clamp(0, w - 1)
    return reference.index_select(-2, rows).index_select(-1, cols)


def level_contexts(arch: GridArch, level: int, latents: Sequence[torch.Tensor],
                   previous: torch.Tensor | None, shifts: Sequence[tuple[int, int]],
                   flags: torch.Tensor | None) -> torch.Tensor:
    """Contexts ``[B, h * w, inputs]`` of one level's latents (raster order).

    Parameters
    ----------
    latents
        Every level ``[B, 1, h_l, w_l]`` (the coarser one is read too).
    previous
        Each frame's reference latents of this level ``[B, 1, h, w]`` (zeros for a frame
        without one), or ``None`` without a temporal model.
    shifts
        Each frame's motion in quarter pixels.
    flags
        ``[B]``: 1 for frames with a reference (temporal models only).
    """
    z = latents[level]
    batch, _, h, w = z.shape
    offsets = OFFSETS[:arch.context]
    top = max([0, *(-dy for dy, _ in offsets)])
    side = max([0, *(abs(dx) for _, dx in offsets)])
    padded = F.pad(z, (side, side, top, 0))
    columns = [padded[:, 0, top + dy : top + dy + h, side + dx : side + dx + w] for dy, dx in offsets]
    if level + 1 < len(latents):
        coarse = latents[level + 1][:, 0]
        columns.append(coarse.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[:, :h, :w])
    else:
        columns.append(torch.zeros_like(z[:, 0]))
    if previous is not None and flags is not None:
        moved = torch.cat([shift_grid(previous[b : b + 1], level_shift(shifts[b], level))
                           for b in range(batch)])
        columns.append(moved[:, 0])
        columns.append(flags[:, None, None].expand(batch, h, w).to(z.dtype))
    return torch.stack(columns, dim=-1).reshape(batch, h * w, len(columns))


def laplace_bits(symbols: torch.Tensor, mean: torch.Tensor, log2_scale: torch.Tensor) -> torch.Tensor:
    """Bits ``-log2 P(symbol)`` under discretized Laplaces (elementwise, floored probability)."""
    scale = torch.exp2(log2_scale.clamp(T_MIN, T_MAX))
    upper = (symbols + 0.5 - mean) / scale
    lower = (symbols - 0.5 - mean) / scale
    e_hi, e_lo = torch.exp(-upper.abs()), torch.exp(-lower.abs())
    p = torch.where(lower >= 0, 0.5 * (e_lo - e_hi),
                    torch.where(upper <= 0, 0.5 * (e_hi - e_lo), 1.0 - 0.5 * (e_hi + e_lo)))
    return -torch.log2(p.clamp_min(MIN_PROBABILITY))


def latent_bit_map(arch: GridArch, networks: Sequence[torch.Tensor],
                   latents: Sequence[torch.Tensor], previous: Sequence[torch.Tensor] | None = None,
                   shifts: Sequence[tuple[int, int]] | None = None,
                   flags: torch.Tensor | None = None) -> torch.Tensor:
    """Modelled bits ``[B, n]`` of every latent (levels finest first, each in raster order).

    ``previous[level]`` ``[B, 1, h, w]``, ``shifts`` and ``flags`` as in
    :func:`level_contexts` (temporal models only).
    """
    batch = latents[0].shape[0]
    shifts = shifts or [(0, 0)] * batch
    contexts = torch.cat([level_contexts(arch, level, latents,
                                         None if previous is None else previous[level],
                                         shifts, flags) for level in range(arch.levels)], dim=1)
    symbols = torch.cat([z.reshape(batch, -1) for z in latents], dim=1)
    mean, log2_scale = arm_forward(arch, networks, contexts)
    return laplace_bits(symbols, mean, log2_scale)


def latent_bits(arch: GridArch, networks: Sequence[torch.Tensor], latents: Sequence[torch.Tensor],
                previous: Sequence[torch.Tensor] | None = None,
                shifts: Sequence[tuple[int, int]] | None = None,
                flags: torch.Tensor | None = None, coded: torch.Tensor | None = None
                ) -> torch.Tensor:
    """Modelled bits ``[B]`` of each frame's latents (only where ``coded`` ``[B, n]`` is 1)."""
    bits = latent_bit_map(arch, networks, latents, previous, shifts, flags)
    return (bits if coded is None else bits * coded).sum(dim=1)
