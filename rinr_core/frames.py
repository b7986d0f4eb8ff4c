"""Frames with one labelled object box, and box validation.

A :class:`Frame` is what flows through the whole system: an RGB ``uint8`` image of shape
``(H, W, 3)`` plus one object box ``(x, y, w, h)`` in integer pixels (top-left origin).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rinr_core.errors import BadFrameError, InvalidBoxError

Box = tuple[int, int, int, int]


def validate_box(box: Sequence[float], width: int, height: int) -> Box:
    """Return ``box`` as integer pixels clipped to a ``width`` x ``height`` image.

    A box that extends past the image edge is clipped (trackers often label objects that
    leave the frame). A box with NaN/inf values, a non-positive size, or no overlap with the
    image raises :class:`InvalidBoxError`.
    """
    if len(box) != 4:
        raise InvalidBoxError(f"box must have 4 values x,y,w,h; got {len(box)}: {box!r}")
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise InvalidBoxError(f"box values must be numbers; got {box!r}") from exc
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise InvalidBoxError(f"box has NaN or infinite values: {box!r}; fix the label")
    if w <= 0 or h <= 0:
        raise InvalidBoxError(f"box has non-positive size w={w:g} h={h:g}; fix the label")
    x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
    x1, y1 = min(width, math.ceil(x + w)), min(height, math.ceil(y + h))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise InvalidBoxError(
            f"box {tuple(box)} lies outside the {width}x{height} image; fix the label"
        )
    return (x0, y0, x1 - x0, y1 - y0)


@dataclass
class Frame:
    """An RGB frame with one object box.

    Parameters
    ----------
    image
        ``uint8`` array of shape ``(H, W, 3)``.
    box
        ``(x, y, w, h)`` in pixels; validated and clipped on construction.
    name
        Identifier (file name or generated id), used in reports and skip messages.
    label
        Object class name (``"object"`` when the source has none).
    """

    image: np.ndarray
    box: Box
    name: str = ""
    label: str = "object"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        img = np.asarray(self.image)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise BadFrameError(
                f"frame {self.name!r}: image must be uint8 HxWx3, got {img.dtype} {img.shape}"
            )
        if img.shape[0] < 2 or img.shape[1] < 2:
            raise BadFrameError(f"frame {self.name!r}: image {img.shape[1]}x{img.shape[0]} is too small")
        self.image = img
        self.box = validate_box(self.box, self.width, self.height)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass
class SkippedFrame:
    """A frame that could not be used, and why (reported, never silently dropped)."""

    name: str
    reason: str
