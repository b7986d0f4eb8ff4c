"""Encoding and decoding speed of the codec, measured side by side with Pillow's JPEG.

Used by ``rinr bench speed`` (short) and ``bench/codec_speed.py`` (full). Everything runs on
the frames given (consecutive frames of one sequence), on the device the codec picks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

import numpy as np
import torch

from rinr_core.codec import CodecSettings, encode_frames, fit_settings_for
from rinr_core.container import ROLE_FRAME
from rinr_core.decoding import decode, decode_many, pick_device
from rinr_core.fitting import fit_sirens
from rinr_core.frames import Frame
from rinr_core.images import encode_image, load_image, resize_frame
from rinr_core.siren import SirenParams, grid_coords, init_siren
from rinr_core.warmstart import WarmState

_T = TypeVar("_T")


def _sync(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], _T], device: torch.device) -> tuple[float, _T]:
    """Seconds ``fn`` takes on ``device``, its queued GPU work included."""
    _sync(device)
    start = time.perf_counter()
    result = fn()
    _sync(device)
    return time.perf_counter() - start, result


def steps_to_cold_quality(frames: Sequence[Frame], settings: CodecSettings) -> dict:
    """Background-INR steps a warm start needs to reach the cold-start PSNR of each frame.

    Cold: every frame fitted from the seeded initialization with the full budget (batched).
    Warm: frame ``t`` starts from the warm fit of frame ``t-1`` (motion-compensated, warm-up
    restart schedule) and stops when it reaches frame ``t``'s cold PSNR, capped at the cold budget.
    """
    preset = settings.resolve()
    device = pick_device(settings.device)
    cold_fit = fit_settings_for(preset, ROLE_FRAME, "be", settings, warm=False)
    warm_fit = replace(fit_settings_for(preset, ROLE_FRAME, "be", settings, warm=True),
                       steps=cold_fit.steps, check_every=5)
    h, w = frames[0].height, frames[0].width
    coords = grid_coords(h, w, device)
    targets = torch.stack([torch.tensor(f.image, dtype=torch.float32, device=device).reshape(-1, 3) / 127.5 - 1
                           for f in frames])
    scale = torch.full((len(frames),), 0.5, device=device)
    one = init_siren(preset.background, 1, generator=torch.Generator().manual_seed(settings.seed), device=device)
    cold = fit_sirens(SirenParams.cat([one] * len(frames)), coords, targets, cold_fit, scale=scale)
    state = WarmState()
    state.remember("", frames[0].image, cold.params.select(0), None)
    warm_steps, warm_psnr = [], []
    for t in range(1, len(frames)):
        init = state.background_init("", frames[t].image, preset.background)
        assert init is not None  # frame t-1 of chain "" was remembered
        fit = replace(warm_fit, target_psnr=cold.psnr[t])
        report = fit_sirens(init, coords, targets[t : t + 1], fit, scale=scale[:1])
        warm_steps.append(report.steps_run[0])
        warm_psnr.append(report.psnr[0])
        state.remember("", frames[t].image, report.params, None)
    ratio = float(np.mean(warm_steps)) / cold_fit.steps if warm_steps else float("nan")
    return {
        "cold_steps": cold_fit.steps,
        "cold_psnr": float(np.mean(cold.psnr[1:])) if len(frames) > 1 else cold.psnr[0],
        "warm_steps_mean": float(np.mean(warm_steps)) if warm_steps else float("nan"),
        "warm_steps": warm_steps,
        "warm_psnr": float(np.mean(warm_psnr)) if warm_psnr else float("nan"),
        "warm_reached": int(sum(s < cold_fit.steps for s in warm_steps)),
        "warm_over_cold_steps": ratio,
    }


def measure_speed(frames: Sequence[Frame], settings: CodecSettings, *, decode_repeats: int = 5) -> dict:
    """Encode fps (cold one by one, batched, warm-started), steps-to-quality, decode fps
    (grouped vs one by one vs Pillow JPEG) and multiply-adds per pixel."""
    frames = [resize_frame(f, settings.max_side) for f in frames]
    for f in frames:
        f.meta["sequence"] = "speed"
    cold = replace(settings, warm_start=False, max_side=None)
    device = pick_device(settings.device)
    n = len(frames)
    # one untimed warm-up (CUDA context, kernel selection, allocator) before anything is timed
    encode_frames(frames[:1], replace(cold, steps=2, object_steps=2))
    t_single, _ = _timed(lambda: [encode_frames([f], cold) for f in frames], device)
    t_batch, batched = _timed(lambda: encode_frames(frames, cold), device)
    t_warm, warm = _timed(lambda: encode_frames(frames, replace(cold, warm_start=True)), device)
    steps = steps_to_cold_quality(frames, cold)

    payloads = [r.payload for r in batched] * decode_repeats
    # The JPEG peer decodes the same pixels, re-encoded at quality 90 at the same size.
    jpegs = [encode_image(f.image, "JPEG", 90) for f in frames] * decode_repeats
    decode_many(payloads[:2], device)  # warm up kernels / caches
    t_dec_single, singles = _timed(lambda: [decode(p, device) for p in payloads], device)
    t_dec_group, grouped = _timed(lambda: decode_many(payloads, device), device)
    t_jpeg, _ = _timed(lambda: [load_image(j) for j in jpegs], device)
    identical = all(np.array_equal(a, b) for a, b in zip(singles, grouped, strict=True))

    def mean(results, key):
        return float(np.mean([r.metrics[key] for r in results]))

    return {
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "frames": n,
        "width": frames[0].width,
        "height": frames[0].height,
        "mode": settings.mode,
        "preset": settings.preset,
        "encode_fps_single": n / t_single,
        "encode_fps_batched": n / t_batch,
        "encode_fps_warm": n / t_warm,
        "psnr_object_cold": mean(batched, "psnr_object"),
        "psnr_background_cold": mean(batched, "psnr_background"),
        "psnr_object_warm": mean(warm, "psnr_object"),
        "psnr_background_warm": mean(warm, "psnr_background"),
        "bytes": mean(batched, "bytes"),
        **steps,
        "decode_fps_single": len(payloads) / t_dec_single,
        "decode_fps_grouped": len(payloads) / t_dec_group,
        "decode_fps_jpeg_pillow": len(jpegs) / t_jpeg,
        "grouped_over_single_decode_speed": t_dec_single / t_dec_group,
        "grouped_identical_to_single": identical,
        "macs_per_pixel": mean(batched, "macs_per_pixel"),
    }

