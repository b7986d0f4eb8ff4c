"""The per-frame SIREN codecs of the paper's ablation: BS, BE, DE, RE and QRE (``.rinr``).

``qre`` is the runtime's ``residual-inr`` and ``bs`` its ``rapid-inr``. A ``.rinr`` size
follows from the preset's architectures, the bit widths and the object tier alone, so the
size estimate is exact (:func:`rinr_payload_bytes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from rinr_core.codec import (
    OBJECT_MODES,
    CodecSettings,
    EncodeResult,
    encode_frames,
    fit_settings_for,
)
from rinr_core.codecs.base import (
    CONTAINER_RINR,
    FRAME,
    Codec,
    CodecOptions,
    Container,
    Geometry,
)
from rinr_core.codecs.registry import register, register_container
from rinr_core.container import (
    ROLE_FRAME,
    ROLE_OBJECT_DIRECT,
    ROLE_OBJECT_RESIDUAL,
    RinrPayload,
    StoredInr,
    pack,
    unpack,
)
from rinr_core.decoding import decode_many
from rinr_core.errors import ConfigError
from rinr_core.frames import Frame
from rinr_core.presets import DEFAULT_PRESET, PRESETS
from rinr_core.quantize import QuantTensor, tensor_bit_widths
from rinr_core.warmstart import WarmState


def inr_settings(mode: str, options: CodecOptions) -> CodecSettings:
    """The :class:`~rinr_core.codec.CodecSettings` of ``mode`` for ``options``."""
    return CodecSettings(
        mode=mode, preset=options.preset or DEFAULT_PRESET, steps=options.steps,
        lr=options.lr, background_bits=options.background_bits,
        object_bits=options.object_bits, max_side=options.max_side,
        warm_start=options.warm_start, device=options.device, seed=options.seed,
    )


def rinr_payload_bytes(settings: CodecSettings, box_area: int) -> int:
    """Exact ``.rinr`` size of one frame encoded with ``settings`` (box ``box_area`` px^2).

    The size depends only on the preset's architectures, the bit widths and the object tier
    chosen by ``box_area`` (after any resize), never on the pixels: this packs an all-zero
    payload of that layout with the real container.
    """
    if box_area < 1:
        raise ConfigError(f"box_area must be at least 1 px^2, got {box_area}")
    mode, chosen = settings.mode, settings.resolve()
    roles = [(ROLE_FRAME, chosen.baseline if mode == "bs" else chosen.background)]
    if mode in OBJECT_MODES:
        role = ROLE_OBJECT_DIRECT if mode == "de" else ROLE_OBJECT_RESIDUAL
        roles.append((role, chosen.object_arch(box_area)))
    inrs = []
    for role, arch in roles:
        fit = fit_settings_for(chosen, role, mode, settings, warm=False)
        shapes = [s for o, i in arch.layer_shapes for s in ((o, i), (o,))]
        bits = cast(int, fit.bits)  # fit_settings_for always sets it
        widths = tensor_bit_widths(len(arch.layer_shapes), bits, fit.first_layer_bits)
        tensors = [QuantTensor(np.zeros(int(np.prod(s)), np.uint32), 0.0, 1.0, s, b)
                   for s, b in zip(shapes, widths, strict=True)]
        inrs.append(StoredInr(role, arch, bits, 1.0, tensors))
    return len(pack(RinrPayload(mode, 1, 1, (0, 0, 1, 1), inrs)))


def _inr_codec(mode: str, summary: str, runtime_name: str | None = None) -> Codec:
    def settings(options: CodecOptions) -> CodecSettings:
        return inr_settings(mode, options)

    def encode(frames: Sequence[Frame], options: CodecOptions,
               state: WarmState | None = None) -> list[EncodeResult]:
        return encode_frames(frames, settings(options), warm_state=state)

    def decode(payloads: Sequence[bytes], device: str | None = None) -> list[np.ndarray]:
        return decode_many(payloads, device)

    def estimate(geometry: Geometry, frames: int, options: CodecOptions) -> float:
        return float(rinr_payload_bytes(settings(options), geometry.box_area))

    return Codec(name=mode, kind=FRAME, family="inr", container=CONTAINER_RINR, summary=summary,
                 encode=encode, decode=decode, settings=settings, estimate_bytes=estimate,
                 exact_size=True, runtime_name=runtime_name, presets=tuple(PRESETS),
                 default_preset=DEFAULT_PRESET, new_state=WarmState)


def _check_rinr(data: bytes) -> None:
    unpack(data)  # raises PayloadError for a truncated, tampered or unknown-version file


def _rinr_box(data: bytes) -> tuple[int, int, int, int]:
    return unpack(data).box


register_container(Container(CONTAINER_RINR, check=_check_rinr, decode=decode_many,
                             box_of=_rinr_box))
for _codec in (
    _inr_codec("bs", "Rapid-INR: one SIREN for the whole frame (the paper's BS)", "rapid-inr"),
    _inr_codec("be", "background SIREN only (BE)"),
    _inr_codec("de", "background SIREN + object SIREN on the raw object pixels (DE)"),
    _inr_codec("re", "background SIREN + object SIREN on the residual, float weights (RE)"),
    _inr_codec("qre", "Residual-INR: 8-bit background + 16-bit object residual SIREN (QRE)",
               "residual-inr"),
):
    register(_codec)
