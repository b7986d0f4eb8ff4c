"""The grid codec at the quality targets: bytes per frame against the best classic codec.

On the first ``--frames`` frames of each shared sequence at ``--max-side`` px, at background
>= 30 dB and object >= 35 dB (``--background-db``, ``--object-db``):

* **best classic**: the smallest payload meeting both targets over JPEG, WebP, AVIF (4:2:0,
  :func:`rinr_core.classic.classic_at_target`), JPEG and AVIF with 4:4:4 chroma (the same
  bisection here) and ROI-JPEG;
* **grid**: the per-frame codec (``.rinr`` v2: networks and latents in every frame), the
  rate control asked for the targets;
* **grid stream**: the first half of the frames encoded as a stream's base (networks trained
  on its first frames), the second half as one update (latents only, warm-started from the
  previous frame, networks frozen): two runtime rounds;
* **object quality two ways** (frame 0 only): box-weighted distortion (what the codec does)
  against a uniform-weight grid at the background target plus a QRE-style object residual
  SIREN (16-bit, the paper's tiers) fitted until the object target is met.

Every PSNR is measured on pixels decoded from the bytes. Writes ``docs/results/grid.md`` and
``grid.json`` (after every sequence, so an interrupted run keeps what it measured).
``--reuse FILE`` starts from an earlier ``grid.json``: sequences not in ``--sequences`` keep
all their results, and those in it keep their classic, per-frame grid and object-quality
results and get the grid stream measured again (after a change to the stream codec); the
report names every command that contributed.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import (
    SHARED_DATA_DIR,
    apply_threads,
    bench_parser,
    environment,
    environment_line,
    log,
    output_dir,
    reproduce_command,
    write_results,
)
from PIL import Image

from rinr_core.classic import CLASSIC_CODECS, classic_at_target
from rinr_core.codec import CodecSettings, FitJob, fit_settings_for, run_fit_jobs, store_inr
from rinr_core.container import ROLE_OBJECT_RESIDUAL, RinrPayload, pack
from rinr_core.datasets import load_sequence
from rinr_core.decoding import add_object_inrs, decode, to_uint8
from rinr_core.frames import Frame
from rinr_core.grid import GridSettings, encode_grid_frames
from rinr_core.grid.stream import encode_stream, update_stream
from rinr_core.metrics import frame_psnrs
from rinr_core.presets import get_preset
from rinr_core.siren import grid_coords
from rinr_core.synthetic import generate_sequence

SEQUENCES = ("Crossing", "vot_bag", "uav123_boat1", "uav123_wakeboard7")


# --- classic peers ------------------------------------------------------------------------------


def _meets(m: dict, bg_db: float, obj_db: float) -> bool:
    bg_ok = math.isnan(m["psnr_background"]) or m["psnr_background"] >= bg_db
    return bool(bg_ok and m["psnr_object"] >= obj_db)


def _pillow_444(image: np.ndarray, codec: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if codec == "jpeg":
        Image.fromarray(image).save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
    else:
        Image.fromarray(image).save(buf, "AVIF", quality=quality, subsampling="4:4:4")
    return buf.getvalue()


def classic_444(frame: Frame, codec: str, bg_db: float, obj_db: float) -> int | None:
    """Bytes of the lowest ``codec`` quality with 4:4:4 chroma meeting both targets."""
    def measure(q: int) -> tuple[int, bool]:
        data = _pillow_444(frame.image, codec, q)
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        return len(data), _meets(frame_psnrs(frame.image, decoded, frame.box), bg_db, obj_db)

    if not measure(100)[1]:
        return None
    lo, hi = 1, 100
    while lo < hi:
        mid = (lo + hi) // 2
        if measure(mid)[1]:
            hi = mid
        else:
            lo = mid + 1
    return measure(lo)[0]


def best_classic(frame: Frame, bg_db: float, obj_db: float) -> dict[str, Any]:
    """Each peer's smallest passing payload (bytes, or None) and the best of them."""
    sizes: dict[str, int | None] = {}
    for codec in CLASSIC_CODECS:
        found = classic_at_target(frame.image, frame.box, codec, background_db=bg_db,
                                  object_db=obj_db)
        sizes[codec] = None if found is None else int(found.metrics["bytes"])
    for codec in ("jpeg", "avif"):
        sizes[f"{codec}-444"] = classic_444(frame, codec, bg_db, obj_db)
    passing = {k: v for k, v in sizes.items() if v is not None}
    best = min(passing, key=lambda k: passing[k]) if passing else None
    return {"sizes": sizes, "best": best, "best_bytes": passing.get(best) if best else None}


# --- grid -----------------------------------------------------------------------------------------


def _row(m: dict) -> dict[str, Any]:
    keys = ("bytes", "psnr_full", "psnr_object", "psnr_background", "meets_targets", "lambda",
            "object_lambda", "macs_per_pixel", "encode_s")
    return {k: m.get(k) for k in keys}


def run_grid(frames: Sequence[Frame], settings: GridSettings) -> list[dict[str, Any]]:
    """The per-frame codec on every frame (one batch)."""
    return [_row(r.metrics) for r in encode_grid_frames(frames, settings)]


def run_stream(frames: Sequence[Frame], settings: GridSettings) -> tuple[list[dict], dict]:
    """Base = first half, update = second half; per-frame rows and timings."""
    half = max(1, len(frames) // 2)
    start = time.perf_counter()
    base = encode_stream(frames[:half], settings)
    base_s = time.perf_counter() - start
    rows = [{**_row(m), "segment": "base"} for m in base.metrics]
    update_s = None
    if len(frames) > half:
        start = time.perf_counter()
        update = update_stream(base.payload, frames[half:], settings)
        update_s = time.perf_counter() - start
        rows += [{**_row(m), "segment": "update"} for m in update.metrics]
        total = len(update.merged)
    else:
        total = len(base.payload)
    summary = {"stream_bytes": total, "base_bytes": len(base.payload),
               "network_bytes": base.summary["network_bytes"],
               "base_s_per_frame": base_s / half,
               "warm_s_per_frame": None if update_s is None else update_s / (len(frames) - half)}
    return rows, summary


def residual_vs_weighting(frame: Frame, weighted_bytes: float, settings: GridSettings,
                          bg_db: float, obj_db: float) -> dict[str, Any]:
    """Box weighting against a uniform-weight grid + an object residual SIREN (16 bit).

    The SIREN takes the paper's tier for the box's area and, while the object misses its
    target, the next larger tiers (fitted with the QRE ``fast`` recipe).
    """
    uniform = GridSettings(steps=settings.steps, object_weight=1.0, target_background_db=bg_db,
                           device=settings.device, seed=settings.seed)
    result = encode_grid_frames([frame], uniform)[0]
    device = torch.device("cpu")
    background = torch.from_numpy(decode(result.payload, "cpu").astype(np.float32) / 255.0)
    x, y, w, h = frame.box
    crop = torch.from_numpy(frame.image[y : y + h, x : x + w].astype(np.float32) / 255.0)
    residual = (crop - background[y : y + h, x : x + w]).reshape(-1, 3)
    scale = float(np.float32(max(float(residual.abs().max()), 1.0 / 255)))
    preset = get_preset("fast")
    areas = [w * h, *(a for a in (1001, 3001, 10001, 10**7) if a > w * h)]
    tiers = list({preset.object_arch(a).key: preset.object_arch(a) for a in areas}.values())
    fit = fit_settings_for(preset, ROLE_OBJECT_RESIDUAL, "qre", CodecSettings(mode="qre"),
                           warm=False)
    empty = len(pack(RinrPayload("qre", frame.width, frame.height, frame.box, [])))
    outcome: dict[str, Any] = {}
    for arch in tiers:
        job = FitJob(arch, grid_coords(h, w, device), residual / scale, scale, None)
        params, _ = run_fit_jobs([job], fit, fit, settings.seed)[0]
        stored = store_inr(params, ROLE_OBJECT_RESIDUAL, int(fit.bits or 16), scale,
                           fit.first_layer_bits)
        image = background.clone()
        add_object_inrs([image], [frame.box], [stored], device)
        psnrs = frame_psnrs(frame.image, to_uint8(image), frame.box)
        payload = pack(RinrPayload("qre", frame.width, frame.height, frame.box, [stored]))
        outcome = {"object_inr": str(arch), "object_inr_bytes": len(payload) - empty,
                   "grid_uniform_bytes": result.metrics["bytes"],
                   "total_bytes": result.metrics["bytes"] + len(payload) - empty,
                   "psnr_background": psnrs["psnr_background"], "psnr_object": psnrs["psnr_object"],
                   "meets": _meets(psnrs, bg_db, obj_db)}
        if outcome["meets"]:
            break
    return {"box_weighted_bytes": weighted_bytes, "residual": outcome}


# --- report -----------------------------------------------------------------------------------


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def summarize(name: str, classic: list[dict], grid: list[dict], stream: list[dict],
              stream_summary: dict) -> dict[str, Any]:
    best = [c["best_bytes"] for c in classic]
    pairs = [(g["bytes"], b) for g, b in zip(grid, best, strict=True) if b is not None]
    spairs = [(s["bytes"], b) for s, b in zip(stream, best, strict=True) if b is not None]
    return {
        "sequence": name, "frames": len(grid),
        "best_classic_bytes": _mean(best),
        "best_classic_codecs": sorted({c["best"] for c in classic if c["best"]}),
        "grid_bytes": _mean([g["bytes"] for g in grid]),
        "grid_meets": sum(bool(g["meets_targets"]) for g in grid),
        "grid_not_above_classic": sum(g <= b for g, b in pairs),
        "stream_bytes": _mean([s["bytes"] for s in stream]),
        "stream_meets": sum(bool(s["meets_targets"]) for s in stream),
        "stream_over_classic": (_mean([s for s, _ in spairs]) or 0) / (_mean([b for _, b in spairs]) or 1),
        "grid_over_classic": (_mean([g for g, _ in pairs]) or 0) / (_mean([b for _, b in pairs]) or 1),
        "grid_encode_s_per_frame": _mean([g["encode_s"] for g in grid]),
        "stream_base_s_per_frame": stream_summary["base_s_per_frame"],
        "stream_warm_s_per_frame": stream_summary["warm_s_per_frame"],
        "grid_macs_per_pixel": _mean([g["macs_per_pixel"] for g in grid]),
        "stream_macs_per_pixel": _mean([s["macs_per_pixel"] for s in stream]),
        "stream_network_bytes": stream_summary["network_bytes"],
    }


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    cfg = results["config"]
    lines = [
        "# Grid codec at the quality targets",
        "",
        f"Frames 0-{cfg['frames'] - 1} of each shared sequence at {cfg['max_side']} px; targets "
        f"background >= {cfg['background_db']} dB, object >= {cfg['object_db']} dB; bytes per "
        "frame (grid stream: amortized, networks included). Best classic: the smallest payload "
        "meeting both targets over JPEG/WebP/AVIF (4:2:0), JPEG/AVIF 4:4:4 and ROI-JPEG.",
        "",
        "Commands (the last one measured the grid stream; earlier ones the rest, reused): "
        + "; ".join(f"`{c}`" for c in results["commands"]),
        "",
        f"Measured on: {results['environment_line']}",
        "",
        "| sequence | best classic B | grid B | grid / classic | grid frames <= classic | "
        "grid meets | stream B | stream / classic | stream meets | grid s/frame | "
        "stream base s/frame | stream warm s/frame | MACs/px grid / stream |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in results["summary"]:
        lines.append(
            f"| {s['sequence']} | {_fmt(s['best_classic_bytes'])} ({', '.join(s['best_classic_codecs'])}) "
            f"| {_fmt(s['grid_bytes'])} | {_fmt(s['grid_over_classic'], 2)} "
            f"| {s['grid_not_above_classic']}/{s['frames']} | {s['grid_meets']}/{s['frames']} "
            f"| {_fmt(s['stream_bytes'])} | {_fmt(s['stream_over_classic'], 2)} "
            f"| {s['stream_meets']}/{s['frames']} | {_fmt(s['grid_encode_s_per_frame'], 1)} "
            f"| {_fmt(s['stream_base_s_per_frame'], 1)} | {_fmt(s['stream_warm_s_per_frame'], 1)} "
            f"| {_fmt(s['grid_macs_per_pixel'])} / {_fmt(s['stream_macs_per_pixel'])} |")
    lines += ["", "## Object quality: box weighting vs a residual object INR (frame 0)", "",
              "| sequence | box-weighted grid B | uniform grid B + object SIREN B = total | "
              "object SIREN | object dB | meets |", "|---|---|---|---|---|---|"]
    for name, r in results["object_methods"].items():
        res = r["residual"]
        lines.append(f"| {name} | {r['box_weighted_bytes']} | {res['grid_uniform_bytes']} + "
                     f"{res['object_inr_bytes']} = {res['total_bytes']} | {res['object_inr']} | "
                     f"{_fmt(res['psnr_object'], 2)} | {res['meets']} |")
    lines += ["", "## Per frame", ""]
    for name, per in results["frames"].items():
        lines.append(f"**{name}** (bytes; PSNR background / object):")
        lines.append("")
        lines.append("| frame | best classic | grid | grid dB | stream | stream dB | segment |")
        lines.append("|---|---|---|---|---|---|---|")
        for k, (c, g, s) in enumerate(zip(per["classic"], per["grid"], per["stream"], strict=True)):
            lines.append(f"| {k} | {_fmt(c['best_bytes'])} {c['best'] or ''} | {_fmt(g['bytes'])} | "
                         f"{_fmt(g['psnr_background'], 1)} / {_fmt(g['psnr_object'], 1)} | "
                         f"{_fmt(s['bytes'])} | {_fmt(s['psnr_background'], 1)} / "
                         f"{_fmt(s['psnr_object'], 1)} | {s['segment']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--max-side", type=int, default=160)
    parser.add_argument("--background-db", type=float, default=30.0)
    parser.add_argument("--object-db", type=float, default=35.0)
    parser.add_argument("--steps", type=int, default=None, help="grid cold steps (default: preset)")
    parser.add_argument("--sequences", default=",".join(SEQUENCES))
    parser.add_argument("--reuse", type=Path, default=None,
                        help="an earlier grid.json: reuse its classic, grid and object results")
    args = parser.parse_args()
    earlier = json.loads(args.reuse.read_text()) if args.reuse else None
    apply_threads(args.threads)
    env = environment(args.device)
    settings = GridSettings(steps=args.steps or (30 if args.quick else GridSettings.steps),
                            warm_steps=10 if args.quick else GridSettings.warm_steps,
                            target_background_db=args.background_db,
                            target_object_db=args.object_db, device=args.device)
    commands = [*(earlier.get("commands", [earlier["command"]]) if earlier else []),
                reproduce_command()]
    results: dict[str, Any] = {"command": commands[-1], "commands": commands, "environment": env,
                               "environment_line": environment_line(env),
                               "config": {"frames": args.frames, "max_side": args.max_side,
                                          "background_db": args.background_db,
                                          "object_db": args.object_db, "steps": settings.steps,
                                          "warm_steps": settings.warm_steps},
                               "summary": [], "frames": {}, "object_methods": {}}
    if earlier:
        for key in ("summary", "frames", "object_methods"):
            results[key] = earlier[key]
    for name in args.sequences.split(","):
        if args.quick:
            frames = generate_sequence(2, width=48, height=32, seed=1)
        else:
            folder = SHARED_DATA_DIR / name
            if not folder.is_dir():
                log(f"skipping {name}: {folder} is absent")
                continue
            frames = load_sequence(folder, limit=args.frames, max_side=args.max_side).frames
        log(f"{name}: {len(frames)} frames at {frames[0].width}x{frames[0].height}")
        old = earlier["frames"].get(name) if earlier else None
        if old is not None and len(old["grid"]) == len(frames):
            classic, grid = old["classic"], old["grid"]
            results["object_methods"][name] = earlier["object_methods"][name]
            log("  classic, grid and object results reused")
        else:
            classic = [best_classic(f, args.background_db, args.object_db) for f in frames]
            log(f"  classic done: {[c['best_bytes'] for c in classic]}")
            grid = run_grid(frames, settings)
            log(f"  grid done: {[round(g['bytes']) for g in grid]}")
            results["object_methods"][name] = residual_vs_weighting(
                frames[0], grid[0]["bytes"], settings, args.background_db, args.object_db)
        stream, stream_summary = run_stream(frames, settings)
        log(f"  stream done: {[round(s['bytes']) for s in stream]}")
        results["frames"][name] = {"classic": classic, "grid": grid, "stream": stream}
        results["summary"] = [s for s in results["summary"] if s["sequence"] != name]
        results["summary"].append(summarize(name, classic, grid, stream, stream_summary))
        order = {n: k for k, n in enumerate(SEQUENCES)}
        results["summary"].sort(key=lambda s: order.get(s["sequence"], len(order)))
        text = markdown(results)
        for path in write_results(output_dir(args), "grid", text, results):
            log(f"wrote {path}")
        if args.quick:
            break
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
