"""Side-by-side evaluation of INR modes and classic codecs on the same frames.

Used by ``rinr eval`` and ``bench/rd.py``. INR modes are encoded with the given settings;
classic codecs are run at the byte budget of the frame's QRE payload when QRE is evaluated
(equal bytes, so PSNRs compare directly), else at ``classic_quality``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rinr_core.classic import CLASSIC_CODECS, classic_at_budget, run_classic
from rinr_core.codec import CodecSettings, encode_frames
from rinr_core.codecs import STREAM, CodecOptions, get_codec
from rinr_core.container import MODES
from rinr_core.decoding import decode_many
from rinr_core.errors import ConfigError
from rinr_core.frames import Frame
from rinr_core.images import resize_frame
from rinr_core.sequence import SequenceSettings, decode_sequence, encode_sequence
from rinr_core.tables import markdown_table

SEQUENCE_MODES = ("res-nerv", "nerv")  # one NeRV for the whole sequence (+ object residuals)
GRID_MODES = ("grid", "grid-stream")  # latent grids: per frame, or one stream (rinr_core.grid)
ALL_MODES = (*MODES, *SEQUENCE_MODES, *GRID_MODES, *CLASSIC_CODECS)
SUMMARY_KEYS = ("bytes", "bpp", "psnr_full", "psnr_object", "psnr_background")


def parse_modes(text: str | Sequence[str]) -> list[str]:
    """``"bs,qre,jpeg"`` -> ``["bs", "qre", "jpeg"]``, validated."""
    items = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    unknown = [m for m in items if m not in ALL_MODES]
    if unknown or not items:
        raise ConfigError(f"unknown mode(s) {unknown or text!r}; choose from {', '.join(ALL_MODES)}")
    return items


@dataclass
class Evaluation:
    """Per-frame rows and decoded images of an evaluation."""

    rows: list[dict] = field(default_factory=list)
    decoded: dict[str, list[np.ndarray]] = field(default_factory=dict)
    frames: list[Frame] = field(default_factory=list)

    def summary(self) -> list[dict]:
        """Mean of every metric per mode, in the order the modes were run."""
        by_mode: dict[str, list[dict]] = defaultdict(list)
        for row in self.rows:
            by_mode[row["mode"]].append(row)
        out = []
        for mode, rows in by_mode.items():
            entry = {"mode": mode, "frames": len(rows)}
            for key in SUMMARY_KEYS:
                vals = [r[key] for r in rows if not math.isnan(r[key])]
                entry[key] = float(np.mean(vals)) if vals else float("nan")
            if "macs_per_pixel" in rows[0]:
                entry["macs_per_pixel"] = float(np.mean([r["macs_per_pixel"] for r in rows]))
            out.append(entry)
        return out


def evaluate(frames: Sequence[Frame], modes: Sequence[str], settings: CodecSettings, *,
             classic_quality: int = 75, progress: bool = False,
             sequence_settings: SequenceSettings | None = None) -> Evaluation:
    """Encode ``frames`` with every mode in ``modes`` and measure each on its real bytes.

    ``res-nerv``/``nerv`` encode the frames as one sequence (bytes amortized per frame) and
    share one NeRV fit; ``sequence_settings`` tunes them.
    """
    modes = parse_modes(modes)
    frames = [resize_frame(f, settings.max_side) for f in frames]
    ev = Evaluation(frames=frames)
    budgets: list[int] | None = None
    inr_modes = [m for m in modes if m in MODES]
    # QRE first, so classic codecs can match its bytes.
    for mode in sorted(inr_modes, key=lambda m: m != "qre"):
        results = encode_frames(frames, replace(settings, mode=mode, max_side=None), progress=progress)
        ev.decoded[mode] = decode_many([r.payload for r in results], settings.device)
        for f, r in zip(frames, results, strict=True):
            ev.rows.append({"frame": f.name, **r.metrics, "setting": settings.preset})
        if mode == "qre":
            budgets = [r.metrics["bytes"] for r in results]
    background = None
    for mode in (m for m in SEQUENCE_MODES if m in modes):
        seq = replace(sequence_settings or SequenceSettings(device=settings.device, seed=settings.seed),
                      codec=mode, max_side=None)
        result = encode_sequence(frames, seq, background=background)
        background = result.background
        ev.decoded[mode] = decode_sequence(result.payload, device=settings.device)
        for f, m in zip(frames, result.metrics, strict=True):
            ev.rows.append({"frame": f.name, **m, "setting": seq.nerv_preset})
    for mode in (m for m in GRID_MODES if m in modes):
        _evaluate_grid(ev, frames, mode, settings)
    for codec in (m for m in modes if m in CLASSIC_CODECS):
        ev.decoded[codec] = []
        for i, f in enumerate(frames):
            res = None
            if budgets is not None:
                res = classic_at_budget(f.image, f.box, codec, budgets[i])
            if res is None:  # no budget, or even the lowest quality is over it
                quality = (max(1, classic_quality // 4), classic_quality) if codec == "roi-jpeg" else classic_quality
                if budgets is not None:
                    quality = (1, 20) if codec == "roi-jpeg" else 1
                res = run_classic(f.image, f.box, codec, quality)
            ev.decoded[codec].append(res.decoded)
            ev.rows.append({"frame": f.name, **res.metrics, "setting": res.quality})
    order = {m: i for i, m in enumerate(modes)}
    ev.rows.sort(key=lambda r: order[r["mode"]])
    return ev


def _evaluate_grid(ev: Evaluation, frames: Sequence[Frame], mode: str,
                   settings: CodecSettings) -> None:
    """Grid rows: per frame (``grid``) or the frames as one stream (``grid-stream``)."""
    codec = get_codec(mode)
    options = CodecOptions(steps=settings.steps, lr=settings.lr, device=settings.device,
                           seed=settings.seed)
    if codec.kind == STREAM:
        result = codec.encode(frames, options)
        ev.decoded[mode] = codec.decode([result.payload], settings.device)
        metrics = result.metrics
    else:
        results = codec.encode(frames, options)
        ev.decoded[mode] = codec.decode([r.payload for r in results], settings.device)
        metrics = [r.metrics for r in results]
    for f, m in zip(frames, metrics, strict=True):
        ev.rows.append({"frame": f.name, **m, "mode": mode, "setting": f"lambda {m['lambda']:.0f}"})


SUMMARY_HEADERS = ("mode", "frames", "bytes", "bpp", "PSNR full", "PSNR object", "PSNR background")
SUMMARY_DIGITS = (0, 0, 0, 3, 2, 2, 2)  # decimals per column of :func:`format_table`


def format_table(summary: Sequence[dict], title: str = "") -> str:
    """A markdown table of per-mode means, under ``title`` when one is given."""
    rows = [[s["mode"], s["frames"], *(s[k] for k in SUMMARY_KEYS)] for s in summary]
    table = markdown_table(SUMMARY_HEADERS, rows, digits=SUMMARY_DIGITS)
    return f"{title}\n{table}" if title else table


def _panel(image: np.ndarray, box: tuple[int, int, int, int], label: str, zoom_height: int) -> Image.Image:
    """One column: the frame with its box outlined, the zoomed object below, a label on top.

    Small frames are enlarged (nearest neighbour) so the picture stays readable.
    """
    factor = max(1, -(-240 // image.shape[1]))
    h, w = image.shape[0] * factor, image.shape[1] * factor
    x, y, bw, bh = (v * factor for v in box)
    big = Image.fromarray(image).resize((w, h), Image.Resampling.NEAREST)
    zoom_w = max(1, round(bw * zoom_height / bh))
    zoom = big.crop((x, y, x + bw, y + bh)).resize((min(zoom_w, w), zoom_height), Image.Resampling.NEAREST)
    label_h = 26
    panel = Image.new("RGB", (w, label_h + h + zoom_height + 4), "white")
    ImageDraw.Draw(big).rectangle([x - 1, y - 1, x + bw, y + bh], outline=(255, 40, 40))
    panel.paste(big, (0, label_h))
    panel.paste(zoom, ((w - zoom.width) // 2, label_h + h + 4))
    ImageDraw.Draw(panel).multiline_text((2, 1), label, fill="black", font=ImageFont.load_default(), spacing=1)
    return panel


def comparison_picture(ev: Evaluation, path: Path, index: int = 0,
                       columns: Sequence[str] = ("jpeg", "bs", "qre")) -> Path:
    """Save ``original | JPEG | BS | QRE`` (those that were run) with the object zoomed."""
    frame = ev.frames[index]
    rows = {r["mode"]: r for r in ev.rows if r["frame"] == frame.name}
    zoom_h = max(96, frame.height // 2)
    panels = [_panel(frame.image, frame.box, f"original\n{frame.width}x{frame.height}", zoom_h)]
    for mode in columns:
        if mode in ev.decoded:
            r = rows[mode]
            label = f"{mode}: {r['bytes']} bytes\nobject {r['psnr_object']:.1f} dB, bg {r['psnr_background']:.1f} dB"
            panels.append(_panel(ev.decoded[mode][index], frame.box, label, zoom_h))
    canvas = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), panels[0].height), "white")
    x = 0
    for p in panels:
        canvas.paste(p, (x, 0))
        x += p.width + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
