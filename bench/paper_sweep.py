"""Figure 3 of ``bench/paper.py``: bytes vs detection accuracy, and each codec's bytes at parity.

The sweep is :func:`accuracy.measure` with several quality settings per codec (same frames,
same recipe, same seeds as ``bench/accuracy.py``; its cached training runs are reused when the
configuration matches). "Bytes at parity": a codec's smallest mean payload whose mAP50-95 is
within :data:`accuracy.TARGET_POINTS` of the JPEG-trained model (mean of the paired
differences over sequences x seeds).
"""

from __future__ import annotations

from typing import Any

from accuracy import GRID_STREAM, TARGET_POINTS, CodecSetting

SWEEP = (
    CodecSetting("jpeg", label="JPEG (camera)"),
    CodecSetting("jpeg", {"quality": 50}, "JPEG q50"),
    CodecSetting("jpeg", {"quality": 20}, "JPEG q20"),
    CodecSetting("qre"),
    CodecSetting("qre", {"background_bits": 5, "object_bits": 8}, "qre 5/8-bit"),
    CodecSetting("res-nerv"),
    CodecSetting("res-nerv", {"nerv_bpp": 0.1}, "res-nerv 0.1 bpp"),
    GRID_STREAM,
)
"""Quality settings per codec: the camera JPEG (the reference), fog re-encodes of it at lower
JPEG qualities, QRE at its default and lower bit widths, Res-NeRV at its default and a
smaller NeRV, and the grid stream at the demo's 30 / 35 dB targets."""


def family(row: dict[str, Any]) -> str:
    """The curve a sweep row belongs to: its codec (the camera JPEG and re-encodes: ``jpeg``)."""
    return str(row["codec"])


def bytes_at_parity(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per codec: its smallest setting within the target of the JPEG-trained model, if any."""
    out = []
    for codec in dict.fromkeys(family(s) for s in summary):
        rows = sorted((s for s in summary if family(s) == codec and "delta_map50_95" in s),
                      key=lambda s: s["bytes_per_frame"])
        at_parity = [s for s in rows if s["delta_map50_95"]["mean"] >= -TARGET_POINTS]
        best = at_parity[0] if at_parity else None
        out.append({
            "codec": codec,
            "settings": [s["setting"] for s in rows],
            "setting": best["setting"] if best else None,
            "bytes_per_frame": best["bytes_per_frame"] if best else None,
            "delta_map50_95": best["delta_map50_95"]["mean"] if best else None,
            "smallest_tried": rows[0]["bytes_per_frame"] if rows else None,
            "best_delta": max((s["delta_map50_95"]["mean"] for s in rows), default=None),
        })
    return out


def free_quality(summary: list[dict[str, Any]]) -> list[str]:
    """Sentences on settings whose image quality drops while the mAP stays at parity."""
    lines = []
    for codec in dict.fromkeys(family(s) for s in summary):
        rows = sorted((s for s in summary if family(s) == codec and "delta_map50_95" in s),
                      key=lambda s: s["bytes_per_frame"])
        if len(rows) < 2:
            continue
        low, high = rows[0], rows[-1]
        d_low, d_high = low["delta_map50_95"], high["delta_map50_95"]
        drop = high["bytes_per_frame"] / low["bytes_per_frame"] if low["bytes_per_frame"] else 0
        half = 2 * d_low["std"] / d_low["n"] ** 0.5
        if d_low["mean"] >= -TARGET_POINTS:
            verdict = "accuracy kept at parity"
        elif d_low["mean"] + half < -TARGET_POINTS:
            verdict = "accuracy lost (beyond 2 standard errors)"
        else:
            verdict = (f"mean below parity but within the noise (mean ± 2 standard errors "
                       f"{d_low['mean'] - half:+.1f} to {d_low['mean'] + half:+.1f})")
        lines.append(f"- {codec}: from {high['setting']} ({high['bytes_per_frame']:.0f} B/frame, "
                     f"{d_high['mean']:+.2f} points) to {low['setting']} "
                     f"({low['bytes_per_frame']:.0f} B/frame, {d_low['mean']:+.2f} points): "
                     f"{drop:.1f}x fewer bytes, {verdict}.")
    return lines
