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
    if not pixels:
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
    """Where the per-frame sections came from when they were not measured in this run."""
    if not report.reused:
        return []
    r = report.reused
    return [f"- **Two runs**: only the sequence-codec sections (\"Sequence codecs ...\") were measured in the run "
            f"above (`{report.command}`). Everything else (the per-frame tables, findings, equal-bytes tables "
            f"per sequence and their classic peers) is copied from the earlier run `{r['command']}`, measured "
            f"{environment_line(r['environment'])}; run time {r['seconds'] / 60:.1f} min."]


def reproduce_line(report: Report) -> str:
    """The command(s) that reproduce the report."""
    if not report.reused:
        return f"`{report.command}`"
    return (f"`{report.reused['command']}` (per-frame sections), then `{report.command}` (sequence codecs, "
            f"reusing the first run's `{report.reused['path']}`)")


def render_markdown(report: Report) -> str:
    """The whole ``rd.md`` report."""
    results, config, skipped = report.results, report.config, report.skipped
    sizes = ", ".join(f"{r.name} {r.size[0]}x{r.size[1]}" for r in results)
    qualities = sorted({r.source_jpeg_quality for r in results if r.source_jpeg_quality is not None})
    lines = [
        "# Rate-distortion: Residual-INR modes vs JPEG, WebP, AVIF and ROI-JPEG",
        "",
        f"- **Measured**: {environment_line(report.environment)}; total run time {report.seconds / 60:.1f} min.",
        *reused_lines(report),
        f"- **Frames**: {config.frames} per sequence, evenly spread from the first to the last frame, "
        f"resized so the longer side is {config.max_side} px ({sizes}). Numbers are means per frame.",
        *(f"- **INR preset** {spec.describe()}." for spec in config.runs),
        *video_header(config, results),
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
        "",
        "## Where the INRs win and lose (equal bytes)",
        "",
        *findings(results, config.runs),
        "",
        size_note(results, config.runs),
        *video_section(results, config),
        "",
        "## Per sequence, equal bytes",
    ]
    for res in results:
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
