"""The stream codecs: Res-NeRV (a NeRV background + object residual INRs) and NeRV (``.rinrs``).

A camera's frames share one NeRV; frames of later rounds travel as update segments
(:func:`rinr_core.sequence.update_sequence`). A ``.rinrs`` is entropy-coded, so its size is
estimated (:func:`rinrs_payload_bytes`), not known before encoding.

Every stream item on the wire is of kind :data:`~rinr_core.codecs.base.CONTAINER_RINRS`,
whichever stream codec wrote it: that container tells the formats apart by their magic
number (:func:`stream_format`) and hands each payload to its format's own
:class:`~rinr_core.codecs.base.Container` (the NeRV ``.rinrs`` one here; others register
theirs with :func:`register_stream_format`, as the grid stream does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rinr_core.codecs.base import (
    CONTAINER_RINRS,
    STREAM,
    Codec,
    CodecOptions,
    Container,
    Geometry,
)
from rinr_core.codecs.registry import register, register_container
from rinr_core.errors import (
    ChecksumMismatchError,
    ConfigError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
)
from rinr_core.frames import Frame
from rinr_core.nerv import DEFAULT_NERV_PRESET, NERV_PRESETS
from rinr_core.presets import DEFAULT_PRESET, get_preset
from rinr_core.sequence import (
    MAGIC,
    SequenceResult,
    SequenceSettings,
    UpdateResult,
    apply_update,
    checksum_ok,
    decode_sequence,
    encode_sequence,
    frame_boxes,
    update_sequence,
)

STREAM_OBJECT_BITS = 10
"""Bits per object-INR weight in a stream when none are asked for."""


def stream_settings(codec: str, options: CodecOptions) -> SequenceSettings:
    """The :class:`~rinr_core.sequence.SequenceSettings` of ``codec`` for ``options``."""
    return SequenceSettings(
        codec=codec, nerv_preset=options.nerv_preset or DEFAULT_NERV_PRESET,
        epochs=options.nerv_epochs, nerv_bits=options.background_bits,
        nerv_bpp=options.nerv_bpp, background_db=options.target_background_db,
        object_db=options.target_object_db, object_preset=options.preset or DEFAULT_PRESET,
        object_steps=options.steps, object_bits=options.object_bits or STREAM_OBJECT_BITS,
        warm_start=options.warm_start, device=options.device, seed=options.seed,
    )


def rinrs_payload_bytes(settings: SequenceSettings, frames: int, width: int, height: int,
                        box_area: int) -> float:
    """Estimated ``.rinrs`` bytes per frame of a ``frames``-frame stream.

    The size without entropy coding: the NeRV's weights (the preset's network, or with
    ``compact`` or ``nerv_bpp`` the one sized to ``frames``) shared by ``frames``, plus, with
    ``res-nerv``, each frame's record and object residual INR (the tier of ``box_area``).
    Trained weights entropy-code 5-15% below it (nearly random ones about at it).
    """
    if frames < 1 or width < 1 or height < 1 or box_area < 1:
        raise ConfigError(f"frames, width, height and box_area must be >= 1, got "
                          f"{frames}, {width}, {height}, {box_area}")
    arch = settings.arch_for(frames, height, width)  # sized to the stream with `compact`
    bits = settings.resolve().training.bits
    shapes = arch.tensor_shapes(height, width)
    header = 64 + 8 * len(shapes) + 4 * len(arch.strides)  # container, grid, blocks
    nerv = header + sum(int(np.prod(s)) for s in shapes) * bits / 8
    per_frame = 14.0  # index, version, box, flag
    if settings.codec == "res-nerv":
        obj = get_preset(settings.object_preset).object_arch(box_area)
        obj_shapes = [s for o, i in obj.layer_shapes for s in ((o, i), (o,))]
        weights = sum(int(np.prod(s)) for s in obj_shapes)
        per_frame += 16 + 8 * len(obj_shapes) + weights * (settings.object_bits or 16) / 8
    return nerv / frames + per_frame


def decode_streams(payloads: Sequence[bytes], device: str | None = None) -> list[np.ndarray]:
    """Every frame of each whole stream payload (any stream format), in order."""
    return [image for data in payloads for image in stream_format(data).decode([data], device)]


def _decode_nerv_streams(payloads: Sequence[bytes], device: str | None = None) -> list[np.ndarray]:
    return [image for data in payloads for image in decode_sequence(data, None, device)]


def _nerv_frames(data: bytes, indices: Sequence[int] | None, device: str | None) -> list[np.ndarray]:
    return decode_sequence(data, indices, device)


def _check_stream(data: bytes) -> None:
    """A stream or update segment whose checksum fails is refused (its base is checked later)."""
    if not checksum_ok(data):
        raise ChecksumMismatchError("the .rinrs segment fails its CRC-32 check (damaged in "
                                    "transfer); the fog should send the stream again")


_STREAM_FORMATS: dict[bytes, Container] = {}


def register_stream_format(magic: bytes, container: Container) -> Container:
    """Make :data:`CONTAINER_RINRS` items starting with ``magic`` go to ``container``."""
    if not container.stream or container.merge is None or container.decode_frames is None \
            or container.frame_boxes is None:
        raise ConfigError(f"stream format {container.name!r} must be a stream container with "
                          "merge, decode_frames and frame_boxes")
    if _STREAM_FORMATS.get(magic, container) is not container:
        raise ConfigError(f"a stream format with magic {magic!r} is already registered")
    _STREAM_FORMATS[magic] = container
    return container


def stream_format(data: bytes) -> Container:
    """The container of a stream payload's format, from its magic number.

    Raises
    ------
    TruncatedPayloadError, NotARinrFileError
        The bytes are too short to tell, or start like no stream format.
    """
    head = bytes(data[:4])
    found = _STREAM_FORMATS.get(head)
    if found is not None:
        return found
    if len(head) < 4 and any(m.startswith(head) for m in _STREAM_FORMATS):
        raise TruncatedPayloadError(f"stream payload is truncated to {len(head)} bytes; the fog "
                                    "should send the stream again")
    raise NotARinrFileError("not a stream payload (unknown magic number); was it written by "
                            "rinr encode-seq?")


def _check_any(data: bytes) -> None:
    stream_format(data).check(data)


def _merge_any(base: bytes, update: bytes) -> bytes:
    container = stream_format(base)
    if stream_format(update) is not container:
        raise PayloadError("the update is of another stream format than the stream it should "
                           "extend; the fog must send the stream whole")
    return container.merge(base, update)  # type: ignore[misc]  # checked on registration


def _decode_frames_any(data: bytes, indices: Sequence[int] | None,
                       device: str | None = None) -> list[np.ndarray]:
    return stream_format(data).decode_frames(data, indices, device)  # type: ignore[misc]


def _boxes_any(data: bytes) -> dict[int, tuple[int, int, int, int]]:
    return stream_format(data).frame_boxes(data)  # type: ignore[misc]


def _stream_codec(name: str, summary: str) -> Codec:
    def settings(options: CodecOptions) -> SequenceSettings:
        return stream_settings(name, options)

    def encode(frames: Sequence[Frame], options: CodecOptions,
               state: object = None) -> SequenceResult:
        return encode_sequence(frames, settings(options))

    def update(base: bytes, frames: Sequence[Frame], options: CodecOptions) -> UpdateResult:
        return update_sequence(base, frames, settings(options))

    def estimate(geometry: Geometry, frames: int, options: CodecOptions) -> float:
        return rinrs_payload_bytes(settings(options), frames, geometry.width, geometry.height,
                                   geometry.box_area)

    return Codec(name=name, kind=STREAM, family="video", container=CONTAINER_RINRS,
                 summary=summary, encode=encode, decode=decode_streams, settings=settings,
                 estimate_bytes=estimate, runtime_name=name, presets=tuple(NERV_PRESETS),
                 default_preset=DEFAULT_NERV_PRESET, update=update)


register_stream_format(MAGIC, Container(CONTAINER_RINRS, check=_check_stream,
                                        decode=_decode_nerv_streams, stream=True,
                                        merge=apply_update, decode_frames=_nerv_frames,
                                        frame_boxes=frame_boxes))
register_container(Container(CONTAINER_RINRS, check=_check_any, decode=decode_streams, stream=True,
                             merge=_merge_any, decode_frames=_decode_frames_any,
                             frame_boxes=_boxes_any))
for _codec in (
    _stream_codec("res-nerv", "Res-NeRV: one NeRV per camera stream + object residual SIRENs"),
    _stream_codec("nerv", "NeRV: one NeRV per camera stream, no object residuals"),
):
    register(_codec)
