"""SIREN implicit neural representations, stored as stacked (batched) weights.

One :class:`SirenArch` describes a network: ``depth`` sine layers of ``width`` units
(the first maps ``in_features`` coordinates, the rest are ``width -> width``), then a linear
head to ``out_features`` values. "10 x 28" in the paper's notation is ``depth=10, width=28``
(about 7.2k multiply-adds per output pixel).

Weights live in :class:`SirenParams`: a list of ``(W, b)`` with a leading batch axis
(``W: [B, out, in]``, ``b: [B, out]``), so one forward call evaluates ``B`` networks of the
same architecture on ``B`` coordinate sets at once. A single network is simply ``B = 1``;
fitting, quantization and decoding share this one code path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rinr_core.errors import ConfigError


@dataclass(frozen=True)
class SirenArch:
    """Shape of a SIREN: ``depth`` sine layers of ``width`` units, then a linear head."""

    depth: int
    width: int
    in_features: int = 2
    out_features: int = 3
    w0: float = 30.0

    def __post_init__(self) -> None:
        if self.depth < 1 or self.width < 1:
            raise ConfigError(f"SIREN needs depth >= 1 and width >= 1, got {self.depth}x{self.width}")
        if not (0 < self.w0 < 1e4):
            raise ConfigError(f"SIREN w0 must be positive, got {self.w0}")

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """``(out, in)`` of every linear layer, head included."""
        dims = [self.in_features] + [self.width] * self.depth + [self.out_features]
        return [(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]

    @property
    def num_params(self) -> int:
        return sum(o * i + o for o, i in self.layer_shapes)

    @property
    def macs_per_sample(self) -> int:
        """Multiply-adds to evaluate one coordinate (one output pixel)."""
        return sum(o * i for o, i in self.layer_shapes)

    @property
    def key(self) -> tuple[int, int, int, int, float]:
        """Grouping key: networks with equal keys can be stacked in one batch."""
        return (self.depth, self.width, self.in_features, self.out_features, self.w0)

    def __str__(self) -> str:
        return f"{self.depth}x{self.width}"


class SirenParams:
    """Stacked weights of ``B`` SIRENs with one architecture."""

    def __init__(self, arch: SirenArch, layers: list[tuple[torch.Tensor, torch.Tensor]]):
        if len(layers) != len(arch.layer_shapes):
            raise ConfigError(f"{arch} needs {len(arch.layer_shapes)} layers, got {len(layers)}")
        self.arch = arch
        self.layers = layers

    @property
    def batch(self) -> int:
        return int(self.layers[0][0].shape[0])

    @property
    def device(self) -> torch.device:
        return self.layers[0][0].device

    def tensors(self) -> list[torch.Tensor]:
        """All tensors, in layer order ``W0, b0, W1, b1, ...``."""
        return [t for pair in self.layers for t in pair]

    def select(self, index: int | slice | list[int]) -> SirenParams:
        """Networks ``index`` of the batch (keeps the batch axis)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return SirenParams(self.arch, [(w[index], b[index]) for w, b in self.layers])

    def detach(self) -> SirenParams:
        return SirenParams(self.arch, [(w.detach().clone(), b.detach().clone()) for w, b in self.layers])

    def to(self, device: torch.device | str) -> SirenParams:
        return SirenParams(self.arch, [(w.to(device), b.to(device)) for w, b in self.layers])

    @staticmethod
    def cat(items: list[SirenParams]) -> SirenParams:
        """Stack several parameter sets of one architecture along the batch axis."""
        arch = items[0].arch
        if any(p.arch.key != arch.key for p in items):
            raise ConfigError("cannot stack SIRENs of different architectures")
        layers = [
            (torch.cat([p.layers[i][0] for p in items]), torch.cat([p.layers[i][1] for p in items]))
            for i in range(len(arch.layer_shapes))
        ]
        return SirenParams(arch, layers)


def init_siren(arch: SirenArch, batch: int = 1, *, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> SirenParams:
    """SIREN initialization (Sitzmann et al. 2020): first layer U(-1/in, 1/in), others
    U(-sqrt(6/in)/w0, sqrt(6/in)/w0); biases alike."""
    layers = []
    for k, (out_f, in_f) in enumerate(arch.layer_shapes):
        bound = 1.0 / in_f if k == 0 else math.sqrt(6.0 / in_f) / arch.w0
        w = (torch.rand(batch, out_f, in_f, generator=generator) * 2 - 1) * bound
        b = (torch.rand(batch, out_f, generator=generator) * 2 - 1) * (1.0 / math.sqrt(in_f))
        layers.append((w.to(device), b.to(device)))
    return SirenParams(arch, layers)


def siren_forward(params: SirenParams, coords: torch.Tensor,
                  layers: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
    """Evaluate ``B`` SIRENs: ``coords [B, N, in]`` (or ``[N, in]``, shared) -> ``[B, N, out]``.

    ``layers`` overrides ``params.layers`` (used to run fake-quantized weights).
    """
    layers = params.layers if layers is None else layers
    w0 = params.arch.w0
    h = coords
    if h.dim() == 2:
        h = h.unsqueeze(0).expand(layers[0][0].shape[0], -1, -1)
    last = len(layers) - 1
    for k, (w, b) in enumerate(layers):
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if k < last:
            h = torch.sin(w0 * h)
    return h


def grid_coords(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Pixel-centre coordinates of an ``height x width`` grid in ``[-1, 1]``, shape ``[H*W, 2]``
    as ``(x, y)``, row-major (matches ``image.reshape(-1, C)``)."""
    ys = (torch.arange(height, dtype=torch.float32, device=device) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, dtype=torch.float32, device=device) + 0.5) / width * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)
