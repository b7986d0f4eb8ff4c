"""Decoding ``.rinr`` payloads to pixels, many at a time (INR grouping).

Payloads are grouped by architecture (and frame size for whole-frame INRs); each group is
evaluated in batched calls whose size respects a memory budget, on the GPU when present.
Decoding one payload is the same code with a group of one, so grouped and one-by-one
decoding run the same arithmetic per network.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from rinr_core.container import ROLE_FRAME, ROLE_OBJECT_DIRECT, RinrPayload, StoredInr, unpack
from rinr_core.siren import SirenParams, grid_coords, siren_forward

DEFAULT_MEMORY_MB = 256


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else ``cuda`` when available, else ``cpu``."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def stored_to_params(inrs: Sequence[StoredInr], device: torch.device | str = "cpu") -> SirenParams:
    """Dequantize stored INRs of one architecture into stacked :class:`SirenParams`."""
    arch = inrs[0].arch
    per_tensor = list(zip(*[inr.tensors for inr in inrs], strict=True))
    stacked = [torch.from_numpy(np.stack([q.dequantize() for q in group])).to(device) for group in per_tensor]
    return SirenParams(arch, [(stacked[i], stacked[i + 1]) for i in range(0, len(stacked), 2)])


def _rows_per_call(params_width: int, batch: int, pixels: int, memory_mb: float) -> int:
    """Pixels per batched forward so the activations stay within ``memory_mb``."""
    per_pixel = batch * max(params_width, 3) * 4 * 3  # float32 activations, a few live copies
    return max(1024, min(pixels, int(memory_mb * 2**20 / per_pixel)))


def evaluate_grid(params: SirenParams, height: int, width: int, *, memory_mb: float = DEFAULT_MEMORY_MB) -> torch.Tensor:
    """Evaluate ``B`` networks on the pixel grid of an ``height x width`` image: ``[B, H, W, out]``."""
    coords = grid_coords(height, width, params.device)
    rows = _rows_per_call(params.arch.width, params.batch, coords.shape[0], memory_mb)
    with torch.no_grad():
        out = torch.cat([siren_forward(params, coords[i : i + rows]) for i in range(0, coords.shape[0], rows)], dim=1)
    return out.reshape(params.batch, height, width, -1)


def _batches(indices: list[int], pixels: int, width: int, memory_mb: float) -> list[list[int]]:
    """Split a group into balanced batches whose whole-grid output fits the budget."""
    per_item_mb = pixels * max(width, 3) * 4 / 2**20
    size = max(1, int(memory_mb // max(per_item_mb, 1e-9)))
    n = -(-len(indices) // size)
    per = -(-len(indices) // n)
    return [indices[i : i + per] for i in range(0, len(indices), per)]


def render_payloads(payloads: Sequence[RinrPayload], device: str | torch.device | None = None, *,
                    memory_mb: float = DEFAULT_MEMORY_MB) -> list[torch.Tensor]:
    """Float reconstructions ``[H, W, 3]`` in ``[0, 1]`` (unclamped) of parsed payloads, grouped."""
    dev = pick_device(device)
    images: list[torch.Tensor | None] = [None] * len(payloads)

    frame_groups: dict[tuple, list[int]] = defaultdict(list)
    for i, p in enumerate(payloads):
        frame_inr = next(inr for inr in p.inrs if inr.role == ROLE_FRAME)
        frame_groups[(frame_inr.arch.key, p.height, p.width)].append(i)
    for (_, h, w), members in frame_groups.items():
        arch_width = payloads[members[0]].inrs[0].arch.width
        for batch in _batches(members, h * w, arch_width, memory_mb):
            stored = [next(inr for inr in payloads[i].inrs if inr.role == ROLE_FRAME) for i in batch]
            out = evaluate_grid(stored_to_params(stored, dev), h, w, memory_mb=memory_mb)
            for k, i in enumerate(batch):
                images[i] = (out[k] + 1) * 0.5

    object_groups: dict[tuple, list[tuple[int, StoredInr]]] = defaultdict(list)
    for i, p in enumerate(payloads):
        for inr in p.inrs:
            if inr.role != ROLE_FRAME:
                object_groups[(inr.arch.key, p.box[2], p.box[3])].append((i, inr))
    for (_, bw, bh), members in object_groups.items():
        for batch in _batches(list(range(len(members))), bw * bh, members[0][1].arch.width, memory_mb):
            chosen = [members[k] for k in batch]
            out = evaluate_grid(stored_to_params([inr for _, inr in chosen], dev), bh, bw, memory_mb=memory_mb)
            for k, (i, inr) in enumerate(chosen):
                x, y, _, _ = payloads[i].box
                region = images[i][y : y + bh, x : x + bw]
                if inr.role == ROLE_OBJECT_DIRECT:
                    region.copy_((out[k] + 1) * 0.5)
                else:
                    region.add_(out[k] * inr.scale)
    return images  # type: ignore[return-value]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """Round a float ``[H, W, 3]`` image in ``[0, 1]`` to ``uint8``."""
    return torch.round(image.clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()


def decode_many(payloads: Sequence[bytes], device: str | torch.device | None = None, *,
                memory_mb: float = DEFAULT_MEMORY_MB) -> list[np.ndarray]:
    """Decode many ``.rinr`` payloads with INR grouping; ``uint8`` HxWx3 images in input order.

    Raises the payload's :class:`~rinr_core.errors.PayloadError` for the first broken one; use
    :func:`unpack` first to skip broken payloads individually.
    """
    parsed = [unpack(p) for p in payloads]
    return [to_uint8(img) for img in render_payloads(parsed, device, memory_mb=memory_mb)]


def decode(payload: bytes, device: str | torch.device | None = None) -> np.ndarray:
    """Decode one ``.rinr`` payload to a ``uint8`` HxWx3 image."""
    return decode_many([payload], device)[0]
