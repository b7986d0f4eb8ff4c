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

Modules: :mod:`~rinr_core.nerv.arch` (the shape), :mod:`~rinr_core.nerv.presets` (recipes),
:mod:`~rinr_core.nerv.model` (the network, rendering), :mod:`~rinr_core.nerv.quantize`
(stored weights) and :mod:`~rinr_core.nerv.training` (loss and fitting).
"""

from rinr_core.nerv.arch import ACTIVATIONS, NervArch, arch_for_weights
from rinr_core.nerv.model import Nerv, build_nerv, frame_times, positional_encoding, render
from rinr_core.nerv.presets import (
    DEFAULT_NERV_PRESET,
    NERV_PRESETS,
    NervPreset,
    NervTraining,
    get_nerv_preset,
)
from rinr_core.nerv.quantize import Grid, load_quantized, quantize_nerv
from rinr_core.nerv.training import NervFitReport, fit_nerv, nerv_loss, ssim

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_NERV_PRESET",
    "NERV_PRESETS",
    "Grid",
    "Nerv",
    "NervArch",
    "NervFitReport",
    "NervPreset",
    "NervTraining",
    "arch_for_weights",
    "build_nerv",
    "fit_nerv",
    "frame_times",
    "get_nerv_preset",
    "load_quantized",
    "nerv_loss",
    "positional_encoding",
    "quantize_nerv",
    "render",
    "ssim",
]
