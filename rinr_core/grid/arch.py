"""The shape of a grid codec's networks: latent pyramid, synthesis MLP and entropy model.

A :class:`GridArch` fixes everything a decoder needs besides the numbers: how many latent
levels (level ``l`` is a 1-channel grid of ``ceil(H / 2^l) x ceil(W / 2^l)``), the widths of
the synthesis MLP (1x1 convolutions over the bilinearly upsampled levels, ReLU, then RGB),
whether a residual 3x3 convolution follows, and the entropy model's inputs (causal
neighbours, the coarser level, the previous frame) and widths. It travels in a few bytes
(:meth:`GridArch.pack`).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from rinr_core.errors import ConfigError, MalformedPayloadError, TruncatedPayloadError

MAX_LEVELS = 10
MAX_CONTEXT = 11
"""Causal neighbours the entropy model may read (:data:`rinr_core.grid.context.OFFSETS`)."""
_FIXED = struct.Struct("<BBB")
FLAG_CONV3, FLAG_TEMPORAL = 1, 2


@dataclass(frozen=True)
class GridArch:
    """Architecture of one grid codec (see the module docstring).

    Parameters
    ----------
    levels
        Latent levels; level 0 has the frame's resolution.
    synthesis
        Hidden widths of the synthesis MLP (1x1 convolutions with ReLU); ``()``: linear.
    conv3
        A residual 3x3 convolution (3 -> 3 channels, replicate padding) after the MLP.
    context
        Causal neighbours of a latent in its own level the entropy model reads (0-11).
    arm
        Hidden widths of the entropy model's MLP (ReLU); it outputs a Laplace's mean and
        log2 scale per latent.
    temporal
        The entropy model also reads the previous frame's latent at the same place
        (motion-compensated) and an "is inter" flag: for streams.
    """

    levels: int = 7
    synthesis: tuple[int, ...] = (16,)
    conv3: bool = True
    context: int = 8
    arm: tuple[int, ...] = (16, 16)
    temporal: bool = False

    def __post_init__(self) -> None:
        widths = (*self.synthesis, *self.arm)
        if not (1 <= self.levels <= MAX_LEVELS and 0 <= self.context <= MAX_CONTEXT
                and all(1 <= w <= 255 for w in widths) and len(self.synthesis) <= 8
                and len(self.arm) <= 8):
            raise ConfigError(f"invalid grid architecture {self}: levels 1..{MAX_LEVELS}, context "
                              f"0..{MAX_CONTEXT}, at most 8 layers of width 1..255 each")

    @property
    def arm_inputs(self) -> int:
        """Inputs of the entropy model: neighbours, the coarser level, [previous frame, flag]."""
        return self.context + 1 + (2 if self.temporal else 0)

    def latent_shapes(self, height: int, width: int) -> list[tuple[int, int]]:
        """``(h, w)`` of every latent level, finest first."""
        return [(-(-height // 2**level), -(-width // 2**level)) for level in range(self.levels)]

    def latent_count(self, height: int, width: int) -> int:
        """Latents of one frame (all levels)."""
        return sum(h * w for h, w in self.latent_shapes(height, width))

    @property
    def synthesis_shapes(self) -> list[tuple[int, ...]]:
        """Tensor shapes of the synthesis: ``W, b`` per 1x1 layer, then the 3x3 conv's."""
        widths = [self.levels, *self.synthesis, 3]
        shapes: list[tuple[int, ...]] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            shapes += [(fan_out, fan_in), (fan_out,)]
        if self.conv3:
            shapes += [(3, 3, 3, 3), (3,)]
        return shapes

    @property
    def arm_shapes(self) -> list[tuple[int, ...]]:
        """Tensor shapes of the entropy model: ``W, b`` per layer (2 outputs)."""
        widths = [self.arm_inputs, *self.arm, 2]
        shapes: list[tuple[int, ...]] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            shapes += [(fan_out, fan_in), (fan_out,)]
        return shapes

    @property
    def tensor_shapes(self) -> list[tuple[int, ...]]:
        """Every network tensor as stored: the synthesis's, then the entropy model's."""
        return self.synthesis_shapes + self.arm_shapes

    @property
    def num_params(self) -> int:
        """Network weights (synthesis and entropy model)."""
        return sum(math.prod(s) for s in self.tensor_shapes)

    def macs_per_pixel(self, height: int, width: int) -> float:
        """Multiply-adds per decoded pixel: entropy model, upsampling, synthesis.

        The entropy model runs once per latent (about 1.33 per pixel with 2x pyramids);
        bilinear upsampling costs 4 per pixel per coarser level.
        """
        arm = sum(s[0] * s[1] for s in self.arm_shapes if len(s) == 2)
        per_latent = self.latent_count(height, width) / (height * width)
        synthesis = sum(s[0] * s[1] for s in self.synthesis_shapes if len(s) == 2)
        conv = 81 if self.conv3 else 0
        return float(arm * per_latent + 4 * (self.levels - 1) + synthesis + conv)

    def pack(self) -> bytes:
        """The architecture in ``5 + layers`` bytes."""
        flags = (FLAG_CONV3 if self.conv3 else 0) | (FLAG_TEMPORAL if self.temporal else 0)
        return (_FIXED.pack(self.levels, flags, self.context)
                + bytes([len(self.synthesis), *self.synthesis, len(self.arm), *self.arm]))

    @classmethod
    def parse(cls, data: bytes, pos: int) -> tuple[GridArch, int]:
        """The architecture packed at ``data[pos:]`` and the position after it.

        Raises
        ------
        TruncatedPayloadError
            The bytes end inside the record.
        MalformedPayloadError
            The bytes do not describe a valid architecture.
        """
        try:
            levels, flags, context = _FIXED.unpack_from(data, pos)
            pos += _FIXED.size
            n_syn = data[pos]
            synthesis = tuple(data[pos + 1 : pos + 1 + n_syn])
            pos += 1 + n_syn
            n_arm = data[pos]
            arm = tuple(data[pos + 1 : pos + 1 + n_arm])
            pos += 1 + n_arm
        except (struct.error, IndexError):
            raise TruncatedPayloadError("the grid architecture record ends early") from None
        if len(synthesis) != n_syn or len(arm) != n_arm:
            raise TruncatedPayloadError("the grid architecture record ends early")
        if flags & ~(FLAG_CONV3 | FLAG_TEMPORAL):
            raise MalformedPayloadError(f"unknown grid architecture flags {flags}")
        try:
            arch = cls(levels, synthesis, bool(flags & FLAG_CONV3), context, arm,
                       bool(flags & FLAG_TEMPORAL))
        except ConfigError as exc:
            raise MalformedPayloadError(str(exc)) from None
        return arch, pos


FRAME_ARCH = GridArch(levels=7, synthesis=(8,), conv3=True, context=6, arm=(8, 8))
"""Per-frame codec: networks small enough to ship with every frame (about 300 weights)."""
STREAM_ARCH = GridArch(levels=7, synthesis=(16, 16), conv3=True, context=8, arm=(16, 16),
                       temporal=True)
"""Stream codec: larger networks, sent once per stream, and a temporal entropy model."""
