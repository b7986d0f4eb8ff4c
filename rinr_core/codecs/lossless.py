"""PNG: the frames without loss, the upper bound every lossy codec's accuracy is measured to.

Training the detector on PNG-relayed frames shows what the frames themselves allow; the
bytes show what not compressing costs. In the runtime the fog re-encodes each checked JPEG
upload as PNG (the JPEG's decoded pixels, exactly).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rinr_core.codec import EncodeResult
from rinr_core.codecs.base import FRAME, Codec, CodecOptions, Container
from rinr_core.codecs.pixels import encode_each
from rinr_core.codecs.registry import register, register_container
from rinr_core.frames import Frame
from rinr_core.images import encode_image, load_image

PNG = "png"


def _encode(frames: Sequence[Frame], options: CodecOptions,
            state: object = None) -> list[EncodeResult]:
    return encode_each(frames, options, PNG, lambda f: encode_image(f.image, "PNG"), load_image)


def _decode(payloads: Sequence[bytes], device: str | None = None) -> list[np.ndarray]:
    return [load_image(p) for p in payloads]


def _check(payload: bytes) -> None:
    load_image(payload)  # raises UnreadableImageError for a truncated or damaged file


register_container(Container(PNG, check=_check, decode=_decode))
register(Codec(name=PNG, kind=FRAME, family="classic", container=PNG,
               summary="PNG: lossless frames, the accuracy upper bound (and its bytes)",
               encode=_encode, decode=_decode, settings=lambda options: None,
               runtime_name=PNG))
