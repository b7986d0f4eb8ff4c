"""The classic codecs: the camera's JPEG (the runtime's relay) and the peers WebP, AVIF, ROI-JPEG.

Their size depends on the pixels, so they have no size estimate: the runtime measures the
JPEGs it relays. Without a ``quality`` option a peer encodes at :data:`DEFAULT_QUALITY`
(ROI-JPEG at :data:`DEFAULT_ROI_QUALITY`); benchmarks search the quality instead
(:mod:`rinr_core.classic.search`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rinr_core.classic import Quality, decode_classic, encode_classic
from rinr_core.codec import EncodeResult
from rinr_core.codecs.base import FRAME, Codec, CodecOptions, Container
from rinr_core.codecs.pixels import encode_each
from rinr_core.codecs.registry import register, register_container
from rinr_core.frames import Frame

DEFAULT_QUALITY = 75
"""Quality of a classic peer when none is given (Pillow's JPEG default)."""
DEFAULT_ROI_QUALITY = (20, 90)
"""``(background, object)`` JPEG qualities of ROI-JPEG when none are given."""


def _classic_codec(name: str, summary: str, *, runtime: bool = False) -> Codec:
    def settings(options: CodecOptions) -> Quality:
        if options.quality is not None:
            return options.quality
        return DEFAULT_ROI_QUALITY if name == "roi-jpeg" else DEFAULT_QUALITY

    def encode(frames: Sequence[Frame], options: CodecOptions,
               state: object = None) -> list[EncodeResult]:
        quality = settings(options)
        return encode_each(frames, options, name,
                           lambda f: encode_classic(f.image, name, quality, f.box),
                           lambda payload: decode_classic(payload, name))

    def decode(payloads: Sequence[bytes], device: str | None = None) -> list[np.ndarray]:
        return [decode_classic(p, name) for p in payloads]

    def check(payload: bytes) -> None:
        decode_classic(payload, name)  # raises for bytes that are not a whole image

    register_container(Container(name, check=check, decode=decode))
    return Codec(name=name, kind=FRAME, family="classic", container=name, summary=summary,
                 encode=encode, decode=decode, settings=settings,
                 runtime_name=name if runtime else None, relay=runtime)


for _codec in (
    _classic_codec("jpeg", "JPEG; in the runtime the relay of the camera's own JPEG files",
                   runtime=True),
    _classic_codec("webp", "WebP through Pillow (a classic peer)"),
    _classic_codec("avif", "AVIF through Pillow (a classic peer)"),
    _classic_codec("roi-jpeg", "ROI-JPEG: a low-quality frame JPEG + a high-quality object crop"),
):
    register(_codec)
