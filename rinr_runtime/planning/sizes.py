"""Sizes the placement model starts from: the detector's weights and each codec's payload.

A detector's weights travel as float32 arrays (:class:`ModelSize`); an INR payload's size
follows from its architecture alone (:func:`inr_payload_bytes` packs an all-zero payload with
the real container); a stream's is estimated (:func:`sequence_payload_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rinr_core.errors import ConfigError
from rinr_runtime.planning.model import (
    CODEC_MODES,
    CODECS,
    DEFAULT_BOX_AREA,
    DEFAULT_JPEG_BYTES,
    DEFAULT_PRESET,
    SEQUENCE_CODECS,
)

# --- model sizes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSize:
    """A detector's size as the weights travel: float32 parameters in ``arrays`` arrays."""

    name: str
    params: int
    arrays: int

    @property
    def bytes(self) -> int:
        """Bytes of the weights at float32."""
        return 4 * self.params


MODELS: dict[str, ModelSize] = {
    "yolov8n": ModelSize("yolov8n", 3_200_000, 298),
    "yolov8s": ModelSize("yolov8s", 11_200_000, 298),
    "yolov8m": ModelSize("yolov8m", 25_900_000, 398),
}
"""Parameter counts from Ultralytics' published YOLOv8 table (3.2M, 11.2M, 25.9M); array
counts are the floating-point ``state_dict`` entries that ``rinr_runtime.detector.get_weights`` sends."""


def model_size(name: str) -> ModelSize:
    """The size of ``yolov8n``/``yolov8s``/``yolov8m`` (``.yaml`` or ``.pt`` suffix allowed).

    Raises
    ------
    ConfigError
        The name is not one of :data:`MODELS`; pass an explicit byte count instead.
    """
    key = name.strip().lower().removesuffix(".yaml").removesuffix(".pt")
    try:
        return MODELS[key]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; choose one of {sorted(MODELS)} or give the weights' byte "
            "count (model_bytes / --model-bytes)"
        ) from None


# --- payload sizes -----------------------------------------------------------------------------


def inr_payload_bytes(codec: str, box_area: int, *, preset: str = DEFAULT_PRESET,
                      background_bits: int | None = None, object_bits: int | None = None) -> int:
    """Exact ``.rinr`` size of one frame encoded with ``codec`` (a codec name or mode).

    The size depends only on the preset's architectures, the bit widths and the object tier
    chosen by ``box_area`` (box width x height in pixels, after any resize), never on the
    pixels: this packs an all-zero payload of that layout with the real container.
    """
    from rinr_core.codec import OBJECT_MODES, CodecSettings, fit_settings_for
    from rinr_core.container import (
        ROLE_FRAME,
        ROLE_OBJECT_DIRECT,
        ROLE_OBJECT_RESIDUAL,
        RinrPayload,
        StoredInr,
        pack,
    )
    from rinr_core.quantize import QuantTensor, tensor_bit_widths

    mode = CODEC_MODES.get(codec, codec)
    if mode is None:
        raise ConfigError("a JPEG's size depends on its pixels; measure it (jpeg_bytes)")
    if box_area < 1:
        raise ConfigError(f"box_area must be at least 1 px^2, got {box_area}")
    settings = CodecSettings(mode=mode, preset=preset, background_bits=background_bits,
                             object_bits=object_bits)
    chosen = settings.resolve()
    roles = [(ROLE_FRAME, chosen.baseline if mode == "bs" else chosen.background)]
    if mode in OBJECT_MODES:
        role = ROLE_OBJECT_DIRECT if mode == "de" else ROLE_OBJECT_RESIDUAL
        roles.append((role, chosen.object_arch(box_area)))
    inrs = []
    for role, arch in roles:
        fit = fit_settings_for(chosen, role, mode, settings, warm=False)
        shapes = [s for o, i in arch.layer_shapes for s in ((o, i), (o,))]
        widths = tensor_bit_widths(len(arch.layer_shapes), fit.bits, fit.first_layer_bits)
        tensors = [QuantTensor(np.zeros(int(np.prod(s)), np.uint32), 0.0, 1.0, s, b)
                   for s, b in zip(shapes, widths, strict=True)]
        bits = fit.bits
        inrs.append(StoredInr(role, arch, bits, 1.0, tensors))
    return len(pack(RinrPayload(mode, 1, 1, (0, 0, 1, 1), inrs)))


def sequence_payload_bytes(codec: str, frames: int, width: int, height: int, box_area: int, *,
                           nerv_preset: str = "fast", object_preset: str = DEFAULT_PRESET,
                           nerv_bits: int | None = None, object_bits: int | None = 10,
                           nerv_bpp: float | None = None) -> float:
    """Estimated ``.rinrs`` bytes per frame of a ``frames``-frame stream.

    A sequence payload is entropy-coded, so its size depends on the pixels; this estimate is
    its size without entropy coding: the NeRV's weights (the preset's network, or with
    ``compact`` or ``nerv_bpp`` the one sized to ``frames``) at ``nerv_bits`` (default: the preset's) shared by
    ``frames``, plus, with ``res-nerv``, each frame's record and object
    residual INR (the tier of ``box_area``) at ``object_bits``. Trained weights entropy-code
    5-15% below it (nearly random ones, after a few steps, about at it).
    """
    from rinr_core.presets import get_preset
    from rinr_core.sequence import SequenceSettings

    if codec not in SEQUENCE_CODECS:
        raise ConfigError(f"{codec!r} is not a sequence codec; choose one of {SEQUENCE_CODECS}")
    if frames < 1 or width < 1 or height < 1 or box_area < 1:
        raise ConfigError(f"frames, width, height and box_area must be >= 1, got "
                          f"{frames}, {width}, {height}, {box_area}")
    settings = SequenceSettings(codec=codec, nerv_preset=nerv_preset, nerv_bits=nerv_bits,
                                nerv_bpp=nerv_bpp, object_preset=object_preset,
                                object_bits=object_bits)
    arch = settings.arch_for(frames, height, width)  # sized to the stream with `compact`
    bits = settings.resolve().training.bits
    shapes = arch.tensor_shapes(height, width)
    header = 64 + 8 * len(shapes) + 4 * len(arch.strides)  # container, grid, blocks
    nerv = header + sum(int(np.prod(s)) for s in shapes) * bits / 8
    per_frame = 14.0  # index, version, box, flag
    if codec == "res-nerv":
        arch = get_preset(object_preset).object_arch(box_area)
        shapes = [s for o, i in arch.layer_shapes for s in ((o, i), (o,))]
        per_frame += 16 + 8 * len(shapes) + sum(int(np.prod(s)) for s in shapes) * (object_bits or 16) / 8
    return nerv / frames + per_frame


def default_payload_bytes(*, jpeg_bytes: float = DEFAULT_JPEG_BYTES,
                          box_area: int = DEFAULT_BOX_AREA,
                          preset: str = DEFAULT_PRESET) -> dict[str, float]:
    """Mean payload bytes per frame of every codec: the JPEG size given, the INRs computed."""
    return {"jpeg": float(jpeg_bytes),
            **{c: float(inr_payload_bytes(c, box_area, preset=preset)) for c in CODECS[1:]}}


