"""Simulated fixed-point arithmetic for forward-gradient training (fake quantization in torch).

A fixed-point accelerator (NPU, DSP, MCU) stores every weight as a ``b``-bit integer code
``q`` with a scale ``s`` (the weight is ``q * s``) and requantizes every layer's output to
``b`` bits before the next layer reads it. This module simulates that in float32 torch:

- **Weights**: symmetric, per output channel. For a weight tensor ``w`` (2 or more dims),
  channel ``c`` has the scale ``s_c = max|w_c| / (2**(b-1) - 1)`` and the weight becomes
  ``clamp(round(w / s_c), -qmax, qmax) * s_c`` (:func:`snap_`). The scale is fixed when
  training starts, so updates move the integer codes and never the grid. One-dimensional
  parameters (convolution biases, BatchNorm's affine terms) stay at float32: an integer
  accelerator keeps biases and per-channel requantization multipliers at 32 bits.
- **Activations**: symmetric, per tensor, dynamic: the output ``x`` of every convolution block
  (Ultralytics ``Conv``: conv + BatchNorm + SiLU) and of every bare ``nn.Conv2d`` (the head's
  final 1x1 predictors) becomes ``round(x / s) * s`` with ``s = max|x| / qmax``
  (:func:`quantized_activations`). The rounding passes tangents straight through (the
  straight-through estimator), so forward-mode derivatives can also be taken through it.
- **Updates**: an update of a quantized weight is rounded to its grid stochastically
  (:func:`stochastic_round`), so steps smaller than one code move the weight in expectation
  instead of being lost.

The tensors are float32 holding grid values; a device would store the codes in ``b`` bits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rinr_core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

FIXED_POINT_BITS = (16, 8)
"""Bit widths of the fixed-point simulation (0 means float32, no quantization)."""


def check_bits(bits: int) -> int:
    """Return ``bits`` when it is 0 (float32), 16 or 8; raise :class:`ConfigError` otherwise."""
    if bits != 0 and bits not in FIXED_POINT_BITS:
        raise ConfigError(f"fixed-point bits must be 0 (float32), 16 or 8, got {bits!r}")
    return bits


def qmax(bits: int) -> int:
    """Largest code of a symmetric signed ``bits``-bit integer (127 for 8 bits)."""
    return (1 << (bits - 1)) - 1


def channel_scale(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel grid step of ``weight`` (shape ``[C, 1, 1, ...]``, never 0)."""
    flat = weight.detach().abs().reshape(weight.shape[0], -1).amax(dim=1)
    step = flat.clamp_min(1e-12) / qmax(bits)
    return step.reshape(-1, *([1] * (weight.dim() - 1)))


def snap_(weight: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """Round ``weight`` in place to its ``bits``-bit grid of step ``scale``; return it."""
    limit = qmax(bits)
    weight.div_(scale).round_().clamp_(-limit, limit).mul_(scale)
    return weight


def stochastic_round(codes: torch.Tensor, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """Round real-valued ``codes`` to integers, up with probability equal to the fraction."""
    import torch

    noise = torch.rand(codes.shape, generator=generator, device=codes.device, dtype=codes.dtype)
    return torch.floor(codes + noise)


def fake_quant(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``x`` rounded to a symmetric per-tensor ``bits``-bit grid (dynamic scale, STE)."""
    limit = qmax(bits)
    scale = x.detach().abs().amax().clamp_min(1e-12) / limit
    rounded = (x.detach() / scale).round().clamp(-limit, limit) * scale
    return x + (rounded - x.detach())  # value: rounded; tangent/gradient: that of x


def quantize_weights_(model: torch.nn.Module, bits: int) -> dict[str, torch.Tensor]:
    """Snap every weight tensor (2+ dims) of ``model`` to its grid in place; return the scales.

    Ultralytics' DFL convolution is left alone: it is the fixed projection ``0, 1, ..., 15``
    that decodes box distributions, not a learned weight (a device computes it exactly).

    The scales (by parameter name) stay fixed for the rest of training. Applied twice with
    the same bits, the second call changes nothing: a channel's largest weight is a code of
    ``qmax`` exactly, so the scales are the same.
    """
    import torch

    scales: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2 and param.is_floating_point() and ".dfl." not in f".{name}":
                scale = channel_scale(param, bits)
                snap_(param.data, scale, bits)
                scales[name] = scale
    return scales


def activation_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Modules whose outputs a fixed-point device requantizes (see the module docstring)."""
    import torch
    from ultralytics.nn.modules.block import DFL
    from ultralytics.nn.modules.conv import Conv

    blocks = [m for m in model.modules() if isinstance(m, Conv)]
    inside = {id(block.conv) for block in blocks}
    inside |= {id(m.conv) for m in model.modules() if isinstance(m, DFL)}  # fixed, unused in training
    bare = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and id(m) not in inside]
    return [*blocks, *bare]


@contextmanager
def quantized_activations(modules: list[torch.nn.Module], bits: int) -> Iterator[None]:
    """While active, the outputs of ``modules`` are fake-quantized to ``bits`` (0: no-op)."""
    if bits == 0:
        yield
        return

    def hook(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        return fake_quant(output, bits)

    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
