"""The grid codecs: latent-grid INRs with a learned entropy model (:mod:`rinr_core.grid`).

``grid`` codes each frame on its own (``.rinr`` version 2: networks and latents); it is for
evaluation and files (no runtime name). ``grid-stream`` shares the networks across a
camera's frames and codes each frame's latents against the previous frame's; it is the
runtime's ``codec = "grid"``. Both are entropy-coded, so sizes are estimates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rinr_core.codec import EncodeResult
from rinr_core.codecs.base import (
    CONTAINER_RINRS,
    FRAME,
    STREAM,
    Codec,
    CodecOptions,
    Container,
    Geometry,
)
from rinr_core.codecs.registry import register, register_container
from rinr_core.codecs.video import decode_streams, register_stream_format
from rinr_core.container import check, payload_box
from rinr_core.decoding import decode_many
from rinr_core.errors import ConfigError
from rinr_core.frames import Frame
from rinr_core.grid import FRAME_ARCH, STREAM_ARCH, GridArch, GridSettings, encode_grid_frames
from rinr_core.grid.stream import decode_stream, encode_stream, stream_boxes, update_stream
from rinr_core.grid.stream_format import MAGIC, merge, unpack_stream
from rinr_core.sequence import SequenceResult, UpdateResult

CONTAINER_GRID = "rinr2"
"""``.rinr`` version 2: one grid-coded frame (either version is read)."""
CONTAINER_GRID_STREAM = "rinrg"
"""A grid stream (:mod:`rinr_core.grid.stream_format`); on the wire a ``rinrs`` item."""
GRID_PRESETS = {"fast": (1200, 40), "thorough": (3000, 80), "quick": (200, 10)}
"""Preset -> (cold steps, warm steps per round)."""
DEFAULT_GRID_PRESET = "fast"
FRAME_BPP, STREAM_BPP = 1.15, 0.75
"""Latent bits per pixel the size estimates assume: the means measured at 160 px at the
30 dB background / 35 dB object targets on the first 8 frames of the shared sequences
(``docs/results/grid.md``; per frame, networks excluded)."""
FRAME_RECORD = 12
"""Bytes of a stream frame's record besides its latents."""


def grid_settings(options: CodecOptions, *, stream: bool) -> GridSettings:
    """The :class:`~rinr_core.grid.GridSettings` of ``options`` (``preset``: ``nerv_preset``
    for the stream codec, the runtime's stream preset key)."""
    preset = (options.nerv_preset if stream else options.preset) or DEFAULT_GRID_PRESET
    if preset not in GRID_PRESETS:
        preset = DEFAULT_GRID_PRESET  # another family's preset name (qre's, NeRV's): ours
    steps, warm = GRID_PRESETS[preset]
    return GridSettings(
        arch=STREAM_ARCH if stream else FRAME_ARCH, steps=options.steps or steps,
        warm_steps=warm, lr=options.lr or GridSettings.lr,
        target_background_db=options.target_background_db,
        target_object_db=options.target_object_db, max_side=options.max_side,
        device=options.device, seed=options.seed,
    )


def _network_bytes(arch: GridArch) -> float:
    """Stored network bytes (about 7 bits per weight after entropy coding, plus records)."""
    return arch.num_params * 7 / 8 + 2 * len(arch.tensor_shapes) + 4


def _check_geometry(geometry: Geometry, frames: int) -> None:
    if frames < 1 or geometry.width < 1 or geometry.height < 1:
        raise ConfigError(f"frames, width and height must be >= 1, got {frames}, "
                          f"{geometry.width}, {geometry.height}")


# --- per-frame: grid --------------------------------------------------------------------------


def _encode_frames(frames: Sequence[Frame], options: CodecOptions,
                   state: object = None) -> list[EncodeResult]:
    return encode_grid_frames(frames, grid_settings(options, stream=False))


def _estimate_frame(geometry: Geometry, frames: int, options: CodecOptions) -> float:
    _check_geometry(geometry, frames)
    pixels = geometry.width * geometry.height
    return 30 + _network_bytes(FRAME_ARCH) + FRAME_BPP * pixels / 8


# --- stream: grid-stream ------------------------------------------------------------------


def _encode_stream(frames: Sequence[Frame], options: CodecOptions,
                   state: object = None) -> SequenceResult:
    return encode_stream(frames, grid_settings(options, stream=True))


def _update_stream(base: bytes, frames: Sequence[Frame], options: CodecOptions) -> UpdateResult:
    return update_stream(base, frames, grid_settings(options, stream=True))


def _estimate_stream(geometry: Geometry, frames: int, options: CodecOptions) -> float:
    _check_geometry(geometry, frames)
    pixels = geometry.width * geometry.height
    return (40 + _network_bytes(STREAM_ARCH)) / frames + FRAME_RECORD + STREAM_BPP * pixels / 8


def _check_stream(data: bytes) -> None:
    unpack_stream(data)  # magic, version, checksum, records (no entropy decoding)


def _decode_grid_streams(payloads: Sequence[bytes], device: str | None = None) -> list[np.ndarray]:
    return [image for data in payloads for image in decode_stream(data, None, device)]


register_container(Container(CONTAINER_GRID, check=check, decode=decode_many, box_of=payload_box))
register_stream_format(MAGIC, register_container(Container(
    CONTAINER_GRID_STREAM, check=_check_stream, decode=_decode_grid_streams, stream=True,
    merge=merge, decode_frames=decode_stream, frame_boxes=stream_boxes)))
register(Codec(
    name="grid", kind=FRAME, family="grid", container=CONTAINER_GRID,
    summary="grid: latent pyramid + tiny synthesis + learned entropy model per frame (.rinr v2)",
    encode=_encode_frames, decode=decode_many,
    settings=lambda options: grid_settings(options, stream=False),
    estimate_bytes=_estimate_frame, presets=tuple(GRID_PRESETS),
    default_preset=DEFAULT_GRID_PRESET,
))
register(Codec(
    name="grid-stream", kind=STREAM, family="grid", container=CONTAINER_RINRS,
    summary="grid stream: networks shared per camera, frames as latents coded against the "
            "previous frame",
    encode=_encode_stream, decode=decode_streams,
    settings=lambda options: grid_settings(options, stream=True),
    estimate_bytes=_estimate_stream, runtime_name="grid", presets=tuple(GRID_PRESETS),
    default_preset=DEFAULT_GRID_PRESET, update=_update_stream,
))
