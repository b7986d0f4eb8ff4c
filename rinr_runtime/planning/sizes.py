"""Sizes the placement model starts from: the detector's weights and each codec's payload.

A detector's weights travel as float32 arrays (:class:`ModelSize`), or compressed by a weight
codec (:func:`weights_size`: the detector built and encoded); an INR payload's size
follows from its architecture alone (:func:`inr_payload_bytes` packs an all-zero payload with
the real container); a stream's is estimated (:func:`sequence_payload_bytes`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class WeightsSize:
    """One full weights message of a detector under a weight codec, as the runtime sends it.

    ``bytes`` of its arrays' data and their number (``fp32``: one float32 Array per tensor;
    every other codec: one ``rinr_core.weights`` message); ``repeat_bytes`` of a message that
    repeats weights the edge holds (a keep message; ``None``: ``fp32`` sends them again).
    """

    codec: str
    bits: int
    bytes: int
    arrays: int
    fp32_bytes: int
    repeat_bytes: int | None

    @property
    def ratio(self) -> float:
        """float32 bytes / these bytes."""
        return self.fp32_bytes / self.bytes if self.bytes else float("inf")


@functools.lru_cache(maxsize=32)
def _weights_size(model: str, classes: tuple[str, ...], codec: str, bits: int, seed: int,
                  stamp: float) -> WeightsSize:
    from rinr_core.weights import encode_weights, get_weight_codec, keep_message
    from rinr_runtime.weight_link import PLAIN, initial_model

    weights, names = initial_model(model, classes, seed)
    fp32 = int(sum(w.nbytes for w in weights))
    if get_weight_codec(codec).name == PLAIN:
        return WeightsSize(codec, bits, fp32, len(weights), fp32, None)
    encoded = encode_weights(weights, codec, bits, names=names)
    return WeightsSize(codec, bits, len(encoded.data), 1, fp32,
                       len(keep_message(encoded.weights_id, codec)))


def weights_size(model: str, class_names: Sequence[str], codec: str = "fp32", bits: int = 4,
                 seed: int = 0) -> WeightsSize:
    """The real size of ``model``'s weights under ``codec``: the detector is built from the
    model YAML (or ``.pt``) and compressed; cached per (model, classes, codec, bits, seed).

    Deltas of later rounds are usually smaller than this full message; the placement model
    counts every weights message at this size (an upper bound for them).

    Raises
    ------
    ConfigError
        Unknown weight codec, or a model that cannot be built.
    """
    path = Path(model).expanduser()
    stamp = path.stat().st_mtime if path.suffix == ".pt" and path.is_file() else 0.0
    return _weights_size(model, tuple(class_names), codec, int(bits), int(seed), stamp)


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


