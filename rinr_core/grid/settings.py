"""What a grid encode does: architecture, step budgets, rate-distortion trade-off, targets."""

from __future__ import annotations

from dataclasses import dataclass

from rinr_core.errors import require
from rinr_core.grid.arch import GridArch

DEFAULT_LAMBDA = 150.0
"""Background distortion weight (per pixel, summed over RGB in ``[0, 1]`` units) when no
lambda and no targets are given: about 30 dB at 160 px on the shared sequences."""
OBJECT_WEIGHT = 20.0
"""Object-box distortion weight relative to the background's (about 35 dB there)."""


@dataclass
class GridSettings:
    """Settings of a grid encode; every field has a default.

    Parameters
    ----------
    arch
        The networks' shape (``None``: :data:`~rinr_core.grid.arch.FRAME_ARCH` for the
        per-frame codec, :data:`~rinr_core.grid.arch.STREAM_ARCH` for streams).
    steps
        Steps of a cold fit (networks and latents together): uniform noise for the first
        three quarters, straight-through rounding after.
    round_steps
        Latent-only steps of each rate-control round once the networks are quantized and
        frozen (default ``max(10, steps // 8)``).
    warm_steps
        Latent-only steps per round for stream frames after the first ones (warm-started
        from the previous frame's latents, networks shared).
    lr
        Adam learning rate (cosine decay to a tenth over each phase).
    lam
        Background distortion weight (the rate-distortion trade-off; ``None``: targets, or
        :data:`DEFAULT_LAMBDA`). The object box gets ``object_weight`` times it.
    target_background_db, target_object_db
        Quality targets: the rate control looks for the smallest payload meeting both.
    max_rounds
        Most rate-control rounds (each adjusts both weights from the PSNR misses).
    warm_rounds
        Most rounds of a warm fit (stream frames after the first ones; they start from the
        previous frame's weights, so few rounds usually do).
    tolerance_db
        A frame that meets its targets by less than this is done.
    refresh_db
        Streams: a frame that misses its targets by more than this (dB, summed over
        background and object) under the stream's networks starts a new network version,
        fitted cold on it and the next frame, when that misses by at least 1 dB less
        (``None``: never; no targets: never).
    max_side
        Resize frames so the longer side is at most this many pixels first.
    device, seed
        Torch device (``None``: cuda when present) and the seed of every random draw.
    """

    arch: GridArch | None = None
    steps: int = 1200
    round_steps: int | None = None
    warm_steps: int = 40
    lr: float = 1e-2
    lam: float | None = None
    object_weight: float = OBJECT_WEIGHT
    target_background_db: float | None = None
    target_object_db: float | None = None
    max_rounds: int = 6
    warm_rounds: int = 4
    tolerance_db: float = 0.3
    refresh_db: float | None = 3.0
    max_side: int | None = None
    device: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        require({"steps": self.steps >= 1, "warm_steps": self.warm_steps >= 1,
                 "round_steps": self.round_steps is None or self.round_steps >= 1,
                 "lr": self.lr > 0, "lam": self.lam is None or self.lam > 0,
                 "object_weight": self.object_weight > 0, "max_rounds": self.max_rounds >= 1,
                 "warm_rounds": self.warm_rounds >= 1,
                 "tolerance_db": self.tolerance_db > 0,
                 "refresh_db": self.refresh_db is None or self.refresh_db > 0,
                 "max_side": self.max_side is None or self.max_side >= 8},
                lambda name: getattr(self, name), "grid settings",
                "steps, lr, lam and weights must be positive, max_side at least 8")

    @property
    def targeted(self) -> bool:
        """Whether a quality target drives the rate control."""
        return self.target_background_db is not None or self.target_object_db is not None

    @property
    def latent_round_steps(self) -> int:
        """Steps of one rate-control round of a cold fit."""
        return self.round_steps if self.round_steps is not None else max(10, self.steps // 8)

    def start_lambdas(self) -> tuple[float, float]:
        """``(background, object)`` distortion weights the fit starts from."""
        lam = self.lam if self.lam is not None else DEFAULT_LAMBDA
        return lam, lam * self.object_weight
