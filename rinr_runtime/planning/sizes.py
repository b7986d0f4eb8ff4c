"""Sizes the placement model starts from: the detector's weights and each codec's payload.

A detector's weights travel as float32 arrays (:class:`ModelSize`); an INR payload's size
follows from its architecture alone (:func:`inr_payload_bytes` packs an all-zero payload with
the real container); a stream's is estimated (:func:`sequence_payload_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rinr_core.codecs import FRAME, STREAM, CodecOptions, Geometry, get_runtime_codec
from rinr_core.errors import ConfigError
from rinr_runtime.planning.model import (
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
    pixels (:func:`rinr_core.codecs.inr.rinr_payload_bytes`).
    """
    spec = get_runtime_codec(codec)
    if spec.kind != FRAME or not spec.exact_size or spec.estimate_bytes is None:
        what = spec.name.upper() if spec.family == "classic" else spec.name
        raise ConfigError(f"a {what} payload's size depends on its pixels or its stream; "
                          "measure it (jpeg_bytes) or use sequence_payload_bytes")
    options = CodecOptions(preset=preset, background_bits=background_bits,
                           object_bits=object_bits)
    return round(spec.estimate_bytes(Geometry(1, 1, box_area), 1, options))


def sequence_payload_bytes(codec: str, frames: int, width: int, height: int, box_area: int, *,
                           nerv_preset: str = "fast", object_preset: str = DEFAULT_PRESET,
                           nerv_bits: int | None = None, object_bits: int | None = 10,
                           nerv_bpp: float | None = None) -> float:
    """Estimated ``.rinrs`` bytes per frame of a ``frames``-frame stream of ``codec``.

    The size without entropy coding (:func:`rinr_core.codecs.video.rinrs_payload_bytes`);
    trained weights entropy-code 5-15% below it.
    """
    spec = get_runtime_codec(codec)
    if spec.kind != STREAM or spec.estimate_bytes is None:
        raise ConfigError(f"{codec!r} is not a sequence codec; choose one of {SEQUENCE_CODECS}")
    options = CodecOptions(preset=object_preset, nerv_preset=nerv_preset,
                           background_bits=nerv_bits, object_bits=object_bits, nerv_bpp=nerv_bpp)
    return spec.estimate_bytes(Geometry(width, height, box_area), frames, options)


def default_payload_bytes(*, jpeg_bytes: float = DEFAULT_JPEG_BYTES,
                          box_area: int = DEFAULT_BOX_AREA,
                          preset: str = DEFAULT_PRESET) -> dict[str, float]:
    """Mean payload bytes per frame of every codec: the JPEG size given, the INRs computed."""
    return {"jpeg": float(jpeg_bytes),
            **{c: float(inr_payload_bytes(c, box_area, preset=preset)) for c in CODECS[1:]}}


