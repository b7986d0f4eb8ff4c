"""Object residual INRs of a sequence: fitted in lockstep runs, warm-started, refitted to a target."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import torch

from rinr_core.codec import FitJob, fit_settings_for, run_fit_jobs, store_inr, to_float_tensor
from rinr_core.container import ROLE_OBJECT_RESIDUAL, StoredInr
from rinr_core.decoding import pick_device, to_uint8
from rinr_core.fitting import FitSettings
from rinr_core.frames import Frame
from rinr_core.metrics import frame_psnrs
from rinr_core.sequence.render import _add_objects
from rinr_core.sequence.settings import SequenceSettings
from rinr_core.siren import SirenArch, SirenParams, grid_coords


def _object_jobs(frames: Sequence[Frame], backgrounds: Sequence[torch.Tensor], positions: Sequence[int],
                 inits: Sequence[SirenParams | None], preset_arch: Callable[[int], SirenArch],
                 device: torch.device) -> list[FitJob]:
    jobs = []
    for k, init in zip(positions, inits, strict=True):
        f, x, y, w, h = frames[k], *frames[k].box
        crop = to_float_tensor(f.image[y : y + h, x : x + w], device).reshape(-1, 3)
        residual = crop - backgrounds[k][y : y + h, x : x + w].reshape(-1, 3)
        q = float(np.float32(max(float(residual.abs().max()), 1.0 / 255)))
        arch = preset_arch(w * h)
        init = init if init is not None and init.arch.key == arch.key else None
        jobs.append(FitJob(arch, grid_coords(h, w, device), residual / q, q, init))
    return jobs


def _fixed_arch(arch: SirenArch) -> Callable[[int], SirenArch]:
    """A ``preset_arch`` for :func:`_object_jobs` that gives ``arch`` whatever the box area."""
    return lambda _area: arch


def fit_object_residuals(frames: Sequence[Frame], backgrounds: Sequence[torch.Tensor], settings: SequenceSettings,
                         *, first_init: SirenParams | None = None) -> tuple[list[StoredInr], list[dict]]:
    """Object residual INRs of ``frames`` against float ``backgrounds`` ``[H, W, 3]`` as decoded.

    The frames are split into ``settings.chains`` contiguous runs fitted in lockstep (one
    batch per position); each frame starts from the previous frame's INR of its run when the
    architecture matches (``first_init`` seeds the first run, e.g. the last frame of a base).
    """
    codec = settings.object_codec()
    preset = codec.resolve()
    device = pick_device(settings.device)
    role, mode = ROLE_OBJECT_RESIDUAL, "qre"
    fits: tuple[FitSettings, FitSettings] = (fit_settings_for(preset, role, mode, codec, False),
                                             fit_settings_for(preset, role, mode, codec, True))
    n = len(frames)
    run = -(-n // min(settings.chains, n))
    starts = list(range(0, n, run))
    fitted: list[SirenParams | None] = [None] * n
    stored: list[StoredInr | None] = [None] * n
    extra: list[dict] = [{} for _ in range(n)]
    for p in range(run):
        positions = [s + p for s in starts if s + p < n]
        if p == 0:
            inits = [first_init if s == 0 else None for s in starts]
        else:
            inits = [fitted[k - 1] for k in positions]
        if not settings.warm_start:
            inits = [None] * len(positions)
        arch_of = preset.object_arch if settings.object_arch is None else (lambda _area: settings.object_arch)
        jobs = _object_jobs(frames, backgrounds, positions, inits, arch_of, device)
        for k, job, (params, steps) in zip(positions, jobs, run_fit_jobs(jobs, *fits, codec.seed + 1), strict=True):
            fitted[k] = params
            stored[k] = store_inr(params, role, fits[0].bits, job.scale)  # type: ignore[arg-type]
            extra[k] = {"steps_object": steps, "warm_object": job.init is not None, "object_refits": 0}
    if settings.object_db is not None:
        _refit_short_objects(frames, backgrounds, stored, extra, settings, fits, device)  # type: ignore[arg-type]
    return stored, extra  # type: ignore[return-value]


def _object_psnrs(frames: Sequence[Frame], backgrounds: Sequence[torch.Tensor], positions: Sequence[int],
                  inrs: Sequence[StoredInr], device: torch.device) -> list[float]:
    """Object PSNR of ``frames[k]`` as decoded: its background plus ``inrs``, rounded to ``uint8``."""
    images = [backgrounds[k].clone() for k in positions]
    _add_objects(images, [frames[k].box for k in positions], inrs, device)
    return [frame_psnrs(frames[k].image, to_uint8(image), frames[k].box)["psnr_object"]
            for k, image in zip(positions, images, strict=True)]


def _refit_short_objects(frames: Sequence[Frame], backgrounds: Sequence[torch.Tensor], stored: list[StoredInr],
                         extra: list[dict], settings: SequenceSettings, fits: tuple[FitSettings, FitSettings],
                         device: torch.device) -> None:
    """Refit objects below ``settings.object_db`` with ever larger tiers (in place); keep the best try."""
    tiers = sorted({arch for _, arch in settings.object_codec().resolve().object_tiers}, key=lambda a: a.num_params)
    positions = list(range(len(frames)))
    best = dict(zip(positions, _object_psnrs(frames, backgrounds, positions, stored, device), strict=True))
    pending = [k for k in positions if best[k] < settings.object_db]  # type: ignore[operator]
    tried = {k: stored[k].arch.num_params for k in pending}
    while pending:
        groups: dict[tuple, tuple[SirenArch, list[int]]] = {}
        for k in pending:
            bigger = [a for a in tiers if a.num_params > tried[k]]
            if bigger:
                groups.setdefault(bigger[0].key, (bigger[0], []))[1].append(k)
                tried[k] = bigger[0].num_params
        pending = []
        for arch, members in groups.values():
            jobs = _object_jobs(frames, backgrounds, members, [None] * len(members), _fixed_arch(arch), device)
            fitted = run_fit_jobs(jobs, *fits, settings.seed + 1)
            tries = [store_inr(params, ROLE_OBJECT_RESIDUAL, cast(int, fits[0].bits), job.scale)
                     for job, (params, _) in zip(jobs, fitted, strict=True)]
            for k, inr, value, (_, steps) in zip(members, tries, _object_psnrs(frames, backgrounds, members, tries,
                                                                                device), fitted, strict=True):
                extra[k]["steps_object"] += steps
                extra[k]["object_refits"] += 1
                if value > best[k]:
                    best[k], stored[k] = value, inr
                if value < settings.object_db:  # type: ignore[operator]
                    pending.append(k)
