"""The grid section of ``bench/rd.py``: the latent-grid codecs and the camera's JPEG.

Per sequence, on frames of the per-frame section (``--grid-frames``, the first of them):

* **grid** (per frame, ``.rinr`` v2) with its rate control asked for the targets
  (background >= 30 dB, object >= 35 dB), and at fixed distortion weights
  (``--grid-lambdas``, no targets) on the first ``--grid-curve-frames`` of them: the curve
  the BD-rate against AVIF is measured on (AVIF swept on the same frames);
* **grid stream** (the runtime's ``codec = "grid"``) on the first ``--grid-stream-frames``
  frames of the sequence, asked for the targets; its bytes per frame (networks amortized)
  are compared with each frame's smallest classic payload at the targets (from the
  sequence-codec section when it covers those frames, else measured here);
* **camera JPEG**: what the camera would send for each frame of the per-frame section
  (:func:`rinr_core.images.camera_jpeg`: the source's own quantization tables and chroma
  subsampling, re-encoded at the benchmark's size), one point per frame.

Every grid PSNR is measured on pixels decoded from the bytes.
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
from rd_config import RdConfig, SequenceResult
from rd_frames import classic_targets, meets

from rinr_core.classic import classic_sweep
from rinr_core.datasets import load_sequence
from rinr_core.frames import Frame
from rinr_core.grid import GridSettings, encode_grid_frames
from rinr_core.grid.stream import BASE_FRAMES, encode_stream, update_stream
from rinr_core.images import camera_jpeg
from rinr_core.metrics import bits_per_pixel, frame_psnrs

GRID_KEYS = ("bytes", "bpp", "psnr_full", "psnr_object", "psnr_background", "meets_targets", "network_bytes", "latent_bytes",
             "lambda", "object_lambda", "macs_per_pixel", "encode_s", "steps", "rounds")
CURVE_KEYS = ("bytes", "bpp", "psnr_full", "psnr_object", "psnr_background")


def _row(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
            for k, v in ((k, metrics.get(k)) for k in GRID_KEYS)}


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(kept)) if kept else None


def _settings(config: RdConfig, **values: Any) -> GridSettings:
    steps = {} if config.grid_steps is None else {"steps": config.grid_steps,
                                                  "warm_steps": max(1, config.grid_steps // 30)}
    return GridSettings(device=config.device, **steps, **values)


def _targeted(config: RdConfig) -> GridSettings:
    return _settings(config, target_background_db=config.background_db, target_object_db=config.object_db)


def camera_rows(frames: Sequence[Frame]) -> list[dict[str, Any]]:
    """The camera's JPEG of each frame: bytes and PSNRs against the frame (the benchmark's reference)."""
    rows = []
    for f in frames:
        data, how = camera_jpeg(Path(f.meta["path"]).read_bytes(), f.image)
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        rows.append({"bytes": float(len(data)), "bpp": bits_per_pixel(len(data), f.width, f.height),
                     **frame_psnrs(f.image, decoded, f.box), "made": how})
    return rows


def grid_per_frame(frames: Sequence[Frame], config: RdConfig) -> dict[str, Any]:
    """The per-frame grid codec at the targets, all frames in one batch."""
    start, cpu = time.perf_counter(), time.process_time()
    rows = [_row(r.metrics) for r in encode_grid_frames(frames, _targeted(config))]
    return {"rows": rows, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


def grid_curve(frames: Sequence[Frame], lambdas: Sequence[float], config: RdConfig) -> dict[str, Any]:
    """The per-frame grid codec at fixed distortion weights (its RD curve) and AVIF swept on the same frames."""
    points = []
    for lam in lambdas:
        start, cpu = time.perf_counter(), time.process_time()
        rows = [_row(r.metrics) for r in encode_grid_frames(frames, _settings(config, lam=lam))]
        seconds = time.perf_counter() - start
        points.append({"lambda": lam, "seconds": seconds, "cpu_seconds": time.process_time() - cpu, "rows": rows,
                       **{k: _mean([r[k] for r in rows]) for k in CURVE_KEYS}})
        log(f"  grid lambda {lam:g}: {points[-1]['bytes']:.0f} B, {seconds:.0f} s")
    sweeps = [classic_sweep(f.image, f.box, "avif") for f in frames]
    avif = [{"setting": str(results[0].quality),
             **{k: float(np.nanmean([r.metrics[k] for r in results])) for k in CURVE_KEYS if k != "bpp"}}
            for results in zip(*sweeps, strict=True)]
    for p in avif:
        p["bpp"] = float(np.mean([bits_per_pixel(p["bytes"], f.width, f.height) for f in frames]))
    return {"frames": len(frames), "points": points, "avif": avif}


def bd_rate(test: Sequence[dict[str, Any]], anchor: Sequence[dict[str, Any]], key: str) -> float | None:
    """Bjøntegaard delta rate of ``test`` against ``anchor`` (percent; < 0: fewer bits at equal PSNR).

    Piecewise-linear log-rate as a function of PSNR (``key``), averaged over the PSNR range
    both curves cover (None when they do not overlap or a curve has fewer than two points).
    """
    def curve(points: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray] | None:
        pairs = sorted((float(p[key]), math.log(float(p["bytes"]))) for p in points
                       if p.get(key) is not None and not math.isnan(float(p[key])))
        kept: list[tuple[float, float]] = []
        for q, r in pairs:  # keep the curve monotone: a point with more bits for less PSNR is dominated
            if not kept or q > kept[-1][0]:
                while kept and r <= kept[-1][1]:
                    kept.pop()
                kept.append((q, r))
        return (np.array([q for q, _ in kept]), np.array([r for _, r in kept])) if len(kept) >= 2 else None

    a, b = curve(test), curve(anchor)
    if a is None or b is None:
        return None
    low, high = max(a[0][0], b[0][0]), min(a[0][-1], b[0][-1])
    if high <= low:
        return None
    grid = np.linspace(low, high, 101)
    diff = np.interp(grid, a[0], a[1]) - np.interp(grid, b[0], b[1])
    return float((math.exp(float(np.trapezoid(diff, grid)) / (high - low)) - 1) * 100)


def grid_stream(path: Path, config: RdConfig, video: dict[str, Any]) -> dict[str, Any]:
    """The grid stream on the first frames of a sequence, against each frame's smallest classic payload.

    Encoded as the runtime sends it: a base (its first :data:`BASE_FRAMES` frames train the
    networks), then the other frames as one update (latents only, warm-started). Each frame's
    bytes are its own record plus an equal share of everything else in the merged stream
    (networks, headers), so the mean is the merged stream's bytes per frame.
    """
    loaded = load_sequence(path, limit=config.grid_stream_frames, max_side=config.max_side)
    frames, settings = loaded.frames, _targeted(config)
    head, rest = frames[:BASE_FRAMES], frames[BASE_FRAMES:]
    start, cpu = time.perf_counter(), time.process_time()
    base = encode_stream(head, settings)
    base_s, base_cpu = time.perf_counter() - start, time.process_time() - cpu
    metrics, merged = list(base.metrics), base.payload
    warm_s = warm_cpu = None
    if rest:
        start, cpu = time.perf_counter(), time.process_time()
        update = update_stream(base.payload, rest, settings)
        warm_s, warm_cpu = (time.perf_counter() - start) / len(rest), (time.process_time() - cpu) / len(rest)
        metrics += update.metrics
        merged = update.merged
    shared = (len(merged) - sum(m["own_bytes"] for m in metrics)) / len(metrics)
    rows = []
    for m in metrics:
        size = shared + m["own_bytes"]
        rows.append({**_row(m), "bytes": size, "bpp": bits_per_pixel(size, m["width"], m["height"]),
                     "own_bytes": float(m["own_bytes"])})
    names = [f.name for f in frames]
    if video and video.get("frame_names", [])[: len(frames)] == names:
        best = video["targets"]["best_per_frame"][: len(frames)]
        source = "sequence-codec section"
    else:
        best = classic_targets(frames, config)["best_per_frame"]
        source = "measured here"
    return {"frames": len(frames), "frame_names": names, "rows": rows,
            "seconds": base_s + (warm_s or 0) * len(rest), "cpu_seconds": base_cpu + (warm_cpu or 0) * len(rest),
            "base_frames": len(head), "base_s_per_frame": base_s / len(head), "base_cpu_per_frame": base_cpu / len(head),
            "warm_s_per_frame": warm_s, "warm_cpu_per_frame": warm_cpu,
            "network_bytes": float(base.summary["network_bytes"]), "total_bytes": float(len(merged)),
            "best_per_frame": best, "best_source": source}


def measure_grid(path: Path, frames: Sequence[Frame], result: SequenceResult, config: RdConfig) -> dict[str, Any]:
    """The grid section of one sequence (``frames``: the per-frame section's)."""
    out: dict[str, Any] = {"camera_jpeg": camera_rows(frames)}
    if config.grid_frames:
        chosen = list(frames[: config.grid_frames])
        log(f"{path.name}: grid per frame on {len(chosen)} frame(s) at the targets ...")
        out["per_frame"] = grid_per_frame(chosen, config)
        out["per_frame"]["best_per_frame"] = result.targets["best_per_frame"][: len(chosen)]
        log(f"  {out['per_frame']['seconds']:.0f} s")
    if config.grid_curve_frames and config.grid_lambdas:
        chosen = list(frames[: config.grid_curve_frames])
        log(f"{path.name}: grid curve on {len(chosen)} frame(s), lambdas {config.grid_lambdas} ...")
        out["curve"] = grid_curve(chosen, config.grid_lambdas, config)
    if config.grid_stream_frames:
        log(f"{path.name}: grid stream on the first {config.grid_stream_frames} frames ...")
        out["stream"] = grid_stream(path, config, result.video)
        log(f"  {out['stream']['seconds']:.0f} s")
    return out


def curve_points(grid: dict[str, Any]) -> list[dict[str, Any]]:
    """Grid's RD points on the curve frames: the fixed-weight encodes only (one object weight, so
    one curve; the targeted encodes move the object weight and are shown apart)."""
    return list(grid["curve"]["points"])


def grid_summary(res: SequenceResult, config: RdConfig) -> dict[str, Any]:
    """Means and verdicts of one sequence's grid section (what the report's tables show)."""
    g, out = res.grid, {}
    bg, obj = config.background_db, config.object_db
    for name in ("per_frame", "stream"):
        part = g.get(name)
        if not part:
            continue
        rows, best = part["rows"], part["best_per_frame"]
        ok = [meets(r, bg, obj) for r in rows]
        pairs = [(r["bytes"], b[0]) for r, b in zip(rows, best, strict=True) if b is not None]
        mean_best = _mean([b for _, b in pairs])
        out[name] = {
            "frames": len(rows), "bytes": _mean([r["bytes"] for r in rows]), "meets": sum(ok),
            "psnr_object": _mean([r["psnr_object"] for r in rows]),
            "psnr_background": _mean([r["psnr_background"] for r in rows]),
            "best_classic_bytes": mean_best,
            "ratio": (_mean([a for a, _ in pairs]) or 0) / mean_best if mean_best else None,
            "not_above": sum(a <= b for a, b in pairs),
            "goal": sum(o and (b is None or r["bytes"] <= b[0]) for o, r, b in zip(ok, rows, best, strict=True)),
            "encode_s": _mean([r["encode_s"] for r in rows]),
            "cpu_s": part["cpu_seconds"] / len(rows),
            "macs_per_pixel": _mean([r["macs_per_pixel"] for r in rows]),
        }
    curve = g.get("curve")
    if curve:
        out["bd_rate"] = {key: bd_rate(curve_points(g), curve["avif"], key)
                          for key in ("psnr_full", "psnr_object", "psnr_background")}
    cam = g.get("camera_jpeg")
    if cam:
        out["camera_jpeg"] = {"bytes": _mean([r["bytes"] for r in cam]), "meets": sum(meets(r, bg, obj) for r in cam),
                              "frames": len(cam), "psnr_object": _mean([r["psnr_object"] for r in cam]),
                              "psnr_background": _mean([r["psnr_background"] for r in cam]),
                              "made": sorted({r["made"] for r in cam})}
    return out
