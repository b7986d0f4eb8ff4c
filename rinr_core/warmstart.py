"""Warm start: begin each frame's INRs from the previous frame's weights of its sequence.

Consecutive frames of a video are similar, so the previous frame's fitted network is a far
better starting point than a random draw. Two refinements make the restart pay off:

* **global-motion compensation**: the translation between the two frames is estimated by phase
  correlation, and folded into the first SIREN layer (``sin(w0 (W (x - d) + b))`` is the
  previous network shifted by ``d``: only the bias changes, ``b' = b - W d``), so a panning
  camera does not throw the start away;
* **a restart schedule** (a short linear warm-up, then cosine decay from
  ``CodecSettings.warm_lr_scale`` times the cold learning rate): the warm-up keeps Adam's first
  steps, which move every weight by about the learning rate whatever the gradient, from
  knocking a converged network off its optimum, while the peak (1.5x) still lets a panning
  or changing scene be learned quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from rinr_core.siren import SirenArch, SirenParams


def _subpixel(corr: np.ndarray, iy: int, ix: int) -> tuple[float, float]:
    """Parabolic refinement of a correlation peak along each axis."""
    h, w = corr.shape

    def vertex(m: float, c: float, p: float) -> float:
        denom = m - 2 * c + p
        return 0.0 if abs(denom) < 1e-12 else float(np.clip(0.5 * (m - p) / denom, -0.5, 0.5))

    fy = vertex(corr[(iy - 1) % h, ix], corr[iy, ix], corr[(iy + 1) % h, ix])
    fx = vertex(corr[iy, (ix - 1) % w], corr[iy, ix], corr[iy, (ix + 1) % w])
    return fy, fx


def estimate_shift(previous: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Translation ``(dx, dy)`` in pixels (sub-pixel) with ``current(p) ~= previous(p - d)``.

    Phase correlation of the Hann-windowed luminance, refined by a parabola around the peak;
    ``(0, 0)`` for unequal shapes.
    """
    if previous.shape != current.shape:
        return (0.0, 0.0)
    a = previous.astype(np.float64).mean(axis=2)
    b = current.astype(np.float64).mean(axis=2)
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.fft2((a - a.mean()) * window)
    fb = np.fft.fft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    corr = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
    fy, fx = _subpixel(corr, int(iy), int(ix))
    h, w = corr.shape
    dy = iy - h if iy > h // 2 else iy
    dx = ix - w if ix > w // 2 else ix
    return (float(dx + fx), float(dy + fy))


def shift_network(params: SirenParams, dx_pixels: float, dy_pixels: float, width: int, height: int) -> SirenParams:
    """The network that renders ``params``' image moved by ``(dx, dy)`` pixels (first-layer bias)."""
    out = params.detach()
    w_first, b_first = out.layers[0]
    d = torch.tensor([2.0 * dx_pixels / width, 2.0 * dy_pixels / height], dtype=w_first.dtype,
                     device=w_first.device)
    b_first -= w_first @ d
    return out


@dataclass
class _ChainMemory:
    image: np.ndarray
    background: SirenParams
    objects: dict[tuple, SirenParams] = field(default_factory=dict)


@dataclass
class WarmState:
    """Weights carried between frames of each sequence, across calls (e.g. fog rounds).

    Frames are chained by ``frame.meta["sequence"]`` (one chain when absent).
    """

    chains: dict[str, _ChainMemory] = field(default_factory=dict)

    def background_init(self, chain: str, image: np.ndarray, arch: SirenArch) -> SirenParams | None:
        """Motion-compensated weights of the chain's previous background, or None (cold)."""
        memory = self.chains.get(chain)
        if memory is None or memory.background.arch.key != arch.key or memory.image.shape != image.shape:
            return None
        dx, dy = estimate_shift(memory.image, image)
        return shift_network(memory.background, dx, dy, image.shape[1], image.shape[0])

    def object_init(self, chain: str, arch: SirenArch) -> SirenParams | None:
        """The chain's previous object INR of the same architecture, or None (cold)."""
        memory = self.chains.get(chain)
        found = None if memory is None else memory.objects.get(arch.key)
        return None if found is None else found.detach()

    def remember(self, chain: str, image: np.ndarray, background: SirenParams,
                 obj: SirenParams | None) -> None:
        memory = self.chains.get(chain)
        objects = {} if memory is None else memory.objects
        if obj is not None:
            objects[obj.arch.key] = obj.detach()
        self.chains[chain] = _ChainMemory(image, background.detach(), objects)
