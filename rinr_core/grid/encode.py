"""The per-frame grid codec: frames -> ``.rinr`` version-2 payloads (networks + latents each).

Frames of one size are fitted together (one batch, one network per frame: batching changes
speed, not results) under the rate control of :mod:`rinr_core.grid.rate`; each frame's
networks and latents are then entropy-coded into one ANS stream. Metrics are measured on the
frames decoded from the payload bytes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from rinr_core.codec import EncodeResult
from rinr_core.frames import Box, Frame
from rinr_core.grid.arch import FRAME_ARCH, GridArch
from rinr_core.grid.arm import IntArm, QuantTensor
from rinr_core.grid.coding import (
    best_weight_index,
    chunk_bits,
    encode_chunks,
    latent_chunks,
    weight_chunks,
    weight_limit,
)
from rinr_core.grid.decode import decode_frame, pick
from rinr_core.grid.fit import Problem
from rinr_core.grid.format import GridFrame, pack_frame
from rinr_core.grid.rate import FrameFit, fit_frames
from rinr_core.grid.records import NetRecord
from rinr_core.grid.settings import GridSettings
from rinr_core.images import resize_frame
from rinr_core.metrics import bits_per_pixel, frame_psnrs

MAX_BATCH = 16
"""Most frames fitted in one batch."""


def latent_limit(levels: Sequence[np.ndarray]) -> int:
    """The symbol range of some latents (at least 1)."""
    return max([1, *(int(np.abs(z).max()) for z in levels if z.size)])


def net_record(networks: Sequence[QuantTensor]) -> tuple[NetRecord, list[int]]:
    """The record of stored networks and each tensor's ladder index."""
    limit = weight_limit(networks)
    indices = [best_weight_index(t.codes, limit) for t in networks]
    return NetRecord(limit, [t.exponent for t in networks], indices), indices


def frame_payload(arch: GridArch, networks: Sequence[QuantTensor], levels: Sequence[np.ndarray],
                  width: int, height: int, box: Box) -> tuple[bytes, dict[str, float]]:
    """A version-2 ``.rinr`` payload and how its bytes split (network vs latent bytes)."""
    record, indices = net_record(networks)
    limit = latent_limit(levels)
    arm = IntArm(networks[len(arch.synthesis_shapes):])
    weights = weight_chunks(networks, indices, record.weight_limit)
    latents = latent_chunks(arch, arm, levels, limit, None, (0, 0))
    payload = pack_frame(GridFrame(width, height, box, arch, limit, record,
                                   encode_chunks(weights + latents)))
    split = {"network_bytes": sum(chunk_bits(c) for c in weights) / 8,
             "latent_bytes": sum(chunk_bits(c) for c in latents) / 8}
    return payload, split


def to_tensor(frames: Sequence[Frame], device: torch.device) -> torch.Tensor:
    """``uint8`` frames -> ``[B, 3, H, W]`` floats in ``[0, 1]``."""
    return torch.from_numpy(np.stack([f.image for f in frames])).to(device).permute(0, 3, 1, 2).float() / 255


def grid_metrics(frame: Frame, size: float, decoded: np.ndarray, arch: GridArch, mode: str,
                 fit: FrameFit, seconds: float) -> dict:
    """The metrics every rinr encoder reports (``size``: the frame's bytes), measured on the
    decoded pixels."""
    return {
        "mode": mode, "width": frame.width, "height": frame.height, "bytes": size,
        "bpp": bits_per_pixel(size, frame.width, frame.height),
        **frame_psnrs(frame.image, decoded, frame.box),
        "macs_per_pixel": arch.macs_per_pixel(frame.height, frame.width), "encode_s": seconds,
        "lambda": fit.lambdas[0], "object_lambda": fit.lambdas[1], "meets_targets": fit.meets,
        "inrs": [f"grid:{arch.levels} levels, synthesis {arch.synthesis}, arm {arch.arm}"],
    }


def encode_grid_frames(frames: Sequence[Frame], settings: GridSettings | None = None
                       ) -> list[EncodeResult]:
    """Encode frames (one box each) to ``.rinr`` version-2 payloads, in input order."""
    settings = settings or GridSettings()
    arch = settings.arch or FRAME_ARCH
    device = pick(settings.device)
    sized = [resize_frame(f, settings.max_side) if settings.max_side else f for f in frames]
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, f in enumerate(sized):
        groups[(f.height, f.width)].append(i)
    out: list[EncodeResult | None] = [None] * len(sized)
    for members in groups.values():
        for start in range(0, len(members), MAX_BATCH):
            batch = members[start : start + MAX_BATCH]
            chosen = [sized[i] for i in batch]
            problem = Problem(arch, to_tensor(chosen, device), [f.box for f in chosen], shared=False)
            outcome = fit_frames(problem, [f.image for f in chosen], settings)
            seconds = outcome.seconds / len(batch)
            for k, i in enumerate(batch):
                f, fit = sized[i], outcome.frames[k]
                payload, split = frame_payload(arch, outcome.networks[k], fit.levels, f.width,
                                               f.height, f.box)
                decoded = decode_frame(payload, device)
                metrics = {**grid_metrics(f, len(payload), decoded, arch, "grid", fit, seconds), **split,
                           "steps": outcome.steps, "rounds": outcome.rounds}
                out[i] = EncodeResult(payload, f, metrics)
    return [r for r in out if r is not None]
