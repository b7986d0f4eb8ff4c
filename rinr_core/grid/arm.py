"""The entropy model's decoder side: an integer MLP that gives every latent its Laplace.

Cool-chic's autoregressive model (ARM), made exact: the stored weights are integers ``A``
with a power-of-two step (``w = A * 2^-e``), the inputs are integer latents, and every
activation is fixed point with :data:`FRAC` fractional bits (``acc >> e`` after each layer,
then ReLU). Integer arithmetic gives the same means and scales on every machine, however the
latents are batched, which the ANS decoder needs: one differing probability would garble the
rest of the stream. The encoder trains the same network in floating point
(:func:`rinr_core.grid.model.arm_forward`), which differs from this only by the rounding of
activations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rinr_core.errors import MalformedPayloadError
from rinr_core.grid.laplace import LADDER, MU_STEPS, SCALE_STEPS, T_MIN

FRAC = 8
"""Fractional bits of the fixed-point activations."""
MAX_EXPONENT = 16
"""Finest weight step: ``2^-16``."""
WEIGHT_LIMIT = 4095
"""Largest magnitude of a stored weight code."""


@dataclass(frozen=True)
class QuantTensor:
    """One stored network tensor: integer codes and the step exponent (``w = codes * 2^-e``)."""

    codes: np.ndarray  # int64, the tensor's shape
    exponent: int

    def values(self) -> np.ndarray:
        """The weights as ``float32`` (exact: the codes are small integers)."""
        return (self.codes.astype(np.float64) * 2.0**-self.exponent).astype(np.float32)


def quantize(values: np.ndarray, exponent: int) -> QuantTensor:
    """Round weights to the step ``2^-exponent`` (codes clipped to :data:`WEIGHT_LIMIT`)."""
    codes = np.clip(np.round(np.asarray(values, np.float64) * 2.0**exponent), -WEIGHT_LIMIT,
                    WEIGHT_LIMIT).astype(np.int64)
    return QuantTensor(codes, int(exponent))


class IntArm:
    """The integer entropy model of one set of stored weights (``W0, b0, W1, b1, ...``).

    Raises
    ------
    MalformedPayloadError
        A bias step is too fine for its layer (a writer bug or a damaged payload).
    """

    def __init__(self, tensors: Sequence[QuantTensor]) -> None:
        self.layers: list[tuple[np.ndarray, np.ndarray, int]] = []
        for weight, bias in zip(tensors[0::2], tensors[1::2], strict=True):
            lift = FRAC + weight.exponent - bias.exponent
            if lift < 0:
                raise MalformedPayloadError("an entropy-model bias is stored finer than its layer "
                                            "allows; re-encode the payload")
            self.layers.append((weight.codes.T.copy(), bias.codes << lift, weight.exponent))

    def __call__(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, index)`` per row of integer ``contexts``.

        ``mean`` is in units of 1/:data:`~rinr_core.grid.laplace.MU_STEPS` (rounded), ``index``
        the scale's ladder index (clipped to the ladder).
        """
        a = np.asarray(contexts, dtype=np.int64) << FRAC
        last = len(self.layers) - 1
        for k, (weight, bias, exponent) in enumerate(self.layers):
            a = (a @ weight + bias) >> exponent
            if k < last:
                a = np.maximum(a, 0)
        shift = FRAC - MU_STEPS.bit_length() + 1  # fixed point -> 1/MU_STEPS units
        mean = (a[:, 0] + (1 << (shift - 1))) >> shift
        index = (a[:, 1] * SCALE_STEPS - ((T_MIN * SCALE_STEPS) << FRAC) + (1 << (FRAC - 1))) >> FRAC
        return mean, np.clip(index, 0, LADDER - 1)
