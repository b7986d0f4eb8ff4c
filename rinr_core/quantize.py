"""Uniform affine quantization of INR weights, and bit packing.

Each tensor ``t`` is stored as ``bits``-bit integers ``q`` with a per-tensor ``lo`` and
``step`` (float32): ``t ~= lo + q * step``. Rounding error is at most ``step / 2`` per weight.
:func:`fake_quantize` is the same rounding with a straight-through gradient, used for a short
quantization-aware fine-tune so that the network adapts to the weights it will really ship.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rinr_core.errors import ConfigError

MAX_BITS = 16


def check_bits(bits: int) -> int:
    if not isinstance(bits, int) or not (2 <= bits <= MAX_BITS):
        raise ConfigError(f"bit width must be an integer in 2..{MAX_BITS}, got {bits!r}")
    return bits


@dataclass
class QuantTensor:
    """One quantized tensor: integer codes plus the affine map back to floats."""

    codes: np.ndarray  # uint16/uint32, flattened
    lo: float
    step: float
    shape: tuple[int, ...]
    bits: int

    def dequantize(self) -> np.ndarray:
        return (self.lo + self.codes.astype(np.float64) * self.step).astype(np.float32).reshape(self.shape)


def _range(t: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-item ``lo`` and ``step`` for a batched tensor ``[B, ...]`` (float32-representable)."""
    flat = t.detach().reshape(t.shape[0], -1)
    lo = flat.min(dim=1).values
    hi = flat.max(dim=1).values
    step = (hi - lo).clamp_min(1e-12) / (2**bits - 1)
    return lo.float(), step.float()


def fake_quantize(t: torch.Tensor, bits: int) -> torch.Tensor:
    """Round every item of a batched tensor to its ``bits``-bit grid; gradient passes straight."""
    lo, step = _range(t, bits)
    view = (-1,) + (1,) * (t.dim() - 1)
    lo, step = lo.view(view), step.view(view)
    q = torch.round((t - lo) / step).clamp(0, 2**bits - 1)
    return t + (lo + q * step - t).detach()


def quantize_tensor(t: torch.Tensor, bits: int) -> QuantTensor:
    """Quantize one (unbatched) tensor to ``bits`` bits."""
    check_bits(bits)
    t = t.detach().float().cpu()
    lo, step = _range(t.reshape(1, -1), bits)
    lo_f, step_f = float(np.float32(lo[0])), float(np.float32(step[0]))
    q = np.rint((t.numpy().astype(np.float64) - lo_f) / step_f)
    codes = np.clip(q, 0, 2**bits - 1).astype(np.uint32).reshape(-1)
    return QuantTensor(codes=codes, lo=lo_f, step=step_f, shape=tuple(t.shape), bits=bits)


def tensor_bit_widths(num_layers: int, bits: int, first_layer_bits: int | None = None) -> list[int]:
    """Bit width of each tensor ``W0, b0, W1, b1, ...`` of a SIREN with ``num_layers`` layers.

    SIREN multiplies every pre-activation by ``w0`` (30), so rounding errors in the first layer,
    which sees raw coordinates, are amplified most: measured on a real frame, 8-bit first-layer
    weights alone cost 2.4 dB, and keeping that layer (84 weights for 4x28) at 16 bits recovers
    all but 0.2 dB. ``first_layer_bits`` sets that layer's width (never below ``bits``).
    """
    first = bits if first_layer_bits is None else max(bits, check_bits(first_layer_bits))
    return [first, first] + [check_bits(bits)] * (2 * (num_layers - 1))


def pack_bits(codes: np.ndarray, bits: int) -> bytes:
    """Pack unsigned integer codes of ``bits`` bits each, big-endian bit order."""
    check_bits(bits)
    codes = np.asarray(codes, dtype=np.uint32).reshape(-1)
    if codes.size and int(codes.max()) >= 2**bits:
        raise ConfigError(f"code {int(codes.max())} does not fit in {bits} bits")
    if bits == 8:
        return codes.astype(np.uint8).tobytes()
    if bits == 16:
        return codes.astype(">u2").tobytes()
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    bitplane = ((codes[:, None] >> shifts) & 1).astype(np.uint8)
    return np.packbits(bitplane.reshape(-1)).tobytes()


def packed_size(count: int, bits: int) -> int:
    """Bytes that :func:`pack_bits` produces for ``count`` codes."""
    return (count * bits + 7) // 8


def unpack_bits(data: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``count`` codes as ``uint32``."""
    check_bits(bits)
    if len(data) != packed_size(count, bits):
        raise ValueError(f"expected {packed_size(count, bits)} bytes for {count} {bits}-bit codes, got {len(data)}")
    if bits == 8:
        return np.frombuffer(data, dtype=np.uint8).astype(np.uint32)
    if bits == 16:
        return np.frombuffer(data, dtype=">u2").astype(np.uint32)
    bitplane = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits].reshape(count, bits)
    weights = (1 << np.arange(bits - 1, -1, -1, dtype=np.uint32))
    return (bitplane.astype(np.uint32) * weights).sum(axis=1).astype(np.uint32)
