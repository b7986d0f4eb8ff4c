"""Residual-INR image codec: frames with one object box -> ``.rinr`` bytes -> pixels.

Modes (the paper's ablation names):

``bs``  one baseline-size INR for the whole frame (Rapid-INR);
``be``  background INR only;
``de``  background INR + object INR fitted directly to the object pixels;
``re``  background INR + object INR fitted to the residual ``original - background`` inside
        the box, scaled by ``Q = max |residual|``;
``qre`` ``re`` with low-bit background weights (8) and high-bit object weights (16).

``bs``/``be``/``de``/``re`` store weights at the preset's ``float_bits`` (16, a near-lossless
stand-in for floats). The residual is always taken against the background *as the decoder
will see it* (after quantization), and every reported quality is measured by decoding the
bytes actually produced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from rinr_core.container import (
    MODES,
    ROLE_FRAME,
    ROLE_OBJECT_DIRECT,
    ROLE_OBJECT_RESIDUAL,
    RinrPayload,
    StoredInr,
    pack,
    unpack,
)
from rinr_core.decoding import (
    evaluate_grid,
    pick_device,
    render_payloads,
    stored_to_params,
    to_uint8,
)
from rinr_core.errors import ConfigError
from rinr_core.fitting import FitSettings, fit_sirens
from rinr_core.frames import Frame
from rinr_core.images import resize_frame
from rinr_core.metrics import bits_per_pixel, frame_psnrs
from rinr_core.presets import DEFAULT_PRESET, Preset, get_preset
from rinr_core.quantize import quantize_tensor
from rinr_core.siren import SirenArch, SirenParams, grid_coords, init_siren

OBJECT_MODES = ("de", "re", "qre")


@dataclass
class CodecSettings:
    """What to encode and how; ``None`` fields take the preset's value.

    Parameters
    ----------
    mode
        One of ``bs, be, de, re, qre``.
    preset
        Name of a preset in :data:`rinr_core.presets.PRESETS`.
    steps
        Step budget of every INR (overrides the preset's ``steps`` and ``object_steps``).
    max_side
        Resize each frame so its longer side is at most this many pixels before encoding.
    background_bits, object_bits
        Bit widths of the stored background / object weights (QRE; others use ``float_bits``).
    target_psnr
        Stop fitting an INR early once it reaches this PSNR (dB); the step budget stays the cap.
    device
        ``"cpu"``, ``"cuda"``, ... (default: ``cuda`` when available).
    """

    mode: str = "qre"
    preset: str = DEFAULT_PRESET
    steps: int | None = None
    lr: float | None = None
    max_side: int | None = None
    background_bits: int | None = None
    object_bits: int | None = None
    target_psnr: float | None = None
    device: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.mode = self.mode.lower()
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.max_side is not None and self.max_side < 8:
            raise ConfigError(f"max_side must be at least 8 pixels, got {self.max_side}")
        get_preset(self.preset)

    def resolve(self) -> Preset:
        """The preset with this call's overrides applied."""
        return get_preset(self.preset).with_overrides(
            steps=self.steps, object_steps=self.steps, lr=self.lr, object_lr=self.lr,
            background_bits=self.background_bits, object_bits=self.object_bits,
        )


@dataclass
class EncodeResult:
    """One encoded frame: the payload, the frame as encoded (after resizing), its metrics."""

    payload: bytes
    frame: Frame
    metrics: dict = field(default_factory=dict)


def _bits_for(preset: Preset, mode: str, role: int) -> int:
    if mode != "qre":
        return preset.float_bits
    return preset.background_bits if role == ROLE_FRAME else preset.object_bits


def _fit_settings(preset: Preset, role: int, mode: str, target_psnr: float | None) -> FitSettings:
    steps = preset.steps if role == ROLE_FRAME else preset.object_steps
    lr = preset.lr if role == ROLE_FRAME else preset.object_lr
    bits = _bits_for(preset, mode, role)
    qat = int(round(preset.qat_fraction * steps)) if mode == "qre" else 0
    return FitSettings(steps=steps, lr=lr, schedule=preset.schedule, qat_steps=qat, bits=bits,
                       target_psnr=target_psnr)


def _store(params: SirenParams, index: int, role: int, bits: int, scale: float) -> StoredInr:
    one = params.select(index)
    tensors = [quantize_tensor(t[0], bits) for t in one.tensors()]
    return StoredInr(role=role, arch=params.arch, bits=bits, scale=float(np.float32(scale)), tensors=tensors)


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.tensor(image, device=device, dtype=torch.float32) / 255.0


def _fit_group(arch: SirenArch, coords: torch.Tensor, targets: torch.Tensor, fit: FitSettings,
               seed: int, *, mask: torch.Tensor | None = None, scale: torch.Tensor | None = None,
               init: SirenParams | None = None) -> SirenParams:
    if init is None:
        # Every network starts from the same seeded draw, so results do not depend on batching.
        one = init_siren(arch, 1, generator=torch.Generator().manual_seed(seed), device=coords.device)
        init = SirenParams.cat([one] * targets.shape[0])
    params = init
    return fit_sirens(params, coords, targets, fit, mask=mask, scale=scale).params


def _fit_frames(frames: Sequence[Frame], arch: SirenArch, fit: FitSettings, device: torch.device,
                seed: int) -> list[SirenParams]:
    """Fit one whole-frame INR per frame, batched per frame size."""
    out: list[SirenParams | None] = [None] * len(frames)
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, f in enumerate(frames):
        by_size[(f.height, f.width)].append(i)
    for (h, w), members in by_size.items():
        coords = grid_coords(h, w, device)
        targets = torch.stack([_to_tensor(frames[i].image, device).reshape(-1, 3) * 2 - 1 for i in members])
        params = _fit_group(arch, coords, targets, fit, seed)
        for k, i in enumerate(members):
            out[i] = params.select(k)
    return out  # type: ignore[return-value]


def _box_coords(box: tuple[int, int, int, int], device: torch.device) -> torch.Tensor:
    return grid_coords(box[3], box[2], device)


def _fit_objects(targets: list[torch.Tensor], boxes: list[tuple[int, int, int, int]], archs: list[SirenArch],
                 scales: list[float], fit: FitSettings, device: torch.device, seed: int) -> list[SirenParams]:
    """Fit one object INR per box, batched per architecture (boxes padded to the largest)."""
    out: list[SirenParams | None] = [None] * len(targets)
    by_arch: dict[tuple, list[int]] = defaultdict(list)
    for i, a in enumerate(archs):
        by_arch[a.key].append(i)
    for members in by_arch.values():
        n_max = max(targets[i].shape[0] for i in members)
        coords = torch.zeros(len(members), n_max, 2, device=device)
        tgt = torch.zeros(len(members), n_max, 3, device=device)
        mask = torch.zeros(len(members), n_max, dtype=torch.bool, device=device)
        for k, i in enumerate(members):
            n = targets[i].shape[0]
            coords[k, :n] = _box_coords(boxes[i], device)
            tgt[k, :n] = targets[i]
            mask[k, :n] = True
        scale = torch.tensor([scales[i] for i in members], device=device)
        params = _fit_group(archs[members[0]], coords, tgt, fit, seed + 1, mask=mask, scale=scale)
        for k, i in enumerate(members):
            out[i] = params.select(k)
    return out  # type: ignore[return-value]


def _macs_per_pixel(payload: RinrPayload) -> float:
    total = 0.0
    for inr in payload.inrs:
        if inr.role == ROLE_FRAME:
            total += inr.arch.macs_per_sample
        else:
            total += inr.arch.macs_per_sample * payload.box[2] * payload.box[3] / (payload.width * payload.height)
    return total


def measure(frame: Frame, payload_bytes: bytes, decoded: np.ndarray, mode: str) -> dict:
    """The metrics every encoder reports, measured on the decoded pixels of the real bytes."""
    parsed = unpack(payload_bytes)
    metrics = {
        "mode": mode,
        "width": frame.width,
        "height": frame.height,
        "bytes": len(payload_bytes),
        "bpp": bits_per_pixel(len(payload_bytes), frame.width, frame.height),
        **frame_psnrs(frame.image, decoded, frame.box),
        "macs_per_pixel": _macs_per_pixel(parsed),
        "inrs": [f"{['frame', 'object-residual', 'object-direct'][i.role]}:{i.arch}@{i.bits}b" for i in parsed.inrs],
    }
    return metrics


def encode_frames(frames: Sequence[Frame], settings: CodecSettings | None = None, *,
                  progress: bool = False) -> list[EncodeResult]:
    """Encode frames (each with one box) to ``.rinr`` payloads, batching INRs of one architecture.

    Returns one :class:`EncodeResult` per frame, in order, with metrics measured on the decoded
    payload.
    """
    settings = settings or CodecSettings()
    preset = settings.resolve()
    device = pick_device(settings.device)
    mode = settings.mode
    frames = [resize_frame(f, settings.max_side) for f in frames]
    if not frames:
        return []
    bar = tqdm(total=3, desc=f"encode {len(frames)} frame(s) [{mode}]", disable=not progress, leave=False)

    frame_arch = preset.baseline if mode == "bs" else preset.background
    fit_bg = _fit_settings(preset, ROLE_FRAME, mode, settings.target_psnr)
    bg_params = _fit_frames(frames, frame_arch, fit_bg, device, settings.seed)
    stored_bg = [_store(p, 0, ROLE_FRAME, fit_bg.bits, 1.0) for p in bg_params]
    bar.update(1)

    stored_obj: list[StoredInr | None] = [None] * len(frames)
    if mode in OBJECT_MODES:
        role = ROLE_OBJECT_DIRECT if mode == "de" else ROLE_OBJECT_RESIDUAL
        targets, scales = [], []
        for f, bg in zip(frames, stored_bg, strict=True):
            x, y, w, h = f.box
            crop = _to_tensor(f.image[y : y + h, x : x + w], device).reshape(-1, 3)
            if role == ROLE_OBJECT_DIRECT:
                targets.append(crop * 2 - 1)
                scales.append(0.5)
                continue
            bg_img = (evaluate_grid(stored_to_params([bg], device), f.height, f.width)[0] + 1) * 0.5
            residual = crop - bg_img[y : y + h, x : x + w].reshape(-1, 3)
            q = max(float(residual.abs().max()), 1.0 / 255)
            targets.append(residual / q)
            scales.append(q)
        archs = [preset.object_arch(f.box[2] * f.box[3]) for f in frames]
        fit_obj = _fit_settings(preset, role, mode, settings.target_psnr)
        obj_params = _fit_objects(targets, [f.box for f in frames], archs, scales, fit_obj, device, settings.seed)
        stored_obj = [_store(p, 0, role, fit_obj.bits, s) for p, s in zip(obj_params, scales, strict=True)]
    bar.update(1)

    payloads = []
    for f, bg, obj in zip(frames, stored_bg, stored_obj, strict=True):
        inrs = [bg] if obj is None else [bg, obj]
        payloads.append(pack(RinrPayload(mode, f.width, f.height, f.box, inrs)))
    decoded = [to_uint8(img) for img in render_payloads([unpack(p) for p in payloads], device)]
    bar.update(1)
    bar.close()
    return [EncodeResult(p, f, measure(f, p, d, mode)) for p, f, d in zip(payloads, frames, decoded, strict=True)]


def encode_frame(frame: Frame, settings: CodecSettings | None = None) -> EncodeResult:
    """Encode one frame; see :func:`encode_frames`."""
    return encode_frames([frame], settings)[0]


def encode(image: np.ndarray, box: Sequence[float], *, mode: str = "qre", preset: str = DEFAULT_PRESET,
           steps: int | None = None, max_side: int | None = None, device: str | None = None) -> bytes:
    """Encode an ``uint8`` HxWx3 image with one object ``box`` (x, y, w, h) to ``.rinr`` bytes."""
    settings = CodecSettings(mode=mode, preset=preset, steps=steps, max_side=max_side, device=device)
    return encode_frame(Frame(np.asarray(image), tuple(box)), settings).payload
