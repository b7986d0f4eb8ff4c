"""NeRV: a whole video as one network that maps a frame index to the frame (Chen et al. 2021).

The frame index ``i`` becomes a time ``t = i / index_scale``, is expanded by a sinusoidal
positional encoding (``sin(b^k pi t), cos(b^k pi t)`` for ``k < levels``), goes through an MLP
*stem* into a small feature map (``base_channels x h0 x w0``), and a chain of upsampling
blocks (``conv -> PixelShuffle(stride) -> activation``) grows it to the frame size; a 1x1
convolution and a sigmoid give RGB in ``[0, 1]``. The base grid is the frame size divided by
the product of the strides (rounded up); the output is cropped to the frame.

:class:`NervArch` is the shape (what a decoder needs), :class:`NervTraining` the recipe, and
:data:`NERV_PRESETS` the named pairs (``paper`` is the issue's recipe at 640x360; ``fast``, the
default, trains a ~100-frame 160x90 sequence on one CPU core in a few minutes; ``compact`` is
scaled to the sequence's frame count and size, see :func:`arch_for_weights`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from rinr_core.errors import ConfigError
from rinr_core.fitting import lr_factor
from rinr_core.quantize import QuantTensor, check_bits, fake_quantize, quantize_tensor

ACTIVATIONS = ("silu", "gelu", "relu")


@dataclass(frozen=True)
class NervArch:
    """Shape of a NeRV network (everything a decoder needs besides the frame size).

    Parameters
    ----------
    pe_levels, pe_base
        Positional encoding of the time: ``2 * pe_levels`` features at frequencies
        ``pe_base**k * pi``.
    stem_hidden
        Width of the stem's hidden layer (``2 * pe_levels -> stem_hidden -> base map``).
    base_channels
        Channels of the feature map the stem produces.
    strides, widths
        One upsampling block per stride, with ``widths[k]`` output channels.
    activation
        ``silu``, ``gelu`` or ``relu`` (after the stem layers and every block).
    kernel
        Square kernel size of the block convolutions (odd).
    """

    pe_levels: int = 40
    pe_base: float = 1.25
    stem_hidden: int = 256
    base_channels: int = 16
    strides: tuple[int, ...] = (5, 2, 2, 2)
    widths: tuple[int, ...] = (96, 96, 96, 96)
    activation: str = "silu"
    kernel: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.pe_levels <= 255 or not 1.0 < self.pe_base < 100.0:
            raise ConfigError(f"NeRV positional encoding needs 1..255 levels and a base in (1, 100), "
                              f"got {self.pe_levels} levels, base {self.pe_base}")
        if min(self.stem_hidden, self.base_channels) < 1 or max(self.stem_hidden, self.base_channels) > 65535:
            raise ConfigError(f"NeRV stem sizes must be in 1..65535, got hidden {self.stem_hidden}, "
                              f"base channels {self.base_channels}")
        if not self.strides or len(self.strides) != len(self.widths) or len(self.strides) > 16:
            raise ConfigError(f"NeRV needs 1..16 blocks with one width per stride, got strides {self.strides} "
                              f"and widths {self.widths}")
        if any(not 1 <= s <= 16 for s in self.strides) or any(not 1 <= w <= 65535 for w in self.widths):
            raise ConfigError(f"NeRV strides must be in 1..16 and widths in 1..65535, got {self.strides} / {self.widths}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown NeRV activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if self.kernel < 1 or self.kernel % 2 == 0 or self.kernel > 15:
            raise ConfigError(f"NeRV kernel must be odd and at most 15, got {self.kernel}")

    @property
    def total_stride(self) -> int:
        return math.prod(self.strides)

    def base_grid(self, height: int, width: int) -> tuple[int, int]:
        """``(h0, w0)`` of the stem's feature map for an ``height x width`` frame."""
        s = self.total_stride
        return -(-height // s), -(-width // s)

    def tensor_shapes(self, height: int, width: int) -> list[tuple[int, ...]]:
        """Shapes of every parameter, in the order they are stored (weight, bias per layer)."""
        h0, w0 = self.base_grid(height, width)
        stem_out = self.base_channels * h0 * w0
        shapes: list[tuple[int, ...]] = [(self.stem_hidden, 2 * self.pe_levels), (self.stem_hidden,),
                                         (stem_out, self.stem_hidden), (stem_out,)]
        c_in = self.base_channels
        for s, c in zip(self.strides, self.widths, strict=True):
            shapes += [(c * s * s, c_in, self.kernel, self.kernel), (c * s * s,)]
            c_in = c
        return shapes + [(3, c_in, 1, 1), (3,)]

    def num_params(self, height: int, width: int) -> int:
        return sum(math.prod(s) for s in self.tensor_shapes(height, width))

    def macs_per_pixel(self, height: int, width: int) -> float:
        """Multiply-adds to render one frame, divided by its pixel count."""
        h, w = self.base_grid(height, width)
        stem_out = self.base_channels * h * w
        macs = 2 * self.pe_levels * self.stem_hidden + self.stem_hidden * stem_out
        c_in = self.base_channels
        for s, c in zip(self.strides, self.widths, strict=True):
            macs += h * w * c_in * c * s * s * self.kernel**2
            h, w, c_in = h * s, w * s, c
        macs += h * w * c_in * 3
        return macs / float(height * width)

    def scaled(self, factor: float) -> NervArch:
        """The same shape with ``stem_hidden``, ``base_channels`` and ``widths`` times ``factor``
        (rounded, at least 1): about ``factor**2`` times the weights."""
        def size(c: int) -> int:
            return max(1, round(c * factor))

        return replace(self, stem_hidden=size(self.stem_hidden), base_channels=size(self.base_channels),
                       widths=tuple(size(w) for w in self.widths))


def arch_for_weights(arch: NervArch, height: int, width: int, max_weights: int) -> NervArch:
    """``arch`` scaled (:meth:`NervArch.scaled`) to the most weights within ``max_weights`` at
    ``height x width``; the factor is searched in steps of 1/64, from 1/64 up to 8."""
    best = None
    for k in range(1, 8 * 64 + 1):
        candidate = arch.scaled(k / 64)
        if candidate.num_params(height, width) > max_weights:
            break
        best = candidate
    if best is None:
        raise ConfigError(f"no NeRV of the shape {arch.strides}/{arch.widths} fits {max_weights} weights "
                          f"at {width}x{height}")
    return best


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

    def with_overrides(self, **changes: object) -> NervPreset:
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


def _blur_matrix(length: int, size: int, sigma: float, device: torch.device) -> torch.Tensor:
    """``[length - size + 1, length]`` matrix applying a normalized Gaussian window (valid area)."""
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


# --- quantization ---------------------------------------------------------------------------

Grid = list[tuple[float, float]]  # per tensor (lo, step) of a fixed quantization grid


def _on_grid(t: torch.Tensor, lo: float, step: float, bits: int) -> torch.Tensor:
    """Integer codes of ``t`` on the grid ``lo + q * step``, ``q`` clamped to ``bits`` bits."""
    return torch.round((t - lo) / step).clamp(0, 2**bits - 1)


def _fake_quantized(model: Nerv, bits: int, grid: Grid | None) -> dict[str, torch.Tensor]:
    """Parameters rounded as they will be stored, with a straight-through gradient."""
    out = {}
    for k, (name, p) in enumerate(model.named_parameters()):
        if grid is None:
            out[name] = fake_quantize(p.reshape(1, -1), bits).reshape(p.shape)
        else:
            lo, step = grid[k]
            out[name] = p + (lo + _on_grid(p, lo, step, bits) * step - p).detach()
    return out


def quantize_nerv(model: Nerv, bits: int, grid: Grid | None = None) -> list[QuantTensor]:
    """The stored form of every parameter: per-tensor ``bits``-bit codes.

    With ``grid`` (one ``(lo, step)`` per tensor, e.g. an earlier version's), codes are taken on
    that fixed grid (clamped), so they can be shipped as a difference to the earlier codes.
    """
    check_bits(bits)
    out = []
    for k, p in enumerate(model.parameters()):
        if grid is None:
            out.append(quantize_tensor(p, bits))
            continue
        lo, step = grid[k]
        t = p.detach().double().cpu()
        codes = _on_grid(t, lo, step, bits).to(torch.int64).numpy().astype(np.uint32).reshape(-1)
        out.append(QuantTensor(codes=codes, lo=lo, step=step, shape=tuple(p.shape), bits=bits))
    return out


def load_quantized(model: Nerv, tensors: Sequence[QuantTensor]) -> Nerv:
    """Overwrite ``model``'s parameters with dequantized stored tensors (in place); returns it."""
    params = list(model.parameters())
    if len(params) != len(tensors):
        raise ConfigError(f"NeRV has {len(params)} tensors, got {len(tensors)} stored ones")
    with torch.no_grad():
        for p, q in zip(params, tensors, strict=True):
            if tuple(p.shape) != tuple(q.shape):
                raise ConfigError(f"stored NeRV tensor of shape {q.shape} does not fit parameter {tuple(p.shape)}")
            p.copy_(torch.from_numpy(q.dequantize()).to(p.device))
    return model


# --- fitting and rendering ------------------------------------------------------------------


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
        order = torch.randperm(n, generator=generator)
        losses = []
        for i in range(0, n, training.batch_size):
            pick = order[i : i + training.batch_size].to(times.device)
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
            losses.append(float(loss.detach()))
            step += 1
        history.append(float(np.mean(losses)))
    return step


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
        ``[N]`` times (see :func:`frame_times`).
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
            loss.append(float(nerv_loss(pred, targets[i : i + 8], training)) * pred.shape[0])
        psnr = float((-10 * torch.log10(torch.cat(mse).clamp_min(1e-12))).mean())
    return NervFitReport(steps=steps, seconds=time.perf_counter() - start, loss=sum(loss) / times.shape[0],
                         psnr=psnr, history=history)


def render(model: Nerv, times: torch.Tensor, *, batch_size: int = 8) -> torch.Tensor:
    """Float frames ``[N, H, W, 3]`` in ``[0, 1]`` for ``times``, rendered in batches."""
    device = next(model.parameters()).device
    times = times.to(device)
    model.eval()
    with torch.no_grad():
        out = [model(times[i : i + batch_size]) for i in range(0, times.shape[0], batch_size)]
    if not out:
        return torch.zeros(0, model.height, model.width, 3, device=device)
    return torch.cat(out).permute(0, 2, 3, 1).contiguous()
