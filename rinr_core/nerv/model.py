"""The NeRV network: positional encoding of the time, MLP stem, upsampling blocks; rendering it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from rinr_core.devices import memory_budget_mb
from rinr_core.errors import ConfigError
from rinr_core.nerv.arch import NervArch
from rinr_core.numerics import float32_exact


def positional_encoding(t: torch.Tensor, levels: int, base: float) -> torch.Tensor:
    """``[B]`` times -> ``[B, 2 * levels]`` features ``sin(base^k pi t), cos(base^k pi t)``."""
    freqs = (base ** torch.arange(levels, dtype=torch.float64) * math.pi).to(torch.float32).to(t.device)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def _activation(name: str) -> nn.Module:
    return {"silu": nn.SiLU, "gelu": nn.GELU, "relu": nn.ReLU}[name]()


class Nerv(nn.Module):
    """A NeRV network for frames of one size: ``forward(t [B]) -> [B, 3, H, W]`` in ``[0, 1]``."""

    def __init__(self, arch: NervArch, height: int, width: int):
        super().__init__()
        if height < 1 or width < 1:
            raise ConfigError(f"NeRV frame size must be positive, got {width}x{height}")
        self.arch, self.height, self.width = arch, height, width
        self.h0, self.w0 = arch.base_grid(height, width)
        self.stem = nn.Sequential(
            nn.Linear(2 * arch.pe_levels, arch.stem_hidden), _activation(arch.activation),
            nn.Linear(arch.stem_hidden, arch.base_channels * self.h0 * self.w0), _activation(arch.activation),
        )
        blocks: list[nn.Module] = []
        c_in = arch.base_channels
        for s, c in zip(arch.strides, arch.widths, strict=True):
            blocks += [nn.Conv2d(c_in, c * s * s, arch.kernel, padding=arch.kernel // 2), nn.PixelShuffle(s),
                       _activation(arch.activation)]
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(c_in, 3, 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        x = self.stem(positional_encoding(t, self.arch.pe_levels, self.arch.pe_base))
        x = self.blocks(x.view(-1, self.arch.base_channels, self.h0, self.w0))
        return torch.sigmoid(self.head(x))[:, :, : self.height, : self.width]

    def param_names(self) -> list[str]:
        """Parameter names in storage order (matches :meth:`NervArch.tensor_shapes`)."""
        return [name for name, _ in self.named_parameters()]


def build_nerv(arch: NervArch, height: int, width: int, *, seed: int = 0,
               device: torch.device | str = "cpu") -> Nerv:
    """A freshly initialized NeRV (PyTorch's default init, seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Nerv(arch, height, width)
    return model.to(device)


def frame_times(indices: Sequence[int] | torch.Tensor, index_scale: float,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Times ``index / index_scale`` fed to the network, as float32 ``[B]``."""
    idx = torch.as_tensor(indices, dtype=torch.float64)
    return (idx / float(np.float32(index_scale))).to(torch.float32).to(device)


@float32_exact
def render(model: Nerv, times: torch.Tensor, *, batch_size: int | None = None) -> torch.Tensor:
    """Float frames ``[N, H, W, 3]`` in ``[0, 1]`` for ``times``, rendered in batches.

    ``batch_size`` frames per call; default: as many as the device's memory budget holds
    (:func:`rinr_core.devices.memory_budget_mb`; about 16 float copies of a frame each).
    """
    device = next(model.parameters()).device
    times = times.to(device)
    if batch_size is None:
        frame_mb = 16 * 4 * 3 * model.height * model.width / 2**20
        batch_size = max(1, int(memory_budget_mb(device) // max(frame_mb, 1e-6)))
    model.eval()
    with torch.no_grad():
        out = [model(times[i : i + batch_size]) for i in range(0, times.shape[0], batch_size)]
    if not out:
        return torch.zeros(0, model.height, model.width, 3, device=device)
    return torch.cat(out).permute(0, 2, 3, 1).contiguous()
