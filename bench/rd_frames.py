"""The per-frame section of ``bench/rd.py``: INR modes and classic codecs on spread-out frames.

Also the PSNR targets: which rows reach them, each classic codec's smallest payload that does,
and QRE's verdicts against those payloads.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import log
from PIL import Image
from rd_config import RdConfig, RunSpec

from rinr_core.classic import CLASSIC_CODECS, classic_at_target, classic_sweep
from rinr_core.datasets import load_sequence
from rinr_core.evaluation import Evaluation, evaluate
from rinr_core.frames import Frame


def jpeg_quality(path: str | Path) -> int | None:
    """The libjpeg quality whose luminance table the JPEG file at ``path`` uses (None if none)."""
    with Image.open(path) as im:
        tables = getattr(im, "quantization", None)
    if not tables:
        return None
    probe = Image.new("RGB", (8, 8))
    for quality in range(1, 101):
        buf = io.BytesIO()
        probe.save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as ref:
            if list(ref.quantization[0]) == list(tables[0]):
                return quality
    return None


def spread_frames(path: Path, count: int, max_side: int) -> tuple[list[Frame], list[int]]:
    """``count`` usable frames evenly spaced from the first to the last, and their positions."""
    loaded = load_sequence(path, max_side=max_side)
    for s in loaded.skipped:
        log(f"  skipped {s.name}: {s.reason}")
    if not loaded.frames:
        return [], []
    picks = sorted({int(i) for i in np.linspace(0, len(loaded.frames) - 1, min(count, len(loaded.frames))).round()})
    frames = [loaded.frames[i] for i in picks]
    return frames, [int(f.meta.get("index", i)) for f, i in zip(frames, picks, strict=True)]


def run_inr(frames: Sequence[Frame], spec: RunSpec, device: str | None) -> tuple[Evaluation, dict[str, Any]]:
    """Evaluate ``spec``'s INR modes and the classic codecs at its QRE byte budget."""
    start = time.perf_counter()
    ev = evaluate(frames, (*spec.modes, *CLASSIC_CODECS), spec.settings(device))
    seconds = time.perf_counter() - start
    budgets = {r["frame"]: r["bytes"] for r in ev.rows if r["mode"] == "qre"}
    rows = [{**r, "run": spec.name} for r in ev.rows]
    for r in rows:
        if r["mode"] in CLASSIC_CODECS and r["frame"] in budgets:
            r["budget"] = budgets[r["frame"]]
            r["over_budget"] = r["bytes"] > budgets[r["frame"]]
    summary = ev.summary()
    for s in summary:
        settings = [str(r["setting"]) for r in rows if r["mode"] == s["mode"]]
        s["settings"] = settings if s["mode"] in CLASSIC_CODECS else [spec.preset]
        s["over_budget"] = sum(bool(r.get("over_budget")) for r in rows if r["mode"] == s["mode"])
    return ev, {"preset": spec.preset, "steps": spec.steps, "modes": list(spec.modes), "seconds": seconds,
                "summary": summary, "rows": rows}


def mean_sweep(frames: Sequence[Frame], codec: str) -> list[dict[str, Any]]:
    """The codec's RD points over its default quality grid, averaged over ``frames``."""
    per_frame = [classic_sweep(f.image, f.box, codec) for f in frames]
    points = []
    for results in zip(*per_frame, strict=True):
        points.append({"setting": results[0].quality,
                       **{k: float(np.nanmean([r.metrics[k] for r in results]))
                          for k in ("bytes", "psnr_full", "psnr_object", "psnr_background")}})
    return points


def meets(row: dict[str, Any], background_db: float, object_db: float) -> bool:
    """True when a row's background (if any) and object PSNRs reach the targets."""
    bg = row["psnr_background"]  # NaN (None once read back from JSON): the box is the whole frame
    return bool((bg is None or math.isnan(bg) or bg >= background_db) and row["psnr_object"] >= object_db)


def classic_targets(frames: Sequence[Frame], config: RdConfig) -> dict[str, Any]:
    """Per codec and frame, the smallest payload with background >= and object >= the targets.

    A codec's mean ``bytes`` is None unless it reached the targets on every frame;
    ``best_per_frame`` holds ``(bytes, codec)`` of the smallest such payload of each frame
    (None where no codec reaches the targets at any quality).
    """
    classic: dict[str, Any] = {}
    for codec in CLASSIC_CODECS:
        found = [classic_at_target(f.image, f.box, codec, background_db=config.background_db,
                                   object_db=config.object_db) for f in frames]
        per_frame = [None if r is None else {"bytes": r.metrics["bytes"], "setting": r.quality,
                                             "psnr_object": r.metrics["psnr_object"],
                                             "psnr_background": r.metrics["psnr_background"]} for r in found]
        reached = [p["bytes"] for p in per_frame if p is not None]
        classic[codec] = {"per_frame": per_frame, "reached": len(reached),
                          "bytes": float(np.mean(reached)) if len(reached) == len(frames) else None}
    best_per_frame = []
    for i in range(len(frames)):
        options = [(classic[c]["per_frame"][i]["bytes"], c) for c in CLASSIC_CODECS
                   if classic[c]["per_frame"][i] is not None]
        best_per_frame.append(min(options) if options else None)
    best_codec = min((c for c in CLASSIC_CODECS if classic[c]["bytes"] is not None),
                     key=lambda c: classic[c]["bytes"], default=None)
    return {"background_db": config.background_db, "object_db": config.object_db, "classic": classic,
            "best_classic": best_codec, "best_per_frame": best_per_frame}


def qre_targets(runs: dict[str, dict[str, Any]], best_per_frame: Sequence[Any],
                background_db: float, object_db: float) -> dict[str, Any]:
    """QRE at each run's setting: mean bytes and PSNRs, frames reaching the targets, frames meeting the goal.

    The goal is met on a frame when QRE reaches the targets with no more bytes than the smallest
    classic payload that does (or when no classic codec reaches them at all). No search over INR
    settings: the setting is the benchmark's.
    """
    qre: dict[str, Any] = {}
    for name, run in runs.items():
        rows = [r for r in run["rows"] if r["mode"] == "qre"]
        if not rows:
            continue
        ok = [meets(r, background_db, object_db) for r in rows]
        goal = [o and (best is None or r["bytes"] <= best[0])
                for o, r, best in zip(ok, rows, best_per_frame, strict=True)]
        qre[name] = {"bytes": float(np.mean([r["bytes"] for r in rows])),
                     "psnr_object": float(np.mean([r["psnr_object"] for r in rows])),
                     "psnr_background": float(np.nanmean([r["psnr_background"] for r in rows])),
                     "meets": sum(ok), "goal_met": sum(goal), "frames": len(rows)}
    return qre
