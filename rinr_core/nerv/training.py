"""Fitting a NeRV: the L1 + SSIM loss, Adam with warm-up and cosine decay, quantization-aware epochs."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call

from rinr_core.errors import ConfigError
from rinr_core.fitting import lr_factor
from rinr_core.nerv.model import Nerv
from rinr_core.nerv.presets import NervTraining
from rinr_core.nerv.quantize import Grid, _fake_quantized
from rinr_core.numerics import float32_exact


@functools.lru_cache(maxsize=32)
def _blur_matrix(length: int, size: int, sigma: float, device: torch.device) -> torch.Tensor:
    """``[length - size + 1, length]`` matrix applying a normalized Gaussian window (valid area).

    Cached per size and device: the SSIM of every training step reuses it (read-only).
    """
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    out = torch.zeros(length - size + 1, length, device=device)
    for k in range(size):
        out.diagonal(k).copy_(g[k].expand(length - size + 1))
    return out


def ssim(a: torch.Tensor, b: torch.Tensor, *, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM per image of ``[B, C, H, W]`` tensors in ``[0, 1]`` (Gaussian window, valid area)."""
    size = min(window, a.shape[-2], a.shape[-1])
    size -= 1 - size % 2  # odd
    batch, channels, height, width = a.shape
    gh = _blur_matrix(height, size, sigma, a.device)
    gw = _blur_matrix(width, size, sigma, a.device).T

    def blur(x: torch.Tensor) -> torch.Tensor:  # separable, as two small matmuls (fast on CPU)
        return gh @ x.reshape(batch * channels, height, width) @ gw

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.reshape(batch, -1).mean(dim=1)


def nerv_loss(pred: torch.Tensor, target: torch.Tensor, training: NervTraining) -> torch.Tensor:
    """``l1_weight * L1 + ssim_weight * (1 - SSIM)``, averaged over the batch."""
    loss = training.l1_weight * (pred - target).abs().mean()
    if training.ssim_weight:
        loss = loss + training.ssim_weight * (1 - ssim(pred, target)).mean()
    return loss


@dataclass
class NervFitReport:
    """What :func:`fit_nerv` did: steps, time, and the final training loss / PSNR."""

    steps: int
    seconds: float
    loss: float
    psnr: float  # mean over frames, of the weights as stored when QAT ran
    history: list[float] = field(default_factory=list)  # mean loss per epoch


def _as_targets(images: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` (or float in ``[0, 1]``) -> float ``[N, 3, H, W]`` on ``device``."""
    t = torch.as_tensor(images)
    t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    return t.permute(0, 3, 1, 2).contiguous().to(device)


def _run_epochs(model: Nerv, times: torch.Tensor, targets: torch.Tensor, training: NervTraining, *,
                epochs: int, lr: float, warmup: bool, quant: tuple[int, Grid | None] | None,
                generator: torch.Generator, history: list[float]) -> int:
    """Adam over shuffled minibatches for ``epochs`` passes; returns the steps taken."""
    n = times.shape[0]
    per_epoch = -(-n // training.batch_size)
    total = epochs * per_epoch
    warmup_steps = int(training.warmup_fraction * total) if warmup else 0
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=training.betas)
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(times.device)  # one copy per epoch
        losses = []
        for i in range(0, n, training.batch_size):
            pick = order[i : i + training.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_factor("cosine", step, total, warmup_steps)
            if quant is None:
                pred = model(times[pick])
            else:
                pred = functional_call(model, _fake_quantized(model, *quant), (times[pick],))
            loss = nerv_loss(pred, targets[pick], training)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())  # stays on the device: one sync per epoch, not per step
            step += 1
        history.append(float(torch.stack(losses).mean()))
    return step


@float32_exact
def fit_nerv(model: Nerv, images: torch.Tensor | np.ndarray, times: torch.Tensor, training: NervTraining, *,
             grid: Grid | None = None, seed: int = 0, warmup: bool = True) -> NervFitReport:
    """Fit ``model`` (in place) so that ``model(times[i])`` renders ``images[i]``.

    Parameters
    ----------
    model
        A fresh network, or an existing one to fine-tune (new frames of a sequence).
    images
        ``uint8 [N, H, W, 3]`` frames (or floats in ``[0, 1]``).
    times
        ``[N]`` times (see :func:`~rinr_core.nerv.frame_times`).
    grid
        Fixed quantization grid of the QAT phase (fine-tuning an earlier version whose codes the
        new ones are shipped against); default: each tensor's own min/max range.
    warmup
        Ramp the learning rate up first (turn off for a gentle fine-tune that starts converged).
    """
    device = next(model.parameters()).device
    targets = _as_targets(images, device)
    times = times.to(device)
    if targets.shape[0] != times.shape[0] or targets.shape[-2:] != (model.height, model.width):
        raise ConfigError(f"NeRV of {model.width}x{model.height} got {targets.shape[0]} frames of "
                          f"{targets.shape[-1]}x{targets.shape[-2]} and {times.shape[0]} times")
    generator = torch.Generator().manual_seed(seed)
    history: list[float] = []
    start = time.perf_counter()
    model.train()
    steps = _run_epochs(model, times, targets, training, epochs=training.epochs, lr=training.lr, warmup=warmup,
                        quant=None, generator=generator, history=history)
    quant = (training.bits, grid)
    if training.qat_epochs:
        steps += _run_epochs(model, times, targets, training, epochs=training.qat_epochs, lr=training.lr * 0.1,
                             warmup=False, quant=quant, generator=generator, history=history)
    model.eval()
    with torch.no_grad():
        params = _fake_quantized(model, *quant) if training.qat_epochs else None
        mse, loss = [], []
        for i in range(0, times.shape[0], 8):
            pred = model(times[i : i + 8]) if params is None else functional_call(model, params, (times[i : i + 8],))
            mse.append(((pred - targets[i : i + 8]) ** 2).mean(dim=(1, 2, 3)))
            loss.append(nerv_loss(pred, targets[i : i + 8], training) * pred.shape[0])
        psnr = float((-10 * torch.log10(torch.cat(mse).clamp_min(1e-12))).mean())
        mean_loss = float(torch.stack(loss).sum()) / times.shape[0]
    return NervFitReport(steps=steps, seconds=time.perf_counter() - start, loss=mean_loss,
                         psnr=psnr, history=history)
