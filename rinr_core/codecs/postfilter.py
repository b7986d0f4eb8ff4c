"""The ``.rlut`` payload format: a look-up post-filter the fog sends once to each edge.

Not a frame format: an ``rlut`` item holds the tables of :mod:`rinr_core.lut`, trained by
the fog for its codec; an edge checks it on arrival like any item, stores it, and applies
it to the frames it decodes (``edge.node``). Its ``decode`` refuses: there are no frames in
it. ``rinr_core.lut`` is imported when a check runs (it imports the codecs itself).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rinr_core.codecs.base import Container
from rinr_core.codecs.registry import register_container
from rinr_core.errors import PayloadError

CONTAINER_RLUT = "rlut"
"""The item kind of a post-filter (``.rlut``) on the wire and in an edge's store."""


def _check(data: bytes) -> None:
    from rinr_core.lut.format import check

    check(data)  # raises a PayloadError for a truncated, damaged or future-version file


def _decode(payloads: Sequence[bytes], device: str | None = None) -> list[np.ndarray]:
    raise PayloadError("an .rlut item is a post-filter, not a frame: apply it to decoded "
                       "frames (rinr_core.lut.LutFilter) instead of decoding it")


POSTFILTER = register_container(Container(CONTAINER_RLUT, check=_check, decode=_decode))
