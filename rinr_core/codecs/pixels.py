"""Encoding frame by frame with a pixel codec (classic peers, PNG): resize, encode, measure."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rinr_core.codec import EncodeResult
from rinr_core.codecs.base import CodecOptions
from rinr_core.frames import Frame
from rinr_core.images import resize_frame
from rinr_core.metrics import bits_per_pixel, frame_psnrs


def encode_each(frames: Sequence[Frame], options: CodecOptions, mode: str,
                to_bytes: Callable[[Frame], bytes],
                from_bytes: Callable[[bytes], np.ndarray]) -> list[EncodeResult]:
    """Each frame (resized to ``options.max_side``) as ``to_bytes`` encodes it, with the
    metrics every encoder reports, measured on what ``from_bytes`` decodes."""
    results = []
    for frame in frames:
        sized = resize_frame(frame, options.max_side) if options.max_side else frame
        payload = to_bytes(sized)
        decoded = from_bytes(payload)
        metrics = {"mode": mode, "width": sized.width, "height": sized.height,
                   "bytes": len(payload),
                   "bpp": bits_per_pixel(len(payload), sized.width, sized.height),
                   **frame_psnrs(sized.image, decoded, sized.box), "macs_per_pixel": 0.0}
        results.append(EncodeResult(payload, sized, metrics))
    return results
