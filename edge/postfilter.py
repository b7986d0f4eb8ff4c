"""The post-filter an edge holds (``post-filter = lut``): found in the store, applied to frames.

The fog sends its look-up post-filter (``.rlut``, :mod:`rinr_core.lut`) as one ``rlut`` item;
the store keeps it like any item (checked on arrival, sha256 on every read). Before training,
:meth:`edge.node.EdgeNode.decode_received` takes the newest intact one out of the items and
applies it to every frame it decoded (never to the node's own original frames).
"""

from __future__ import annotations

from logging import WARNING

from flwr.common.logger import log

from edge.store import NodeStore, StoredItem
from rinr_core.errors import PayloadError
from rinr_core.frames import Frame
from rinr_core.lut import LutFilter, unpack
from rinr_runtime.records import KIND_RLUT


def split_post_filter(store: NodeStore, items: list[StoredItem]
                      ) -> tuple[LutFilter | None, list[StoredItem]]:
    """The newest readable post-filter among ``items`` (``None``: none), and the other items."""
    filters = [item for item in items if item.kind == KIND_RLUT]
    rest = [item for item in items if item.kind != KIND_RLUT]
    for item in sorted(filters, key=lambda i: i.round, reverse=True):
        try:
            return LutFilter(unpack(store.read(item))), rest
        except (OSError, PayloadError) as exc:  # damaged on disk: not held, sent again
            log(WARNING, "[rinr] post-filter %s unreadable (%s); decoding without it",
                item.frame_id, exc)
    return None, rest


def apply_post_filter(lut: LutFilter | None, frames: list[Frame]) -> list[Frame]:
    """``frames`` with their pixels through ``lut`` (unchanged without one)."""
    if lut is None:
        return frames
    return [Frame(lut.apply(f.image), f.box, f.name, f.label, dict(f.meta)) for f in frames]
