"""Look-up-table post-filters (TinyLUT-style): restore decoded frames with table look-ups.

A fog holds both the originals and exactly what its edges decode, so it can learn a
restoration filter for its own codec and ship it once. The layers, one per concern:

- :mod:`~rinr_core.lut.network`: the network (separable look-up units, piecewise linear
  between knots, residual output, optional rotation ensemble) and its presets;
- :mod:`~rinr_core.lut.training`: fitting it on (decoded, original) pairs, with dynamic
  discretization (knots moved to the quantiles of the values each layer sees);
- :mod:`~rinr_core.lut.tables`: conversion to the tables an edge stores (exact);
- :mod:`~rinr_core.lut.apply`: inference by look-ups and additions (:class:`LutFilter`);
- :mod:`~rinr_core.lut.format`: the ``.rlut`` file (versioned, CRC-32 checked);
- :mod:`~rinr_core.lut.pairs`: training pairs from any registered codec.
"""

from rinr_core.lut.apply import LutFilter
from rinr_core.lut.format import SUFFIX, check, pack, unpack
from rinr_core.lut.network import (
    COLORS,
    DEFAULT_LUT_PRESET,
    LUT_PRESETS,
    LayerSpec,
    LutNet,
    LutSpec,
    lut_preset,
)
from rinr_core.lut.pairs import CodecPairs, codec_pairs
from rinr_core.lut.tables import LutTables, from_network, to_network
from rinr_core.lut.training import LutTrainSettings, TrainedLut, mean_psnr, train_lut

__all__ = [
    "COLORS", "DEFAULT_LUT_PRESET", "LUT_PRESETS", "SUFFIX", "CodecPairs", "LayerSpec",
    "LutFilter", "LutNet", "LutSpec", "LutTables", "LutTrainSettings", "TrainedLut", "check",
    "codec_pairs", "from_network", "lut_preset", "mean_psnr", "pack", "to_network",
    "train_lut", "unpack",
]
