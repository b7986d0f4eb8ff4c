"""Conversion: a trained :class:`~rinr_core.lut.network.LutNet` <-> the tables an edge stores.

:class:`LutTables` is what a ``.rlut`` file holds: the network's shape, and per layer the knot
positions of every input plane (the dynamic discretization) and the integer value of every
unit at every knot (units of ``1/16`` pixel level). Conversion is exact: the network computes
with these very integers (:mod:`rinr_core.lut.network`), so the look-up inference of
:mod:`rinr_core.lut.apply` reproduces its output bit for bit (``promised_error = 0``). What
the discretization costs against the unrounded network (the float knot values) is reported
too: each stored value is within half a step (``1/32`` level) of its float, and each expanded
table entry within one step (``1/16``) of the float interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rinr_core.lut.network import ONE, LayerSpec, LutNet, LutSpec, segments


@dataclass(frozen=True)
class LayerTables:
    """One layer's tables: knot positions ``[planes, knots]``, values ``[taps, knots, out]``."""

    positions: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class LutTables:
    """A post-filter as tables (what a ``.rlut`` file holds).

    Attributes
    ----------
    spec
        The network's shape.
    layers
        One :class:`LayerTables` per layer of ``spec``.
    meta
        What the fog knows about it: the codec it was trained for, frames, PSNR before and
        after on the training frames, ... (JSON-serializable; carried in the file).
    """

    spec: LutSpec
    layers: tuple[LayerTables, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    promised_error: int = 0
    """Largest difference (pixel levels) between look-up inference and the network these
    tables were converted from, on any frame: 0, the tables are the network's integers."""

    @property
    def stored_values(self) -> int:
        """Number of stored table values (knot values of every unit and output channel)."""
        return sum(int(t.values.size) for t in self.layers)


def from_network(net: LutNet, meta: dict[str, Any] | None = None) -> LutTables:
    """The tables of ``net`` (exact: see the module docstring)."""
    layers = tuple(
        LayerTables(layer.positions.detach().cpu().numpy().astype(np.int16),
                    layer.stored_values().cpu().numpy().astype(np.int16))
        for layer in net.layers)
    return LutTables(net.spec, layers, dict(meta or {}))


def to_network(tables: LutTables) -> LutNet:
    """A :class:`LutNet` computing exactly what ``tables`` compute (to test or fine-tune)."""
    net = LutNet(tables.spec)
    with torch.no_grad():
        for layer, stored in zip(net.layers, tables.layers, strict=True):
            layer.positions.copy_(torch.from_numpy(stored.positions.astype(np.int64)))
            layer.values.copy_(torch.from_numpy(stored.values.astype(np.float32)) / ONE)
    return net


def float_deviation(net: LutNet) -> float:
    """Largest gap (pixel levels) between any expanded table entry and the float network's
    interpolation of its unrounded knot values; at most ``1/ONE`` by construction."""
    worst = 0.0
    with torch.no_grad():
        for layer in net.layers:
            value, _ = layer.tables()
            seg, offset, span = segments(layer.positions, layer.lo, layer.hi)
            plane = torch.arange(layer.taps) // (layer.kh * layer.kw)
            s, a, n = seg[plane], offset[plane], span[plane].float()
            raw = layer.values * ONE
            index = s.unsqueeze(-1).expand(-1, -1, layer.channels)
            left, right = torch.gather(raw, 1, index), torch.gather(raw, 1, index + 1)
            soft = left + (right - left) * (a.float() / n).unsqueeze(-1)
            worst = max(worst, float((value - soft).abs().max()) / ONE)
    return worst


def spec_from_shapes(color: str, knots: int, hidden: tuple[int, int], rotations: int,
                     shapes: list[tuple[int, int, int]]) -> LutSpec:
    """A :class:`LutSpec` from its fields as a file stores them."""
    return LutSpec(tuple(LayerSpec(*s) for s in shapes), color, knots, hidden, rotations)
