"""The background NeRV of a sequence: fitted, and grown until a background PSNR target is met."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from rinr_core.decoding import to_uint8
from rinr_core.frames import Frame
from rinr_core.metrics import frame_psnrs
from rinr_core.nerv import Nerv, build_nerv, fit_nerv, quantize_nerv, render
from rinr_core.sequence.render import _stored_model
from rinr_core.sequence.settings import SequenceSettings

NERV_GROWTH = 1.6  # bits-per-pixel factor between NeRV fits when the background target is missed


def _background_psnrs(model: Nerv, frames: Sequence[Frame], times: torch.Tensor, bits: int,
                      device: torch.device) -> list[float]:
    """Background PSNR (outside the box) of every frame as the stored NeRV renders it."""
    tensors = quantize_nerv(model, bits)
    stored = _stored_model(model.arch, model.height, model.width, tensors, device)
    return [frame_psnrs(f.image, to_uint8(image), f.box)["psnr_background"]
            for f, image in zip(frames, render(stored, times), strict=True)]


def _fit_background(frames: Sequence[Frame], settings: SequenceSettings, times: torch.Tensor,
                    device: torch.device) -> tuple[Nerv, float, list[float]]:
    """Fit a NeRV to ``frames``, larger while ``settings.background_db`` is missed (see there).

    Returns the kept network, its fit PSNR and the bits per pixel of every fit (empty: not sized).
    """
    training = settings.resolve().training
    height, width = frames[0].height, frames[0].width
    images = np.stack([f.image for f in frames])
    bpp = settings.sizing_bpp()
    tries: list[float] = []
    while True:
        model = build_nerv(settings.arch_for(len(frames), height, width, bpp), height, width, seed=settings.seed,
                           device=device)
        psnr = fit_nerv(model, images, times, training, seed=settings.seed).psnr
        if bpp is None:
            return model, psnr, tries
        tries.append(bpp)
        grown = bpp * NERV_GROWTH
        if settings.background_db is None or grown > settings.max_nerv_bpp * (1 + 1e-9):
            return model, psnr, tries
        psnrs = _background_psnrs(model, frames, times, training.bits, device)
        if min((v for v in psnrs if not math.isnan(v)), default=math.inf) >= settings.background_db:
            return model, psnr, tries  # (NaN: the box covers the whole frame)
        bpp = grown
