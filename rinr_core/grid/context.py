"""What the entropy model reads of a latent's surroundings, and the order latents are coded in.

A latent at ``(y, x)`` of level ``l`` is predicted from (in this order):

1. its first ``context`` causal neighbours of :data:`OFFSETS` in its own level (0 outside);
2. the coarser level's latent above it, at ``(y // 2, x // 2)`` (0 for the coarsest level);
3. with a temporal model: the previous frame's latent of the same level at ``(y - sy, x - sx)``
   (clamped to the grid), where ``(sx, sy)`` is the frame's global motion at that level
   (:func:`level_shift`), and a flag that is 1 for a frame with a previous one.

Levels are coded coarsest first. Inside a level, latents are coded along wavefronts
``t = x + slope * y`` (:func:`level_plan`): every neighbour of :data:`OFFSETS` lies on an
earlier wavefront, so a decoder decodes a whole wavefront at once. The same contexts are
built from integers here (coding: :func:`contexts`) and from torch tensors in
:mod:`rinr_core.grid.model` (training).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

OFFSETS: tuple[tuple[int, int], ...] = (
    (0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0), (-1, -2), (-1, 2), (0, -3),
    (-2, -1), (-2, 1),
)
"""Causal neighbours ``(dy, dx)`` in the order the entropy model reads them."""
SHIFT_STEPS = 4
"""Global motion is stored in quarter pixels."""


def slope(context: int) -> int:
    """The smallest wavefront slope for which the first ``context`` neighbours come earlier."""
    needed = [dx // -dy + 1 for dy, dx in OFFSETS[:context] if dy < 0]
    return max([0, *needed])


@dataclass(frozen=True)
class LevelPlan:
    """Index tables of one level's coding order, built once per level shape.

    Latents are kept in a zero-padded flat buffer (``top`` rows above, ``side`` columns left
    and right), so every causal neighbour of every latent is one index into it, and a
    decoder reads a whole wavefront's contexts with one gather.

    Attributes
    ----------
    cuts
        Start of every wavefront in the coding order, and its end.
    flat
        ``y * width + x`` of each latent, in coding order.
    padded
        Each latent's place in the padded buffer, in coding order.
    neighbours
        ``[n, context]`` buffer places of each latent's causal neighbours.
    parent
        Each latent's place in the coarser level (``(y // 2) * ceil(width / 2) + x // 2``).
    """

    height: int
    width: int
    top: int
    side: int
    cuts: tuple[int, ...]
    flat: np.ndarray
    padded: np.ndarray
    neighbours: np.ndarray
    parent: np.ndarray

    @property
    def buffer_size(self) -> int:
        return (self.height + self.top) * (self.width + 2 * self.side)

    def buffer(self, level: np.ndarray | None = None) -> np.ndarray:
        """A zero buffer, holding ``level``'s latents when given."""
        out = np.zeros(self.buffer_size, np.int64)
        if level is not None:
            out[self.padded] = level.reshape(-1)[self.flat]
        return out

    def level(self, buffer: np.ndarray) -> np.ndarray:
        """The ``height x width`` latents held in a buffer."""
        out = np.zeros(self.height * self.width, np.int64)
        out[self.flat] = buffer[self.padded]
        return out.reshape(self.height, self.width)


@functools.cache
def level_plan(height: int, width: int, context: int) -> LevelPlan:
    """The :class:`LevelPlan` of an ``height x width`` level (wavefronts of :func:`slope`)."""
    offsets = OFFSETS[:context]
    top = max([0, *(-dy for dy, _ in offsets)])
    side = max([0, *(abs(dx) for _, dx in offsets)])
    stride = width + 2 * side
    ys, xs = np.mgrid[0:height, 0:width]
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    t = xs + slope(context) * ys
    order = np.lexsort((ys, t))  # by wavefront, then by row
    ys, xs, t = ys[order], xs[order], t[order]
    cuts = (0, *(int(c) for c in np.flatnonzero(np.diff(t)) + 1), len(order))
    padded = (ys + top) * stride + xs + side
    neighbours = np.stack([padded + dy * stride + dx for dy, dx in offsets], axis=1) if offsets \
        else np.zeros((len(order), 0), np.int64)
    parent = (ys // 2) * (-(-width // 2)) + xs // 2
    return LevelPlan(height, width, top, side, cuts, ys * width + xs, padded,
                     neighbours.astype(np.int64), parent.astype(np.int64))


def level_shift(shift: tuple[int, int], level: int) -> tuple[int, int]:
    """A frame's motion ``(sx, sy)`` in quarter pixels -> whole latents at ``level`` (rounded)."""
    half = 2 ** (level + 1)
    return ((shift[0] + half) >> (level + 2), (shift[1] + half) >> (level + 2))


def moved(previous: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """``previous[y - sy, x - sx]`` (coordinates clamped to the grid), flattened."""
    h, w = previous.shape
    rows = np.clip(np.arange(h) - shift[1], 0, h - 1)
    cols = np.clip(np.arange(w) - shift[0], 0, w - 1)
    return previous[rows][:, cols].reshape(-1)


def contexts(plan: LevelPlan, buffer: np.ndarray, positions: np.ndarray | slice,
             coarse: np.ndarray | None, previous: np.ndarray | None, flag: int) -> np.ndarray:
    """Integer contexts ``[n, inputs]`` of the latents at ``positions`` of the coding order
    (see the module docstring).

    Parameters
    ----------
    positions
        Indices (or a slice) into the level's coding order.
    buffer
        The level's padded buffer as decoded so far (later latents are never read).
    coarse
        The coarser level, flattened (``None`` for the coarsest: zeros).
    previous
        A temporal model's previous-frame latents of this level, moved and flattened
        (:func:`moved`; zeros for a frame without one), else ``None``.
    flag
        A temporal model's "has a previous frame" input.
    """
    columns = [buffer[plan.neighbours[positions]]]
    parent = plan.parent[positions]
    columns.append((coarse[parent] if coarse is not None else np.zeros_like(parent))[:, None])
    if previous is not None:
        columns.append(previous[plan.flat[positions]][:, None])
        columns.append(np.full((len(parent), 1), flag, np.int64))
    return np.concatenate(columns, axis=1)
