"""What a sequence encode does (:class:`SequenceSettings`) and what it returns (results)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rinr_core.codec import CodecSettings
from rinr_core.errors import ConfigError
from rinr_core.frames import Frame
from rinr_core.nerv import (
    DEFAULT_NERV_PRESET,
    Nerv,
    NervArch,
    NervPreset,
    arch_for_weights,
    get_nerv_preset,
)
from rinr_core.presets import DEFAULT_PRESET, get_preset
from rinr_core.sequence.format import STREAM_CODEC_IDS
from rinr_core.siren import SirenArch

UPDATE_SCOPES = ("stem", "all")
CODED_BITS_SAVED = 1.2  # entropy coding's saving per stored NeRV weight, in bits (estimate for nerv_bpp)


@dataclass
class SequenceSettings:
    """What to encode and how; ``None`` fields take the preset's value.

    Parameters
    ----------
    codec
        ``res-nerv`` (NeRV background + object residual INRs) or ``nerv`` (NeRV only).
    nerv_preset
        Name in :data:`rinr_core.nerv.NERV_PRESETS`.
    arch
        A NeRV architecture to use instead of the preset's (the recipe stays the preset's).
    nerv_bpp
        Size the NeRV from the sequence: the architecture (``arch`` or the preset's) is scaled
        (:func:`rinr_core.nerv.arch_for_weights`) to about ``nerv_bpp`` stored bits per pixel of
        every frame (see :meth:`arch_for`). ``None``: the preset's ``bpp`` (``compact``: 0.3;
        ``fast``, ``paper``: none, the architecture as is).
    epochs, lr, nerv_bits, qat_epochs
        Override the NeRV preset's training recipe and stored bit width.
    update_epochs
        Fine-tuning epochs for new frames (default: half of ``epochs``).
    update_scope
        What fine-tuning for new frames may change: ``stem`` (the MLP from the time to the
        feature map; the convolutions stay, and their unchanged codes cost almost nothing) or
        ``all``. On Crossing at 160x107 (20 new frames after 100), ``stem`` shipped a 25 KB
        NeRV difference for 32.1 dB on the new frames' background, ``all`` 66 KB for 34.4 dB.
    object_preset, object_steps, object_bits
        SIREN preset for the object INR tiers (:mod:`rinr_core.presets`), its step budget for a
        cold object INR (warm-started ones get a quarter) and the stored bit width. The default
        is 10 bits (not QRE's 16): on 100 frames of Crossing at 160x107 with one NeRV, objects
        reached 39.6 dB at 16 bits, 38.7-40.3 dB at 10 bits (two runs) for 14% fewer bytes per
        frame, and 34.9 dB at 8 bits.
    background_db, max_nerv_bpp
        Background PSNR target: when the NeRV is sized in bits per pixel (``nerv_bpp`` or the
        preset's ``bpp``) and some frame's background (outside its box, as stored) falls short,
        the NeRV is fitted again from scratch with 1.6 times the bits per pixel, as long as that
        stays within ``max_nerv_bpp``; the last fit is kept. ``None``: one fit.
    object_arch
        One SIREN shape for every object INR instead of the object preset's tiers by box area.
    object_db
        Object PSNR target: a frame whose decoded object falls short gets its object INR refitted
        (cold) with the next larger of the object preset's tiers, until it reaches the target or
        the tiers run out (then the best try is kept). ``None``: one fit per frame.
    chains
        Object INRs are fitted in this many contiguous runs of the sequence at once (the batch
        size); each frame of a run is warm-started from the previous one.
    warm_start
        Warm-start object INRs along their run (else every one starts cold).
    max_side
        Resize frames so the longer side is at most this many pixels.
    device
        ``cpu``, ``cuda``, ... (default: ``cuda`` when available).
    """

    codec: str = "res-nerv"
    nerv_preset: str = DEFAULT_NERV_PRESET
    arch: NervArch | None = None
    nerv_bpp: float | None = None
    background_db: float | None = None
    max_nerv_bpp: float = 0.8
    epochs: int | None = None
    lr: float | None = None
    nerv_bits: int | None = None
    qat_epochs: int | None = None
    update_epochs: int | None = None
    update_scope: str = "stem"
    object_preset: str = DEFAULT_PRESET
    object_steps: int | None = None
    object_bits: int | None = 10
    object_arch: SirenArch | None = None
    object_db: float | None = None
    chains: int = 8
    warm_start: bool = True
    max_side: int | None = None
    device: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.codec = self.codec.lower()
        if self.codec not in STREAM_CODEC_IDS:
            raise ConfigError(f"unknown sequence codec {self.codec!r}; choose one of {', '.join(STREAM_CODEC_IDS)}")
        if self.update_scope not in UPDATE_SCOPES:
            raise ConfigError(f"unknown update scope {self.update_scope!r}; choose one of {', '.join(UPDATE_SCOPES)}")
        if self.chains < 1:
            raise ConfigError(f"chains must be at least 1, got {self.chains}")
        if self.max_side is not None and self.max_side < 8:
            raise ConfigError(f"max_side must be at least 8 pixels, got {self.max_side}")
        if (self.nerv_bpp is not None and not self.nerv_bpp > 0) or not self.max_nerv_bpp > 0:
            raise ConfigError(f"nerv_bpp and max_nerv_bpp must be positive, got {self.nerv_bpp}, {self.max_nerv_bpp}")
        self.resolve()
        get_preset(self.object_preset)

    def resolve(self) -> NervPreset:
        """The NeRV preset with this call's overrides applied."""
        preset = get_nerv_preset(self.nerv_preset).with_overrides(
            epochs=self.epochs, lr=self.lr, bits=self.nerv_bits, qat_epochs=self.qat_epochs)
        return preset if self.arch is None else replace(preset, arch=self.arch)

    def arch_for(self, frames: int, height: int, width: int, bpp: float | None = None) -> NervArch:
        """The NeRV architecture for ``frames`` frames of ``width x height``: the resolved one,
        scaled to ``bpp`` (default: ``nerv_bpp``, else the preset's ``bpp``) when that is set.

        The weight budget is ``bpp * width * height * frames / (bits - 1.2)``: on 120-frame
        sequences at 160 px, entropy coding stored 8-, 6-, 5- and 4-bit weights in about 6.8-7.1,
        4.8, 3.8 and 2.8 bits.
        """
        preset = self.resolve()
        bpp = bpp if bpp is not None else self.sizing_bpp()
        if bpp is None:
            return preset.arch
        coded_bits = max(preset.training.bits - CODED_BITS_SAVED, 1.0)
        return arch_for_weights(preset.arch, height, width, int(bpp * width * height * frames / coded_bits))

    def sizing_bpp(self) -> float | None:
        """Bits per pixel per frame the NeRV is sized to (``nerv_bpp``, else the preset's), or None."""
        return self.nerv_bpp if self.nerv_bpp is not None else self.resolve().bpp

    def object_codec(self) -> CodecSettings:
        """The image-codec settings the object residual INRs are fitted with (QRE recipe)."""
        return CodecSettings(mode="qre", preset=self.object_preset, steps=self.object_steps,
                             object_bits=self.object_bits, device=self.device, seed=self.seed)


@dataclass
class SequenceResult:
    """An encoded sequence: the payload, the frames as encoded, per-frame metrics, a summary.

    ``background`` is the fitted NeRV with the stored (dequantized) weights; pass it to another
    :func:`~rinr_core.sequence.encode_sequence` call to reuse it (e.g. to compare ``nerv`` and ``res-nerv``).
    """

    payload: bytes
    frames: list[Frame]
    metrics: list[dict]
    summary: dict = field(default_factory=dict)
    background: Nerv | None = None


@dataclass
class UpdateResult:
    """New frames appended to a sequence: the update to ship, the merged payload, metrics.

    ``storage`` says how the new NeRV version was shipped (``delta`` or ``codes``), with the
    size of both options in ``summary``.
    """

    payload: bytes
    merged: bytes
    frames: list[Frame]
    metrics: list[dict]
    storage: str
    summary: dict = field(default_factory=dict)
