"""Fitting latents (and networks) to frames: rate + lambda x weighted distortion, batched.

A :class:`Problem` is a batch of frames of one size: their pixels, boxes, and whether they
share one network (a stream) or have one each (per-frame payloads). With a temporal
architecture frame ``b`` reads frame ``b - 1``'s latents as context (frame 0 reads the fixed
``reference`` latents, if any), so their rates are optimized together. The loss is
``sum_b bits_b / (H W) + D_b`` with ``D_b`` the squared error summed over RGB, averaged
over pixels, each pixel weighted by its frame's background or object-box weight. Latents
are quantized to integers: uniform noise stands in for rounding early, straight-through
rounding (exact forward values) at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rinr_core.frames import Box
from rinr_core.grid.arch import GridArch
from rinr_core.grid.context import level_shift
from rinr_core.grid.model import LATENT_LIMIT, init_networks, latent_bits, shift_grid, synthesize
from rinr_core.grid.skip import masks as skip_masks

NOISE, STE, HARD = "noise", "ste", "hard"


@dataclass
class Problem:
    """What is fitted: frames of one size (see the module docstring).

    Attributes
    ----------
    images
        ``[B, 3, H, W]`` in ``[0, 1]``.
    shared
        One network for all frames (else one per frame).
    reference
        Temporal models: the latents (per level ``[1, 1, h, w]``) of the frame before frame
        0, already coded; ``None``: frame 0 has no previous frame.
    shifts
        Each frame's global motion against the frame before it, in quarter pixels.
    skip
        Per frame, its skip blocks (:mod:`rinr_core.grid.skip`; ``None``: none): those
        latents are the previous frame's (moved) and cost no bits.
    """

    arch: GridArch
    images: torch.Tensor
    boxes: list[Box]
    shared: bool
    reference: list[torch.Tensor] | None = None
    shifts: list[tuple[int, int]] = field(default_factory=list)
    skip: list[np.ndarray | None] | None = None

    def __post_init__(self) -> None:
        if not self.shifts:
            self.shifts = [(0, 0)] * self.batch
        self.skipped: list[torch.Tensor] | None = None  # per level [B, 1, h, w], True: skipped
        self.coded: torch.Tensor | None = None  # [B, n]: 1 where a latent is coded
        if self.skip is not None and any(s is not None for s in self.skip):
            shapes = self.arch.latent_shapes(self.height, self.width)
            per_frame = [skip_masks(s, shapes, self.height, self.width) if s is not None
                         else [np.zeros(shape, bool) for shape in shapes] for s in self.skip]
            self.skipped = [torch.from_numpy(np.stack([m[level] for m in per_frame]))[:, None]
                            .to(self.images.device) for level in range(len(shapes))]
            self.coded = torch.cat([(~m).reshape(self.batch, -1).float() for m in self.skipped],
                                   dim=1)
        masks = torch.zeros(self.batch, 1, self.height, self.width, dtype=torch.bool)
        for b, (x, y, w, h) in enumerate(self.boxes):
            masks[b, :, y : y + h, x : x + w] = True
        self.masks = masks.to(self.images.device)

    @property
    def batch(self) -> int:
        return int(self.images.shape[0])

    @property
    def height(self) -> int:
        return int(self.images.shape[-2])

    @property
    def width(self) -> int:
        return int(self.images.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.images.device

    def flags(self) -> torch.Tensor:
        """``[B]``: 1 for every frame that has a previous frame (temporal models)."""
        flags = torch.ones(self.batch, device=self.device)
        if self.reference is None:
            flags[0] = 0
        return flags

    def previous(self, latents: Sequence[torch.Tensor]) -> list[torch.Tensor] | None:
        """Per level ``[B, 1, h, w]``: each frame's previous frame's latents (temporal only)."""
        if not self.arch.temporal:
            return None
        out = []
        for level, z in enumerate(latents):
            first = (self.reference[level] if self.reference is not None
                     else torch.zeros_like(z[:1]))
            out.append(torch.cat([first.to(z), z[:-1]], dim=0))
        return out

    def with_skips(self, latents: list[torch.Tensor]) -> list[torch.Tensor]:
        """Latents with every skipped one replaced by the previous frame's (moved), in frame
        order (a frame's previous frame is already final when it is read)."""
        if self.skipped is None:
            return latents
        out = [z.clone() for z in latents]
        for b in range(self.batch):
            for level, z in enumerate(out):
                before = (self.reference[level] if b == 0 and self.reference is not None
                          else z[b - 1 : b] if b > 0 else torch.zeros_like(z[:1]))
                copy = shift_grid(before.to(z), level_shift(self.shifts[b], level))
                z[b : b + 1] = torch.where(self.skipped[level][b : b + 1], copy, z[b : b + 1])
        return out

    def weight_map(self, background: torch.Tensor, obj: torch.Tensor) -> torch.Tensor:
        """``[B, 1, H, W]`` distortion weights from per-frame ``[B]`` background/object weights."""
        bg = background.to(self.device).view(-1, 1, 1, 1)
        ob = obj.to(self.device).view(-1, 1, 1, 1)
        return torch.where(self.masks, ob, bg)


@dataclass
class FitState:
    """The numbers being fitted: latents per level ``[B, 1, h, w]`` and networks ``[N, ...]``."""

    latents: list[torch.Tensor]
    networks: list[torch.Tensor]

    def clone(self) -> FitState:
        return FitState([z.detach().clone() for z in self.latents],
                        [n.detach().clone() for n in self.networks])


def cold_state(problem: Problem, seed: int) -> FitState:
    """Zero latents and freshly initialized networks (seeded: independent of batching)."""
    shapes = problem.arch.latent_shapes(problem.height, problem.width)
    latents = [torch.zeros(problem.batch, 1, h, w, device=problem.device) for h, w in shapes]
    one = init_networks(problem.arch, 1, torch.Generator().manual_seed(seed), problem.device)
    count = 1 if problem.shared else problem.batch
    return FitState(latents, [n.repeat(count, *([1] * (n.dim() - 1))) for n in one])


def proxy(latents: Sequence[torch.Tensor], mode: str) -> list[torch.Tensor]:
    """Latents as the decoder would see them: noisy (training), straight-through or rounded."""
    if mode == NOISE:
        return [z + torch.rand_like(z) - 0.5 for z in latents]
    if mode == STE:
        return [z + (torch.round(z) - z).detach() for z in latents]
    return [torch.round(z) for z in latents]


def evaluate(problem: Problem, latents: Sequence[torch.Tensor], networks: Sequence[torch.Tensor],
             weights: torch.Tensor | None, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(bits [B], distortion [B])`` of the latents through the networks.

    ``distortion`` is weighted by ``weights`` (``[B, 1, H, W]``), or the plain squared error
    summed over RGB and averaged over pixels when ``weights`` is ``None``.
    """
    q = problem.with_skips(proxy(latents, mode))
    x = synthesize(problem.arch, networks, q, problem.height, problem.width)
    err = (x - problem.images) ** 2
    if weights is not None:
        err = err * weights
    distortion = err.mean(dim=(2, 3)).sum(dim=1)
    bits = latent_bits(problem.arch, networks, q, problem.previous(q), problem.shifts,
                       problem.flags() if problem.arch.temporal else None, problem.coded)
    return bits, distortion


def optimize(problem: Problem, state: FitState, weights: torch.Tensor, steps: int, lr: float, *,
             mode: Callable[[int], str], networks: bool, warmup: int = 0) -> float:
    """Adam on the latents (and the networks with ``networks=True``); returns the last loss.

    The learning rate warms up linearly over ``warmup`` steps, then decays (cosine) to a
    tenth of ``lr`` by the last step. Latents stay within :data:`LATENT_LIMIT`.
    """
    params = list(state.latents) + (list(state.networks) if networks else [])
    for p in params:
        p.requires_grad_(True)
    if not networks:
        for n in state.networks:
            n.requires_grad_(False)
    optimizer = torch.optim.Adam(params, lr=lr)
    pixels = problem.height * problem.width
    loss_value = float("nan")
    for step in range(steps):
        ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
        decay = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(1, steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr * ramp * decay
        bits, distortion = evaluate(problem, state.latents, state.networks, weights, mode(step))
        loss = (bits / pixels + distortion).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for z in state.latents:
                z.clamp_(-LATENT_LIMIT, LATENT_LIMIT)
        loss_value = float(loss.detach())
    for p in params:
        p.requires_grad_(False)
    return loss_value
