"""Rate control: fit frames to their quality targets with the fewest bits.

A cold fit trains networks and latents together at the starting distortion weights
(:func:`~rinr_core.grid.fit.optimize`: uniform noise, then straight-through rounding). Then
come *rounds*, each warm-started from the previous one: the networks are quantized
(:mod:`~rinr_core.grid.netquant`), every frame is rendered exactly as the decoder will render
it and its PSNRs and bits are measured, then both of its weights (background, object box)
move by the misses (``log2 weight += miss / slope``, the slope in dB per doubling learned
from the frame's own rounds), and training goes on. Each *unit* (a network and the frames
it serves: one frame of a per-frame batch, or a whole stream batch) keeps the round that
missed its targets by the fewest dB (none, once met) with the fewest bits. A frame that meets its targets by less than the
tolerance is done. Warm fits of stream frames train latents only, under frozen networks.
Without targets one round follows the cold phase.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rinr_core.grid.arm import QuantTensor
from rinr_core.grid.coding import weight_bits
from rinr_core.grid.decode import render
from rinr_core.grid.fit import HARD, NOISE, STE, FitState, Problem, cold_state, evaluate, optimize
from rinr_core.grid.netquant import network_tensors, quantize_networks
from rinr_core.grid.settings import GridSettings
from rinr_core.metrics import frame_psnrs

SLOPE_DB = 1.5
"""Starting guess of dB gained per doubling of a distortion weight."""
MAX_OCTAVES = 1.5
"""Largest change of a weight in one round (octaves)."""
ROUND_LR = 0.3
"""Learning rate of a cold fit's rounds relative to :attr:`GridSettings.lr`."""
WARM_LR = 3.0
"""Learning rate of a warm fit's rounds relative to :attr:`GridSettings.lr`."""
WARM_NOISE = 0.3
"""Share of a warm fit's first round trained with noise (lets latents move to new content)."""


@dataclass
class FrameFit:
    """One frame's outcome: latents (per level, finest first), PSNRs, bits, weights."""

    levels: list[np.ndarray]
    psnrs: dict[str, float]
    bits: float
    lambdas: tuple[float, float]
    meets: bool | None
    skip: np.ndarray | None = None


@dataclass
class FitOutcome:
    """A batch's outcome: the stored networks (one, or one per frame) and every frame."""

    networks: list[list[QuantTensor]]
    frames: list[FrameFit]
    steps: int
    rounds: int
    seconds: float


@dataclass
class _Track:
    """Rate-control memory of one frame."""

    lam: list[float]
    slope: list[float] = field(default_factory=lambda: [SLOPE_DB, SLOPE_DB])
    seen: list[tuple[float, float, float, float]] = field(default_factory=list)  # log2 lams, PSNRs
    done: bool = False


def meets(psnrs: dict[str, float], settings: GridSettings, margin: float = 0.0) -> bool:
    """Whether PSNRs reach the settings' targets (plus ``margin``); no background: no target."""
    bg, obj = settings.target_background_db, settings.target_object_db
    background = psnrs["psnr_background"]
    bg_ok = bg is None or math.isnan(background) or background >= bg + margin
    return bool(bg_ok and (obj is None or psnrs["psnr_object"] >= obj + margin))


def shortfall(psnrs: dict[str, float], settings: GridSettings) -> float:
    """How many dB the PSNRs miss their targets by, summed (0 when both are met)."""
    out = 0.0
    for key, target in (("psnr_background", settings.target_background_db),
                        ("psnr_object", settings.target_object_db)):
        if target is not None and not math.isnan(psnrs[key]):
            out += max(0.0, target - psnrs[key])
    return out


def _adjust(track: _Track, psnrs: dict[str, float], settings: GridSettings) -> None:
    """Move a frame's two weights toward its targets (see the module docstring)."""
    aim = settings.tolerance_db / 2
    values = (psnrs["psnr_background"], psnrs["psnr_object"])
    for k, target in enumerate((settings.target_background_db, settings.target_object_db)):
        if target is None or math.isnan(values[k]):
            continue
        if len(track.seen) >= 2:
            (l0, p0), (l1, p1) = [(s[k], s[2 + k]) for s in track.seen[-2:]]
            if abs(l1 - l0) > 0.1 and p1 != p0:
                track.slope[k] = float(np.clip((p1 - p0) / (l1 - l0), 0.5, 4.0))
        octaves = float(np.clip((target + aim - values[k]) / track.slope[k], -MAX_OCTAVES,
                                MAX_OCTAVES))
        track.lam[k] *= 2.0**octaves


def _measure(problem: Problem, state: FitState, networks: Sequence[Sequence[QuantTensor]],
             originals: Sequence[np.ndarray]) -> tuple[list[list[np.ndarray]], list[dict[str, float]], np.ndarray]:
    """Every frame's integer latents, PSNRs (rendered exactly as the decoder will) and bits."""
    levels, psnrs = [], []
    with torch.no_grad():
        hard = problem.with_skips([torch.round(z) for z in state.latents])
    for b in range(problem.batch):
        lv = [z[b, 0].cpu().numpy().astype(np.int64) for z in hard]
        image = render(problem.arch, networks[0 if problem.shared else b], lv, problem.height,
                       problem.width, problem.device)
        levels.append(lv)
        psnrs.append(frame_psnrs(originals[b], image, problem.boxes[b]))
    with torch.no_grad():
        bits, _ = evaluate(problem, state.latents, network_tensors(networks, problem.device), None,
                           HARD)
    return levels, psnrs, bits.cpu().numpy()


def _weights(problem: Problem, tracks: Sequence[_Track]) -> torch.Tensor:
    return problem.weight_map(torch.tensor([t.lam[0] for t in tracks]),
                              torch.tensor([t.lam[1] for t in tracks]))


@dataclass
class _Candidate:
    """A unit's best round: its networks and its frames."""

    score: tuple[float, float]
    networks: list[QuantTensor]
    frames: list[FrameFit]


def fit_frames(problem: Problem, originals: Sequence[np.ndarray], settings: GridSettings, *,
               state: FitState | None = None, networks: list[list[QuantTensor]] | None = None,
               lambdas: Sequence[tuple[float, float]] | None = None,
               round_steps: int | None = None) -> FitOutcome:
    """Fit a batch of frames (see the module docstring).

    Parameters
    ----------
    originals
        The frames' ``uint8`` pixels (what PSNRs are measured against).
    state, networks
        A warm start: the latents to start from and the frozen stored networks they go
        with (stream frames after the first ones). Without them the fit starts cold.
    lambdas
        Each frame's starting ``(background, object)`` weights (default: the settings').
    round_steps
        Steps per round (default: :attr:`GridSettings.latent_round_steps`).
    """
    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    tracks = [_Track(list(lambdas[b] if lambdas else settings.start_lambdas()))
              for b in range(problem.batch)]
    frozen = networks
    steps = 0
    if frozen is None:
        state = cold_state(problem, settings.seed)
        noise_until = int(0.75 * settings.steps)
        optimize(problem, state, _weights(problem, tracks), settings.steps, settings.lr,
                 networks=True, mode=lambda s: NOISE if s < noise_until else STE)
        steps += settings.steps
    elif state is None:
        raise ValueError("a warm fit needs the latents to start from (state)")
    else:
        state.networks = network_tensors(frozen, problem.device)
    units = [list(range(problem.batch))] if problem.shared and frozen is None else \
        [[b] for b in range(problem.batch)]
    best: list[_Candidate | None] = [None] * len(units)
    per_round = round_steps or settings.latent_round_steps
    rounds = 0
    limit = settings.max_rounds if frozen is None else settings.warm_rounds
    for _ in range(limit if settings.targeted else 1):
        if rounds or frozen is not None or not settings.targeted:
            noisy = int(WARM_NOISE * per_round) if frozen is not None and not rounds else 0

            def mode(step: int, noisy: int = noisy) -> str:
                return NOISE if step < noisy else STE

            optimize(problem, state, _weights(problem, tracks), per_round,
                     settings.lr * (ROUND_LR if frozen is None else WARM_LR),
                     networks=frozen is None, mode=mode, warmup=min(5, per_round))
            steps += per_round
        rounds += 1
        nets = frozen if frozen is not None else quantize_networks(problem, state,
                                                                   _weights(problem, tracks))
        levels, psnrs, bits = _measure(problem, state, nets, originals)
        fits = [FrameFit(levels[b], psnrs[b], float(bits[b]), (t.lam[0], t.lam[1]),
                         meets(psnrs[b], settings) if settings.targeted else None,
                         None if problem.skip is None else problem.skip[b])
                for b, t in enumerate(tracks)]
        for u, members in enumerate(units):
            net = nets[0] if problem.shared else nets[members[0]]
            cost = sum(fits[b].bits for b in members) + (weight_bits(net) if frozen is None else 0)
            missed = sum(shortfall(fits[b].psnrs, settings) for b in members)
            score = (-missed, -cost)  # closest to the targets first, then the fewest bits
            if best[u] is None or score > best[u].score:  # type: ignore[union-attr]
                best[u] = _Candidate(score, net, [fits[b] for b in members])
        for b, track in enumerate(tracks):
            track.seen.append((math.log2(track.lam[0]), math.log2(track.lam[1]),
                               psnrs[b]["psnr_background"], psnrs[b]["psnr_object"]))
            track.done = bool(fits[b].meets) and not meets(psnrs[b], settings, settings.tolerance_db)
        if not settings.targeted or all(t.done for t in tracks):
            break
        for b, track in enumerate(tracks):
            if not track.done:
                _adjust(track, psnrs[b], settings)
    chosen = [c for c in best if c is not None]
    frames = [f for c in chosen for f in c.frames]
    return FitOutcome([c.networks for c in chosen] if not problem.shared or frozen is None
                      else list(frozen), frames, steps, rounds, time.perf_counter() - start)
