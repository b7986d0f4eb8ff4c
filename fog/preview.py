"""A strip of original vs delivered frames for the run report (``report.png``).

At the end of a run the fog takes the first frames of each node from its catalog and decodes
exactly what it broadcast for them, with the same containers the edges use: a ``.rinr`` or
pixel payload as a group, a stream's frame from the whole merged stream. Each is paired with
its uploaded JPEG (resized to the delivered size where the codec resized it). The pairs stay
in memory (:attr:`fog.report.RunReport.preview`) and are drawn under the report's charts;
nothing of them is written anywhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from rinr_core.codecs import get_container
from rinr_core.images import load_image
from rinr_runtime.records import KIND_RINRS

if TYPE_CHECKING:
    from fog.encoder import EncodedFrame
    from fog.strategy import RinrStrategy

PREVIEW_NODES = 6
"""Most nodes shown in the strip (one column each, in catalog order)."""


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` resized to ``height x width`` (bilinear) unless it already is."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def _delivered(strategy: RinrStrategy, entry: EncodedFrame, device: str | None) -> np.ndarray:
    """What an edge decodes for ``entry``: its payload, or its frame of the merged stream."""
    if entry.kind == KIND_RINRS:
        streams = strategy.encoder.streams
        assert streams is not None  # a stream entry comes from the stream encoder
        stream = streams.streams[entry.stream]
        container = get_container(entry.kind)
        assert container.decode_frames is not None  # a stream container decodes frames
        return container.decode_frames(stream.merged, [stream.frames.index(entry.frame_id)],
                                       device)[0]
    return get_container(entry.kind).decode([entry.data], device)[0]


def preview_pairs(strategy: RinrStrategy, device: str | None = None,
                  nodes: int = PREVIEW_NODES) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(owner, original, delivered)`` for the first catalog frame of up to ``nodes`` nodes.

    Raises whatever the container raises for a payload it cannot decode
    (:class:`~rinr_core.errors.PayloadError`): the fog broadcast something it cannot read.
    """
    firsts: dict[str, EncodedFrame] = {}
    for entry in strategy.catalog.values():
        if len(firsts) >= nodes:
            break
        firsts.setdefault(entry.owner, entry)
    pairs = []
    for owner, entry in firsts.items():
        delivered = _delivered(strategy, entry, device)
        original = _fit(load_image(entry.jpeg, name=entry.frame_id), *delivered.shape[:2])
        pairs.append((owner, original, delivered))
    return pairs
