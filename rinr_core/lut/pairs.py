"""Training material for a post-filter: frames encoded and decoded by a registered codec.

:func:`codec_pairs` runs a codec of :mod:`rinr_core.codecs` exactly as the runtime does
(``Codec.encode`` then ``Codec.decode`` of the real payload bytes), so the decoded frames are
what an edge would decode, and returns them beside the frames as encoded (after any resize).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rinr_core.codecs import STREAM, Codec, CodecOptions
from rinr_core.errors import ConfigError
from rinr_core.frames import Frame


@dataclass
class CodecPairs:
    """Frames as encoded, as an edge decodes them, the payloads, and what it cost.

    ``payloads`` holds one payload per frame (a stream codec: one for all); ``decode_s`` is
    the wall time of one grouped decode of all of them (the runtime's way).
    """

    frames: list[Frame]
    decoded: list[np.ndarray]
    payloads: list[bytes]
    encode_s: float
    decode_s: float
    metrics: list[dict] = field(default_factory=list)

    @property
    def payload_bytes(self) -> int:
        """Total size of the payloads."""
        return sum(len(p) for p in self.payloads)

    @property
    def originals(self) -> list[np.ndarray]:
        """The frames' pixels as encoded (the training targets)."""
        return [f.image for f in self.frames]


def codec_pairs(codec: Codec, frames: Sequence[Frame], options: CodecOptions,
                device: str | None = None) -> CodecPairs:
    """Encode ``frames`` with ``codec`` and decode the payloads (see the module docstring).

    A stream codec encodes the frames as one stream; a per-frame codec in one batch.

    Raises
    ------
    ConfigError
        There are no frames, or the codec decoded another number of frames.
    """
    if not frames:
        raise ConfigError("a post-filter needs at least one frame to train on")
    start = time.perf_counter()
    if codec.kind == STREAM:
        stream = codec.encode(list(frames), options)
        payloads, encoded, metrics = [stream.payload], list(stream.frames), list(stream.metrics)
    else:
        results = codec.encode(list(frames), options)
        payloads = [r.payload for r in results]
        encoded, metrics = [r.frame for r in results], [r.metrics for r in results]
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode(payloads, device)
    decode_s = time.perf_counter() - start
    if len(decoded) != len(encoded):
        raise ConfigError(f"codec {codec.name!r} decoded {len(decoded)} frames from "
                          f"{len(encoded)}; cannot pair them")
    return CodecPairs(encoded, list(decoded), list(payloads), encode_s, decode_s, metrics)
