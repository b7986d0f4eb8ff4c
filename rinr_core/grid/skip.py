"""Skip blocks: a stream frame keeps the previous frame's latents where copying them is cheap.

A frame coded against a previous one may mark :data:`BLOCK` x :data:`BLOCK`-pixel blocks as
*skipped*. A latent is skipped when every block its bilinear footprint touches (:func:`masks`)
is skipped; a skipped latent is not coded: it is the previous frame's latent at the same
place, moved by the frame's global motion (the temporal context's value), so a static
background costs one flag per block instead of its latents. The flags travel first in the
frame's ANS stream, each under a Bernoulli whose probability the frame record stores.

The encoder decides per block by rate and distortion (:func:`choose`): skip when the
weighted distortion that copying adds is below the bits the block's latents cost, never in
the object box, and with a background target only where the copy is well within it
(:func:`allowed`), since skipped blocks are not refitted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

BLOCK = 16
"""Side of a skip block, in pixels."""
SAFETY = 0.8
"""A skipped block's copy error may reach this share of the background target's MSE."""
PROBABILITY_STEPS = 256
"""A frame's skip probability is stored in 1/256 (1..255; 0: no skip flags)."""


def grid_shape(height: int, width: int) -> tuple[int, int]:
    """Rows and columns of a frame's skip blocks."""
    return -(-height // BLOCK), -(-width // BLOCK)


def _ranges(count: int, level: int, size: int, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last block each latent of a level row/column touches (footprint +-1 latent)."""
    scale = 2**level
    index = np.arange(count)
    lo = np.clip((index - 1) * scale, 0, size - 1) // BLOCK
    hi = np.clip((index + 2) * scale - 1, 0, size - 1) // BLOCK
    return lo, np.minimum(hi, blocks - 1)


def masks(flags: np.ndarray, shapes: Sequence[tuple[int, int]], height: int, width: int
          ) -> list[np.ndarray]:
    """Per level, ``True`` where a latent is skipped (every block it touches is skipped)."""
    coded = (~flags.astype(bool)).astype(np.int64)
    total = np.zeros((coded.shape[0] + 1, coded.shape[1] + 1), np.int64)
    total[1:, 1:] = coded.cumsum(0).cumsum(1)
    out = []
    for level, (h, w) in enumerate(shapes):
        y0, y1 = _ranges(h, level, height, coded.shape[0])
        x0, x1 = _ranges(w, level, width, coded.shape[1])
        count = (total[y1[:, None] + 1, x1[None, :] + 1] - total[y0[:, None], x1[None, :] + 1]
                 - total[y1[:, None] + 1, x0[None, :]] + total[y0[:, None], x0[None, :]])
        out.append(count == 0)
    return out


def probability_code(flags: np.ndarray) -> int:
    """The stored skip probability (1..255) closest to the share of skipped blocks."""
    share = float(flags.mean()) if flags.size else 0.0
    return int(np.clip(round(share * PROBABILITY_STEPS), 1, PROBABILITY_STEPS - 1))


def flag_probabilities(code: int) -> np.ndarray:
    """``[P(coded), P(skipped)]`` of a stored probability code."""
    return np.array([PROBABILITY_STEPS - code, code], dtype=np.float64)


def _block_sums(values: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Sums of an ``[H, W]`` map over skip blocks (``[rows, cols]``)."""
    rows, cols = grid_shape(height, width)
    padded = torch.zeros(rows * BLOCK, cols * BLOCK, dtype=values.dtype, device=values.device)
    padded[:height, :width] = values
    return padded.reshape(rows, BLOCK, cols, BLOCK).sum(dim=(1, 3))


def allowed(copy_mse: torch.Tensor, box: tuple[int, int, int, int],
            max_mse: float | None) -> np.ndarray:
    """Blocks that may be skipped: none the object box touches (the object needs its own
    quality and usually moves), and with a background target only those whose copy is
    within ``max_mse`` (``copy_mse``: ``[H, W]`` squared error, mean over RGB, 0-255 scale)."""
    height, width = copy_mse.shape
    rows, cols = grid_shape(height, width)
    out = np.ones((rows, cols), bool)
    x, y, w, h = box
    out[y // BLOCK : (y + h - 1) // BLOCK + 1, x // BLOCK : (x + w - 1) // BLOCK + 1] = False
    if max_mse is not None:
        counts = _block_sums(torch.ones_like(copy_mse), height, width)
        out &= ((_block_sums(copy_mse, height, width) / counts) <= max_mse).cpu().numpy()
    return out


def choose(fit_error: torch.Tensor, copy_error: torch.Tensor, bits: Sequence[torch.Tensor],
           pixels: int, may: np.ndarray | None = None) -> np.ndarray:
    """Blocks to skip: where copying adds less weighted distortion than its latents cost
    (and ``may`` allows it, :func:`allowed`).

    Parameters
    ----------
    fit_error, copy_error
        ``[H, W]`` weighted squared errors (summed over RGB) of the fitted frame and of the
        frame with every latent copied from the previous one.
    bits
        Per level ``[h, w]``: the fitted latents' bits; a latent's bits count for the block
        holding its centre.
    pixels
        ``H * W`` (distortion is a mean over pixels, bits are per pixel: same units).
    """
    height, width = fit_error.shape
    added = _block_sums(copy_error - fit_error, height, width) / pixels
    saved = torch.zeros_like(added)
    for level, level_bits in enumerate(bits):
        h, w = level_bits.shape
        scale = 2**level
        rows = torch.clamp((torch.arange(h) * scale + scale // 2) // BLOCK, max=saved.shape[0] - 1)
        cols = torch.clamp((torch.arange(w) * scale + scale // 2) // BLOCK, max=saved.shape[1] - 1)
        flat = (rows[:, None] * saved.shape[1] + cols[None, :]).reshape(-1).to(saved.device)
        saved.view(-1).index_add_(0, flat, level_bits.reshape(-1).to(saved.dtype))
    chosen = (added < saved / pixels).cpu().numpy()
    return chosen if may is None else chosen & may
