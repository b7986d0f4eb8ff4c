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
from rinr_core.codecs.registry import register, register_container
from rinr_core.frames import Frame
from rinr_core.images import encode_image, load_image, resize_frame
from rinr_core.metrics import bits_per_pixel, frame_psnrs

PNG = "png"


def _encode(frames: Sequence[Frame], options: CodecOptions,
            state: object = None) -> list[EncodeResult]:
    results = []
    for frame in frames:
        sized = resize_frame(frame, options.max_side) if options.max_side else frame
        payload = encode_image(sized.image, "PNG")
        metrics = {"mode": PNG, "width": sized.width, "height": sized.height,
                   "bytes": len(payload),
                   "bpp": bits_per_pixel(len(payload), sized.width, sized.height),
                   **frame_psnrs(sized.image, sized.image, sized.box), "macs_per_pixel": 0.0}
        results.append(EncodeResult(payload, sized, metrics))
    return results


def _decode(payloads: Sequence[bytes], device: str | None = None) -> list[np.ndarray]:
    return [load_image(p) for p in payloads]


def _check(payload: bytes) -> None:
    load_image(payload)  # raises UnreadableImageError for a truncated or damaged file


register_container(Container(PNG, check=_check, decode=_decode))
register(Codec(name=PNG, kind=FRAME, family="classic", container=PNG,
               summary="PNG: lossless frames, the accuracy upper bound (and its bytes)",
               encode=_encode, decode=_decode, settings=lambda options: None,
               runtime_name=PNG))
