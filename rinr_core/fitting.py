"""Fitting SIRENs to images: many networks of one architecture at once.

All ``B`` networks are optimized together with one Adam optimizer over the stacked weights.
Adam is element-wise and the loss is a sum of per-network losses, so each network follows
exactly the trajectory it would follow alone: batching changes speed, not results.

Targets may have different sizes (object boxes): shorter ones are padded and masked.
An optional target PSNR freezes each network as soon as it gets there (the step budget
remains a hard cap), and an optional quantization-aware phase fine-tunes through the
rounding the stored weights will really get.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rinr_core.errors import ConfigError
from rinr_core.numerics import float32_exact
from rinr_core.quantize import check_bits, fake_quantize, tensor_bit_widths
from rinr_core.siren import SirenParams, siren_forward


@dataclass
class FitSettings:
    """How to optimize.

    Parameters
    ----------
    steps
        Optimizer steps of the float phase (hard cap).
    lr
        Adam learning rate (peak of the schedule).
    schedule
        ``"cosine"`` (decay to 1% of ``lr``) or ``"constant"``.
    qat_steps
        Extra steps through fake-quantized weights at ``qat_lr_scale * lr`` (needs ``bits``).
    bits, first_layer_bits
        Bit widths the weights will be stored at (enables QAT when ``qat_steps > 0``); see
        :func:`rinr_core.quantize.tensor_bit_widths`.
    target_psnr
        Stop a network once its PSNR (pixel domain, peak 1) reaches this many dB (one value for
        all networks, or one per network).
    warmup_steps
        Ramp the learning rate up linearly over this many first steps (gentle restarts from
        warm-started weights: Adam's first steps are ~lr per weight whatever the gradient).
    """

    steps: int
    lr: float
    schedule: str = "cosine"
    qat_steps: int = 0
    qat_lr_scale: float = 0.1
    warmup_steps: int = 0
    bits: int | None = None
    first_layer_bits: int | None = None
    target_psnr: float | Sequence[float] | None = None
    check_every: int = 25

    def __post_init__(self) -> None:
        if self.steps < 0 or self.qat_steps < 0:
            raise ConfigError(f"steps must be >= 0, got {self.steps} and qat {self.qat_steps}")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.qat_steps and self.bits is None:
            raise ConfigError("quantization-aware steps need a bit width")
        if self.bits is not None:
            check_bits(self.bits)


@dataclass
class FitReport:
    """Result of :func:`fit_sirens`: the fitted weights and per-network statistics."""

    params: SirenParams
    steps_run: list[int]  # float-phase steps each network actually took
    psnr: list[float]  # final PSNR (pixel domain, peak 1, of the weights as they will be stored
    # when QAT ran, else of the float weights)


def _fake_quantized(params: SirenParams, settings: FitSettings) -> list[tuple[torch.Tensor, torch.Tensor]]:
    widths = tensor_bit_widths(len(params.layers), settings.bits, settings.first_layer_bits)  # type: ignore[arg-type]
    return [(fake_quantize(w, widths[2 * i]), fake_quantize(b, widths[2 * i + 1]))
            for i, (w, b) in enumerate(params.layers)]


def lr_factor(schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """Learning-rate multiplier at ``step`` of ``total``: linear warm-up, then cosine to 1%."""
    ramp = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    if schedule == "constant" or total <= 1:
        return ramp
    return ramp * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / total)))


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per-network mean squared error ``[B]``."""
    err = (pred - target) ** 2
    if mask is None:
        return err.mean(dim=(1, 2))
    m = mask.unsqueeze(-1).to(err.dtype)
    return (err * m).sum(dim=(1, 2)) / (m.sum(dim=(1, 2)) * err.shape[-1]).clamp_min(1)


def _psnr_db(mse: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """PSNR (peak 1) of a pixel-domain error ``mse * scale**2``."""
    return -10 * torch.log10((mse * scale**2).clamp_min(1e-12))


@float32_exact
def fit_sirens(
    params: SirenParams,
    coords: torch.Tensor,
    targets: torch.Tensor,
    settings: FitSettings,
    *,
    mask: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
) -> FitReport:
    """Fit ``B`` SIRENs to ``targets``.

    Parameters
    ----------
    params
        Initial weights (cold init or a warm start), batch ``B``; not modified.
    coords
        ``[N, in]`` shared by all networks, or ``[B, N, in]``.
    targets
        ``[B, N, out]`` values the networks should output.
    mask
        ``[B, N]`` booleans: which of the ``N`` samples are real (padding is False).
    scale
        ``[B]`` factor from target units to pixel units (peak 1), for PSNR targets/reports.
    """
    device = params.device
    work = params.detach()
    tensors = work.tensors()
    for t in tensors:
        t.requires_grad_(True)
    batch = work.batch
    scale = torch.ones(batch, device=device) if scale is None else scale.to(device).float()
    optimizer = torch.optim.Adam(tensors, lr=settings.lr, foreach=True)
    steps_run = [settings.steps] * batch
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    frozen: list[torch.Tensor] | None = None
    target = None
    if settings.target_psnr is not None:
        target = torch.as_tensor(settings.target_psnr, dtype=torch.float32, device=device).expand(batch)

    def freeze(newly: torch.Tensor, step: int) -> None:
        nonlocal frozen
        if frozen is None:
            frozen = [t.detach().clone() for t in tensors]
        for t, f in zip(tensors, frozen, strict=True):
            f[newly] = t.detach()[newly]
        for i in torch.nonzero(newly).flatten().tolist():
            steps_run[i] = step
        done.logical_or_(newly)

    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * lr_factor(settings.schedule, step, settings.steps, settings.warmup_steps)
        mse = _masked_mse(siren_forward(work, coords), targets, mask)
        if target is not None and step % settings.check_every == 0:
            reached = (_psnr_db(mse.detach(), scale) >= target) & ~done
            if reached.any():
                freeze(reached, step)
            if bool(done.all()):
                break
        optimizer.zero_grad(set_to_none=True)
        mse.sum().backward()
        optimizer.step()
        if frozen is not None:  # something reached its target: keep it where it stopped
            with torch.no_grad():  # torch.where, not t[done] = ...: no host sync on a GPU
                for t, f in zip(tensors, frozen, strict=True):
                    t.copy_(torch.where(done.view(-1, *([1] * (t.dim() - 1))), f, t))

    if settings.qat_steps:
        qat_opt = torch.optim.Adam(tensors, lr=settings.lr * settings.qat_lr_scale, foreach=True)
        for step in range(settings.qat_steps):
            for group in qat_opt.param_groups:
                group["lr"] = settings.lr * settings.qat_lr_scale * lr_factor("cosine", step, settings.qat_steps)
            mse = _masked_mse(siren_forward(work, coords, _fake_quantized(work, settings)), targets, mask)
            qat_opt.zero_grad(set_to_none=True)
            mse.sum().backward()
            qat_opt.step()

    with torch.no_grad():
        layers = work.layers
        if settings.qat_steps:
            layers = _fake_quantized(work, settings)
        mse = _masked_mse(siren_forward(work, coords, layers), targets, mask)
        final_psnr = _psnr_db(mse, scale).tolist()
    return FitReport(params=work.detach(), steps_run=steps_run, psnr=final_psnr)
