"""Decoding grid payloads: entropy-decode weights and latents, then render the synthesis.

:func:`render` is the one rendering path: the encoder measures its frames with it and the
decoder draws them with it, so decoding a payload gives exactly the pixels the encoder
reported (on the same kind of device). Latents and the entropy model are integers, so a
payload decodes to the same latents everywhere; only the synthesis is floating point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rinr_core.devices import resolve_device
from rinr_core.grid.arch import GridArch
from rinr_core.grid.arm import IntArm, QuantTensor
from rinr_core.grid.coding import Decoder, decode_latents, decode_weights
from rinr_core.grid.format import GridFrame, unpack_frame
from rinr_core.grid.model import synthesize


def pick(device: str | torch.device | None) -> torch.device:
    """``device``, else cuda when present, else cpu (never a silent fallback: see
    :func:`rinr_core.devices.resolve_device`)."""
    return resolve_device(device)


def render(arch: GridArch, networks: Sequence[QuantTensor], levels: Sequence[np.ndarray],
           height: int, width: int, device: str | torch.device | None = None) -> np.ndarray:
    """The ``uint8`` HxWx3 frame of stored networks and integer latents (one frame at a time,
    so grouping never changes a pixel)."""
    dev = pick(device)
    with torch.no_grad():
        nets = [torch.from_numpy(t.values())[None].to(dev) for t in networks]
        latents = [torch.from_numpy(z.astype(np.float32))[None, None].to(dev) for z in levels]
        image = synthesize(arch, nets, latents, height, width)[0]
        pixels = torch.round(image.clamp(0, 1) * 255).to(torch.uint8)
    return pixels.permute(1, 2, 0).cpu().numpy()


def decode_numbers(frame: GridFrame) -> tuple[list[QuantTensor], list[np.ndarray]]:
    """The stored networks and latents of a parsed version-2 frame.

    Raises
    ------
    MalformedPayloadError
        The entropy-coded data does not decode to exactly the numbers the header describes.
    """
    decoder = Decoder(frame.words)
    arch = frame.arch
    networks = decode_weights(decoder, arch.tensor_shapes, frame.net.exponents, frame.net.indices,
                              frame.net.weight_limit)
    arm = IntArm(networks[len(arch.synthesis_shapes):])
    levels = decode_latents(decoder, arch, arm, frame.height, frame.width, frame.latent_limit,
                            None, (0, 0))
    decoder.finish()
    return networks, levels


def decode_frame(payload: bytes, device: str | torch.device | None = None) -> np.ndarray:
    """Decode one ``.rinr`` version-2 payload to a ``uint8`` HxWx3 image."""
    frame = unpack_frame(payload)
    networks, levels = decode_numbers(frame)
    return render(frame.arch, networks, levels, frame.height, frame.width, device)


def decode_frames(payloads: Sequence[bytes], device: str | torch.device | None = None
                  ) -> list[np.ndarray]:
    """Decode many version-2 payloads (each carries its own networks), in input order."""
    return [decode_frame(p, device) for p in payloads]
