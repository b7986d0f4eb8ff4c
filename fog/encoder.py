"""The fog's encode step: check uploaded frames, then encode them (batched, cached) or relay them.

Every upload is checked first: its content id must match its JPEG, the JPEG must decode, and
its box must lie in the image. A frame that fails is refused with the reason (reported, and
acknowledged to its node so it is not uploaded again); the others go on. The run's codec comes
from the registry (:mod:`rinr_core.codecs`) and only its kind matters here: with a per-frame
codec the frames missing from the :class:`~fog.encode_cache.EncodeCache` are encoded together
in batches of ``encode-batch`` frames (with ``inr-warm-start`` each node's frames chain from
its previous frame, across rounds); with a stream codec each node's frames join its stream
(:mod:`fog.streams`); with a relay codec (``jpeg``) the checked JPEG itself is what the fog
relays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fog.encode_cache import EncodeCache, cache_key
from fog.streams import StreamEncoder
from rinr_core.codecs import STREAM, get_container
from rinr_core.errors import BadFrameError
from rinr_core.frames import Box, Frame
from rinr_core.images import image_size, load_image
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import KIND_JPEG, KIND_RINRS, Upload, frame_id


@dataclass
class EncodedFrame:
    """A frame in the fog's catalog: what it broadcasts for it, and what it measured.

    A frame of a video codec has no payload of its own (``data`` is empty): it travels in
    its ``stream`` (:class:`fog.streams.Stream`), and ``metrics["bytes"]`` is its share.
    """

    frame_id: str
    owner: str
    kind: str
    data: bytes
    box: Box
    label: str
    jpeg: bytes
    metrics: dict = field(default_factory=dict)
    cached: bool = False
    stream: str = ""

    @property
    def jpeg_bytes(self) -> int:
        """Size of the uploaded JPEG (what relaying it would cost)."""
        return len(self.jpeg)


@dataclass
class Rejection:
    """An upload the fog refused, and why."""

    frame_id: str
    owner: str
    reason: str


@dataclass
class EncodeOutcome:
    """The result of one encode step."""

    encoded: list[EncodedFrame]
    rejected: list[Rejection]
    encoded_now: int = 0
    cache_hits: int = 0
    cache_corrupt: int = 0  # damaged cache entries dropped (and their frames encoded again)
    seconds: float = 0.0


def codec_settings(config: RuntimeConfig) -> Any:
    """The codec's own settings for this run (``None`` for a relay codec: nothing to encode)."""
    spec = config.codec_spec
    return None if spec.relay else spec.settings(config.codec_options())


def check_upload(upload: Upload, *, max_bytes: int | None = None,
                 max_pixels: int | None = None) -> Frame:
    """The frame of an upload, or :class:`BadFrameError` saying what is wrong with it.

    ``max_bytes`` and ``max_pixels`` bound what the fog accepts; the pixel count is read from
    the image header, so an oversized frame (a decompression bomb) is never decoded.
    """
    if frame_id(upload.jpeg) != upload.frame_id:
        raise BadFrameError(
            f"frame {upload.frame_id}: its JPEG does not match its content id (corrupted in "
            "transfer); the edge should upload it again under its real id"
        )
    if max_bytes is not None and len(upload.jpeg) > max_bytes:
        raise BadFrameError(f"frame {upload.frame_id}: {len(upload.jpeg)} bytes, over "
                            f"max-frame-bytes = {max_bytes}; send it smaller or raise the limit")
    if max_pixels is not None:
        width, height = image_size(upload.jpeg, name=upload.name or upload.frame_id)
        if width * height > max_pixels:
            raise BadFrameError(f"frame {upload.frame_id}: {width}x{height} pixels, over "
                                f"max-frame-pixels = {max_pixels}; not decoded")
    image = load_image(upload.jpeg, name=upload.name or upload.frame_id)
    return Frame(image, upload.box, upload.name, upload.label)


class FogEncoder:
    """Turns uploads into catalog entries with the run's codec (see the module docstring)."""

    def __init__(self, config: RuntimeConfig, cache: EncodeCache) -> None:
        self.config = config
        self.cache = cache
        self.codec = config.codec_spec
        self.options = config.codec_options()
        self.settings = codec_settings(config)
        self._check = get_container(self.codec.container).check
        # per node: each frame starts from that node's previous frame (warm-starting codecs)
        self.warm = self.codec.new_state() if self.codec.new_state else None
        self.streams = StreamEncoder(config, cache) if self.codec.kind == STREAM else None

    def encode(self, uploads: list[tuple[str, Upload]], *, relay: bool = False,
               fresh: bool = False) -> EncodeOutcome:
        """Check and encode ``(owner, upload)`` pairs; refused ones are in ``rejected``.

        ``relay=True`` (or ``codec = jpeg``) keeps the checked JPEGs as they are. ``fresh=True``
        encodes again without reading the cache (a frame a node reported broken must not be
        sent as the same bytes); the fresh payloads replace the cached ones.
        """
        start = time.perf_counter()
        corrupt_before = self.cache.corrupt
        checked: list[tuple[str, Upload, Frame]] = []
        rejected: list[Rejection] = []
        for owner, upload in uploads:
            try:
                frame = check_upload(upload, max_bytes=self.config.max_frame_bytes,
                                     max_pixels=self.config.max_frame_pixels)
                checked.append((owner, upload, frame))
            except BadFrameError as exc:
                rejected.append(Rejection(upload.frame_id, owner, str(exc)))
        if not relay and self.streams is not None:
            outcome = self._encode_streams(checked, rejected)
        elif relay or self.codec.relay:
            encoded = [self._relay(owner, upload, frame) for owner, upload, frame in checked]
            outcome = EncodeOutcome(encoded, rejected)
        else:
            outcome = self._encode_frames(checked, rejected, fresh=fresh)
        outcome.seconds = time.perf_counter() - start
        outcome.cache_corrupt = self.cache.corrupt - corrupt_before
        return outcome

    @staticmethod
    def _relay(owner: str, upload: Upload, frame: Frame) -> EncodedFrame:
        """A JPEG-relay catalog entry: the checked JPEG as it was uploaded."""
        metrics = {"mode": KIND_JPEG, "bytes": len(upload.jpeg), "width": frame.width,
                   "height": frame.height}
        return EncodedFrame(upload.frame_id, owner, KIND_JPEG, upload.jpeg, frame.box,
                            frame.label, upload.jpeg, metrics)

    def _encode_frames(self, checked: list[tuple[str, Upload, Frame]],
                       rejected: list[Rejection], *, fresh: bool = False) -> EncodeOutcome:
        """Cached payloads where present; the rest encoded in batches and cached."""
        keys = [cache_key(u.jpeg, f.box, self.settings, self.codec.name) for _, u, f in checked]
        results: list[EncodedFrame | None] = []
        todo: list[int] = []
        for i, ((owner, upload, frame), key) in enumerate(zip(checked, keys, strict=True)):
            hit = None if fresh else self.cache.get(key, check=self._check)
            if hit is None:
                todo.append(i)
                results.append(None)
                continue
            box = tuple(hit.metrics.get("box", frame.box))
            results.append(EncodedFrame(upload.frame_id, owner, self.codec.container, hit.payload, box,
                                        frame.label, upload.jpeg, hit.metrics, cached=True))
        for chunk_start in range(0, len(todo), self.config.encode_batch):
            chunk = todo[chunk_start : chunk_start + self.config.encode_batch]
            frames = [checked[i][2] for i in chunk]
            for i, frame in zip(chunk, frames, strict=True):
                frame.meta["sequence"] = checked[i][0]  # the owner: warm starts chain per node
            done = self.codec.encode(frames, self.options, state=self.warm)
            for i, result in zip(chunk, done, strict=True):
                owner, upload, _ = checked[i]
                metrics = {**result.metrics, "box": list(result.frame.box)}
                self.cache.put(keys[i], result.payload, metrics)
                results[i] = EncodedFrame(upload.frame_id, owner, self.codec.container, result.payload,
                                          result.frame.box, result.frame.label, upload.jpeg,
                                          metrics)
        encoded = [r for r in results if r is not None]
        return EncodeOutcome(encoded, rejected, encoded_now=len(todo),
                             cache_hits=len(checked) - len(todo))

    def _encode_streams(self, checked: list[tuple[str, Upload, Frame]],
                        rejected: list[Rejection]) -> EncodeOutcome:
        """Each node's new frames appended to its ``.rinrs`` streams (video codecs)."""
        assert self.streams is not None
        by_owner: dict[str, list[tuple[str, bytes, Frame]]] = {}
        uploads = {}
        for owner, upload, frame in checked:
            by_owner.setdefault(owner, []).append((upload.frame_id, upload.jpeg, frame))
            uploads[upload.frame_id] = (upload, frame)
        encoded: list[EncodedFrame] = []
        now = hits = 0
        for segment in self.streams.encode(by_owner):
            owner = segment.stream.owner
            for fid, metrics in zip(segment.frame_ids, segment.metrics, strict=True):
                upload, frame = uploads[fid]
                encoded.append(EncodedFrame(fid, owner, KIND_RINRS, b"", frame.box,
                                            frame.label, upload.jpeg, metrics,
                                            cached=segment.cached,
                                            stream=segment.stream.stream_id))
            if segment.cached:
                hits += len(segment.frame_ids)
            else:
                now += len(segment.frame_ids)
        return EncodeOutcome(encoded, rejected, encoded_now=now, cache_hits=hits)
