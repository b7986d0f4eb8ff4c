"""Per-output-channel affine quantization (tensor method ``affine``) and the ``int8`` codec.

Each output channel (the first axis of a tensor with two or more axes) gets its own grid:
a scale and a zero point (stored as the grid start ``lo``, float16 times one power of two per
tensor, :mod:`rinr_core.weights.affine`) covering the channel's ``[min, max]``, and every
element an 8-bit code (``bits`` in general), plainly packed. Promise: every element of
channel ``c`` is within ``scale_c / 2`` of its decoded value (plus float32 rounding).

Payload of an ``affine`` tensor (little-endian)::

    exponent  i16
    params    (lo f16, scale f16) x channels
    codes     pack_bits(codes, bits), channel-major

The ``int8`` codec uses it at 8 bits for every tensor with two or more axes; vectors
(biases, normalization weights and running statistics) stay float16, as integer inference
keeps them in higher precision too.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from rinr_core.quantize import pack_bits
from rinr_core.weights import affine
from rinr_core.weights.base import (
    EncodedTensor,
    TensorInfo,
    TensorMethod,
    WeightCodec,
    register_codec,
    register_method,
)
from rinr_core.weights.floats import CONST_METHOD, encode_small, is_constant
from rinr_core.weights.payload import PayloadReader, pack_payload

AFFINE = 3
"""Tensor method id of per-channel affine quantization."""
INT8_BITS = 8
_EXPONENT = struct.Struct("<h")


def channels_of(shape: tuple[int, ...]) -> int:
    """Output channels of a tensor: its first axis, or 1 for a vector or a scalar."""
    return int(shape[0]) if len(shape) >= 2 else 1


class Affine(TensorMethod):
    """Per-output-channel scale and zero point, ``bits``-bit codes (module docstring)."""

    method_id, name = AFFINE, "affine"
    promise = "max abs error <= scale_c / 2 per output channel c"

    def encode(self, array: np.ndarray, bits: int) -> EncodedTensor:
        """Quantize ``array`` channel by channel."""
        levels = 2**bits - 1
        channels = channels_of(array.shape)
        rows = np.asarray(array, np.float64).reshape(channels, -1)
        lo, hi = rows.min(axis=1), rows.max(axis=1)
        exponent = affine.exponent_for(float(max(np.abs(lo).max(), np.abs(hi).max())))
        lo16, scale16 = affine.grid_params(lo, hi, levels, exponent)
        lo_a, scale_a = affine.actual(lo16, exponent), affine.actual(scale16, exponent)
        codes = affine.quantize(rows, lo_a[:, None], scale_a[:, None], levels)
        data = pack_payload(_EXPONENT, (exponent,), affine.params_bytes(lo16, scale16),
                            pack_bits(codes.reshape(-1), bits))
        return EncodedTensor(AFFINE, bits, tuple(array.shape), data,
                             affine.grid_bound(lo_a, scale_a, levels))

    def _parse(self, data: bytes, shape: tuple[int, ...], bits: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        reader = PayloadReader(data, "affine")
        (exponent,) = reader.header(_EXPONENT)
        lo16, scale16 = reader.params(channels_of(shape))
        codes = reader.codes(int(np.prod(shape, dtype=np.int64)), bits)
        return affine.actual(lo16, exponent), affine.actual(scale16, exponent), codes

    def decode(self, data: bytes, shape: tuple[int, ...], bits: int) -> np.ndarray:
        """The dequantized tensor."""
        lo, scale, codes = self._parse(data, shape, bits)
        rows = codes.reshape(channels_of(shape), -1)
        return affine.dequantize(rows, lo[:, None], scale[:, None]).reshape(shape)

    def bound(self, data: bytes, shape: tuple[int, ...], bits: int) -> float:
        """The largest ``scale_c / 2`` (plus float32 rounding) over the channels."""
        lo, scale, _ = self._parse(data, shape, bits)
        return affine.grid_bound(lo, scale, 2**bits - 1)


AFFINE_METHOD = register_method(Affine())


class Int8Codec(WeightCodec):
    """8-bit per-output-channel quantization of every matrix/kernel; vectors in float16."""

    name, codec_id = "int8", 2
    description = "8-bit codes, per-output-channel scale and zero point; vectors fp16"

    def encode_tensors(self, arrays: Sequence[np.ndarray], bits: int,
                       infos: Sequence[TensorInfo]) -> list[EncodedTensor]:
        """Tensors with two or more axes at 8 bits per channel, the rest with ``encode_small``."""
        out = []
        for array in arrays:
            if is_constant(array):
                out.append(CONST_METHOD.encode(array, 0))
            elif array.ndim >= 2:
                out.append(AFFINE_METHOD.encode(array, INT8_BITS))
            else:
                out.append(encode_small(array))
        return out


INT8 = register_codec(Int8Codec())
