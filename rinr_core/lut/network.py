"""The post-filter network: layers of piecewise-linear look-up units that become tables exactly.

Every edge of the network is a function of **one** integer input: the value of one input
plane at one tap of a small kernel (TinyLUT's separable mapping: a ``kh x kw`` kernel over
``C`` planes costs ``C * kh * kw`` one-dimensional tables, linear in the kernel size, not a
``256 ** (kh * kw)`` table). A layer sums its taps' outputs::

    S[o](p) = sum over planes c, taps (dy, dx) of  f[c, dy, dx](x_c(p + (dy, dx)))[o]

Each ``f`` is piecewise linear between ``knots`` integer positions (dynamic discretization:
the positions follow the distribution of the values the layer sees, see
:func:`rinr_core.lut.training.place_knots`), and every stored value is a multiple of
``1/16`` (:data:`ONE`). The network computes with exactly the integers the tables hold: the
expanded value of ``f`` at every integer input is rounded the way the edge rounds it
(:func:`expand_exact`), hidden sums are rounded to integers and clipped to the hidden
range, and the last layer's sum, rounded, is the RGB correction: ``out = decoded +
correction``. So look-up inference (:mod:`rinr_core.lut.apply`) reproduces the forward pass
bit for bit; gradients pass the roundings straight through.

Rotation ensemble (``rotations = 4``): the network runs on the frame turned by 0, 90, 180
and 270 degrees, and the four corrections (turned back) are averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rinr_core.errors import ConfigError, require

FRAC_BITS = 4
ONE = 1 << FRAC_BITS
"""Stored values are integers in units of ``1/ONE`` pixel level."""
VALUE_LIMIT = 1 << 14
"""Stored values lie in ``[-VALUE_LIMIT, VALUE_LIMIT)`` (units of ``1/ONE``)."""
INPUT_RANGE = (0, 255)
"""Inputs of the first layer: pixel values of the frame's planes."""
COLORS = ("rgb", "ycbcr")
"""Planes the first layer reads: R, G, B, or integer Y, Cb, Cr (JPEG's full-range matrix)."""
YCBCR = ((77, 150, 29), (-43, -85, 128), (128, -107, -21))
"""Integer BT.601 full-range matrix (``/256``); Cb and Cr get ``+128``."""
MAX_KERNEL = 7
MAX_CHANNELS = 12


@dataclass(frozen=True)
class LayerSpec:
    """One layer: a ``kh x kw`` kernel over every plane of its input, ``channels`` outputs."""

    kh: int
    kw: int
    channels: int


@dataclass(frozen=True)
class LutSpec:
    """The shape of a post-filter network (and of its tables).

    Parameters
    ----------
    layers
        The layers in order; the last one has 3 channels (the R, G, B correction).
    color
        :data:`COLORS`: which planes the first layer reads.
    knots
        Knots per piecewise-linear unit (stored values per unit and output channel).
    hidden
        ``(lo, hi)``: hidden activations are rounded to integers and clipped to this range.
    rotations
        1, or 4 for the rotation ensemble (4x the look-ups).
    """

    layers: tuple[LayerSpec, ...] = (LayerSpec(3, 3, 3), LayerSpec(3, 3, 3))
    color: str = "rgb"
    knots: int = 17
    hidden: tuple[int, int] = (-64, 63)
    rotations: int = 1

    def __post_init__(self) -> None:
        layers = self.layers
        lo, hi = self.hidden
        require({
            "layers": len(layers) >= 1 and layers[-1].channels == 3
            and all(1 <= ly.kh <= MAX_KERNEL and 1 <= ly.kw <= MAX_KERNEL and ly.kh % 2 == 1
                    and ly.kw % 2 == 1 and 1 <= ly.channels <= MAX_CHANNELS for ly in layers),
            "color": self.color in COLORS,
            "knots": 3 <= self.knots <= 64,
            "hidden": -1024 <= lo < 0 < hi <= 1023 and hi - lo + 1 >= self.knots,
            "rotations": self.rotations in (1, 4),
        }, lambda name: getattr(self, name), "post-filter network",
            f"layers: odd kernels up to {MAX_KERNEL}, 1-{MAX_CHANNELS} channels, the last "
            f"with 3; color: {'|'.join(COLORS)}; knots 3-64; hidden (lo < 0 < hi); "
            "rotations 1 or 4")

    def input_range(self, layer: int) -> tuple[int, int]:
        """``(lo, hi)`` of the integer inputs of ``layer``."""
        return INPUT_RANGE if layer == 0 else self.hidden

    def in_channels(self, layer: int) -> int:
        """Planes ``layer`` reads (3 for the first, the previous layer's channels after)."""
        return 3 if layer == 0 else self.layers[layer - 1].channels

    @property
    def margin(self) -> int:
        """Pixels of context one output pixel needs on each side."""
        return sum(max(ly.kh, ly.kw) // 2 if self.rotations == 4 else max(ly.kh // 2, ly.kw // 2)
                   for ly in self.layers)

    @property
    def lookups_per_pixel(self) -> int:
        """Table look-ups per output pixel (each returns 3 packed channels)."""
        per_pass = sum(self.in_channels(i) * ly.kh * ly.kw * -(-ly.channels // 3)
                       for i, ly in enumerate(self.layers))
        return per_pass * self.rotations

    def describe(self) -> str:
        """Short text: ``rgb 3x3x3-3x3x3 k17 r1``."""
        shape = "-".join(f"{ly.kh}x{ly.kw}x{ly.channels}" for ly in self.layers)
        return f"{self.color} {shape} k{self.knots} r{self.rotations}"


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """``floor(x + 1/2)``, the rounding the look-up inference does with integer shifts."""
    return torch.floor(x + 0.5)


def _ste(value: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """``exact`` in the forward pass, the gradient of ``value`` in the backward pass."""
    return value + (exact - value).detach()


def to_planes(rgb: torch.Tensor, color: str) -> torch.Tensor:
    """The integer planes the first layer reads from ``uint8``-valued RGB ``[B, 3, H, W]``."""
    if color == "rgb":
        return rgb
    x = rgb.long()
    planes = [(c[0] * x[:, 0] + c[1] * x[:, 1] + c[2] * x[:, 2] + 128) >> 8 for c in YCBCR]
    planes[1], planes[2] = planes[1] + 128, planes[2] + 128
    return torch.stack(planes, 1).clamp(0, 255).to(rgb.dtype)


def segments(positions: torch.Tensor, lo: int, hi: int) -> tuple[torch.Tensor, ...]:
    """For every integer input ``lo..hi`` of each plane: segment index, offset in it, its span.

    ``positions`` is ``[planes, knots]`` (increasing, first ``lo``, last ``hi``); returns
    three ``[planes, hi - lo + 1]`` int64 tensors.
    """
    domain = torch.arange(lo, hi + 1, device=positions.device)
    seg = torch.searchsorted(positions[:, 1:-1].contiguous(),
                             domain.expand(positions.shape[0], -1).contiguous(), right=True)
    start = torch.gather(positions, 1, seg)
    span = torch.gather(positions, 1, seg + 1) - start
    return seg, domain - start, span


def expand_exact(values: torch.Tensor, seg: torch.Tensor, offset: torch.Tensor,
                 span: torch.Tensor, taps_per_plane: int) -> torch.Tensor:
    """Integer values of every unit at every integer input, rounded half up (int64).

    ``values`` is ``[taps, knots, out]`` int64 (units of ``1/ONE``), taps ordered plane by
    plane; the result is ``[taps, domain, out]``. :mod:`rinr_core.lut.apply` expands the
    stored tables with this same formula.
    """
    plane = torch.arange(values.shape[0], device=values.device) // taps_per_plane
    s, a, n = seg[plane], offset[plane], span[plane]  # [taps, domain]
    left = torch.gather(values, 1, s.unsqueeze(-1).expand(-1, -1, values.shape[2]))
    right = torch.gather(values, 1, (s + 1).unsqueeze(-1).expand(-1, -1, values.shape[2]))
    num = left * (n - a).unsqueeze(-1) + right * a.unsqueeze(-1)
    den = n.unsqueeze(-1)
    return torch.div(2 * num + den, 2 * den, rounding_mode="floor")


class PwlLayer(nn.Module):
    """A layer of piecewise-linear units (see the module docstring)."""

    positions: torch.Tensor
    values: nn.Parameter

    def __init__(self, planes: int, channels: int, kh: int, kw: int, lo: int, hi: int,
                 knots: int) -> None:
        super().__init__()
        self.planes, self.channels, self.kh, self.kw, self.lo, self.hi = planes, channels, kh, kw, lo, hi
        self.taps = planes * kh * kw
        self.values = nn.Parameter(torch.zeros(self.taps, knots, channels))
        uniform = torch.linspace(lo, hi, knots).round().long()
        self.register_buffer("positions", uniform.expand(planes, -1).contiguous())

    @property
    def domain(self) -> int:
        """Integer inputs per unit (``hi - lo + 1``)."""
        return self.hi - self.lo + 1

    def stored_values(self) -> torch.Tensor:
        """The integer values the tables store (units of ``1/ONE``), int64 ``[taps, knots, out]``."""
        scaled = self.values.detach() * ONE
        return round_half_up(scaled).clamp(-VALUE_LIMIT, VALUE_LIMIT - 1).long()

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(value, slope)`` of every unit at every integer input, ``[taps, domain, out]``.

        ``value`` holds the exact integers of :func:`expand_exact` (units of ``1/ONE``) and
        carries the gradient of the linear interpolation of the knot values; ``slope`` is
        the (detached) slope of the segment of each input, for the gradient of the input.
        """
        seg, offset, span = segments(self.positions, self.lo, self.hi)
        per_plane = self.kh * self.kw
        plane = torch.arange(self.taps, device=seg.device) // per_plane
        s, a, n = seg[plane], offset[plane], span[plane].to(self.values.dtype)
        scaled = self.values * ONE
        quantized = _ste(scaled, self.stored_values().to(scaled.dtype))
        index = s.unsqueeze(-1).expand(-1, -1, self.channels)
        left = torch.gather(quantized, 1, index)
        right = torch.gather(quantized, 1, index + 1)
        weight = (a.to(scaled.dtype) / n).unsqueeze(-1)
        soft = left + (right - left) * weight
        exact = expand_exact(self.stored_values(), seg, offset, span, per_plane)
        slope = ((right - left) / n.unsqueeze(-1)).detach()
        return _ste(soft, exact.to(soft.dtype)), slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sums ``S`` (units of ``1/ONE``) ``[B, out, H, W]`` of integer-valued input ``x``."""
        batch, _, height, width = x.shape
        ry, rx = self.kh // 2, self.kw // 2
        padded = F.pad(x, (rx, rx, ry, ry), mode="replicate") if ry or rx else x
        value, slope = self.tables()
        value, slope = value.reshape(-1, self.channels), slope.reshape(-1, self.channels)
        total = x.new_zeros(batch, height, width, self.channels)
        for c in range(self.planes):
            for dy in range(self.kh):
                for dx in range(self.kw):
                    tap = (c * self.kh + dy) * self.kw + dx
                    seen = padded[:, c, dy:dy + height, dx:dx + width]
                    index = (seen.detach().long() - self.lo) + tap * self.domain
                    total = total + F.embedding(index, value)
                    if seen.requires_grad:
                        total = total + F.embedding(index, slope) * (seen - seen.detach()).unsqueeze(-1)
        return total.permute(0, 3, 1, 2)


class LutNet(nn.Module):
    """The post-filter network of a :class:`LutSpec` (see the module docstring)."""

    def __init__(self, spec: LutSpec) -> None:
        super().__init__()
        self.spec = spec
        self._layers = [PwlLayer(spec.in_channels(i), ly.channels, ly.kh, ly.kw,
                                 *spec.input_range(i), spec.knots)
                        for i, ly in enumerate(spec.layers)]
        self.units = nn.ModuleList(self._layers)

    @property
    def layers(self) -> list[PwlLayer]:
        """The layers, in order."""
        return list(self._layers)

    def init_random(self, generator: torch.Generator) -> None:
        """Hidden layers start as random linear filters; the last layer at zero (identity)."""
        for i, layer in enumerate(self.layers):
            with torch.no_grad():
                if i == len(self.layers) - 1:
                    layer.values.zero_()
                    continue
                lo, hi = layer.lo, layer.hi
                centre = (layer.positions.float() - (lo + hi) / 2) / ((hi - lo) / 2)  # [planes, K]
                gain = torch.randn(layer.taps, 1, layer.channels, generator=generator)
                reach = min(abs(v) for v in self.spec.hidden) / 2 / layer.taps ** 0.5
                per_tap = centre.repeat_interleave(layer.kh * layer.kw, 0).unsqueeze(-1)
                layer.values.copy_(gain * per_tap * reach)

    def sums(self, rgb: torch.Tensor) -> torch.Tensor:
        """The last layer's sums (units of ``1/ONE``) for one orientation of ``rgb``."""
        h = to_planes(rgb, self.spec.color)
        lo, hi = self.spec.hidden
        for i, layer in enumerate(self.layers):
            s = layer(h)
            if i == len(self.layers) - 1:
                return s
            h = _ste(s / ONE, round_half_up(s / ONE)).clamp(lo, hi)
        raise AssertionError("unreachable: a spec has at least one layer")

    def correction(self, rgb: torch.Tensor) -> torch.Tensor:
        """The integer correction (pixel levels) for ``uint8``-valued ``rgb`` ``[B, 3, H, W]``."""
        total = self.sums(rgb)
        if self.spec.rotations == 4:
            for k in range(1, 4):
                total = total + torch.rot90(self.sums(torch.rot90(rgb, k, (2, 3))), -k, (2, 3))
        scale = ONE * self.spec.rotations
        return _ste(total / scale, round_half_up(total / scale))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """The filtered frame ``[B, 3, H, W]`` (integer-valued, clipped to 0-255)."""
        return (rgb + self.correction(rgb)).clamp(0, 255)


LUT_PRESETS: dict[str, LutSpec] = {
    "fast": LutSpec(),
    "lean": LutSpec(layers=(LayerSpec(3, 3, 3), LayerSpec(1, 1, 3))),
    "wide": LutSpec(layers=(LayerSpec(3, 3, 6), LayerSpec(3, 3, 3))),
    "deep": LutSpec(layers=(LayerSpec(3, 3, 3), LayerSpec(3, 3, 3), LayerSpec(3, 3, 3))),
}
"""Named network shapes: ``fast`` (54 look-ups per pixel), ``lean`` (30: a 3x3 layer and a
per-pixel one), ``wide`` and ``deep`` (108 and 81)."""
DEFAULT_LUT_PRESET = "fast"


def lut_preset(name: str, *, color: str | None = None, rotations: int | None = None) -> LutSpec:
    """The preset ``name``, optionally with another ``color`` or ``rotations``."""
    try:
        spec = LUT_PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown post-filter preset {name!r}; choose one of "
                          f"{', '.join(LUT_PRESETS)}") from None
    return LutSpec(spec.layers, color or spec.color, spec.knots, spec.hidden,
                   rotations or spec.rotations)
