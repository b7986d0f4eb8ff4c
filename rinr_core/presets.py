"""Named encoder presets (a registry, like CompressAI's model zoo).

A preset fixes the network sizes and optimizer recipe; every field can be overridden per call.
``paper`` is the Residual-INR paper's recipe; ``fast`` (the default) is ours: decoding under
2.5k multiply-adds per pixel, a higher learning rate with far fewer steps, and a short
quantization-aware phase so 8-bit weights lose little.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rinr_core.errors import ConfigError
from rinr_core.siren import SirenArch


@dataclass(frozen=True)
class Preset:
    """Network sizes and fitting recipe for one encoder configuration."""

    name: str
    description: str
    background: SirenArch
    object_tiers: tuple[tuple[int, SirenArch], ...]  # (box area upper bound, exclusive; arch)
    baseline: SirenArch  # BS mode: one INR for the whole frame, about background + object in size
    steps: int
    object_steps: int
    lr: float
    object_lr: float
    schedule: str = "cosine"
    qat_fraction: float = 0.0  # extra quantization-aware steps, as a fraction of `steps`
    background_bits: int = 8  # QRE
    object_bits: int = 16  # QRE
    float_bits: int = 16  # storage of the unquantized ablations (BS, BE, DE, RE)
    first_layer_bits: int | None = None  # QRE: keep the coordinate layer at this width

    def object_arch(self, box_area: int) -> SirenArch:
        """The object INR architecture for a box of ``box_area`` pixels (the paper's tiers)."""
        for bound, arch in self.object_tiers:
            if box_area < bound:
                return arch
        return self.object_tiers[-1][1]

    def with_overrides(self, **changes) -> Preset:
        """A copy with some fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_PAPER_TIERS = (
    (1001, SirenArch(3, 10)),
    (3001, SirenArch(3, 15)),
    (10001, SirenArch(5, 17)),
    (2**31, SirenArch(5, 24)),
)

PRESETS: dict[str, Preset] = {
    "paper": Preset(
        name="paper",
        description="Residual-INR paper: background 10x28, w0 30, Adam 2e-4 cosine, 10k steps",
        background=SirenArch(10, 28),
        object_tiers=_PAPER_TIERS,
        baseline=SirenArch(10, 30),
        steps=10_000,
        object_steps=10_000,
        lr=2e-4,
        object_lr=2e-4,
    ),
    "fast": Preset(
        name="fast",
        description="rinr default: background 4x28 (<2.5k MACs/px), lr 1e-3 (object 3e-3) cosine, 1.5k/1k steps + 10% QAT, first layer 16-bit",
        background=SirenArch(4, 28),
        object_tiers=_PAPER_TIERS,
        baseline=SirenArch(4, 32),
        steps=1500,
        object_steps=1000,
        lr=1e-3,
        object_lr=3e-3,
        qat_fraction=0.1,
        first_layer_bits=16,
    ),
}

DEFAULT_PRESET = "fast"


def get_preset(name: str) -> Preset:
    """Look up a preset by name; :class:`ConfigError` lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
