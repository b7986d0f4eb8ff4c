"""Searches over a classic peer's quality: at a byte budget, at PSNR targets, and sweeps.

The quality at a byte budget (:func:`classic_at_budget`), the smallest payload meeting PSNR
targets (:func:`classic_at_target`) and a rate-distortion sweep (:func:`classic_sweep`).
Searches over quality are binary searches that assume size and PSNR grow with quality.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from rinr_core.classic.peers import (
    QUALITY_MAX,
    QUALITY_MIN,
    ClassicResult,
    Quality,
    _check_codec,
    _check_inputs,
    run_classic,
)
from rinr_core.classic.pillow import _pillow_decode, _pillow_encode
from rinr_core.classic.roi import _box_in_crop, _flatten_inner_blocks, _roi_crop, _roi_encode
from rinr_core.frames import Box
from rinr_core.metrics import box_mask, psnr

# Object qualities tried by classic_at_budget for ROI-JPEG (q=100 is a degenerate JPEG setting).
ROI_OBJECT_GRID = (20, 40, 60, 75, 85, 90, 95)

DEFAULT_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
DEFAULT_ROI_QUALITIES = ((5, 50), (10, 60), (20, 70), (30, 80), (40, 85), (60, 90), (80, 95))


def _lowest_passing(
    passes: Callable[[int], bool], lo: int = QUALITY_MIN, hi: int = QUALITY_MAX
) -> int | None:
    """Smallest ``q`` in ``lo..hi`` with ``passes(q)``, for a predicate that is monotone in ``q``.

    The answer ``q`` was checked to pass, and ``q - 1`` (when ``q > lo``) was checked to fail.
    Returns None when even ``hi`` fails.
    """
    if not passes(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _highest_within(size_of: Callable[[int], int], max_bytes: int) -> int | None:
    """Largest quality whose ``size_of(q) <= max_bytes`` (and ``q + 1`` was checked to exceed it)."""
    first_over = _lowest_passing(lambda q: size_of(q) > max_bytes)
    if first_over is None:
        return QUALITY_MAX
    return None if first_over == QUALITY_MIN else first_over - 1


def classic_at_budget(
    image: np.ndarray, box: Sequence[float], codec: str, max_bytes: int
) -> ClassicResult | None:
    """Best-quality setting of ``codec`` whose payload fits in ``max_bytes``; None if none fits.

    ``jpeg``/``webp``/``avif``: binary search for the highest quality in ``1..100`` that fits.
    ``roi-jpeg``: for each object quality in :data:`ROI_OBJECT_GRID`, the highest background
    quality that still fits; the pair with the best object PSNR wins (ties: best full PSNR).
    """
    img, valid_box = _check_inputs(image, box, codec)
    if codec != "roi-jpeg":
        best = _highest_within(
            functools.cache(lambda q: len(_pillow_encode(img, codec, q))), max_bytes
        )
        return None if best is None else run_classic(img, valid_box, codec, best)
    candidates = []
    for obj in ROI_OBJECT_GRID:
        size_of = functools.cache(lambda q, o=obj: len(_roi_encode(img, valid_box, q, o)))
        bg = _highest_within(size_of, max_bytes)
        if bg is not None:
            candidates.append(run_classic(img, valid_box, codec, (bg, obj)))
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.metrics["psnr_object"], r.metrics["psnr_full"]))


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    return _pillow_decode(_pillow_encode(image, "jpeg", quality), "jpeg")


def _meets(result: ClassicResult, background_db: float, object_db: float) -> bool:
    m = result.metrics
    # A box covering the whole frame has no background (NaN): only the object target applies.
    bg_ok = np.isnan(m["psnr_background"]) or m["psnr_background"] >= background_db
    return bool(bg_ok and m["psnr_object"] >= object_db)


def _roi_at_target(
    image: np.ndarray, box: Box, background_db: float, object_db: float
) -> ClassicResult | None:
    """Lowest background and object qualities meeting their targets, verified on the real decode."""
    flattened = _flatten_inner_blocks(image, box)
    outside = ~box_mask(image.shape[0], image.shape[1], box)
    crop = _roi_crop(image, box)
    inside = np.zeros(crop.shape[:2], dtype=bool)
    inside[_box_in_crop(box, image.shape[1], image.shape[0])] = True

    def background_ok(q: int) -> bool:
        if not outside.any():
            return True
        return psnr(image, _jpeg_round_trip(flattened, q), outside) >= background_db

    def object_ok(q: int) -> bool:
        return psnr(crop, _jpeg_round_trip(crop, q), inside) >= object_db

    bg, obj = _lowest_passing(background_ok), _lowest_passing(object_ok)
    if bg is None or obj is None:
        return None
    result = run_classic(image, box, "roi-jpeg", (bg, obj))
    return result if _meets(result, background_db, object_db) else None


def classic_at_target(
    image: np.ndarray,
    box: Sequence[float],
    codec: str,
    *,
    background_db: float = 30.0,
    object_db: float = 35.0,
) -> ClassicResult | None:
    """Smallest payload of ``codec`` with background PSNR >= ``background_db`` and object PSNR >= ``object_db``.

    ``jpeg``/``webp``/``avif``: binary search for the lowest quality meeting both targets.
    ``roi-jpeg``: the lowest background quality meeting the background target and the lowest
    object quality meeting the object target, checked again on the pasted decode.
    Returns None when no quality reaches the targets.
    """
    img, valid_box = _check_inputs(image, box, codec)
    if codec == "roi-jpeg":
        return _roi_at_target(img, valid_box, background_db, object_db)
    result_at = functools.cache(lambda q: run_classic(img, valid_box, codec, q))
    best = _lowest_passing(lambda q: _meets(result_at(q), background_db, object_db))
    return None if best is None else result_at(best)


def classic_sweep(
    image: np.ndarray,
    box: Sequence[float],
    codec: str,
    qualities: Sequence[Quality] | None = None,
) -> list[ClassicResult]:
    """Rate-distortion points of ``codec``, one :class:`ClassicResult` per quality setting.

    Default qualities: :data:`DEFAULT_QUALITIES`, or :data:`DEFAULT_ROI_QUALITIES` for ROI-JPEG.
    """
    codec = _check_codec(codec)
    if qualities is None:
        qualities = DEFAULT_ROI_QUALITIES if codec == "roi-jpeg" else DEFAULT_QUALITIES
    return [run_classic(image, box, codec, q) for q in qualities]
