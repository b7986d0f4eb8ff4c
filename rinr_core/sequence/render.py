"""Decoding ``.rinrs`` payloads: NeRV backgrounds per version plus object residuals in their boxes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from rinr_core.container import StoredInr
from rinr_core.decoding import add_object_inrs, pick_device, to_uint8_many
from rinr_core.devices import memory_budget_mb
from rinr_core.errors import ConfigError
from rinr_core.frames import Box
from rinr_core.nerv import Nerv, NervArch, frame_times, load_quantized, render
from rinr_core.quantize import QuantTensor
from rinr_core.sequence.format import (
    NervVersion,
    SequenceFrame,
    SequencePayload,
    _version_table,
    unpack_sequence,
)


def _stored_model(arch: NervArch, height: int, width: int, tensors: Sequence[QuantTensor],
                  device: torch.device) -> Nerv:
    """A NeRV on ``device`` with the stored (dequantized) weights: the network as decoders render it."""
    return load_quantized(Nerv(arch, height, width).to(device), tensors)


def _render_backgrounds(payload: SequencePayload, frames: Sequence[SequenceFrame], table: dict[int, NervVersion],
                        device: torch.device) -> list[torch.Tensor]:
    """NeRV renderings ``[H, W, 3]`` of ``frames``, batched per version."""
    out: list[torch.Tensor | None] = [None] * len(frames)
    by_version: dict[int, list[int]] = defaultdict(list)
    for k, f in enumerate(frames):
        by_version[f.version].append(k)
    for version_id, members in by_version.items():
        model = _stored_model(payload.arch, payload.height, payload.width, table[version_id].tensors, device)
        times = frame_times([frames[k].index for k in members], payload.index_scale, device)
        for k, image in zip(members, render(model, times), strict=True):
            out[k] = image
    return out  # type: ignore[return-value]


def _add_objects(images: list[torch.Tensor], boxes: Sequence[Box], inrs: Sequence[StoredInr | None],
                 device: torch.device, memory_mb: float | None = None) -> None:
    """Add every object residual INR to its image inside its box (grouped by architecture).

    ``memory_mb`` per batched call; default: the device's budget (:mod:`rinr_core.devices`).
    """
    if memory_mb is None:
        memory_mb = memory_budget_mb(device)
    present = [k for k, inr in enumerate(inrs) if inr is not None]
    add_object_inrs([images[k] for k in present], [boxes[k] for k in present],
                    [inrs[k] for k in present], device, memory_mb=memory_mb)  # type: ignore[misc]


def render_sequence(payload: SequencePayload, indices: Sequence[int] | None = None,
                    device: str | torch.device | None = None, *, base: SequencePayload | None = None
                    ) -> list[torch.Tensor]:
    """Float reconstructions ``[H, W, 3]`` (unclamped) of frames ``indices`` (default: all, in order)."""
    dev = pick_device(device)
    by_index = {f.index: f for f in payload.frames}
    if indices is None:
        chosen = list(payload.frames)
    else:
        missing = [i for i in indices if i not in by_index]
        if missing:
            held = sorted(by_index)
            raise ConfigError(f"frame index(es) {missing} are not in this .rinrs (it holds "
                              f"{held[0] if held else '-'}..{held[-1] if held else '-'}, {len(held)} frames)")
        chosen = [by_index[i] for i in indices]
    table = _version_table(payload, base)
    images = _render_backgrounds(payload, chosen, table, dev)
    _add_objects(images, [f.box for f in chosen], [f.obj for f in chosen], dev)
    return images


def decode_sequence(payload: bytes, indices: Sequence[int] | None = None,
                    device: str | torch.device | None = None) -> list[np.ndarray]:
    """Decode frames of a ``.rinrs`` payload to ``uint8`` HxWx3 images (GPU when present).

    ``indices`` are frame indices as stored (``0..N-1`` for a fresh encode, continuing for
    updates); ``None`` decodes every frame, batched. Raises the payload's :class:`PayloadError`.
    """
    return to_uint8_many(render_sequence(unpack_sequence(payload), indices, device))


def frame_boxes(payload: bytes) -> dict[int, Box]:
    """``{frame index: object box}`` of a ``.rinrs`` payload, in stored order (labels for training)."""
    return {f.index: f.box for f in unpack_sequence(payload).frames}
