"""Training a post-filter on (decoded, original) frame pairs, with dynamic discretization.

The fog holds both the originals and exactly what edges decode, so it fits the network of
:mod:`rinr_core.lut.network` to map one to the other (mean squared error on random crops,
Adam with a cosine schedule), then converts it to tables (:mod:`rinr_core.lut.tables`).

Dynamic discretization: the knots of every unit start uniform over its input range; after
``knots_at`` of the steps (and again at ``2 * knots_at``) each layer's input values on the
training crops are counted and the knots of each input plane move to quantiles of that
distribution, mixed with a uniform share so that rare values keep some resolution
(:func:`place_knots`). Each unit's function is carried over (its new knot values are its
old values at the new positions), so training goes on where it was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rinr_core.errors import ConfigError, require
from rinr_core.lut.network import ONE, LutNet, LutSpec, expand_exact, segments, to_planes
from rinr_core.lut.tables import LutTables, from_network
from rinr_core.metrics import psnr

AUGMENTATIONS = ("none", "flips", "dihedral")
"""What :attr:`LutTrainSettings.augment` takes."""


@dataclass(frozen=True)
class LutTrainSettings:
    """How to fit a post-filter.

    Parameters
    ----------
    steps, lr
        Adam steps (cosine schedule) and peak learning rate (pixel levels per step).
    batch, crop
        Random crops per step and their side (pixels; smaller frames give smaller crops).
    knots_at
        Fraction of the steps after which knots move to the data's quantiles (and again
        at twice it); 0 keeps them uniform.
    uniform_share
        Weight of a uniform distribution mixed into the data's when placing knots.
    augment
        :data:`AUGMENTATIONS`: ``none``; ``flips`` (each crop flipped left-right and/or
        up-down at random); ``dihedral`` (also transposed: one of the 8 symmetries of the
        square). Measured on Crossing with Residual-INR (8 training frames, 8 unseen):
        ``dihedral`` halved the gain on unseen frames (+0.25 dB against +0.43): a SIREN's
        artefacts differ along x and y (its coordinates span each axis whatever its length).
    seed
        Seeds the crops and the initial network.
    """

    steps: int = 400
    lr: float = 0.03
    batch: int = 12
    crop: int = 48
    knots_at: float = 0.25
    uniform_share: float = 0.25
    augment: str = "none"
    seed: int = 0

    def __post_init__(self) -> None:
        require({"steps": self.steps >= 1, "lr": self.lr > 0, "batch": self.batch >= 1,
                 "crop": self.crop >= 8, "knots_at": 0 <= self.knots_at < 0.5,
                 "augment": self.augment in AUGMENTATIONS,
                 "uniform_share": 0 <= self.uniform_share <= 1},
                lambda name: getattr(self, name), "post-filter training settings",
                "steps >= 1, lr > 0, batch >= 1, crop >= 8, 0 <= knots_at < 0.5, "
                f"0 <= uniform_share <= 1, augment: {'|'.join(AUGMENTATIONS)}")


@dataclass
class TrainedLut:
    """A trained post-filter: its tables, the network they came from, and how it went."""

    tables: LutTables
    net: LutNet
    train_s: float
    losses: list[float]


def _as_pairs(decoded: Sequence[np.ndarray], originals: Sequence[np.ndarray]
              ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if len(decoded) != len(originals) or not decoded:
        raise ConfigError(f"post-filter training needs as many decoded frames as originals "
                          f"(at least one), got {len(decoded)} and {len(originals)}")
    pairs = []
    for d, o in zip(decoded, originals, strict=True):
        if d.shape != o.shape or d.dtype != np.uint8 or o.dtype != np.uint8 or d.ndim != 3:
            raise ConfigError(f"post-filter training pairs must be uint8 HxWx3 of one size, got "
                              f"{d.dtype} {d.shape} and {o.dtype} {o.shape}")
        pairs.append((torch.from_numpy(np.ascontiguousarray(d.transpose(2, 0, 1))).float(),
                      torch.from_numpy(np.ascontiguousarray(o.transpose(2, 0, 1))).float()))
    return pairs


def _crops(pairs: list[tuple[torch.Tensor, torch.Tensor]], count: int, side: int, margin: int,
           generator: torch.Generator, augment: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random crops of the decoded frames (padded by ``margin`` pixels of context,
    replicated at the frame's edges) and the original pixels of their interiors, flipped
    (and transposed) at random as ``augment`` says (:data:`AUGMENTATIONS`)."""
    height = min(o.shape[1] for _, o in pairs)
    width = min(o.shape[2] for _, o in pairs)
    side = min(side, height, width)
    inputs, targets = [], []
    for _ in range(count):
        padded, o = pairs[int(torch.randint(len(pairs), (1,), generator=generator))]
        y = int(torch.randint(o.shape[1] - side + 1, (1,), generator=generator))
        x = int(torch.randint(o.shape[2] - side + 1, (1,), generator=generator))
        crop = padded[:, y:y + side + 2 * margin, x:x + side + 2 * margin]
        target = o[:, y:y + side, x:x + side]
        if augment != "none":  # the same flips (and turns) for input and target
            flips = torch.randint(2, (3,), generator=generator).tolist()
            for axis, flip in zip((1, 2), flips[:2], strict=True):
                if flip:
                    crop, target = crop.flip(axis), target.flip(axis)
            if augment == "dihedral" and flips[2]:
                crop, target = crop.transpose(1, 2), target.transpose(1, 2)
        inputs.append(crop)
        targets.append(target)
    return torch.stack(inputs), torch.stack(targets)


def place_knots(counts: torch.Tensor, lo: int, knots: int, uniform_share: float) -> torch.Tensor:
    """Knot positions (int64, strictly increasing, first ``lo``, last ``lo + len(counts) - 1``)
    at quantiles of ``counts`` (how often each input value occurred) mixed with a uniform share."""
    domain = counts.shape[0]
    density = counts.double() / max(float(counts.sum()), 1.0)
    density = (1 - uniform_share) * density + uniform_share / domain
    cdf = torch.cumsum(density, 0)
    wanted = torch.linspace(0, 1, knots, dtype=torch.float64)[1:-1]
    positions = [0, *torch.searchsorted(cdf, wanted).tolist(), domain - 1]
    for i in range(1, knots - 1):  # strictly increasing, room left for the later knots
        positions[i] = min(max(positions[i], positions[i - 1] + 1), domain - knots + i)
    return torch.tensor(positions, dtype=torch.int64) + lo


def _input_counts(net: LutNet, inputs: torch.Tensor) -> list[torch.Tensor]:
    """How often each integer value reaches each layer, per input plane: ``[planes, domain]``."""
    counts = []
    with torch.no_grad():
        h = to_planes(inputs, net.spec.color)
        lo_h, hi_h = net.spec.hidden
        for i, layer in enumerate(net.layers):
            values = (h.long() - layer.lo).clamp(0, layer.domain - 1)
            counts.append(torch.stack([torch.bincount(values[:, c].reshape(-1), minlength=layer.domain)
                                       for c in range(layer.planes)]))
            if i < len(net.layers) - 1:
                s = layer(h)
                h = torch.floor(s / ONE + 0.5).clamp(lo_h, hi_h)
    return counts


def redistribute_knots(net: LutNet, inputs: torch.Tensor, uniform_share: float) -> None:
    """Move every layer's knots to the quantiles of the values it sees on ``inputs``,
    keeping each unit's function (new knot values = old function at the new knots)."""
    for layer, counts in zip(net.layers, _input_counts(net, inputs), strict=True):
        knots = layer.positions.shape[1]
        new = torch.stack([place_knots(c, layer.lo, knots, uniform_share) for c in counts])
        with torch.no_grad():
            seg, offset, span = segments(layer.positions, layer.lo, layer.hi)
            dense = expand_exact(layer.stored_values(), seg, offset, span, layer.kh * layer.kw)
            plane = torch.arange(layer.taps) // (layer.kh * layer.kw)
            at = (new[plane] - layer.lo).unsqueeze(-1).expand(-1, -1, layer.channels)
            layer.values.copy_(torch.gather(dense, 1, at).float() / ONE)
            layer.positions.copy_(new)


def train_lut(decoded: Sequence[np.ndarray], originals: Sequence[np.ndarray],
              spec: LutSpec | None = None, settings: LutTrainSettings | None = None, *,
              meta: dict | None = None,
              progress: Callable[[int, float], None] | None = None) -> TrainedLut:
    """Fit a post-filter that maps ``decoded`` frames to ``originals`` (``uint8`` HxWx3 pairs).

    Runs on the CPU with the threads torch has. ``meta`` goes into the tables (the codec and
    the frames it was trained for, for instance); ``progress(step, loss)`` is called every
    50 steps.
    """
    spec = spec or LutSpec()
    settings = settings or LutTrainSettings()
    margin = spec.margin
    pairs = [(F.pad(d[None], (margin,) * 4, mode="replicate")[0] if margin else d, o)
             for d, o in _as_pairs(decoded, originals)]
    generator = torch.Generator().manual_seed(settings.seed)
    net = LutNet(spec)
    net.init_random(generator)
    start = time.perf_counter()
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.steps)
    moves = {int(settings.steps * settings.knots_at * k) for k in (1, 2)} if settings.knots_at else set()
    losses: list[float] = []
    for step in range(settings.steps):
        if step in moves and step > 0:
            sample, _ = _crops(pairs, 4 * settings.batch, settings.crop, margin, generator)
            redistribute_knots(net, sample, settings.uniform_share)
            optimizer.state.clear()  # the moments belonged to the old knots
        inputs, targets = _crops(pairs, settings.batch, settings.crop, margin, generator,
                                 settings.augment)
        output = net(inputs)
        if margin:
            output = output[:, :, margin:-margin, margin:-margin]
        loss = F.mse_loss(output, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress is not None and (step % 50 == 0 or step == settings.steps - 1):
            progress(step, losses[-1])
    train_s = time.perf_counter() - start
    info = {"spec": spec.describe(), "steps": settings.steps, "train_frames": len(pairs),
            "train_s": train_s, **(meta or {})}
    return TrainedLut(from_network(net, info), net, train_s, losses)


def mean_psnr(references: Sequence[np.ndarray], images: Sequence[np.ndarray]) -> float:
    """Mean PSNR (dB) of ``images`` against ``references``."""
    values = [psnr(r, i) for r, i in zip(references, images, strict=True)]
    return float(np.mean(values)) if values else math.nan
