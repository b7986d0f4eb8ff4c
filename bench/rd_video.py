"""The sequence-codec section of ``bench/rd.py``: Res-NeRV and NeRV vs classic per-frame codecs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import log
from rd_config import CODEC_TITLES, VIDEO_CODECS, RdConfig
from rd_frames import classic_targets, meets

from rinr_core.classic import CLASSIC_CODECS, classic_at_budget
from rinr_core.datasets import load_sequence
from rinr_core.frames import Frame
from rinr_core.sequence import SequenceSettings, encode_sequence

METRIC_KEYS = ("bytes", "psnr_full", "psnr_object", "psnr_background")


def _metric_row(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: float(metrics[k]) for k in METRIC_KEYS}


def _mean_rows(rows: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Means of the metric keys over the rows that exist, and how many exist."""
    found = [r for r in rows if r is not None]
    means = {k: float(np.nanmean([r[k] for r in found])) if found else None for k in METRIC_KEYS}
    return {**means, "frames": len(found)}


def nerv_description(config: RdConfig) -> dict[str, Any]:
    """The NeRV preset and recipe the sequence codecs use (kept in ``rd.json`` for ``--render``)."""
    preset = SequenceSettings(nerv_preset=config.nerv_preset, epochs=config.nerv_epochs).resolve()
    t = preset.training
    return {"preset": preset.name, "description": preset.description, "epochs": t.epochs,
            "qat_epochs": t.qat_epochs, "lr": t.lr, "batch_size": t.batch_size, "bits": t.bits,
            "nerv_bpp": config.nerv_bpp if config.nerv_bpp is not None else preset.bpp,
            "max_nerv_bpp": SequenceSettings().max_nerv_bpp}


def encode_video(frames: Sequence[Frame], config: RdConfig) -> dict[str, Any]:
    """Res-NeRV, then NeRV on the same fitted NeRV background: per-frame metrics and summaries."""
    out: dict[str, Any] = {}
    background = None
    for codec in VIDEO_CODECS:  # res-nerv first: its NeRV is reused by nerv
        settings = SequenceSettings(codec=codec, nerv_preset=config.nerv_preset, epochs=config.nerv_epochs,
                                    nerv_bpp=config.nerv_bpp, object_steps=config.object_steps,
                                    object_db=config.object_db if config.aim_targets else None,
                                    background_db=config.background_db if config.aim_targets else None, max_side=config.max_side,
                                    device=config.device)
        start = time.perf_counter()
        result = encode_sequence(frames, settings, background=background)
        seconds = time.perf_counter() - start
        background = result.background
        rows = [_metric_row(m) for m in result.metrics]
        ok = [meets(r, config.background_db, config.object_db) for r in rows]
        refits = sum(m.get("object_refits", 0) for m in result.metrics)
        out[codec] = {"seconds": seconds, "rows": rows,
                      "summary": {**_mean_rows(rows), "meets": sum(ok), "object_refits": refits},
                      "payload_bytes": len(result.payload),
                      "info": {k: v for k, v in result.summary.items() if isinstance(v, int | float | str)}}
        log(f"  {CODEC_TITLES[codec]}: {seconds:.0f} s, {out[codec]['summary']['bytes']:.0f} B/frame")
    return out


def video_goal(rows: Sequence[dict[str, Any]], best_per_frame: Sequence[Any], config: RdConfig) -> int:
    """Frames on which Res-NeRV reaches both targets with no more bytes than that frame's smallest
    classic payload at the targets (or where no classic codec reaches them)."""
    return sum(meets(r, config.background_db, config.object_db) and (best is None or r["bytes"] <= best[0])
               for r, best in zip(rows, best_per_frame, strict=True))


def classic_at_bytes(frames: Sequence[Frame], budgets: Sequence[float]) -> dict[str, Any]:
    """Each classic codec at each frame's byte budget (best quality that fits): rows and means."""
    out: dict[str, Any] = {}
    for codec in CLASSIC_CODECS:
        found = [classic_at_budget(f.image, f.box, codec, int(b)) for f, b in zip(frames, budgets, strict=True)]
        rows = [None if r is None else {**_metric_row(r.metrics), "setting": str(r.quality)} for r in found]
        out[codec] = {"rows": rows, "summary": _mean_rows(rows)}
    return out


def measure_video(path: Path, config: RdConfig) -> dict[str, Any]:
    """The sequence-codec section of one sequence: its first frames, NeRV codecs vs classic per frame."""
    limit = None if config.sequence_frames < 0 else config.sequence_frames
    loaded = load_sequence(path, limit=limit, max_side=config.max_side)
    frames = loaded.frames
    if not frames:
        return {}
    log(f"{path.name}: sequence codecs on the first {len(frames)} frame(s) ...")
    video: dict[str, Any] = {"frames": len(frames), "frame_names": [f.name for f in frames],
                             "skipped": [s.name for s in loaded.skipped], "nerv": nerv_description(config)}
    video["codecs"] = encode_video(frames, config)
    start = time.perf_counter()
    video["targets"] = classic_targets(frames, config)
    res_nerv = video["codecs"]["res-nerv"]
    res_nerv["summary"]["goal_met"] = video_goal(res_nerv["rows"], video["targets"]["best_per_frame"], config)
    budgets = [r["bytes"] for r in res_nerv["rows"]]
    video["equal_bytes"] = classic_at_bytes(frames, budgets)
    video["classic_seconds"] = time.perf_counter() - start
    log(f"  classic codecs: {video['classic_seconds']:.0f} s")
    return video
