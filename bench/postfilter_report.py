"""The markdown page of ``bench/postfilter.py``: tables and plain statements of the targets."""

from __future__ import annotations

from typing import Any

from common import environment_line

from rinr_core.tables import markdown_table

TARGET_GAIN_DB = 0.5
TARGET_BYTES = 64 * 1024
TARGET_TIME_SHARE = 0.20


def _main_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        v = next(iter(r["variants"].values()))
        out.append([
            r["codec"], r["sequence"], f"{r['width']}x{r['height']}",
            f"{r['train_frames']}/{r['test_frames']}",
            f"{v['psnr_full_before']:.2f} -> {v['psnr_full_after']:.2f}",
            f"{v['gain_db']:+.2f} (min {v['min_gain_db']:+.2f})",
            f"{v['psnr_object_before']:.2f} -> {v['psnr_object_after']:.2f}",
            f"{v['psnr_background_before']:.2f} -> {v['psnr_background_after']:.2f}",
            f"{v['train_gain_db']:+.2f}", f"{v['lut_bytes']:,}",
            f"{1000 * v['apply_s_per_frame']:.2f} / {1000 * r['decode_s_per_frame']:.2f}",
            f"{100 * v['apply_over_decode']:.0f}%", f"{v['train_s']:.0f}",
        ])
    return out


def _compare_rows(rows: list[dict[str, Any]], same: str) -> list[list[str]]:
    """Variants of the default codec that share the main variant's ``same`` field."""
    out = []
    for r in rows:
        main = next(iter(r["variants"].values()))
        group = [v for v in r["variants"].values() if v[same] == main[same]]
        if len(group) < 2:
            continue
        for v in group:
            out.append([r["codec"], r["sequence"], v["preset"], v["color"],
                        str(v["lookups_per_pixel"]), f"{v['gain_db']:+.2f}",
                        f"{v['min_gain_db']:+.2f}", f"{v['train_gain_db']:+.2f}",
                        f"{v['lut_bytes']:,}", f"{100 * v['apply_over_decode']:.0f}%"])
    return out


def _verdicts(rows: list[dict[str, Any]]) -> list[str]:
    lines = [] if rows else ["- No sequence was measured in this run (`--sequences`)."]
    for codec in dict.fromkeys(r["codec"] for r in rows):
        mine = [(r, next(iter(r["variants"].values()))) for r in rows if r["codec"] == codec]
        gain_ok = [r["sequence"] for r, v in mine if v["gain_db"] >= TARGET_GAIN_DB]
        gain_miss = [f"{r['sequence']} ({v['gain_db']:+.2f} dB)" for r, v in mine
                     if v["gain_db"] < TARGET_GAIN_DB]
        lines.append(f"- **{codec}, >= +{TARGET_GAIN_DB} dB full-frame PSNR on unseen frames:** "
                     + ("met on every sequence." if not gain_miss else
                        f"met on {len(gain_ok)} of {len(mine)} ({', '.join(gain_ok) or 'none'}); "
                        f"missed on {', '.join(gain_miss)}."))
        sizes = max(v["lut_bytes"] for _, v in mine)
        lines.append(f"- **{codec}, LUT <= 64 KB:** {'met' if sizes <= TARGET_BYTES else 'missed'}"
                     f" (largest {sizes:,} bytes).")
        shares = [(r["sequence"], v["apply_over_decode"]) for r, v in mine]
        over = [f"{s} ({100 * x:.0f}%)" for s, x in shares if x > TARGET_TIME_SHARE]
        lines.append(f"- **{codec}, applying it <= 20% of the decode time per frame (CPU):** "
                     + ("met on every sequence." if not over else f"missed on {', '.join(over)}."))
    return lines


def _findings(rows: list[dict[str, Any]]) -> list[str]:
    """Where the post-filter loses, read off the table (not targets of the issue)."""
    lines = []
    mains = [(r, next(iter(r["variants"].values()))) for r in rows]
    worse_object = [f"{r['sequence']} ({v['psnr_object_before']:.1f} -> "
                    f"{v['psnr_object_after']:.1f} dB)" for r, v in mains
                    if v["psnr_object_after"] < v["psnr_object_before"] - 0.1]
    if worse_object:
        lines.append(f"- The object box gets worse on {len(worse_object)} of {len(mains)} "
                     f"sequences: {', '.join(worse_object)}. The codec decodes the box well already "
                     "(its own object INR: object PSNR above full-frame PSNR), and a filter "
                     "trained on whole frames learns the background's artefacts; applying it "
                     "outside the box only, or training it on background pixels, would keep the "
                     "object as decoded.")
    shifted = [f"{r['sequence']} ({v['train_gain_db']:+.2f} on its training frames, "
               f"{v['gain_db']:+.2f} unseen)" for r, v in mains
               if v["train_gain_db"] - v["gain_db"] > 0.25]
    if shifted:
        lines.append("- The gain on the training frames does not carry over to the later half "
                     f"of the sequence: {', '.join(shifted)}. The runtime guards against this: "
                     "the fog holds back every 4th training pair and sends a filter only if it "
                     "helps those, and retrains when the gain on new frames drifts.")
    return lines


def _map_section(result: dict[str, Any]) -> list[str]:
    m = result.get("map")
    if not m:
        return ["## Detection accuracy (mAP50-95 of YOLOv8n)", "",
                "Not measured in this run (run with `--map`: it encodes one more set of "
                "frames and trains YOLOv8n three times).", ""]
    rows = [[name, f"{v['map50']:.3f}", f"{v['map50_95']:.3f}", f"{v['train_s']:.0f}"]
            for name, v in m["runs"].items()]
    command = []
    if "command" in m:
        command = [f"Measured by a separate run, which replaced the `--map` part of the command "
                   f"above: `{m['command']}`.", ""]
        old = result.get("map_replaced")
        if old:
            scores = ", ".join(f"{name} {v['map50_95']:.3f}" for name, v in old["runs"].items())
            recipe = old["recipe"].split("YOLOv8n from ")[-1].split(". ")[0]
            command[0] += f" The replaced part (YOLOv8n from {recipe}) scored mAP50-95 {scores}."
    return ["## Detection accuracy (mAP50-95 of YOLOv8n)", "", *command, m["recipe"], "",
            markdown_table(["training frames", "mAP50", "mAP50-95", "train s"], rows), "",
            m.get("note", ""), ""]


def report_page(result: dict[str, Any]) -> str:
    """The whole markdown page for ``result`` (what :func:`postfilter.main` measured)."""
    s = result["settings"]
    rows = result["rows"]
    header = ["codec", "sequence", "size", "train/test", "PSNR full (dB)", "gain", "object",
              "background", "train gain", "LUT bytes", "apply / decode ms", "share", "train s"]
    lines = [
        "# Look-up post-filter at the edge (TinyLUT-style)", "",
        f"Command: `{result['command']}`", "",
        f"Machine: {environment_line(result['environment'])}.", "",
        f"Per sequence: {s['frames']} frames spread evenly over the whole sequence, longer side "
        f"{s['max_side']} px, encoded with the codec (Residual-INR: {s['qre_steps']} fitting "
        f"steps per INR{', the runtime default' if s['qre_steps'] == 300 else ''}; NeRV epochs: "
        f"{s['nerv_epochs'] or 'the preset default'}) and decoded from the real payloads. The "
        f"post-filter (preset `{s['presets'][0]}`, planes `{s['colors'][0]}`, rotations "
        f"{s['rotations']}, {s['lut_steps']} Adam steps at lr {s['lut_lr']}, crops of 48 px) is "
        "trained on the first half (earlier frames) and measured on the "
        "second half, which it never saw. Times are the best of "
        f"{s['repeats']} runs, in CPU seconds of this one process (the machine is shared): the "
        "look-ups per frame against the codec's grouped decode per frame (a stream codec: its "
        "whole stream over its frames).", "",
        *([f"Reduced run: only preset `{s['presets'][0]}` on `{s['colors'][0]}` planes (the "
             "script's defaults also compare the `lean` preset and `ycbcr` planes), to fit the "
             "CPU budget of a 2-core machine shared with other work.", ""]
          if len(s["presets"]) < 2 and len(s["colors"]) < 2 else []),
        "The peer is the same decoded frames without the post-filter (the *before* figures), "
        "measured in the same run.", "",
        "## Targets", "", *_verdicts(rows), "",
        *(["## Where it loses", "", *found, ""] if (found := _findings(rows)) else []),
        "## Unseen frames, before -> after the post-filter", "",
        markdown_table(header, _main_rows(rows)), "",
    ]
    compare = ["codec", "sequence", "preset", "planes", "look-ups/px", "gain (unseen)",
               "min gain", "train gain", "LUT bytes", "apply/decode"]
    colors = _compare_rows(rows, "preset")
    if colors:
        lines += ["## RGB planes vs luma + chroma planes (same network, same budget)", "",
                  "`rgb`: the first layer reads R, G, B; `ycbcr`: integer Y, Cb, Cr (the output "
                  "is an RGB correction either way).", "", markdown_table(compare, colors), ""]
    presets = _compare_rows(rows, "color")
    if presets:
        lines += ["## Network size: quality against look-ups", "",
                  "`fast`: two 3x3 layers (54 look-ups per pixel); `lean`: a 3x3 layer and a "
                  "per-pixel layer (30).", "", markdown_table(compare, presets), ""]
    lines += _map_section(result)
    return "\n".join(lines)


if __name__ == "__main__":  # re-render the page from a results JSON (same figures)
    import json
    import sys
    from pathlib import Path

    source = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/results/postfilter.json")
    source.with_suffix(".md").write_text(report_page(json.loads(source.read_text())) + "\n")
