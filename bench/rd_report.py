"""The ``rd.md`` page: header, findings and notes computed from the measurements, and the tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common import environment_line
from rd_config import (
    CODEC_TITLES,
    FIGURES_NOTE,
    VIDEO_CODECS,
    RdConfig,
    Report,
    RunSpec,
    SequenceResult,
)
from rd_grid_report import codec_table, grid_verdict_table, target_verdicts
from rd_tables import (
    equal_bytes_table,
    target_table,
    video_equal_bytes_table,
    video_target_table,
    video_winner,
)

from rinr_core.classic import CLASSIC_CODECS
from rinr_core.metrics import PSNR_CAP_DB


def video_verdicts(results: Sequence[SequenceResult]) -> list[str]:
    """One plain sentence per sequence: bytes per frame at the targets, Res-NeRV vs the best classic codec."""
    return [f"- **{r.name}**: {video_winner(r.video)[1]}" for r in results if r.video]


def video_header(config: RdConfig, results: Sequence[SequenceResult]) -> list[str]:
    """The header line describing the sequence codecs as measured (empty when the section was not run)."""
    video = next((r.video for r in results if r.video), None)
    if video is None:
        return []
    nv = video["nerv"]
    which = "all frames" if config.sequence_frames < 0 else f"the first {config.sequence_frames} frames"
    sized = ""
    if nv.get("nerv_bpp"):
        infos = [(r.name, r.video["codecs"]["res-nerv"]["info"]) for r in results if r.video]
        archs = "; ".join(f"{name}: {i.get('nerv_arch', '?')}, {i['nerv_weights']} weights"
                          + (f" (fits at {i['nerv_bpp_tries']} bits per pixel)" if i.get("nerv_bpp_tries") else "")
                          for name, i in infos)
        sized = f"; scaled per sequence from {nv['nerv_bpp']:g} bits per pixel per frame: {archs}"
    return [f"- **Sequence codecs** Res-NeRV and NeRV on {which} of each sequence "
            f"(same size): NeRV preset `{nv['preset']}` ({nv['description']}){sized}; here {nv['epochs']} epochs + "
            f"{nv['qat_epochs']} QAT, lr {nv['lr']:g}, batch {nv['batch_size']}, {nv['bits']} bit weights, "
            "entropy-coded; Res-NeRV adds 10-bit object residual INRs (`fast` object tiers, warm-started"
            + (f"; an object decoding below {config.object_db:g} dB is refitted cold with the next larger tier "
               "until it reaches it or the tiers run out" if config.aim_targets else "") + "); "
            + (f"while a frame's stored background is below {config.background_db:g} dB the NeRV is fitted again "
               f"with 1.6x the bits per pixel, up to {nv.get('max_nerv_bpp')} (the last fit is kept); "
               if config.aim_targets and nv.get("nerv_bpp") else "")
            + "NeRV reuses Res-NeRV's fitted NeRV. Bytes per frame are the `.rinrs` payload amortized over the "
            "frames. Classic per-frame codecs run on the same frames."]


def video_section(results: Sequence[SequenceResult], config: RdConfig) -> list[str]:
    """The report's sequence-codec section (empty when it was not run)."""
    with_video = [r for r in results if r.video]
    if not with_video:
        return []
    lines = [
        "",
        f"## Sequence codecs: bytes per frame at background >= {config.background_db:g} dB and object >= "
        f"{config.object_db:g} dB",
        "",
        ("Res-NeRV and NeRV as encoded (one setting; with `--aim-targets` the encoder itself grows the NeRV and "
         "refits objects that miss the targets, see above), whether each frame reaches both targets, and on how "
         "many frames Res-NeRV also is no larger than that frame's smallest classic payload at the targets "
         "(goal met); " if config.aim_targets else
         "Res-NeRV and NeRV as encoded (one setting, no search), whether each frame reaches both targets, and on "
         "how many frames Res-NeRV also is no larger than that frame's smallest classic payload at the targets "
         "(goal met); ")
        + "classic codecs: mean of the smallest payload reaching both targets on each frame (a mean only when "
        "reached on every frame). Winner: Res-NeRV if it reaches the targets on every frame with no more "
        "bytes per frame than the best classic codec.",
        "",
        video_target_table(with_video),
        "",
        *video_verdicts(with_video),
        "",
        "## Sequence codecs at equal bytes",
        "",
        "Each classic codec at the highest quality whose payload fits Res-NeRV's amortized bytes of that "
        "frame (frames: on how many some quality fits). QRE rows are from the per-frame section above "
        "(other frames, for scale).",
    ]
    for res in with_video:
        v = res.video
        times = ", ".join(f"{CODEC_TITLES[c]} {v['codecs'][c]['seconds']:.0f} s" for c in VIDEO_CODECS)
        lines += ["", f"### {res.name} (first {v['frames']} frames)", "", video_equal_bytes_table(res), "",
                  f"Encode time: {times}; classic searches {v['classic_seconds']:.0f} s."]
    return lines


def _encode_times(res: SequenceResult) -> str:
    return ", ".join(f"{name} {run['seconds']:.0f} s" for name, run in res.runs.items())


def _summary(res: SequenceResult, run: str, mode: str) -> dict[str, Any] | None:
    return next((s for s in res.runs.get(run, {}).get("summary", []) if s["mode"] == mode), None)


def findings(results: Sequence[SequenceResult], runs: Sequence[RunSpec]) -> list[str]:
    """Plain sentences on where the INR modes win and lose, computed from the measurements."""
    lines = []
    for res in results:
        for spec in runs:
            qre = _summary(res, spec.name, "qre")
            if qre is None:
                continue
            peers = [s for s in res.runs[spec.name]["summary"] if s["mode"] in CLASSIC_CODECS]
            best_obj = max(peers, key=lambda s: s["psnr_object"])
            best_bg = max(peers, key=lambda s: s["psnr_background"])
            obj_verdict = "wins" if qre["psnr_object"] > best_obj["psnr_object"] else "loses"
            bg_verdict = "wins" if qre["psnr_background"] > best_bg["psnr_background"] else "loses"
            line = (f"**{res.name}, QRE {spec.name}** ({qre['bytes']:.0f} B): object {_db(qre['psnr_object'])} "
                    f"vs best peer {CODEC_TITLES[best_obj['mode']]} {best_obj['psnr_object']:.1f} dB ({obj_verdict}); "
                    f"background {qre['psnr_background']:.1f} dB vs {CODEC_TITLES[best_bg['mode']]} "
                    f"{best_bg['psnr_background']:.1f} dB ({bg_verdict})")
            bs = _summary(res, spec.name, "bs")
            if bs is not None:
                line += (f"; BS (one INR, {bs['bytes']:.0f} B) gets object {bs['psnr_object']:.1f} dB, "
                         f"background {bs['psnr_background']:.1f} dB")
            lines.append(f"- {line}.")
        lines += _tiny_object_note(res, runs)
    return lines


def _db(value: float) -> str:
    return f"{value:.1f} dB" + (" (exact: the PSNR cap)" if value >= PSNR_CAP_DB else "")


def _tiny_object_note(res: SequenceResult, runs: Sequence[RunSpec]) -> list[str]:
    """A line when a frame's object INR holds more bytes than the raw pixels of its box."""
    spec = next((s for s in runs if "qre" in s.modes), None)
    if spec is None:
        return []
    preset = spec.resolved()
    pairs = [(b[2] * b[3] * 3, preset.object_arch(b[2] * b[3]).num_params * preset.object_bits // 8)
             for b in res.boxes]
    if not any(inr > raw for raw, inr in pairs):
        return []
    shown = ", ".join(f"{inr} B for {raw} B" for raw, inr in pairs)
    return [f"- **{res.name}**: the object INRs ({spec.preset}, {preset.object_bits} bit) are larger than the raw "
            f"RGB pixels of their boxes ({shown}); there QRE's object quality is bought, not compressed."]


def classic_gap_note(results: Sequence[SequenceResult]) -> str:
    """Why a classic codec can miss the targets at every quality, naming where it happened."""
    missed = [f"{r.name} ({', '.join(CODEC_TITLES[c] for c, v in r.targets['classic'].items() if v['bytes'] is None)})"
              for r in results if any(v["bytes"] is None for v in r.targets["classic"].values())]
    if not missed:
        return ""
    return ("Codecs with no mean missed the targets on some frame even at quality 100: "
            f"{'; '.join(missed)}. Pillow's defaults subsample chroma (4:2:0), which can keep a few-pixel object "
            "below the object target at any quality; 4:4:4 would reach it at a higher byte cost, and the peers here "
            "do not use it.")


def goal_verdict(results: Sequence[SequenceResult], runs: Sequence[RunSpec]) -> str:
    """One sentence per run: on how many frames QRE met the targets and the project's goal."""
    parts = []
    for spec in runs:
        stats = [r.targets["qre"][spec.name] for r in results if spec.name in r.targets["qre"]]
        if not stats:
            continue
        n = sum(q["frames"] for q in stats)
        met, goal = sum(q["meets"] for q in stats), sum(q["goal_met"] for q in stats)
        parts.append(f"QRE `{spec.name}` reached both targets on {met}/{n} frames, the goal on {goal}/{n}")
    if not parts:
        return ""
    return ("**Result** (goal: targets reached with no more bytes than the best classic codec): "
            + "; ".join(parts) + ".")


def size_note(results: Sequence[SequenceResult], runs: Sequence[RunSpec]) -> str:
    """Why small frames are hard for INRs: the background's fixed size in bits per pixel."""
    pixels = [r.size[0] * r.size[1] for r in results]
    if not pixels or not runs:
        return ""
    parts = []
    for spec in runs:
        p = spec.resolved()
        kb = p.background.num_params * p.background_bits / 8 / 1000
        small = p.background.num_params * p.background_bits / min(pixels)
        paper = p.background.num_params * p.background_bits / (640 * 360)
        parts.append(f"the `{spec.preset}` background ({p.background.num_params} weights, {kb:.1f} KB at "
                     f"{p.background_bits} bit) costs up to {small:.2f} bits per pixel here but {paper:.2f} at 640x360")
    smallest = min(spec.resolved().background.num_params * spec.resolved().background_bits / 8 for spec in runs)
    below = sum(1 for r in results if r.targets["best_classic"] is not None
                and r.targets["classic"][r.targets["best_classic"]]["bytes"] < smallest)
    return ("An INR's size does not shrink with the frame: " + "; ".join(parts) + f". On {below} of "
            f"{len(results)} sequences the best classic codec reaches the targets with fewer bytes than the "
            f"smallest background INR alone ({smallest / 1000:.1f} KB). The paper's setting is 640x360 frames "
            "and 10,000 steps per INR.")


def reused_lines(report: Report) -> list[str]:
    """Where the sections not measured in this run came from."""
    if not report.reused:
        return []
    r, v = report.reused, report.reused_video
    measured = ("the grid section (\"Grid codecs ...\") was" if v else
                "the sequence-codec sections (\"Sequence codecs ...\")" + (" and the grid section" if any(
                    res.grid for res in report.results) else "") + " were")
    lines = [f"- **Reused runs**: only {measured} measured in the run above (`{report.command}`). "
             f"The per-frame tables, findings, equal-bytes tables per sequence and their classic peers are "
             f"copied from the earlier run `{r['command']}`, measured {environment_line(r['environment'])}; run "
             f"time {r['seconds'] / 60:.1f} min."]
    if v:
        lines.append(f"- The sequence-codec sections (Res-NeRV, NeRV and their classic peers) are copied from the "
                     f"run `{v['command']}`, measured {environment_line(v['environment'])}; run time "
                     f"{v['seconds'] / 60:.1f} min.")
    return lines


def reproduce_line(report: Report) -> str:
    """The command(s) that reproduce the report, in the order they ran."""
    if not report.reused:
        return f"`{report.command}`"
    commands = [report.reused["command"]]
    if report.reused_video:
        commands.append(report.reused_video["command"])
    for res in report.results:
        commands += res.grid.get("history") or list(res.grid.get("sources", {}).values())
    commands.append(report.command)
    ordered = list(dict.fromkeys(commands))
    return (" then ".join(f"`{c}`" for c in ordered) + " (each `--reuse-frames` reads the `rd.json` an earlier "
            "command wrote; `--render FILE` rebuilds this page from the last one without encoding)")


def grid_header(config: RdConfig, results: Sequence[SequenceResult]) -> list[str]:
    """The header lines describing the grid section as measured (empty when it was not run)."""
    if not any(r.grid for r in results):
        return []
    parts = []
    if config.grid_frames:
        recipe = ("preset `fast`: 1200 cold steps + up to 6 rate rounds" if config.grid_steps is None else
                  f"**reduced** to {config.grid_steps} cold steps + up to 6 rate rounds")
        parts.append(f"per-frame `grid` (`.rinr` v2, {recipe}) on the "
                     f"first {config.grid_frames} frame(s) of the per-frame section"
                     + (f" (**reduced** from its {config.frames}, for CPU time)" if config.grid_frames < config.frames else "")
                     + ", its rate control asked for "
                     f"background >= {config.background_db:g} dB and object >= {config.object_db:g} dB")
    if config.grid_curve_frames:
        parts.append(f"its RD curve at fixed distortion weights {', '.join(f'{v:g}' for v in config.grid_lambdas)} "
                     f"(no targets, object weight 20x), on the first {config.grid_curve_frames} frame(s), "
                     "against AVIF swept on the same frame(s) (BD-rate)")
    if config.grid_stream_frames:
        parts.append(f"`grid stream` (the runtime's `codec = \"grid\"`) on the first {config.grid_stream_frames} frames "
                     "of each sequence (**reduced** from the issue's 120, for CPU time), asked for the same targets: a base of its first 2 frames (networks trained "
                     "on them, sent once), then the rest as one update (latents only, warm-started); bytes per "
                     "frame amortize the whole merged stream")
    titles = {"per_frame": "grid at the targets", "curve": "grid curve", "stream": "grid stream",
              "camera_jpeg": "camera JPEG"}
    by: dict[str, set[str]] = {}
    for r in results:
        for part, command in r.grid.get("sources", {}).items():
            by.setdefault(command, set()).add(titles.get(part, part))
    measured = (["- **Grid parts measured by**: " + "; ".join(f"{', '.join(sorted(p))}: `{c}`" for c, p in by.items())]
                if len(by) > 1 else [])
    return measured + ["- **Grid codecs**: " + "; ".join(parts) + ". Every grid PSNR is measured on pixels decoded from the "
            "bytes. Encode seconds are wall time and the process's own CPU time (one thread, machine shared).",
            "- **JPEG baseline**: the `JPEG` columns are Pillow's JPEG (4:2:0, optimized Huffman tables) at a "
            "searched quality, encoded from the reference frame; **camera JPEG** is the camera's JPEG "
            "(`rinr_core.images.camera_jpeg`: the source file's own quantization tables and chroma subsampling, "
            "re-encoded at this size, as the runtime's JPEG relay sends a resized frame), one fixed point per "
            "frame, in the grid section and the plots."]


def grid_section(results: Sequence[SequenceResult], config: RdConfig) -> list[str]:
    """The report's grid section (empty when it was not run)."""
    with_grid = [r for r in results if r.grid]
    if not with_grid:
        return []
    return [
        "",
        f"## Grid codecs: every codec at background >= {config.background_db:g} dB and object >= "
        f"{config.object_db:g} dB",
        "",
        "Bytes per frame. Classic codecs: mean of the smallest payload reaching both targets on each frame of "
        "the per-frame section (a mean only when reached on every frame). Camera JPEG, QRE and Res-NeRV: as "
        "sent, at their fixed setting (frames meeting the targets counted). Grid codecs: as their rate control "
        "left them (it aims at the targets; frames meeting them counted). Different rows cover different "
        "frames where they say so (Res-NeRV and grid stream: the first frames of the sequence).",
        "",
        codec_table(with_grid, config),
        "",
        "Grid against the smallest classic payload at the targets of the same frames (per-frame grid: the "
        "per-frame section's frames; stream: the sequence's first frames, classic sizes from the sequence-codec "
        "section when it covers them), and the BD-rate of grid's curve against AVIF's on the same frame(s) "
        "(negative: grid needs fewer bytes at equal PSNR; '-': the curves do not overlap). Goal met: targets met "
        "with no more bytes than that frame's best classic payload.",
        "",
        grid_verdict_table(with_grid, config),
        "",
        "**Targets of issue 12**:",
        "",
        *target_verdicts(with_grid, config),
        "",
        "A larger sample of both grid codecs at 160 px (frames 0-7 of every sequence, with JPEG and AVIF 4:4:4 "
        "among the classic peers, box weighting against a residual object INR) is `bench/grid_quick.py`'s "
        "[grid.md](grid.md).",
        *([] if config.max_side != 160 else [
            "", "The same comparison at 320 px (per-frame grid, classic codecs and the camera's JPEG on frame 0 of each "
            "sequence; no QRE, Res-NeRV or stream there, for CPU time) is [rd.320.md](rd.320.md)."]),
    ]


def render_markdown(report: Report) -> str:
    """The whole ``rd.md`` report."""
    results, config, skipped = report.results, report.config, report.skipped
    sizes = ", ".join(f"{r.name} {r.size[0]}x{r.size[1]}" for r in results)
    qualities = sorted({r.source_jpeg_quality for r in results if r.source_jpeg_quality is not None})
    lines = [
        "# Rate-distortion: grid, Residual-INR modes and Res-NeRV vs JPEG, WebP, AVIF and ROI-JPEG",
        "",
        f"- **Measured**: {environment_line(report.environment)}; total run time {report.seconds / 60:.1f} min.",
        *reused_lines(report),
        f"- **Frames**: {config.frames} per sequence, evenly spread from the first to the last frame, "
        f"resized so the longer side is {config.max_side} px ({sizes}). Numbers are means per frame.",
        *(f"- **INR preset** {spec.describe()}." for spec in config.runs),
        *video_header(config, results),
        *grid_header(config, results),
        "- **Classic peers** (Pillow defaults; JPEG 4:2:0 with optimized Huffman tables): at *equal bytes* "
        "each codec gets the highest quality whose payload fits that frame's QRE payload of the same run "
        "(ROI-JPEG: best object PSNR over an object-quality grid); for the *targets* table, the smallest "
        "payload reaching both targets. Every size is the real payload, headers included.",
        f"- **Sources are JPEG files** (libjpeg quality {', '.join(map(str, qualities)) or 'unknown'}, 4:2:0) "
        "downscaled here: smooth, already block-coded content, which favours the block codecs.",
        f"- **Reproduce**: {reproduce_line(report)}",
    ]
    if skipped:
        lines.append(f"- **Skipped**: {'; '.join(skipped)}")
    lines += [
        "",
        f"## Bytes per frame at background >= {config.background_db:g} dB and object >= {config.object_db:g} dB",
        "",
        "Classic codecs: mean of the smallest payload that reaches both targets on each frame. QRE: its "
        "bytes and PSNRs at the setting above (no search over INR settings), whether each frame reaches "
        "the targets, and whether it also is no larger than the smallest classic payload of that frame "
        "(the project's goal).",
        "",
        target_table(results, config.runs),
        "",
        goal_verdict(results, config.runs),
        "",
        classic_gap_note(results),
        *grid_section(results, config),
    ]
    if config.runs:
        lines += ["", "## Where the INRs win and lose (equal bytes)", "", *findings(results, config.runs), "",
                  size_note(results, config.runs)]
    lines += [*video_section(results, config), "", "## Per sequence, equal bytes" if config.runs else "## Plots"]
    for res in results:
        if not config.runs:
            lines += ["", f"- {res.name}: `" + "`, `".join(res.pictures) + f"` (in `{FIGURES_NOTE}`, not committed: "
                      "they show frames of `../shared/data`)"]
            continue
        w, h = res.size
        lines += [
            "",
            f"### {res.name} ({w}x{h}, frames {', '.join(map(str, res.frame_indices))} of the sequence, "
            f"boxes {', '.join(f'{b[2]}x{b[3]}' for b in res.boxes)})",
            "",
            equal_bytes_table(res),
            "",
            f"INR encode time: {_encode_times(res)} (all frames of the sequence, all modes of the run).",
            "",
            "Plot and comparison picture (written to `" + FIGURES_NOTE + "`, not committed: they show "
            "frames of `../shared/data`, which must stay out of the repository): "
            + ", ".join(f"`{p}`" for p in res.pictures) + ".",
        ]
    return "\n".join(lines)
