"""Affine grids with stored half-precision parameters: the arithmetic ``int8`` and ``sgq`` share.

A block of values (a channel, a stripe) is stored as integer codes ``q`` in ``0..L`` (``L =
2^bits - 1``) with a grid start ``lo`` and a step ``scale``: ``v ~= lo + q * scale``. Both
parameters are stored as float16 numbers times ``2^exponent`` (one exponent per tensor), so
they cost 4 bytes a block and cover any float32 magnitude. The stored ``lo`` is rounded
*down* and ``scale`` *up*, so the grid still covers the block's ``[min, max]``: rounding to
the nearest grid point is then off by at most ``scale / 2`` (:func:`grid_bound` adds the
float32 rounding of the decoded value).
"""

from __future__ import annotations

import numpy as np

from rinr_core.errors import MalformedPayloadError
from rinr_core.weights.base import FLOAT32_ROUNDING

HALF_LIMIT = 2.0**15
"""Largest magnitude a scaled parameter may have (float16 holds up to 65504)."""
_ARITHMETIC = 2.0**-40  # float64 slack of computing and rounding (v - lo) / scale


def exponent_for(max_abs: float) -> int:
    """The power of two that brings ``max_abs`` to at most :data:`HALF_LIMIT` (0 for 0)."""
    if not max_abs > 0 or not np.isfinite(max_abs):
        return 0
    return int(np.ceil(np.log2(max_abs))) - 15


def _half_down(x: np.ndarray) -> np.ndarray:
    """``x`` (float64) rounded to float16 towards minus infinity."""
    f = x.astype(np.float16)
    over = f.astype(np.float64) > x
    f[over] = np.nextafter(f[over], np.float16(-np.inf))
    return f


def _half_up(x: np.ndarray) -> np.ndarray:
    """``x`` (float64) rounded to float16 towards plus infinity."""
    f = x.astype(np.float16)
    under = f.astype(np.float64) < x
    f[under] = np.nextafter(f[under], np.float16(np.inf))
    return f


def grid_params(lo: np.ndarray, hi: np.ndarray, levels: int, exponent: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Stored ``(lo, scale)`` (float16, times ``2^exponent``) of grids covering ``[lo, hi]``."""
    unit = 2.0**exponent
    lo16 = _half_down(np.asarray(lo, np.float64) / unit)
    lo_a = lo16.astype(np.float64) * unit
    need = (np.asarray(hi, np.float64) - lo_a) / levels
    scale16 = _half_up(np.maximum(need, 0.0) / unit)
    short = lo_a + levels * scale16.astype(np.float64) * unit < hi
    scale16[short] = np.nextafter(scale16[short], np.float16(np.inf))
    return lo16, scale16


def actual(params16: np.ndarray, exponent: int) -> np.ndarray:
    """Stored float16 parameters as the float64 values they stand for."""
    return params16.astype(np.float64) * 2.0**exponent


def quantize(values: np.ndarray, lo: np.ndarray, scale: np.ndarray, levels: int) -> np.ndarray:
    """Codes ``0..levels`` of ``values`` on the grids ``lo + q * scale`` (broadcast, float64)."""
    scaled = np.divide(values - lo, scale, out=np.zeros(np.broadcast(values, scale).shape),
                       where=scale > 0)
    return np.clip(np.rint(scaled), 0, levels).astype(np.int64)


def dequantize(codes: np.ndarray, lo: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``lo + codes * scale`` (float64 arithmetic) as float32."""
    return (lo + codes * scale).astype(np.float32)


def zero_points(lo: np.ndarray, scale: np.ndarray, levels: int) -> np.ndarray:
    """The code nearest to 0 of each grid (0 where the grid has no step)."""
    z = np.divide(-lo, scale, out=np.zeros_like(lo), where=scale > 0)
    return np.clip(np.rint(z), 0, levels).astype(np.int64)


def grid_bound(lo: np.ndarray, scale: np.ndarray, levels: int) -> float:
    """Largest error of a value of ``[lo, lo + levels * scale]`` rounded to its grid, decoded.

    ``scale / 2`` (plus float64 slack) and the float32 rounding of the decoded value.
    """
    if lo.size == 0:
        return 0.0
    top = np.maximum(np.abs(lo), np.abs(lo + levels * scale))
    return float(np.max(scale * (0.5 + _ARITHMETIC) + top * (FLOAT32_ROUNDING + _ARITHMETIC)))


def params_from(stored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stored float16 values ``lo, scale, lo, scale, ...`` as ``(lo16, scale16)``, checked.

    Raises
    ------
    MalformedPayloadError
        A parameter is not finite or a scale is negative.
    """
    pairs = np.asarray(stored, dtype=np.float16).reshape(-1, 2)
    lo16, scale16 = pairs[:, 0].copy(), pairs[:, 1].copy()
    if not (np.all(np.isfinite(lo16)) and np.all(np.isfinite(scale16)) and np.all(scale16 >= 0)):
        raise MalformedPayloadError("weight tensor has invalid grid parameters (not finite or "
                                    "a negative scale); re-send it")
    return lo16, scale16


def params_bytes(lo16: np.ndarray, scale16: np.ndarray) -> bytes:
    """Stored ``(lo, scale)`` pairs as bytes (:func:`params_from` checks them read back)."""
    return np.stack([lo16, scale16], axis=1).astype("<f2").tobytes()
