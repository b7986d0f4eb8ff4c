"""The one codec interface: what every codec registers (name, kind, encode, decode, size).

A :class:`Codec` is a plain record of functions, so a codec module needs no subclassing:
it builds one and hands it to :func:`rinr_core.codecs.registry.register`. The runtime, the
placement model, the CLI and the benchmarks look codecs up by name and use only this record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FRAME = "frame"
"""A per-frame codec: one payload per frame, decoded on its own or grouped."""
STREAM = "stream"
"""A stream codec: one payload for a camera's frames (shared networks), extended by updates."""
KINDS = (FRAME, STREAM)

CONTAINER_RINR = "rinr"
"""``.rinr`` (:mod:`rinr_core.container`): one frame's INRs."""
CONTAINER_RINRS = "rinrs"
"""A stream payload, whatever stream codec wrote it (the item kind of every stream on the
wire): ``.rinrs`` (:mod:`rinr_core.sequence`: a NeRV and per-frame object INRs) or a grid
stream (:mod:`rinr_core.grid.stream_format`), told apart by their magic number."""
CONTAINER_JPEG = "jpeg"
"""A JPEG file: the camera's own bytes (the relay) or a re-encode."""


@dataclass(frozen=True)
class CodecOptions:
    """Codec-independent knobs; each codec maps them onto its own settings.

    ``None`` (or ``0`` in a run config) means the codec's preset value. The runtime builds
    one of these from its ``run_config`` (:meth:`rinr_runtime.config.RuntimeConfig.codec_options`),
    the CLI from its flags; :attr:`Codec.settings` turns it into the codec's own settings.
    """

    preset: str | None = None
    steps: int | None = None
    lr: float | None = None
    background_bits: int | None = None
    object_bits: int | None = None
    nerv_preset: str | None = None
    nerv_epochs: int | None = None
    nerv_bpp: float | None = None
    target_background_db: float | None = None
    target_object_db: float | None = None
    warm_start: bool = False
    max_side: int | None = None
    quality: int | tuple[int, int] | None = None
    device: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class Geometry:
    """What a payload-size estimate needs of a frame: its size and its object box's area."""

    width: int
    height: int
    box_area: int


Encoder = Callable[..., Any]
"""``encode(frames, options, state=None)``: per-frame codecs return one
:class:`~rinr_core.codec.EncodeResult` per frame (payload, frame as encoded, metrics), stream
codecs one :class:`~rinr_core.sequence.SequenceResult`. ``state`` comes from
:attr:`Codec.new_state` and carries across calls (warm starts from each stream's last frame)."""
Decoder = Callable[[Sequence[bytes], "str | None"], list[np.ndarray]]
"""Payloads (and a torch device, ``None``: cuda when present) -> decoded ``uint8`` frames;
a stream codec returns every frame of each stream, in order."""
SizeEstimate = Callable[[Geometry, int, CodecOptions], float]
"""``(geometry, frames in the stream, options)`` -> payload bytes per frame."""
Updater = Callable[[bytes, Sequence[Any], CodecOptions], Any]
"""``update(base, frames, options)``: a stream codec's new frames against the whole stream
``base`` the receivers hold; returns an :class:`~rinr_core.sequence.UpdateResult` (the update
segment as ``payload``, the ``merged`` stream, the new frames' ``metrics``)."""
FrameDecoder = Callable[[bytes, "Sequence[int] | None", "str | None"], list[np.ndarray]]
"""``decode_frames(stream, indices, device)``: frames ``indices`` (``None``: all) of one whole
stream, ``uint8``, in the order asked; the same pixels whether asked together or one by one."""


@dataclass(frozen=True)
class Container:
    """A payload format an edge can store and decode, whatever codec wrote it.

    Attributes
    ----------
    name
        The item kind on the wire and in an edge's store (``rinr``, ``jpeg``, ``rinrs``).
    check
        Raise :class:`~rinr_core.errors.PayloadError` (or ``BadFrameError``) when the bytes
        cannot be decoded; called when an item arrives, before it is stored.
    decode
        Grouped decode of many payloads of this format (:data:`Decoder`).
    stream
        Whether payloads are streams extended by update segments (``.rinrs``), stored merged.
    box_of
        The object box a payload carries (as encoded, after any resize); ``None``: the box
        travels beside the payload.
    merge
        Streams: ``merge(base, update) -> whole stream`` (raises
        :class:`~rinr_core.errors.PayloadError` for an update made for another stream).
    decode_frames
        Streams: decode some frames of one whole stream (:data:`FrameDecoder`).
    frame_boxes
        Streams: ``{frame index: box}`` of a stream or an update segment, in stored order.
    """

    name: str
    check: Callable[[bytes], None]
    decode: Decoder
    stream: bool = False
    box_of: Callable[[bytes], tuple[int, int, int, int]] | None = None
    merge: Callable[[bytes, bytes], bytes] | None = None
    decode_frames: FrameDecoder | None = None
    frame_boxes: Callable[[bytes], dict[int, tuple[int, int, int, int]]] | None = None


@dataclass(frozen=True)
class Codec:
    """One registered codec.

    Attributes
    ----------
    name
        Registry name (``qre``, ``res-nerv``, ``webp``, ...).
    kind
        :data:`FRAME` or :data:`STREAM`.
    family
        ``inr`` (SIREN INRs), ``video`` (NeRV streams) or ``classic`` (Pillow codecs).
    container
        The name of the payload's :class:`Container` (:data:`CONTAINER_RINR`, ...; a classic
        peer's is its own name): how an edge checks, stores and decodes it.
    summary
        One line for ``rinr codecs``.
    encode, decode
        See :data:`Encoder` and :data:`Decoder`.
    settings
        ``CodecOptions -> the codec's own settings object`` (``CodecSettings``,
        ``SequenceSettings``, a quality); the one place that mapping is written.
    estimate_bytes
        Payload bytes per frame before encoding (:data:`SizeEstimate`); ``None`` where the
        size depends on the pixels alone (JPEG: measure it).
    exact_size
        Whether :attr:`estimate_bytes` is exact (a ``.rinr`` size follows from its layout).
    runtime_name
        The name the runtime's ``codec`` key and the placement model use (``residual-inr``
        for ``qre``); ``None``: the runtime cannot broadcast it (evaluation only). Runtime
        names are a namespace of their own: a stream codec may take the runtime name that
        is a per-frame codec's registry name (``grid``).
    relay
        The runtime sends the uploaded JPEG itself (no fog encoding).
    aliases
        Other names that resolve to this codec.
    presets, default_preset
        The codec's named presets (``--preset``, ``preset`` / ``nerv-preset``).
    new_state
        A fresh encoder state to pass to :attr:`encode` across calls (``None``: stateless).
    update
        Stream codecs: append new frames to a whole stream (:data:`Updater`).
    """

    name: str
    kind: str
    family: str
    container: str
    summary: str
    encode: Encoder
    decode: Decoder
    settings: Callable[[CodecOptions], Any]
    estimate_bytes: SizeEstimate | None = None
    exact_size: bool = False
    runtime_name: str | None = None
    relay: bool = False
    aliases: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()
    default_preset: str | None = None
    new_state: Callable[[], Any] | None = None
    update: Updater | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The registry names this codec answers to: its name and its aliases."""
        return tuple(dict.fromkeys((self.name, *self.aliases)))

    def describe(self) -> dict[str, Any]:
        """The JSON form ``rinr codecs --json`` prints."""
        return {
            "name": self.name, "kind": self.kind, "family": self.family,
            "container": self.container, "runtime_name": self.runtime_name,
            "aliases": list(self.aliases), "presets": list(self.presets),
            "default_preset": self.default_preset, "relay": self.relay,
            "size_estimate": None if self.estimate_bytes is None
            else ("exact" if self.exact_size else "estimate"),
            "summary": self.summary,
        }
