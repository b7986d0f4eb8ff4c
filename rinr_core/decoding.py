"""Decoding ``.rinr`` payloads to pixels, many at a time (INR grouping).

Both container versions decode here, told apart by their version byte: version 1 (SIREN
INRs, below) and version 2 (grid codec, :mod:`rinr_core.grid.decode`). Version-1 payloads
are grouped by architecture (and frame size for whole-frame INRs); each group is
evaluated in batched calls whose size respects a memory budget, on the GPU when present.
Decoding one payload is the same code with a group of one, so grouped and one-by-one
decoding run the same arithmetic per network.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch

from rinr_core.container import (
    GRID_VERSION,
    ROLE_FRAME,
    ROLE_OBJECT_DIRECT,
    RinrPayload,
    StoredInr,
    payload_version,
    unpack,
)
from rinr_core.devices import memory_budget_mb, resolve_device
from rinr_core.numerics import float32_exact
from rinr_core.siren import SirenParams, grid_coords, siren_forward

DEFAULT_MEMORY_MB = 256
# Explicit budgets only; decode_many sizes its own from the device (rinr_core.devices).


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else ``cuda`` when available, else ``cpu``.

    Raises :class:`~rinr_core.devices.DeviceUnavailableError` for a CUDA device that is not
    visible: never a silent CPU fallback (:func:`rinr_core.devices.resolve_device`).
    """
    return resolve_device(device)


def stored_to_params(inrs: Sequence[StoredInr], device: torch.device | str = "cpu") -> SirenParams:
    """Dequantize stored INRs of one architecture into stacked :class:`SirenParams`."""
    arch = inrs[0].arch
    per_tensor = list(zip(*[inr.tensors for inr in inrs], strict=True))
    stacked = [torch.from_numpy(np.stack([q.dequantize() for q in group])).to(device) for group in per_tensor]
    return SirenParams(arch, [(stacked[i], stacked[i + 1]) for i in range(0, len(stacked), 2)])


def _rows_per_call(width: int, batch: int, pixels: int, memory_mb: float) -> int:
    """Samples per batched forward so the activations stay within ``memory_mb``."""
    per_sample = batch * max(width, 3) * 4 * 3  # float32 activations, a few live copies
    return max(1024, min(pixels, int(memory_mb * 2**20 / per_sample)))


def evaluate_coords(params: SirenParams, coords: torch.Tensor, *, memory_mb: float = DEFAULT_MEMORY_MB) -> torch.Tensor:
    """Evaluate ``B`` networks on ``coords`` (``[N, 2]`` shared or ``[B, N, 2]``), chunked over ``N``."""
    n = coords.shape[-2]
    rows = _rows_per_call(params.arch.width, params.batch, n, memory_mb)
    with torch.no_grad():
        return torch.cat([siren_forward(params, coords[..., i : i + rows, :]) for i in range(0, n, rows)], dim=1)


def evaluate_grid(params: SirenParams, height: int, width: int, *, memory_mb: float = DEFAULT_MEMORY_MB) -> torch.Tensor:
    """Evaluate ``B`` networks on the pixel grid of an ``height x width`` image: ``[B, H, W, out]``."""
    out = evaluate_coords(params, grid_coords(height, width, params.device), memory_mb=memory_mb)
    return out.reshape(params.batch, height, width, -1)


def balanced_batches(count: int, samples: int, width: int, memory_mb: float) -> list[range]:
    """Split ``count`` networks into balanced batches whose outputs fit the memory budget."""
    per_item_mb = samples * max(width, 3) * 4 / 2**20
    size = max(1, int(memory_mb // max(per_item_mb, 1e-9)))
    n = -(-count // size)
    per = -(-count // n)
    return [range(i, min(i + per, count)) for i in range(0, count, per)]


def add_object_inrs(images: Sequence[torch.Tensor], boxes: Sequence[tuple[int, int, int, int]],
                    inrs: Sequence[StoredInr], device: torch.device, *,
                    memory_mb: float = DEFAULT_MEMORY_MB) -> None:
    """Apply object INRs to float images in place: ``images[k]`` inside ``boxes[k]`` gets
    ``scale * inrs[k]`` added (residual) or replaced (direct).

    INRs are grouped by architecture; boxes of different sizes are padded into one batch,
    sorted by size so batches pad least. The same image may appear several times.
    """
    groups: dict[tuple, list[int]] = defaultdict(list)
    for k, inr in enumerate(inrs):
        groups[inr.arch.key].append(k)
    for members in groups.values():
        members.sort(key=lambda k: boxes[k][2] * boxes[k][3])
        largest = boxes[members[-1]][2] * boxes[members[-1]][3]
        for batch in balanced_batches(len(members), largest, inrs[members[0]].arch.width, memory_mb):
            chosen = [members[j] for j in batch]
            n_max = max(boxes[k][2] * boxes[k][3] for k in chosen)
            coords = torch.zeros(len(chosen), n_max, 2, device=device)
            for j, k in enumerate(chosen):
                coords[j, : boxes[k][2] * boxes[k][3]] = grid_coords(boxes[k][3], boxes[k][2], device)
            out = evaluate_coords(stored_to_params([inrs[k] for k in chosen], device), coords, memory_mb=memory_mb)
            for j, k in enumerate(chosen):
                x, y, bw, bh = boxes[k]
                values = out[j, : bw * bh].reshape(bh, bw, -1)
                region = images[k][y : y + bh, x : x + bw]
                if inrs[k].role == ROLE_OBJECT_DIRECT:
                    region.copy_((values + 1) * 0.5)
                else:
                    region.add_(values * inrs[k].scale)


@float32_exact
def render_payloads(payloads: Sequence[RinrPayload], device: str | torch.device | None = None, *,
                    memory_mb: float = DEFAULT_MEMORY_MB) -> list[torch.Tensor]:
    """Float reconstructions ``[H, W, 3]`` in ``[0, 1]`` (unclamped) of parsed payloads.

    Whole-frame INRs are grouped by architecture and frame size (one shared pixel grid);
    object INRs by architecture alone, boxes of different sizes padded into one batch.
    """
    dev = pick_device(device)
    images: list[torch.Tensor | None] = [None] * len(payloads)

    frame_groups: dict[tuple, list[tuple[int, StoredInr]]] = defaultdict(list)
    for i, p in enumerate(payloads):
        for inr in p.inrs:
            if inr.role == ROLE_FRAME:
                frame_groups[(inr.arch.key, p.height, p.width)].append((i, inr))

    for (_, h, w), members in frame_groups.items():
        for batch in balanced_batches(len(members), h * w, members[0][1].arch.width, memory_mb):
            chosen = [members[k] for k in batch]
            out = evaluate_grid(stored_to_params([inr for _, inr in chosen], dev), h, w, memory_mb=memory_mb)
            for k, (i, _) in enumerate(chosen):
                images[i] = (out[k] + 1) * 0.5

    objects = [(i, inr) for i, p in enumerate(payloads) for inr in p.inrs if inr.role != ROLE_FRAME]
    # object INRs are added to the frame images rendered above
    add_object_inrs([cast(torch.Tensor, images[i]) for i, _ in objects], [payloads[i].box for i, _ in objects],
                    [inr for _, inr in objects], dev, memory_mb=memory_mb)
    return images  # type: ignore[return-value]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """Round a float ``[H, W, 3]`` image in ``[0, 1]`` to ``uint8``."""
    return torch.round(image.clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()


def decode_many(payloads: Sequence[bytes], device: str | torch.device | None = None, *,
                memory_mb: float | None = None) -> list[np.ndarray]:
    """Decode many ``.rinr`` payloads of either version; ``uint8`` HxWx3 images in input order.

    Version-1 payloads are decoded with INR grouping, version-2 (grid codec) payloads by
    :func:`rinr_core.grid.decode.decode_frames`. Raises the payload's
    :class:`~rinr_core.errors.PayloadError` for the first broken one; use
    :func:`rinr_core.container.check` first to skip broken payloads individually.
    """
    versions = [payload_version(p) for p in payloads]
    inr = [i for i, v in enumerate(versions) if v != GRID_VERSION]
    grid = [i for i, v in enumerate(versions) if v == GRID_VERSION]
    parsed = [unpack(payloads[i]) for i in inr]
    dev = pick_device(device)
    if memory_mb is None:
        memory_mb = memory_budget_mb(dev)  # sized from the device's free memory
    out: list[np.ndarray | None] = [None] * len(payloads)
    if parsed:
        images = to_uint8_many(render_payloads(parsed, dev, memory_mb=memory_mb))
        for i, image in zip(inr, images, strict=True):
            out[i] = image
    if grid:
        from rinr_core.grid.decode import decode_frames  # the grid package reads this module

        for i, image in zip(grid, decode_frames([payloads[i] for i in grid], dev), strict=True):
            out[i] = image
    return out  # type: ignore[return-value]


def to_uint8_many(images: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """:func:`to_uint8` of many images with one device-to-host copy per image size."""
    out: list[np.ndarray | None] = [None] * len(images)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(tuple(image.shape), []).append(i)
    for members in by_shape.values():
        stacked = torch.stack([images[i] for i in members])
        host = torch.round(stacked.clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
        for k, i in enumerate(members):
            out[i] = host[k]
    return out  # type: ignore[return-value]


def decode(payload: bytes, device: str | torch.device | None = None) -> np.ndarray:
    """Decode one ``.rinr`` payload (either version) to a ``uint8`` HxWx3 image."""
    return decode_many([payload], device)[0]
