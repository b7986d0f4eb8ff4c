"""The markdown tables of ``bench/rd.py``'s report, built with :mod:`rinr_core.tables`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rd_config import CODEC_TITLES, VIDEO_CODECS, RunSpec, SequenceResult

from rinr_core.classic import CLASSIC_CODECS
from rinr_core.tables import format_cell, markdown_table


def _kb(value: float | None) -> str:
    return format_cell(None if value is None else value / 1000, 2)


def target_table(results: Sequence[SequenceResult], runs: Sequence[RunSpec]) -> str:
    """Bytes per frame at the PSNR targets: each classic codec's smallest vs QRE as run."""
    headers = ["sequence", "size", *(f"{CODEC_TITLES[c]} KB" for c in CLASSIC_CODECS), "best classic"]
    for spec in runs:
        if "qre" in spec.modes:
            headers += [f"QRE {spec.name} KB", f"QRE {spec.name} obj / bg dB", f"QRE {spec.name} meets targets",
                        f"goal met ({spec.name})"]
    rows = []
    for res in results:
        t = res.targets
        n = len(res.frame_names)
        cells: list[Any] = [res.name, f"{res.size[0]}x{res.size[1]}"]
        for codec in CLASSIC_CODECS:
            c = t["classic"][codec]
            cells.append(_kb(c["bytes"]) if c["bytes"] is not None else f"reached on {c['reached']}/{n} frames")
        best = t["best_classic"]
        cells.append(f"{CODEC_TITLES[best]} {_kb(t['classic'][best]['bytes'])}" if best else "none (some frame missed)")
        for spec in runs:
            q = t["qre"].get(spec.name)
            if q is None:
                continue
            cells += [_kb(q["bytes"]), f"{q['psnr_object']:.1f} / {q['psnr_background']:.1f}",
                      f"{q['meets']}/{q['frames']} frames", f"{q['goal_met']}/{q['frames']} frames"]
        rows.append(cells)
    return markdown_table(headers, rows)


def equal_bytes_table(res: SequenceResult) -> str:
    """Per-mode means of one sequence, INR runs and the classic codecs at each run's QRE budget."""
    rows = []
    for run_name, run in res.runs.items():
        for s in run["summary"]:
            if s["mode"] in CLASSIC_CODECS:
                what = f"{CODEC_TITLES[s['mode']]} at QRE-{run_name} bytes"
                setting = " ".join(s["settings"]) + (f" ({s['over_budget']} over budget)" if s["over_budget"] else "")
            else:
                what, setting = f"{s['mode'].upper()} ({run_name})", f"{s.get('macs_per_pixel', 0):.0f} MACs/px"
            rows.append([what, setting, f"{s['bytes']:.0f}", s["bpp"], s["psnr_full"], s["psnr_object"],
                         s["psnr_background"]])
    return markdown_table(["codec", "setting", "bytes", "bpp", "PSNR full", "PSNR object", "PSNR background"],
                          rows, align=["l", "l", "r", "r", "r", "r", "r"])


def _obj_bg(s: dict[str, Any]) -> str:
    return f"{format_cell(s['psnr_object'], 1)} / {format_cell(s['psnr_background'], 1)}"


def video_target_table(results: Sequence[SequenceResult]) -> str:
    """Per sequence: Res-NeRV and NeRV as encoded vs each classic codec's smallest bytes at the targets."""
    headers = ["sequence", "frames"]
    for codec in VIDEO_CODECS:
        headers += [f"{CODEC_TITLES[codec]} KB/frame", f"{CODEC_TITLES[codec]} obj / bg dB",
                    f"{CODEC_TITLES[codec]} meets targets"]
        if codec == "res-nerv":
            headers.append("Res-NeRV goal met")
    headers += [f"{CODEC_TITLES[c]} KB at targets" for c in CLASSIC_CODECS]
    headers += ["best classic", "winner"]
    rows = []
    for res in results:
        v = res.video
        if not v:
            continue
        n = v["frames"]
        cells: list[Any] = [res.name, n]
        for codec in VIDEO_CODECS:
            s = v["codecs"][codec]["summary"]
            cells += [_kb(s["bytes"]), _obj_bg(s), f"{s['meets']}/{n}"]
            if codec == "res-nerv":
                cells.append(f"{s['goal_met']}/{n}" if "goal_met" in s else "–")
        for codec in CLASSIC_CODECS:
            c = v["targets"]["classic"][codec]
            cells.append(_kb(c["bytes"]) if c["bytes"] is not None else f"reached on {c['reached']}/{n}")
        best = v["targets"]["best_classic"]
        cells.append(f"{CODEC_TITLES[best]} {_kb(v['targets']['classic'][best]['bytes'])}" if best else "none")
        cells.append(video_winner(v)[0])
        rows.append(cells)
    return markdown_table(headers, rows)


def video_winner(video: dict[str, Any]) -> tuple[str, str]:
    """Who wins on bytes per frame at the targets, Res-NeRV or the best classic codec, and why."""
    s, n = video["codecs"]["res-nerv"]["summary"], video["frames"]
    t = video["targets"]
    best = t["best_classic"]
    ours = f"Res-NeRV {_kb(s['bytes'])} KB/frame (object / background {_obj_bg(s)} dB, targets met on {s['meets']}/{n} frames)"
    if best is None:
        reached = max(t["classic"].values(), key=lambda c: c["reached"])["reached"]
        if s["meets"] == n:
            return "Res-NeRV", f"{ours}; no classic codec reaches the targets on every frame (at most {reached}/{n})."
        return "neither", f"{ours}; no classic codec reaches the targets on every frame either (at most {reached}/{n})."
    theirs = f"{CODEC_TITLES[best]} {_kb(t['classic'][best]['bytes'])} KB/frame (smallest payload at the targets)"
    if s["meets"] < n:
        return CODEC_TITLES[best], f"{theirs} wins: {ours} misses the targets on {n - s['meets']} frames."
    if s["bytes"] <= t["classic"][best]["bytes"]:
        return "Res-NeRV", f"{ours} wins against {theirs}."
    return CODEC_TITLES[best], f"{theirs} wins: {ours} needs {s['bytes'] / t['classic'][best]['bytes']:.1f}x the bytes."


def video_equal_bytes_table(res: SequenceResult) -> str:
    """Res-NeRV, NeRV, and each classic codec at Res-NeRV's bytes of each frame (means over the frames)."""
    v, n = res.video, res.video["frames"]
    rows = []
    for codec in VIDEO_CODECS:
        s = v["codecs"][codec]["summary"]
        rows.append([CODEC_TITLES[codec], f"{n}/{n}", f"{s['bytes']:.0f}", s["psnr_full"], s["psnr_object"],
                     s["psnr_background"]])
    for codec in CLASSIC_CODECS:
        s = v["equal_bytes"][codec]["summary"]
        rows.append([f"{CODEC_TITLES[codec]} at Res-NeRV bytes", f"{s['frames']}/{n}",
                     format_cell(s["bytes"], 0), s["psnr_full"], s["psnr_object"], s["psnr_background"]])
    for run_name, run in res.runs.items():
        q = next((x for x in run["summary"] if x["mode"] == "qre"), None)
        if q is not None:
            rows.append([f"QRE {run_name} (per-frame section: {len(res.frame_names)} other frames)", "–",
                         f"{q['bytes']:.0f}", q["psnr_full"], q["psnr_object"], q["psnr_background"]])
    return markdown_table(["codec", "frames", "bytes", "PSNR full", "PSNR object", "PSNR background"], rows)
