"""Discretized Laplace probability tables that every platform builds bit-identically.

The entropy model gives each symbol a Laplace distribution with mean ``mu`` (a multiple of
1/:data:`MU_STEPS`) and scale ``b = 2^(T_MIN + j / SCALE_STEPS)`` (``j``: a ladder index).
The probability of integer ``s`` is ``CDF(s + 1/2) - CDF(s - 1/2)``. Everything is built
from ``rho_j = exp(-1 / (MU_STEPS * b_j))`` by multiplications, subtractions and square roots
only, which IEEE 754 rounds exactly everywhere (``exp`` and ``log`` of math libraries differ
in their last bits between platforms): four ``rho`` are constants, each further octave is the
square root of the one below (``b`` doubles), and powers are running products. So an x86 fog
and an ARM edge hand ``constriction`` the same tables, and the ANS streams decode exactly.
"""

from __future__ import annotations

import functools
import math

import numpy as np

MU_STEPS = 8
"""Resolution of a Laplace mean: 1/8 of a quantization step."""
SCALE_STEPS = 4
"""Scale ladder steps per octave."""
T_MIN, T_MAX = -6, 6
"""Range of ``log2 b`` on the ladder (1/64 to 64 quantization steps)."""
LADDER = (T_MAX - T_MIN) * SCALE_STEPS + 1
_BASE = (  # exp(-2^(-T_MIN - j / 4) / 8) for j = 0..3, as exact binary constants
    float.fromhex("0x1.5fc21041027adp-12"), float.fromhex("0x1.3a06d40a18cccp-10"),
    float.fromhex("0x1.c9e60c625dd4dp-9"), float.fromhex("0x1.1991c9a353014p-7"),
)


@functools.cache
def ladder() -> tuple[float, ...]:
    """``rho_j`` for every ladder index (square roots of the octave below)."""
    rhos = list(_BASE)
    while len(rhos) < LADDER:
        rhos.append(math.sqrt(rhos[len(rhos) - SCALE_STEPS]))
    return tuple(rhos)


def scale_of(index: int | np.ndarray) -> np.ndarray:
    """The Laplace scale ``b`` of ladder indices (encoder side: choosing an index)."""
    return np.power(2.0, T_MIN + np.asarray(index, dtype=np.float64) / SCALE_STEPS)


def scale_index(log2_scale: float | np.ndarray) -> np.ndarray:
    """The nearest ladder index of ``log2 b`` (encoder side)."""
    index = np.round((np.asarray(log2_scale, dtype=np.float64) - T_MIN) * SCALE_STEPS)
    return np.clip(index, 0, LADDER - 1).astype(np.int64)


_POWERS: dict[int, np.ndarray] = {}


def _powers(index: int, count: int) -> np.ndarray:
    """``rho_index ** n`` for ``n = 0 .. count - 1`` (a running product, cached and grown)."""
    have = _POWERS.get(index)
    if have is None or have.size < count:
        size = max(count, 2 * (0 if have is None else have.size), 1024)
        steps = np.full(size, ladder()[index], dtype=np.float64)
        steps[0] = 1.0
        have = np.cumprod(steps)
        _POWERS[index] = have
    return have[:count]


def pmf(index: int, frac: int, offsets: np.ndarray) -> np.ndarray:
    """Unnormalized probabilities of symbols ``m + offsets`` for a mean ``m + frac / MU_STEPS``.

    Parameters
    ----------
    index
        Ladder index of the scale.
    frac
        Fractional part of the mean in ``0 .. MU_STEPS - 1``.
    offsets
        Integer symbol offsets from the mean's integer part.
    """
    d = np.asarray(offsets, dtype=np.int64)
    hi = MU_STEPS * d + MU_STEPS // 2 - frac  # interval ends, in units of 1/MU_STEPS
    lo = hi - MU_STEPS
    power = _powers(index, int(max(np.abs(hi).max(), np.abs(lo).max())) + 1)
    p_hi, p_lo = power[np.abs(hi)], power[np.abs(lo)]
    out = np.where(lo >= 0, 0.5 * (p_lo - p_hi),
                   np.where(hi <= 0, 0.5 * (p_hi - p_lo), 1.0 - 0.5 * (p_hi + p_lo)))
    return np.asarray(out, dtype=np.float64)


@functools.cache
def latent_table(limit: int) -> np.ndarray:
    """``T[j, frac, d + 2 * limit]``: probabilities of offsets ``d`` in ``[-2 limit, 2 limit]``.

    Symbols lie in ``[-limit, limit]`` and means are clipped to that range, so every slice
    a symbol needs (:func:`symbol_probabilities`) is inside the table.
    """
    offsets = np.arange(-2 * limit, 2 * limit + 1)
    table = np.stack([np.stack([pmf(j, f, offsets) for f in range(MU_STEPS)])
                      for j in range(LADDER)])
    table.setflags(write=False)
    return table


def symbol_probabilities(limit: int, index: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Probability rows ``[n, 2 limit + 1]`` over symbols ``-limit..limit`` (unnormalized).

    ``mean`` is in units of 1/:data:`MU_STEPS` (clipped to the symbol range), ``index`` the
    ladder index of each row.
    """
    table = latent_table(limit)
    mean = np.clip(np.asarray(mean, dtype=np.int64), -MU_STEPS * limit, MU_STEPS * limit)
    whole, frac = np.divmod(mean, MU_STEPS)
    columns = np.arange(-limit, limit + 1)[None, :] - whole[:, None] + 2 * limit
    return table[np.asarray(index)[:, None], frac[:, None], columns]


def centred_probabilities(index: int, limit: int) -> np.ndarray:
    """Probabilities of ``-limit..limit`` under a zero-mean Laplace of ladder ``index`` (weights)."""
    return pmf(index, 0, np.arange(-limit, limit + 1))
