"""The grid part of the ``rd.md`` page: every codec at the targets, the grid codecs' verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rd_config import CODEC_TITLES, RdConfig, SequenceResult
from rd_grid import grid_summary

from rinr_core.classic import CLASSIC_CODECS
from rinr_core.tables import format_cell, markdown_table

STREAM_RATIO = 0.7
"""The stream target: at most this share of the best classic codec's bytes per frame."""
WARM_S = 1.0
"""The stream target: seconds per warm-started frame at 160 px."""


def _kb(value: float | None) -> str:
    return format_cell(None if value is None else value / 1000, 2)


def _of(done: int, total: int) -> str:
    return f"{done}/{total}"


def _dbs(s: dict[str, Any]) -> str:
    return f"{format_cell(s.get('psnr_object'), 1)} / {format_cell(s.get('psnr_background'), 1)}"


def codec_table(results: Sequence[SequenceResult], config: RdConfig) -> str:
    """Per sequence and codec: bytes per frame at (or, for fixed settings, near) the targets,
    frames meeting them, encode seconds per frame and decode MACs per pixel."""
    rows = []
    for res in results:
        if not res.grid:
            continue
        n = len(res.frame_names)
        summary = grid_summary(res, config)
        for codec in CLASSIC_CODECS:
            c = res.targets["classic"][codec]
            rows.append([res.name, CODEC_TITLES[codec], "smallest at the targets", _kb(c["bytes"]),
                         _of(c["reached"], n), "–", "–", "–"])
        cam = summary.get("camera_jpeg")
        if cam:
            rows.append([res.name, "camera JPEG", f"fixed ({', '.join(cam['made'])})", _kb(cam["bytes"]),
                         _of(cam["meets"], cam["frames"]), _dbs(cam), "–", "–"])
        for name, run in res.runs.items():
            q = next((s for s in run["summary"] if s["mode"] == "qre"), None)
            t = res.targets.get("qre", {}).get(name)
            if q is None or t is None:
                continue
            per_frame = run["seconds"] / n
            rows.append([res.name, f"QRE {name}", "fixed preset", _kb(q["bytes"]), _of(t["meets"], t["frames"]),
                         _dbs(q), f"{per_frame:.0f} (run incl. {len(run['modes'])} mode(s) + classic)",
                         format_cell(q.get("macs_per_pixel"), 0)])
        v = res.video.get("codecs", {}).get("res-nerv") if res.video else None
        if v:
            s = v["summary"]
            rows.append([res.name, f"Res-NeRV (first {res.video['frames']})", "aims at the targets"
                         if config.aim_targets else "fixed preset", _kb(s["bytes"]),
                         _of(s["meets"], res.video["frames"]), _dbs(s), f"{v['seconds'] / res.video['frames']:.1f}",
                         "not recorded"])
        for key, title in (("per_frame", "grid"), ("stream", "grid stream")):
            g = summary.get(key)
            if not g:
                continue
            frames = f" (first {g['frames']})" if key == "stream" else f" ({g['frames']} frame(s))"
            part = res.grid[key]
            seconds = (f"{g['encode_s']:.0f} wall / {g['cpu_s']:.0f} CPU" if key == "per_frame" else
                       f"base {part['base_s_per_frame']:.0f} / {part['base_cpu_per_frame']:.0f} CPU, warm "
                       + (f"{part['warm_s_per_frame']:.1f} / {part['warm_cpu_per_frame']:.1f} CPU"
                          if part["warm_s_per_frame"] is not None else "–"))
            rows.append([res.name, title + frames, "rate control at the targets", _kb(g["bytes"]),
                         _of(g["meets"], g["frames"]), _dbs(g), seconds, format_cell(g["macs_per_pixel"], 0)])
    return markdown_table(["sequence", "codec", "setting", "KB/frame", "meets targets", "obj / bg dB",
                           "encode s/frame", "decode MACs/px"], rows)


def grid_verdict_table(results: Sequence[SequenceResult], config: RdConfig) -> str:
    """Per sequence: each grid codec against the best classic payload of the same frames, and BD-rates."""
    rows = []
    for res in results:
        s = grid_summary(res, config)
        if not s:
            continue
        g, st, bd = s.get("per_frame"), s.get("stream"), s.get("bd_rate", {})
        curve = res.grid.get("curve")
        cells: list[Any] = [res.name]
        if g:
            cells += [f"{_kb(g['bytes'])} vs {_kb(g['best_classic_bytes'])}", format_cell(g["ratio"], 2),
                      _of(g["goal"], g["frames"])]
        else:
            cells += ["–"] * 3
        if st:
            cells += [f"{_kb(st['bytes'])} vs {_kb(st['best_classic_bytes'])}", format_cell(st["ratio"], 2),
                      _of(st["meets"], st["frames"])]
        else:
            cells += ["–"] * 3
        cells += [f"{format_cell(bd.get(k), 1)}" for k in ("psnr_full", "psnr_object", "psnr_background")]
        cells.append(curve["frames"] if curve else "–")
        rows.append(cells)
    return markdown_table(["sequence", "grid KB vs best classic KB", "grid / classic", "grid goal met",
                           "stream KB vs best classic KB", "stream / classic", "stream meets targets",
                           "BD-rate vs AVIF % (full)", "(object)", "(background)", "curve frames"], rows)


def target_verdicts(results: Sequence[SequenceResult], config: RdConfig) -> list[str]:
    """The issue's three targets, met or not, in plain words."""
    summaries = [(r, grid_summary(r, config)) for r in results if r.grid]
    lines = []
    per_frame = [(r, s["per_frame"]) for r, s in summaries if "per_frame" in s]
    if per_frame:
        goal = sum(g["goal"] for _, g in per_frame)
        n = sum(g["frames"] for _, g in per_frame)
        losing = [f"{r.name} ({g['ratio']:.2f}x, targets met on {g['meets']}/{g['frames']})"
                  for r, g in per_frame if g["goal"] < g["frames"]]
        lines.append(f"- **Per-frame grid, no more bytes than the best classic codec at the targets on every frame**: "
                     f"{'met' if goal == n else 'NOT met'} ({goal}/{n} frames)"
                     + (f"; grid loses on {', '.join(losing)}." if losing else "."))
    bds = [(r.name, s["bd_rate"].get("psnr_full")) for r, s in summaries if "bd_rate" in s]
    if bds:
        below = sum(1 for _, v in bds if v is not None and v < 0)
        lines.append("- **BD-rate of grid vs AVIF < 0** (full-frame PSNR, piecewise-linear over the shared range): "
                     + ("met" if below == len(bds) else "NOT met") + f" on {below}/{len(bds)} sequences"
                     + " (" + ", ".join(f"{n} {format_cell(v, 1)} %" for n, v in bds) + ").")
    streams = [(r, s["stream"], r.grid["stream"]) for r, s in summaries if "stream" in s]
    if streams:
        ok = [r.name for r, st, _ in streams
              if st["ratio"] is not None and st["ratio"] <= STREAM_RATIO and st["meets"] == st["frames"]]
        parts = [f"{r.name} {format_cell(st['ratio'], 2)}x, targets met on {st['meets']}/{st['frames']}"
                 for r, st, _ in streams]
        lines.append(f"- **Grid stream at most {STREAM_RATIO}x the best classic codec's bytes per frame, targets met "
                     f"on every frame**: {'met' if len(ok) == len(streams) else 'NOT met'} on "
                     f"{len(ok)}/{len(streams)} sequences ({'; '.join(parts)}); measured on the first "
                     f"{streams[0][1]['frames']} frames, not the issue's 120.")
        warm = [(r.name, p["warm_s_per_frame"], p["warm_cpu_per_frame"]) for r, _, p in streams
                if p["warm_s_per_frame"] is not None]
        if warm:
            fast = all(c <= WARM_S for _, _, c in warm)
            lines.append(f"- **Warm-started stream frames at most {WARM_S:g} s each at 160 px**: "
                         f"{'met' if fast else 'NOT met'} at {results[0].size[0]} px ("
                         + ", ".join(f"{n} {w:.1f} s wall / {c:.1f} s CPU" for n, w, c in warm)
                         + "; one thread; judged on the process's own CPU time, since the machine was shared and wall "
                         "time counts the other processes' turns too).")
    return lines
