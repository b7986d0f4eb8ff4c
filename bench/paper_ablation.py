"""Figures 1 and 2 of ``bench/paper.py``: PSNR and payload size per ablation, every sequence.

Each codec of :data:`ABLATION` encodes the same spread-out frames of each sequence (the
camera's JPEGs, decoded, as a fog has them) through the codec registry; PSNRs are measured on
what an edge decodes from the real payloads, against those frames. A stream codec (Res-NeRV)
amortizes its NeRV over its frames, so it encodes the sequence's training frames of
``bench/accuracy.py`` instead (its size per frame is then comparable). Payloads are cached
with :func:`accuracy.encode_payloads`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from accuracy import (
    AccuracyConfig,
    CodecSetting,
    SplitSequence,
    delivered_frames,
    split_sequence,
    spread_sequence,
)
from common import log

from rinr_core.codecs import STREAM, get_codec

ABLATION = (
    CodecSetting("bs", label="BS (Rapid-INR)"),
    CodecSetting("be", label="BE"),
    CodecSetting("de", label="DE"),
    CodecSetting("re", label="RE"),
    CodecSetting("qre", label="QRE (Residual-INR)"),
    CodecSetting("res-nerv", label="Res-NeRV"),
    CodecSetting("grid", label="grid"),
    CodecSetting("jpeg", {"quality": 20}, "JPEG q20 (low quality)"),
)
"""The paper's ablation (BS, BE, DE, RE, QRE), the project's Res-NeRV and grid, low-quality JPEG."""


def measure_ablation(sequences: tuple[str, ...], frames: int, config: AccuracyConfig,
                     settings: tuple[CodecSetting, ...], cache: Path | None) -> list[dict[str, Any]]:
    """One row per (sequence, codec): bytes per frame, PSNRs, encode and decode seconds."""
    rows = []
    for name in sequences:
        spread, source = spread_sequence(name, frames, config.max_side)
        jpeg_bytes = [f.meta["jpeg_bytes"] for f in spread]
        seq = SplitSequence(name, spread, [], jpeg_bytes, source)
        camera = float(np.mean(jpeg_bytes))
        rows.append({"sequence": name, "setting": "camera JPEG", "codec": "jpeg",
                     "frames": len(spread), "size": list(seq.size), "bytes_per_frame": camera,
                     "vs_camera_jpeg": 1.0, "psnr_full": None, "psnr_object": None,
                     "psnr_background": None, "encode_s_per_frame": 0.0})
        stream_seq: SplitSequence | None = None
        for setting in settings:
            used = seq
            if get_codec(setting.codec).kind == STREAM:  # a stream amortizes over its frames
                stream_seq = stream_seq or split_sequence(name, config)
                used = stream_seq
            _, info = delivered_frames(setting, used, config, cache)
            used_camera = float(np.mean(used.jpeg_bytes))
            rows.append({"sequence": name, "setting": setting.name, "codec": setting.codec,
                         "frames": len(used.train), "size": list(used.size), **info,
                         "vs_camera_jpeg": info["bytes_per_frame"] / used_camera})
            log(f"[paper] {name} {setting.name}: {info['bytes_per_frame']:.0f} B/frame, object "
                f"{info['psnr_object']:.1f} dB, background {info['psnr_background']:.1f} dB")
    return rows


def ablation_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per codec, the mean over sequences of bytes, size ratio and PSNRs."""
    out = []
    for setting in dict.fromkeys(r["setting"] for r in rows):
        mine = [r for r in rows if r["setting"] == setting]
        row: dict[str, Any] = {"setting": setting, "sequences": len(mine)}
        for key in ("bytes_per_frame", "vs_camera_jpeg", "psnr_full", "psnr_object",
                    "psnr_background", "encode_s_per_frame"):
            values = [r[key] for r in mine if r.get(key) is not None]
            row[key] = float(np.mean(values)) if values else None
        out.append(row)
    return out
