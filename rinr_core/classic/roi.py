"""ROI-JPEG: a low-quality JPEG of the whole frame plus a high-quality JPEG of the object crop.

Byte layout (big-endian, every byte counts in the reported size)::

    b"RJPG" | box x, y, w, h as 4 x uint16 | len(frame JPEG) as uint32 | frame JPEG | crop JPEG

The crop is the box grown to the 16-pixel JPEG macroblock grid (clipped to the frame), so its
blocks line up with those of a JPEG source; on decode only the box pixels of the crop are pasted,
which keeps the background (frame JPEG, outside the box) and the object (crop JPEG, inside the
box) independent. Before the frame is encoded, each macroblock that lies wholly inside the box
is flattened to its mean colour: the crop overwrites those pixels anyway, so the frame JPEG
should not spend bits on them (a flat block costs one DC coefficient).
"""

from __future__ import annotations

import struct

import numpy as np

from rinr_core.classic.pillow import _pillow_decode, _pillow_encode
from rinr_core.errors import MalformedPayloadError, NotARinrFileError, TruncatedPayloadError
from rinr_core.frames import Box

ROI_MAGIC = b"RJPG"
ROI_HEADER = struct.Struct(">4s4HI")  # magic, x, y, w, h, length of the frame JPEG
ROI_BLOCK = 16  # JPEG macroblock with 4:2:0 subsampling


def _crop_rect(box: Box, width: int, height: int, block: int = ROI_BLOCK) -> Box:
    """The ``block``-aligned rectangle (clipped to the frame) that holds ``box``.

    Cropping on the frame's JPEG grid keeps the crop's blocks aligned with those of a JPEG
    source, so re-encoding does not pay twice for misaligned block edges.
    """
    x, y, w, h = box
    x0, y0 = x // block * block, y // block * block
    x1, y1 = min(width, -(-(x + w) // block) * block), min(height, -(-(y + h) // block) * block)
    return (x0, y0, x1 - x0, y1 - y0)


def _roi_crop(image: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = _crop_rect(box, image.shape[1], image.shape[0])
    return np.ascontiguousarray(image[y : y + h, x : x + w])


def _box_in_crop(box: Box, width: int, height: int) -> tuple[slice, slice]:
    """Row and column slices of ``box`` inside the array returned by :func:`_roi_crop`."""
    x, y, w, h = box
    cx, cy, _, _ = _crop_rect(box, width, height)
    return slice(y - cy, y - cy + h), slice(x - cx, x - cx + w)


def _flatten_inner_blocks(image: np.ndarray, box: Box, block: int = ROI_BLOCK) -> np.ndarray:
    """Copy of ``image`` with each ``block``-aligned block lying wholly inside ``box`` set to its mean."""
    x, y, w, h = box
    x0, y0 = -(-x // block) * block, -(-y // block) * block
    x1, y1 = (x + w) // block * block, (y + h) // block * block
    out = image.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    region = out[y0:y1, x0:x1].astype(np.float64)
    rows, cols = (y1 - y0) // block, (x1 - x0) // block
    blocks = region.reshape(rows, block, cols, block, 3)
    means = np.rint(blocks.mean(axis=(1, 3), keepdims=True))
    out[y0:y1, x0:x1] = np.broadcast_to(means, blocks.shape).reshape(region.shape).astype(np.uint8)
    return out


def _roi_encode(image: np.ndarray, box: Box, bg_quality: int, obj_quality: int) -> bytes:
    frame_jpeg = _pillow_encode(_flatten_inner_blocks(image, box), "jpeg", bg_quality)
    crop_jpeg = _pillow_encode(_roi_crop(image, box), "jpeg", obj_quality)
    return ROI_HEADER.pack(ROI_MAGIC, *box, len(frame_jpeg)) + frame_jpeg + crop_jpeg


def _roi_split(payload: bytes) -> tuple[Box, bytes, bytes]:
    """Parse the ROI-JPEG layout into (box, frame JPEG, crop JPEG), checking its framing."""
    if not payload:
        raise TruncatedPayloadError("roi-jpeg payload is empty; it was lost in transfer or on disk")
    if payload[:4] != ROI_MAGIC[: len(payload[:4])]:
        raise NotARinrFileError(
            f"payload starts with {payload[:4]!r}, not the ROI-JPEG magic {ROI_MAGIC!r}; "
            "it is not a roi-jpeg payload (check the codec name)"
        )
    if len(payload) < ROI_HEADER.size:
        raise TruncatedPayloadError(
            f"roi-jpeg payload has {len(payload)} bytes, less than its {ROI_HEADER.size}-byte header"
        )
    _, x, y, w, h, frame_len = ROI_HEADER.unpack_from(payload)
    start = ROI_HEADER.size
    if len(payload) <= start + frame_len:
        raise TruncatedPayloadError(
            f"roi-jpeg payload has {len(payload)} bytes but its header announces a "
            f"{frame_len}-byte frame JPEG followed by a crop JPEG; it was cut off"
        )
    return (x, y, w, h), payload[start : start + frame_len], payload[start + frame_len :]


def _roi_decode(payload: bytes) -> np.ndarray:
    box, frame_jpeg, crop_jpeg = _roi_split(payload)
    frame = _pillow_decode(frame_jpeg, "jpeg").copy()
    crop = _pillow_decode(crop_jpeg, "jpeg")
    height, width = frame.shape[:2]
    x, y, w, h = box
    rect = _crop_rect(box, width, height)
    if w == 0 or h == 0 or x + w > width or y + h > height or crop.shape[:2] != (rect[3], rect[2]):
        raise MalformedPayloadError(
            f"roi-jpeg box {box} does not fit a {width}x{height} frame with a "
            f"{crop.shape[1]}x{crop.shape[0]} crop; the payload is inconsistent"
        )
    rows, cols = _box_in_crop(box, width, height)
    frame[y : y + h, x : x + w] = crop[rows, cols]
    return frame
