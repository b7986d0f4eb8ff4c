"""Encoding sequences: the first frames (:func:`encode_sequence`) and new frames (:func:`update_sequence`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from rinr_core.decoding import pick_device, stored_to_params, to_uint8_many
from rinr_core.entropy import encode_tensors
from rinr_core.errors import ConfigError
from rinr_core.frames import Frame
from rinr_core.images import resize_frame
from rinr_core.metrics import bits_per_pixel, frame_psnrs
from rinr_core.nerv import Grid, Nerv, NervArch, fit_nerv, frame_times, quantize_nerv, render
from rinr_core.sequence.background import _fit_background
from rinr_core.sequence.format import (
    NervVersion,
    SequenceFrame,
    SequencePayload,
    _pack_frame,
    _version_table,
    apply_update,
    pack_sequence,
    payload_crc,
    unpack_sequence,
    version_section,
)
from rinr_core.sequence.objects import fit_object_residuals
from rinr_core.sequence.render import _stored_model, render_sequence
from rinr_core.sequence.settings import SequenceResult, SequenceSettings, UpdateResult


def _prepare(frames: Sequence[Frame], max_side: int | None, size: tuple[int, int] | None = None) -> list[Frame]:
    out = [resize_frame(f, max_side) for f in frames]
    if not out:
        raise ConfigError("a sequence needs at least one frame")
    sizes = {(f.width, f.height) for f in out} | ({size} if size else set())
    if len(sizes) != 1:
        raise ConfigError(f"all frames of a sequence must have one size, got {sorted(sizes)}; "
                          f"resize them (max_side) to a common size first")
    return out


def _grid(version: NervVersion) -> Grid:
    return [(t.lo, t.step) for t in version.tensors]


def _macs_per_pixel(payload: SequencePayload, frame: SequenceFrame) -> float:
    macs = payload.arch.macs_per_pixel(payload.height, payload.width)
    if frame.obj is not None:
        macs += frame.obj.arch.macs_per_sample * frame.box[2] * frame.box[3] / (payload.width * payload.height)
    return macs


def _inr_names(frame: SequenceFrame, bits: int) -> list[str]:
    names = [f"nerv:v{frame.version}@{bits}b"]
    if frame.obj is not None:
        names.append(f"object-residual:{frame.obj.arch}@{frame.obj.bits}b")
    return names


def _measure(data: bytes, frames: Sequence[Frame], device: torch.device, base: SequencePayload | None) -> list[dict]:
    """Per-frame metrics of the frames in ``data``, measured on pixels decoded from it.

    ``bytes`` is the frame's own record plus an equal share of everything else in ``data``.
    """
    parsed = unpack_sequence(data, base)
    table = _version_table(parsed, base)
    decoded = to_uint8_many(render_sequence(parsed, None, device, base=base))
    own = [len(_pack_frame(f)) for f in parsed.frames]
    shared = (len(data) - sum(own)) / len(parsed.frames)
    out = []
    for f, sf, image, size in zip(frames, parsed.frames, decoded, own, strict=True):
        amortized = shared + size
        out.append({
            "frame": f.name, "index": sf.index, "mode": parsed.codec, "width": f.width, "height": f.height,
            "bytes": amortized, "bpp": bits_per_pixel(amortized, f.width, f.height),
            **frame_psnrs(f.image, image, f.box),
            "macs_per_pixel": _macs_per_pixel(parsed, sf),
            "inrs": _inr_names(sf, table[sf.version].bits),
        })
    return out


def arch_label(arch: NervArch) -> str:
    """A NeRV architecture in one short line (for summaries and reports)."""
    return (f"stem {2 * arch.pe_levels}->{arch.stem_hidden}->{arch.base_channels} ch, strides "
            f"{','.join(map(str, arch.strides))}, widths {','.join(map(str, arch.widths))}")


def _nerv_summary(version: NervVersion, section: bytes, report_seconds: float, psnr: float) -> dict:
    count = sum(t.codes.size for t in version.tensors)
    return {"nerv_weights": count, "nerv_bytes": len(section),
            "nerv_bits_per_weight": 8.0 * len(section) / count, "nerv_raw_bits_per_weight": float(version.bits),
            "nerv_fit_seconds": report_seconds, "nerv_fit_psnr": psnr}


def encode_sequence(frames: Sequence[Frame], settings: SequenceSettings | None = None, *,
                    background: Nerv | None = None) -> SequenceResult:
    """Encode a video sequence (frames with one box each, one size) to ``.rinrs`` bytes.

    Parameters
    ----------
    frames
        The frames in temporal order; frame ``i`` gets index ``i``.
    settings
        Codec, NeRV preset and recipe, object INR recipe (default :class:`SequenceSettings`).
    background
        An already fitted NeRV for these frames (e.g. ``result.background`` of an earlier call):
        it is quantized and used as is instead of fitting a new one.

    Returns
    -------
    SequenceResult
        ``metrics`` has one dict per frame with the ``.rinr`` metric keys (``bytes`` amortized
        per frame, ``psnr_full``, ``psnr_object``, ``psnr_background``, ``mode``, ``width``,
        ``height``, ``macs_per_pixel``, ...), measured on frames decoded from the payload.
    """
    settings = settings or SequenceSettings()
    preset = settings.resolve()
    device = pick_device(settings.device)
    frames = _prepare(frames, settings.max_side)
    height, width = frames[0].height, frames[0].width
    index_scale = float(np.float32(len(frames)))
    times = frame_times(range(len(frames)), index_scale, device)
    start = time.perf_counter()
    fit_psnr = float("nan")
    bpp_tries: list[float] = []
    if background is None:
        background, fit_psnr, bpp_tries = _fit_background(frames, settings, times, device)
    elif (background.height, background.width) != (height, width):
        raise ConfigError(f"the given NeRV renders {background.width}x{background.height} frames, "
                          f"the sequence has {width}x{height}; fit a new one (background=None)")
    fit_seconds = time.perf_counter() - start
    arch = background.arch
    version = NervVersion(preset.training.bits, quantize_nerv(background, preset.training.bits))
    stored = _stored_model(arch, height, width, version.tensors, device)
    seq_frames = [SequenceFrame(i, 0, f.box) for i, f in enumerate(frames)]
    extra: list[dict] = [{} for _ in frames]
    start = time.perf_counter()
    if settings.codec == "res-nerv":
        objects, extra = fit_object_residuals(frames, list(render(stored, times)), settings)
        for sf, obj in zip(seq_frames, objects, strict=True):
            sf.obj = obj
    object_seconds = time.perf_counter() - start
    payload = SequencePayload(settings.codec, width, height, arch, index_scale, [version], seq_frames)
    data = pack_sequence(payload)
    metrics = _measure(data, frames, device, None)
    for m, e in zip(metrics, extra, strict=True):
        m.update(e)
    summary = {"codec": settings.codec, "nerv_preset": settings.nerv_preset, "frames": len(frames),
               "nerv_arch": arch_label(arch), "nerv_bpp_tries": ",".join(f"{b:.3g}" for b in bpp_tries),
               "total_bytes": len(data), **_nerv_summary(version, encode_tensors(version.tensors), fit_seconds, fit_psnr),
               "object_fit_seconds": object_seconds}
    return SequenceResult(data, frames, metrics, summary, stored)


def _finetune(base: SequencePayload, parent_id: int, frames: Sequence[Frame], indices: Sequence[int],
              settings: SequenceSettings, device: torch.device) -> tuple[NervVersion, NervVersion, dict]:
    """Fine-tune the parent version on new frames; the new version stored both ways, and sizes."""
    parent = base.versions[parent_id - base.first_version]
    preset = settings.resolve()
    training = preset.training
    epochs = settings.update_epochs if settings.update_epochs is not None else max(1, training.epochs // 2)
    training = replace(training, epochs=epochs, bits=parent.bits)
    model = _stored_model(base.arch, base.height, base.width, parent.tensors, device)
    for name, p in model.named_parameters():
        p.requires_grad_(settings.update_scope == "all" or name.startswith("stem."))
    times = frame_times(indices, base.index_scale, device)
    start = time.perf_counter()
    report = fit_nerv(model, np.stack([f.image for f in frames]), times, training, grid=_grid(parent),
                      seed=settings.seed, warmup=False)
    tensors = quantize_nerv(model, parent.bits, grid=_grid(parent))
    as_delta = NervVersion(parent.bits, tensors, parent_id, delta=True)
    as_codes = NervVersion(parent.bits, tensors, parent_id, delta=False)
    sizes = {"delta_bytes": len(version_section(as_delta, parent)),
             "codes_bytes": len(version_section(as_codes, parent)),
             "nerv_fit_seconds": time.perf_counter() - start, "nerv_fit_psnr": report.psnr}
    return as_delta, as_codes, sizes


def update_sequence(base: bytes, frames: Sequence[Frame], settings: SequenceSettings | None = None) -> UpdateResult:
    """Append new frames to an encoded sequence; ship only what changed.

    The latest NeRV version of ``base`` is fine-tuned on the new frames (``settings.update_scope``
    says which layers may change; weights stay on the parent's quantization grid) and becomes
    a new version, shipped as code differences to
    the parent or as plain codes, whichever is smaller; the new frames get object residual
    INRs (``res-nerv``) against it. The codec and NeRV architecture are the base's.

    Returns
    -------
    UpdateResult
        ``payload`` is the update (apply it with :func:`apply_update`), ``merged`` the full
        ``.rinrs`` with every frame; ``metrics`` are those of the new frames.
    """
    settings = settings or SequenceSettings()
    device = pick_device(settings.device)
    parsed = unpack_sequence(base)
    if parsed.is_update:
        raise ConfigError("the base of an update must be a full .rinrs, not another update; merge it first")
    frames = _prepare(frames, settings.max_side, (parsed.width, parsed.height))
    parent_id = parsed.first_version + len(parsed.versions) - 1
    start_index = max(f.index for f in parsed.frames) + 1
    indices = list(range(start_index, start_index + len(frames)))
    as_delta, as_codes, sizes = _finetune(parsed, parent_id, frames, indices, settings, device)
    version = as_delta if sizes["delta_bytes"] < sizes["codes_bytes"] else as_codes
    new_id = parsed.first_version + len(parsed.versions)
    seq_frames = [SequenceFrame(i, new_id, f.box) for i, f in zip(indices, frames, strict=True)]
    extra: list[dict] = [{} for _ in frames]
    if parsed.codec == "res-nerv":
        model = _stored_model(parsed.arch, parsed.height, parsed.width, version.tensors, device)
        last = max(parsed.frames, key=lambda f: f.index).obj
        first_init = None if last is None else stored_to_params([last], device)
        objects, extra = fit_object_residuals(frames, list(render(model, frame_times(indices, parsed.index_scale,
                                                                                      device))),
                                              settings, first_init=first_init)
        for sf, obj in zip(seq_frames, objects, strict=True):
            sf.obj = obj
    update = SequencePayload(parsed.codec, parsed.width, parsed.height, parsed.arch, parsed.index_scale, [version],
                             seq_frames, new_id, payload_crc(base))
    data = pack_sequence(update, parsed)
    metrics = _measure(data, frames, device, parsed)
    for m, e in zip(metrics, extra, strict=True):
        m.update(e)
    storage = "delta" if version.delta else "codes"
    summary = {"frames": len(frames), "update_bytes": len(data), "storage": storage, **sizes}
    return UpdateResult(data, apply_update(base, data), frames, metrics, storage, summary)
