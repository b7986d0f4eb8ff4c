"""NeRV training recipes (:class:`NervTraining`) and the named presets (:data:`NERV_PRESETS`).

``paper`` is the issue's recipe at 640x360; ``fast``, the default, trains a ~100-frame 160x90
sequence on one CPU core in a few minutes; ``compact`` is scaled to the sequence's frame count
and size (:func:`~rinr_core.nerv.arch_for_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rinr_core.errors import ConfigError
from rinr_core.nerv.arch import NervArch
from rinr_core.quantize import check_bits


@dataclass(frozen=True)
class NervTraining:
    """How to fit a NeRV: Adam over minibatches of frames, warm-up + cosine schedule.

    Parameters
    ----------
    epochs
        Passes over all frames (float phase).
    batch_size
        Frames per optimizer step.
    lr, betas
        Adam's peak learning rate and betas.
    warmup_fraction
        Share of all steps over which the learning rate ramps up linearly.
    l1_weight, ssim_weight
        Loss ``l1_weight * L1 + ssim_weight * (1 - SSIM)``.
    bits
        Bit width of the stored weights (8 or lower is the point; 2..16 allowed).
    qat_epochs
        Extra epochs through the weights rounded to ``bits`` (straight-through), at a tenth of ``lr``.
    """

    epochs: int
    lr: float
    batch_size: int = 1
    betas: tuple[float, float] = (0.5, 0.999)
    warmup_fraction: float = 0.2
    l1_weight: float = 0.7
    ssim_weight: float = 0.3
    bits: int = 8
    qat_epochs: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.qat_epochs < 0 or self.batch_size < 1:
            raise ConfigError(f"NeRV training needs epochs >= 0 and batch_size >= 1, got {self.epochs} epochs, "
                              f"{self.qat_epochs} QAT epochs, batch {self.batch_size}")
        if not self.lr > 0 or not 0 <= self.warmup_fraction < 1:
            raise ConfigError(f"NeRV lr must be positive and warmup_fraction in [0, 1), got {self.lr}, "
                              f"{self.warmup_fraction}")
        if self.l1_weight < 0 or self.ssim_weight < 0 or self.l1_weight + self.ssim_weight <= 0:
            raise ConfigError("NeRV loss weights must be >= 0 and not both zero")
        check_bits(self.bits)


@dataclass(frozen=True)
class NervPreset:
    """A named NeRV architecture with its training recipe.

    ``bpp``: when set, sequence encoders scale ``arch`` to about this many stored bits per pixel
    of every frame (:meth:`rinr_core.sequence.SequenceSettings.arch_for`); ``None``: ``arch`` as is.
    """

    name: str
    description: str
    arch: NervArch
    training: NervTraining
    bpp: float | None = None

    def with_overrides(self, **changes: Any) -> NervPreset:
        """A copy with training fields replaced (``None`` values are ignored)."""
        return replace(self, training=replace(self.training, **{k: v for k, v in changes.items() if v is not None}))


NERV_PRESETS: dict[str, NervPreset] = {
    "paper": NervPreset(
        name="paper",
        description="NeRV paper recipe: PE 80 -> 256 -> 2304 (16x9x16 at 640x360), strides 5,2,2,2, "
                    "width 96, SiLU, sigmoid head, 0.7 L1 + 0.3 (1-SSIM), Adam 5e-4 (0.5, 0.999), "
                    "warm-up + cosine",
        arch=NervArch(),
        training=NervTraining(epochs=300, lr=5e-4, batch_size=1, qat_epochs=10),
    ),
    "fast": NervPreset(
        name="fast",
        description="rinr default: PE 80 -> 64 -> 12-channel map, strides 5,2,2, widths 24,16,12 "
                    "(~120k weights, ~2.8k MACs/px at 160x90), 60 epochs + 6 QAT, lr 2e-3",
        arch=NervArch(stem_hidden=64, base_channels=12, strides=(5, 2, 2), widths=(24, 16, 12)),
        training=NervTraining(epochs=60, lr=2e-3, batch_size=2, qat_epochs=6),
    ),
    "compact": NervPreset(
        name="compact",
        description="sized to the sequence: strides 4,2,2, widths 24,16,12, stem 64, 12-channel map, scaled "
                    "to 0.3 stored bits per pixel per frame; 5-bit weights (6 QAT epochs), 60 epochs, lr 2e-3",
        arch=NervArch(stem_hidden=64, base_channels=12, strides=(4, 2, 2), widths=(24, 16, 12)),
        training=NervTraining(epochs=60, lr=2e-3, batch_size=2, bits=5, qat_epochs=6),
        bpp=0.3,
    ),
}
DEFAULT_NERV_PRESET = "fast"


def get_nerv_preset(name: str) -> NervPreset:
    """Look up a NeRV preset by name; :class:`ConfigError` lists the known ones."""
    try:
        return NERV_PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown NeRV preset {name!r}; choose one of {sorted(NERV_PRESETS)}") from None
