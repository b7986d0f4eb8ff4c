"""Float tensor methods (float32, float16, constant) and the ``fp32`` and ``fp16`` codecs.

- ``raw32`` stores a tensor as little-endian float32: exact (bound 0).
- ``fp16`` stores it as float16: an element ``w`` comes back within ``2^-11 |w|`` (round to
  nearest) or ``2^-25`` (subnormals), so the bound is ``2^-11 max|w| + 2^-25``. A tensor
  with a value beyond float16's range (65504) is stored as ``raw32`` instead.
- ``const`` stores a tensor whose elements are all equal (a frozen layer's update is all
  zeros) as one float32: exact, 4 bytes whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rinr_core.errors import MalformedPayloadError
from rinr_core.weights.base import (
    EncodedTensor,
    TensorInfo,
    TensorMethod,
    WeightCodec,
    register_codec,
    register_method,
)
from rinr_core.weights.payload import PayloadReader

RAW32, FP16, CONST = 0, 1, 2
"""Tensor method ids of this module."""
HALF_MAX = 65504.0
_HALF_REL = 2.0**-11
_HALF_SUBNORMAL = 2.0**-25


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _values(data: bytes, dtype: str, count: int, what: str) -> np.ndarray:
    """The ``count`` stored values that make up the whole payload."""
    reader = PayloadReader(data, what)
    values = reader.array(dtype, count, f"{count} values")
    reader.finish()
    return values


class Raw32(TensorMethod):
    """Float32 as it is."""

    method_id, name, promise = RAW32, "raw32", "exact"

    def encode(self, array: np.ndarray, bits: int) -> EncodedTensor:
        """Store ``array`` as little-endian float32."""
        data = np.asarray(array, dtype="<f4", order="C").tobytes()
        return EncodedTensor(RAW32, 0, tuple(array.shape), data, 0.0)

    def decode(self, data: bytes, shape: tuple[int, ...], bits: int) -> np.ndarray:
        """The stored float32 array."""
        return _values(data, "<f4", _size(shape), "raw32").astype(np.float32).reshape(shape)

    def bound(self, data: bytes, shape: tuple[int, ...], bits: int) -> float:
        """0: exact."""
        return 0.0


class Half(TensorMethod):
    """Float16 (round to nearest)."""

    method_id, name, promise = FP16, "fp16", "max abs error <= 2^-11 max|w| + 2^-25"

    def encode(self, array: np.ndarray, bits: int) -> EncodedTensor:
        """Store ``array`` as float16 (the caller checked it fits: :data:`HALF_MAX`)."""
        data = np.asarray(array, dtype="<f2", order="C").tobytes()
        return EncodedTensor(FP16, 0, tuple(array.shape), data, self.bound(data, array.shape, 0))

    def decode(self, data: bytes, shape: tuple[int, ...], bits: int) -> np.ndarray:
        """The stored values as float32 (exact widening)."""
        values = _values(data, "<f2", _size(shape), "fp16")
        if not np.all(np.isfinite(values)):
            raise MalformedPayloadError("fp16 tensor holds infinite or NaN values; re-send it")
        return values.astype(np.float32).reshape(shape)

    def bound(self, data: bytes, shape: tuple[int, ...], bits: int) -> float:
        """``2^-11 max|w| + 2^-25``, with ``max|w|`` read back from the stored values."""
        values = _values(data, "<f2", _size(shape), "fp16").astype(np.float64)
        top = float(np.max(np.abs(values))) if values.size else 0.0
        return top * _HALF_REL * (1 + 2 * _HALF_REL) + _HALF_SUBNORMAL


class Const(TensorMethod):
    """A tensor whose elements all equal one float32 value."""

    method_id, name, promise = CONST, "const", "exact"

    def encode(self, array: np.ndarray, bits: int) -> EncodedTensor:
        """Store the common value of ``array`` (the caller checked min == max)."""
        value = np.float32(array.reshape(-1)[0]) if array.size else np.float32(0)
        return EncodedTensor(CONST, 0, tuple(array.shape), np.array([value], "<f4").tobytes(), 0.0)

    def decode(self, data: bytes, shape: tuple[int, ...], bits: int) -> np.ndarray:
        """``shape`` filled with the stored value."""
        return np.full(shape, _values(data, "<f4", 1, "const")[0], dtype=np.float32)

    def bound(self, data: bytes, shape: tuple[int, ...], bits: int) -> float:
        """0: exact."""
        return 0.0


RAW32_METHOD = register_method(Raw32())
FP16_METHOD = register_method(Half())
CONST_METHOD = register_method(Const())


def is_constant(array: np.ndarray) -> bool:
    """Whether every element of ``array`` is the same number (an empty array is)."""
    return array.size == 0 or bool(np.all(array == array.reshape(-1)[0]))


def fits_half(array: np.ndarray) -> bool:
    """Whether float16 holds every value of ``array`` without overflow."""
    return array.size == 0 or float(np.max(np.abs(array))) <= HALF_MAX


def encode_small(array: np.ndarray) -> EncodedTensor:
    """A constant as ``const``, else float16 when it fits, else float32."""
    if is_constant(array):
        return CONST_METHOD.encode(array, 0)
    if fits_half(array):
        return FP16_METHOD.encode(array, 0)
    return RAW32_METHOD.encode(array, 0)


class Fp32Codec(WeightCodec):
    """Every tensor as float32: today's weights, exact."""

    name, codec_id, lossless = "fp32", 0, True
    description = "float32 as it is (exact; 4 bytes a weight)"

    def encode_tensors(self, arrays: Sequence[np.ndarray], bits: int,
                       infos: Sequence[TensorInfo]) -> list[EncodedTensor]:
        """Every tensor as ``raw32``."""
        return [RAW32_METHOD.encode(a, 0) for a in arrays]


class Fp16Codec(WeightCodec):
    """Every tensor as float16 (constants as one value; beyond float16's range as float32)."""

    name, codec_id = "fp16", 1
    description = "float16 (max abs error 2^-11 max|w|; 2 bytes a weight)"

    def encode_tensors(self, arrays: Sequence[np.ndarray], bits: int,
                       infos: Sequence[TensorInfo]) -> list[EncodedTensor]:
        """Every tensor with :func:`encode_small`."""
        return [encode_small(a) for a in arrays]


FP32 = register_codec(Fp32Codec())
FP16_CODEC = register_codec(Fp16Codec())
