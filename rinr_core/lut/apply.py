"""Look-up inference: a post-filter applied with table look-ups and additions (torch, CPU).

:class:`LutFilter` expands the stored tables once (every unit at every integer input, by
the rounding of :func:`rinr_core.lut.network.expand_exact`) and packs the three output
channels of a unit into one 64-bit word (21-bit lanes, each value biased by
:data:`~rinr_core.lut.network.VALUE_LIMIT`), so one look-up fetches a unit's whole output
and one 64-bit addition accumulates it; up to :data:`TERMS_PER_FLUSH` terms are summed
before the lanes are unpacked. No convolution and no multiplication touches the pixels:
per layer and tap it is an index addition, a ``take`` and an addition; between layers an
integer shift and a clip. The result equals the network's forward pass bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rinr_core.errors import BadFrameError
from rinr_core.lut.network import FRAC_BITS, ONE, VALUE_LIMIT, LutSpec, to_planes
from rinr_core.lut.tables import LayerTables, LutTables

LANE_BITS = 21
LANES = 3
LANE_MASK = (1 << LANE_BITS) - 1
TERMS_PER_FLUSH = (1 << LANE_BITS) // (2 * VALUE_LIMIT)
"""Biased terms one 21-bit lane holds without overflowing into the next (64)."""


def expand_layer(stored: LayerTables, lo: int, hi: int, kernel_taps: int) -> np.ndarray:
    """Every unit's integer value at every input ``lo..hi``: ``[taps, domain, out]`` int64."""
    positions = stored.positions.astype(np.int64)
    values = stored.values.astype(np.int64)
    domain = np.arange(lo, hi + 1)
    seg = np.stack([np.searchsorted(p[1:-1], domain, side="right") for p in positions])
    start = np.take_along_axis(positions, seg, 1)
    span = np.take_along_axis(positions, seg + 1, 1) - start
    plane = np.arange(values.shape[0]) // kernel_taps
    s, a, n = seg[plane], (domain - start)[plane], span[plane]
    left = np.take_along_axis(values, s[..., None], 1)
    right = np.take_along_axis(values, s[..., None] + 1, 1)
    num = left * (n - a)[..., None] + right * a[..., None]
    den = n[..., None]
    return (2 * num + den) // (2 * den)


class _Layer:
    """One layer's expanded, packed tables and its geometry.

    (Pairing two taps into one ``domain x domain`` table halves the look-ups but was slower
    here: the larger tables miss the cache.)
    """

    def __init__(self, spec: LutSpec, index: int, stored: LayerTables) -> None:
        shape = spec.layers[index]
        self.lo, self.hi = spec.input_range(index)
        self.kh, self.kw, self.out = shape.kh, shape.kw, shape.channels
        self.planes = spec.in_channels(index)
        self.domain = self.hi - self.lo + 1
        dense = expand_layer(stored, self.lo, self.hi, self.kh * self.kw)
        groups = -(-self.out // LANES)
        padded = np.zeros((*dense.shape[:2], groups * LANES), np.int64)
        padded[..., : self.out] = dense
        biased = padded + VALUE_LIMIT
        self.packed = []
        for g in range(groups):
            word = np.zeros(biased.shape[:2], np.int64)
            for lane in range(LANES):
                word |= biased[..., g * LANES + lane] << (LANE_BITS * lane)
            self.packed.append(torch.from_numpy(word.reshape(-1)))

    def sums(self, inputs: np.ndarray) -> np.ndarray:
        """Sums (units of ``1/ONE``) ``[out, N, H, W]`` of integer inputs ``[planes, N, H, W]``
        (int64; ``N`` frames of one size, each padded at its own edges).

        Tap by tap (small arrays stay in the cache): an index addition, one
        ``torch.index_select`` per group of three channels (the fastest gather on a CPU
        here) and a numpy addition (faster than torch's for int64), on shared memory.
        """
        _, count, height, width = inputs.shape
        ry, rx = self.kh // 2, self.kw // 2
        shifted = inputs - self.lo
        padded = (np.pad(shifted, ((0, 0), (0, 0), (ry, ry), (rx, rx)), mode="edge")
                  if ry or rx else shifted)
        groups = len(self.packed)
        size = count * height * width
        acc = np.zeros((groups, size), np.int64)
        total = np.zeros((groups * LANES, count, height, width), np.int64)
        index = np.empty((count, height, width), np.int64)
        fetched = np.empty(size, np.int64)
        index_t, fetched_t = torch.from_numpy(index).view(-1), torch.from_numpy(fetched)
        pending = 0
        for c in range(self.planes):
            for dy in range(self.kh):
                for dx in range(self.kw):
                    tap = (c * self.kh + dy) * self.kw + dx
                    np.add(padded[c, :, dy:dy + height, dx:dx + width], tap * self.domain,
                           out=index)
                    for g, table in enumerate(self.packed):
                        torch.index_select(table, 0, index_t, out=fetched_t)
                        np.add(acc[g], fetched, out=acc[g])
                    pending += 1
                    if pending == TERMS_PER_FLUSH:
                        self._unpack(acc, pending, total)
                        pending = 0
        if pending:
            self._unpack(acc, pending, total)
        return total[: self.out]

    @staticmethod
    def _unpack(acc: np.ndarray, terms: int, into: np.ndarray) -> None:
        """Add the lanes of the packed sums ``acc`` (``terms`` biased terms each) to ``into``
        and clear ``acc``."""
        flat = into.reshape(into.shape[0], -1)
        for g in range(acc.shape[0]):
            for lane in range(LANES):
                flat[g * LANES + lane] += ((acc[g] >> (LANE_BITS * lane)) & LANE_MASK) - terms * VALUE_LIMIT
        acc.fill(0)


class LutFilter:
    """A post-filter ready to apply (tables expanded once; see the module docstring)."""

    def __init__(self, tables: LutTables) -> None:
        self.tables = tables
        self.spec = tables.spec
        self._layers = [_Layer(self.spec, i, t) for i, t in enumerate(tables.layers)]

    def _sums(self, rgb: np.ndarray) -> np.ndarray:
        """The last layer's sums ``[3, N, H, W]`` of RGB planes ``[3, N, H, W]`` (int64)."""
        planes = torch.from_numpy(rgb).transpose(0, 1)  # [N, 3, H, W] for to_planes
        h = np.ascontiguousarray(to_planes(planes, self.spec.color).transpose(0, 1).numpy())
        lo, hi = self.spec.hidden
        for layer in self._layers[:-1]:
            h = np.clip((layer.sums(h) + ONE // 2) >> FRAC_BITS, lo, hi)
        return self._layers[-1].sums(h)

    def corrections(self, images: np.ndarray) -> np.ndarray:
        """Integer corrections ``[N, H, W, 3]`` (int64) of ``N`` frames ``[N, H, W, 3]`` uint8."""
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise BadFrameError(f"the post-filter takes uint8 HxWx3 frames, got {images.dtype} "
                                f"{images.shape[1:]}")
        rgb = np.ascontiguousarray(images.transpose(3, 0, 1, 2)).astype(np.int64)
        if self.spec.rotations == 1:
            total, shift = self._sums(rgb), FRAC_BITS
        else:
            total = np.zeros_like(rgb)
            for k in range(4):
                turned = np.ascontiguousarray(np.rot90(rgb, k, (2, 3)))
                total += np.rot90(self._sums(turned), -k, (2, 3))
            shift = FRAC_BITS + 2
        return ((total + (1 << (shift - 1))) >> shift).transpose(1, 2, 3, 0)

    def correction(self, image: np.ndarray) -> np.ndarray:
        """The integer correction ``[H, W, 3]`` (int64) for a ``uint8`` ``H x W x 3`` frame."""
        if image.ndim != 3:
            raise BadFrameError(f"the post-filter takes uint8 HxWx3 frames, got {image.dtype} "
                                f"{image.shape}")
        return self.corrections(image[None])[0]

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The filtered frame: ``clip(image + correction, 0, 255)`` as ``uint8``."""
        return self.apply_many([image])[0]

    def apply_many(self, images: Sequence[np.ndarray], batch: int = 1) -> list[np.ndarray]:
        """:meth:`apply` to each frame; with ``batch > 1`` frames of one size go through
        together (the same pixels; on a 2-core CPU at 160 px, 4 or 16 at a time ran 1.5-2x
        slower than one by one: the larger arrays leave the cache)."""
        out: list[np.ndarray | None] = [None] * len(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(tuple(np.shape(image)), []).append(i)
        for members in by_shape.values():
            for start in range(0, len(members), batch):
                chunk = members[start:start + batch]
                stack = np.stack([images[i] for i in chunk])
                done = np.clip(stack.astype(np.int64) + self.corrections(stack), 0, 255)
                for i, image in zip(chunk, done.astype(np.uint8), strict=True):
                    out[i] = image
        return out  # type: ignore[return-value]  # every position was filled
