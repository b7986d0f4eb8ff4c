"""Image quality and size metrics: PSNR of the whole frame, the object box, the background."""

from __future__ import annotations

import math

import numpy as np

from rinr_core.frames import Box

PSNR_CAP_DB = 100.0  # reported for identical images instead of infinity


def psnr(reference: np.ndarray, test: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB between two ``uint8`` images (peak 255), optionally over ``mask`` pixels only."""
    ref = np.asarray(reference, dtype=np.float64)
    tst = np.asarray(test, dtype=np.float64)
    if ref.shape != tst.shape:
        raise ValueError(f"PSNR needs equal shapes, got {ref.shape} and {tst.shape}")
    err = (ref - tst) ** 2
    if mask is not None:
        err = err[mask]
        if err.size == 0:
            return float("nan")
    mse = float(err.mean())
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(255.0**2 / mse))


def box_mask(height: int, width: int, box: Box) -> np.ndarray:
    """Boolean ``H x W`` mask that is True inside ``box``."""
    x, y, w, h = box
    mask = np.zeros((height, width), dtype=bool)
    mask[y : y + h, x : x + w] = True
    return mask


def frame_psnrs(reference: np.ndarray, test: np.ndarray, box: Box) -> dict[str, float]:
    """``psnr_full``, ``psnr_object`` (inside the box) and ``psnr_background`` (outside it)."""
    mask = box_mask(reference.shape[0], reference.shape[1], box)
    return {
        "psnr_full": psnr(reference, test),
        "psnr_object": psnr(reference, test, mask),
        "psnr_background": psnr(reference, test, ~mask),
    }


def bits_per_pixel(num_bytes: float, width: int, height: int) -> float:
    return 8.0 * num_bytes / float(width * height)
