"""Stream codecs at the fog: each node's frames as one stream that grows by updates.

With a stream codec (``codec = res-nerv``, ``nerv`` or ``grid``) the fog keeps one stream per
node and frame size. The first frames of a stream are encoded together (the codec's
``encode``: for Res-NeRV one NeRV background plus per-frame object residual INRs, for grid
shared networks plus per-frame latents); frames that arrive in later rounds go through the
codec's ``update`` (a fine-tuned NeRV, or latents under the stream's networks) and become an
*update* segment that ships only what changed. The fog keeps every segment and the merged
stream (the payload format's ``merge``). Everything here goes through the codec registry
(:class:`rinr_core.codecs.Codec` and its :class:`~rinr_core.codecs.Container`), never a
codec's module.

What a node is sent for a stream (:meth:`Stream.deliveries`): the segments after the ones it
holds, as updates; or, when it holds none of the stream (a new or late node), when what it
holds is not a prefix of the segments, or when an update could not be applied there, the
whole merged stream in one item (smaller than the base plus its updates).

Segments are cached like ``.rinr`` payloads (:class:`~fog.encode_cache.EncodeCache`), keyed
by the frames' JPEGs and boxes, the settings and the stream they extend, so a restarted fog
rebuilds identical streams without fitting again.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fog.encode_cache import EncodeCache, content_key, jpeg_digest, settings_fields
from rinr_core.codecs import Codec, Container, get_codec, get_container
from rinr_core.codecs.base import CodecOptions
from rinr_core.errors import ConfigError
from rinr_core.frames import Frame
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import KIND_RINRS, Delivery


def sequence_settings(config: RuntimeConfig) -> Any:
    """The run's stream codec's own settings (``SequenceSettings``, ``GridSettings``)."""
    return config.codec_spec.settings(config.codec_options())


def payload_crc(data: bytes) -> int:
    """The CRC-32 every stream payload ends with (names the base an update extends)."""
    return int.from_bytes(bytes(data[-4:]), "little")


def stream_container() -> Container:
    """The payload format of every stream item (it tells the stream formats apart)."""
    container = get_container(KIND_RINRS)
    if container.merge is None:
        raise ConfigError(f"payload format {KIND_RINRS!r} cannot merge stream updates")
    return container


def stream_id(owner: str, frame: Frame) -> str:
    """The stream of ``owner``'s frames of ``frame``'s size (a NeRV renders one size)."""
    return f"{owner}-{frame.width}x{frame.height}"


def segment_key(settings: Any, base: bytes | None,
                frames: Sequence[tuple[bytes, Sequence[float]]]) -> str:
    """Cache key of a segment: its frames' JPEGs and boxes, the settings, and its base stream."""
    return content_key({
        "rinrs": settings_fields(settings), "base": None if base is None else payload_crc(base),
        "frames": [[jpeg_digest(jpeg), [float(v) for v in box]] for jpeg, box in frames],
    })


@dataclass
class Segment:
    """One encode of a stream: the base ``.rinrs`` (first) or an update, and its frames."""

    item_id: str
    data: bytes
    frames: list[str]
    labels: list[str]


@dataclass
class Stream:
    """A node's ``.rinrs`` stream at the fog: its segments and the merged payload."""

    stream_id: str
    owner: str
    segments: list[Segment] = field(default_factory=list)
    merged: bytes = b""

    @property
    def frames(self) -> list[str]:
        """Every frame of the stream, in payload order."""
        return [f for s in self.segments for f in s.frames]

    def append(self, data: bytes, frames: list[str], labels: list[str]) -> None:
        """Add a segment (the base when the stream is empty, else an update to ``merged``)."""
        merge = stream_container().merge
        assert merge is not None  # stream_container checks it
        self.merged = data if not self.segments else merge(self.merged, data)
        self.segments.append(Segment(f"{self.stream_id}.{len(self.segments)}", data,
                                     frames, labels))

    def deliveries(self, held: set[str], whole: bool = False) -> list[Delivery]:
        """What a node holding ``held`` frames lacks of this stream (see the module docstring).

        ``whole=True`` sends the merged stream even when updates would do (after an update
        failed at the node).
        """
        done = 0
        while done < len(self.segments) and set(self.segments[done].frames) <= held:
            done += 1
        prefix = {f for s in self.segments[:done] for f in s.frames}
        if done == len(self.segments):
            return []
        if whole or done == 0 or set(self.frames) & held != prefix:
            last = len(self.segments) - 1
            return [Delivery(f"{self.stream_id}.0-{last}", KIND_RINRS, self.merged, (0, 0, 0, 0),
                             "", self.owner, tuple(self.frames),
                             tuple(x for s in self.segments for x in s.labels), self.stream_id,
                             update=False)]
        return [Delivery(s.item_id, KIND_RINRS, s.data, (0, 0, 0, 0), "", self.owner,
                         tuple(s.frames), tuple(s.labels), self.stream_id, update=True)
                for s in self.segments[done:]]


@dataclass
class SegmentResult:
    """A segment just added to a stream: per-frame metrics, and whether it came from the cache."""

    stream: Stream
    frame_ids: list[str]
    metrics: list[dict]
    cached: bool


def encode_segment(codec_name: str, options: CodecOptions, base: bytes | None,
                   frames: Sequence[Frame]) -> tuple[bytes, list[dict]]:
    """One segment: a stream's base (``base is None``) or an update of ``base``, as
    ``(payload, per-frame metrics)``. Module-level so encode workers can run it."""
    codec = get_codec(codec_name)
    if base is None:
        encoded = codec.encode(frames, options)
        return encoded.payload, encoded.metrics
    assert codec.update is not None  # StreamEncoder checks it
    update = codec.update(base, frames, options)
    return update.payload, update.metrics


def _worker_threads(threads: int) -> None:
    """Initializer of an encode worker: its share of the machine's CPU threads."""
    import torch

    torch.set_num_threads(threads)


@dataclass
class _Pending:
    """A segment to append: its stream, frames, cache key and, once known, its bytes."""

    stream: Stream
    members: list[tuple[str, bytes, Frame]]
    key: str
    base: bytes | None
    data: bytes = b""
    metrics: list[dict] = field(default_factory=list)
    cached: bool = False


class StreamEncoder:
    """Encodes each node's new frames into its streams (see the module docstring).

    With ``encode-workers`` > 1, segments of different streams that miss the cache are
    encoded in that many processes at once (each with its share of the CPU threads); a
    stream's segments are always encoded in order.
    """

    def __init__(self, config: RuntimeConfig, cache: EncodeCache) -> None:
        self.codec: Codec = config.codec_spec
        if self.codec.update is None:
            raise ConfigError(f"stream codec {self.codec.name!r} cannot append frames to a "
                              "stream (it registers no update)")
        self.options = config.codec_options()
        self.settings = sequence_settings(config)
        self.cache = cache
        self.workers = config.encode_workers
        self.streams: dict[str, Stream] = {}

    def encode(self, by_owner: Mapping[str, Sequence[tuple[str, bytes, Frame]]]
               ) -> list[SegmentResult]:
        """Append each owner's ``(frame id, jpeg, frame)`` items, in capture order, to its
        streams; one result per segment, owners in the given order."""
        pending = []
        for owner, items in by_owner.items():
            groups: dict[str, list[tuple[str, bytes, Frame]]] = {}
            for item in items:
                groups.setdefault(stream_id(owner, item[2]), []).append(item)
            for sid, members in groups.items():
                stream = self.streams.setdefault(sid, Stream(sid, owner))
                base = stream.merged or None
                key = segment_key(self.settings, base, [(jpeg, f.box) for _, jpeg, f in members])
                job = _Pending(stream, members, key, base)
                hit = self.cache.get(key)
                if hit is not None:
                    job.data, job.metrics, job.cached = hit.payload, list(hit.metrics["frames"]), True
                pending.append(job)
        self._run([job for job in pending if not job.cached])
        results = []
        for job in pending:
            if not job.cached:
                self.cache.put(job.key, job.data, {"frames": job.metrics})
            ids = [fid for fid, _, _ in job.members]
            job.stream.append(job.data, ids, [f.label for _, _, f in job.members])
            results.append(SegmentResult(job.stream, ids, job.metrics, job.cached))
        return results

    def _run(self, jobs: list[_Pending]) -> None:
        """Encode ``jobs`` (at most one per stream: each extends its stream's merged bytes)."""
        calls = [(self.codec.name, self.options, job.base, [f for _, _, f in job.members])
                 for job in jobs]
        workers = min(self.workers, len(jobs))
        if workers <= 1:
            outputs = [encode_segment(*call) for call in calls]
        else:
            import torch

            threads = max(1, torch.get_num_threads() // workers)
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_worker_threads, initargs=(threads,)) as pool:
                outputs = list(pool.map(encode_segment, *zip(*calls, strict=True)))
        for job, (data, metrics) in zip(jobs, outputs, strict=True):
            job.data, job.metrics = data, metrics
