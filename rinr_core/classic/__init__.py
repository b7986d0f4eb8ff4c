"""Classic per-frame image codecs that Residual-INR is compared against.

Four peers, all through Pillow with its default settings: ``jpeg`` (4:2:0 chroma subsampling,
plus ``optimize=True``: per-image Huffman tables, a lossless saving of about 350 header bytes
and a few percent of the data), ``webp``, ``avif`` (Pillow's built-in AVIF plugin) and
``roi-jpeg``: a low-quality JPEG of the whole frame plus a high-quality JPEG of the object
crop, pasted back over the frame on decode (layout: :mod:`~rinr_core.classic.roi`).

Besides encode/decode, the package answers the questions a benchmark asks of a peer: the
quality at a byte budget (:func:`classic_at_budget`), the smallest payload meeting PSNR targets
(:func:`classic_at_target`) and a rate-distortion sweep (:func:`classic_sweep`).

Modules: :mod:`~rinr_core.classic.peers` (names, checks, encode/decode/measure),
:mod:`~rinr_core.classic.pillow` (JPEG, WebP, AVIF), :mod:`~rinr_core.classic.roi` (ROI-JPEG)
and :mod:`~rinr_core.classic.search` (searches over quality).
"""

from rinr_core.classic.peers import (
    CLASSIC_CODECS,
    QUALITY_MAX,
    QUALITY_MIN,
    ClassicResult,
    Quality,
    decode_classic,
    encode_classic,
    quality_label,
    run_classic,
)
from rinr_core.classic.roi import ROI_BLOCK, ROI_HEADER, ROI_MAGIC
from rinr_core.classic.search import (
    DEFAULT_QUALITIES,
    DEFAULT_ROI_QUALITIES,
    ROI_OBJECT_GRID,
    classic_at_budget,
    classic_at_target,
    classic_sweep,
)

__all__ = [
    "CLASSIC_CODECS",
    "DEFAULT_QUALITIES",
    "DEFAULT_ROI_QUALITIES",
    "QUALITY_MAX",
    "QUALITY_MIN",
    "ROI_BLOCK",
    "ROI_HEADER",
    "ROI_MAGIC",
    "ROI_OBJECT_GRID",
    "ClassicResult",
    "Quality",
    "classic_at_budget",
    "classic_at_target",
    "classic_sweep",
    "decode_classic",
    "encode_classic",
    "quality_label",
    "run_classic",
]
