"""The shape of a NeRV network (:class:`NervArch`) and scaling it to a weight budget."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rinr_core.errors import ConfigError

ACTIVATIONS = ("silu", "gelu", "relu")


@dataclass(frozen=True)
class NervArch:
    """Shape of a NeRV network (everything a decoder needs besides the frame size).

    Parameters
    ----------
    pe_levels, pe_base
        Positional encoding of the time: ``2 * pe_levels`` features at frequencies
        ``pe_base**k * pi``.
    stem_hidden
        Width of the stem's hidden layer (``2 * pe_levels -> stem_hidden -> base map``).
    base_channels
        Channels of the feature map the stem produces.
    strides, widths
        One upsampling block per stride, with ``widths[k]`` output channels.
    activation
        ``silu``, ``gelu`` or ``relu`` (after the stem layers and every block).
    kernel
        Square kernel size of the block convolutions (odd).
    """

    pe_levels: int = 40
    pe_base: float = 1.25
    stem_hidden: int = 256
    base_channels: int = 16
    strides: tuple[int, ...] = (5, 2, 2, 2)
    widths: tuple[int, ...] = (96, 96, 96, 96)
    activation: str = "silu"
    kernel: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.pe_levels <= 255 or not 1.0 < self.pe_base < 100.0:
            raise ConfigError(f"NeRV positional encoding needs 1..255 levels and a base in (1, 100), "
                              f"got {self.pe_levels} levels, base {self.pe_base}")
        if min(self.stem_hidden, self.base_channels) < 1 or max(self.stem_hidden, self.base_channels) > 65535:
            raise ConfigError(f"NeRV stem sizes must be in 1..65535, got hidden {self.stem_hidden}, "
                              f"base channels {self.base_channels}")
        if not self.strides or len(self.strides) != len(self.widths) or len(self.strides) > 16:
            raise ConfigError(f"NeRV needs 1..16 blocks with one width per stride, got strides {self.strides} "
                              f"and widths {self.widths}")
        if any(not 1 <= s <= 16 for s in self.strides) or any(not 1 <= w <= 65535 for w in self.widths):
            raise ConfigError(f"NeRV strides must be in 1..16 and widths in 1..65535, got {self.strides} / {self.widths}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown NeRV activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if self.kernel < 1 or self.kernel % 2 == 0 or self.kernel > 15:
            raise ConfigError(f"NeRV kernel must be odd and at most 15, got {self.kernel}")

    @property
    def total_stride(self) -> int:
        return math.prod(self.strides)

    def base_grid(self, height: int, width: int) -> tuple[int, int]:
        """``(h0, w0)`` of the stem's feature map for an ``height x width`` frame."""
        s = self.total_stride
        return -(-height // s), -(-width // s)

    def tensor_shapes(self, height: int, width: int) -> list[tuple[int, ...]]:
        """Shapes of every parameter, in the order they are stored (weight, bias per layer)."""
        h0, w0 = self.base_grid(height, width)
        stem_out = self.base_channels * h0 * w0
        shapes: list[tuple[int, ...]] = [(self.stem_hidden, 2 * self.pe_levels), (self.stem_hidden,),
                                         (stem_out, self.stem_hidden), (stem_out,)]
        c_in = self.base_channels
        for s, c in zip(self.strides, self.widths, strict=True):
            shapes += [(c * s * s, c_in, self.kernel, self.kernel), (c * s * s,)]
            c_in = c
        return shapes + [(3, c_in, 1, 1), (3,)]

    def num_params(self, height: int, width: int) -> int:
        return sum(math.prod(s) for s in self.tensor_shapes(height, width))

    def macs_per_pixel(self, height: int, width: int) -> float:
        """Multiply-adds to render one frame, divided by its pixel count."""
        h, w = self.base_grid(height, width)
        stem_out = self.base_channels * h * w
        macs = 2 * self.pe_levels * self.stem_hidden + self.stem_hidden * stem_out
        c_in = self.base_channels
        for s, c in zip(self.strides, self.widths, strict=True):
            macs += h * w * c_in * c * s * s * self.kernel**2
            h, w, c_in = h * s, w * s, c
        macs += h * w * c_in * 3
        return macs / float(height * width)

    def scaled(self, factor: float) -> NervArch:
        """The same shape with ``stem_hidden``, ``base_channels`` and ``widths`` times ``factor``
        (rounded, at least 1): about ``factor**2`` times the weights."""
        def size(c: int) -> int:
            return max(1, round(c * factor))

        return replace(self, stem_hidden=size(self.stem_hidden), base_channels=size(self.base_channels),
                       widths=tuple(size(w) for w in self.widths))


def arch_for_weights(arch: NervArch, height: int, width: int, max_weights: int) -> NervArch:
    """``arch`` scaled (:meth:`NervArch.scaled`) to the most weights within ``max_weights`` at
    ``height x width``; the factor is searched in steps of 1/64, from 1/64 up to 8."""
    best = None
    for k in range(1, 8 * 64 + 1):
        candidate = arch.scaled(k / 64)
        if candidate.num_params(height, width) > max_weights:
            break
        best = candidate
    if best is None:
        raise ConfigError(f"no NeRV of the shape {arch.strides}/{arch.widths} fits {max_weights} weights "
                          f"at {width}x{height}")
    return best
