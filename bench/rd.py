"""Rate-distortion benchmark: Residual-INR modes against classic per-frame codecs.

On frames spread over every sequence in ``../shared/data`` (resized so the longer side is
``--max-side`` pixels), this encodes BS, BE, DE, RE and QRE with the ``fast`` preset, BS and
QRE with the ``paper`` preset at a reduced step budget, and runs JPEG, WebP, AVIF and ROI-JPEG
at the byte budget of each frame's QRE payload (equal bytes). It also finds the smallest
payload of each classic codec that reaches background >= 30 dB and object >= 35 dB (the
project's goal line) and sets QRE's bytes and PSNRs beside it, and draws object and background
PSNR against bytes per sequence: classic codecs as curves over their quality range, INR modes
as points.

Sequence codecs (``--sequence-frames``, default 60; ``all`` for every frame; 0 skips them): the
first frames of each sequence are encoded with Res-NeRV (one NeRV background + object residual
INRs; ``--nerv-preset``, ``--nerv-bpp`` sizes the NeRV from the frames) and NeRV (the same
fitted NeRV alone), bytes amortized per frame; on the same frames each classic codec's smallest
payload at the targets and its PSNRs at Res-NeRV's bytes are measured, and the report states per
sequence whether Res-NeRV or the best classic codec needs fewer bytes per frame.
``--reuse-frames rd.json`` copies the per-frame sections from a saved run (the report says so)
and measures only the sequence codecs.

Run from the repository root::

    .venv/bin/python bench/rd.py              # writes docs/results/rd.md, rd.json; plots to out/rd-figures/
    .venv/bin/python bench/rd.py --quick      # 1 sequence, 1 frame, 96 px, 100 steps, 6 video frames
    .venv/bin/python bench/rd.py --json       # the same, JSON on stdout
    .venv/bin/python bench/rd.py --render docs/results/rd.json   # rebuild report + plots, no encoding
    .venv/bin/python bench/rd.py --reuse-frames docs/results/rd.json --sequence-frames all   # sequence codecs only
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    REPO_ROOT,
    SHARED_DATA_DIR,
    apply_threads,
    bench_parser,
    environment,
    environment_line,
    fmt,
    log,
    markdown_table,
    output_dir,
    reproduce_command,
    to_json,
    write_results,
)
from PIL import Image

from rinr_core.classic import CLASSIC_CODECS, classic_at_budget, classic_at_target, classic_sweep
from rinr_core.codec import CodecSettings
from rinr_core.container import MODES
from rinr_core.datasets import load_sequence
from rinr_core.evaluation import Evaluation, comparison_picture, evaluate
from rinr_core.frames import Frame
from rinr_core.metrics import PSNR_CAP_DB
from rinr_core.nerv import DEFAULT_NERV_PRESET, NERV_PRESETS
from rinr_core.presets import Preset, get_preset
from rinr_core.sequence import SequenceSettings, encode_sequence
from rinr_core.siren import SirenArch

NAME = "rd"
FIGURES_DIR = REPO_ROOT / "out" / "rd-figures"
FIGURES_NOTE = "out/rd-figures/"
DEFAULT_FRAMES = 2
DEFAULT_MAX_SIDE = 160
DEFAULT_PAPER_STEPS = 1000
DEFAULT_PAPER_MODES = ("bs", "qre")
DEFAULT_SEQUENCE_FRAMES = 60
QUICK = {"frames": 1, "max_side": 96, "steps": 100, "sequences": 1, "sequence_frames": 6, "nerv_epochs": 6}
VIDEO_CODECS = ("res-nerv", "nerv")
BACKGROUND_DB = 30.0
OBJECT_DB = 35.0
CODEC_TITLES = {"jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "roi-jpeg": "ROI-JPEG",
                "res-nerv": "Res-NeRV", "nerv": "NeRV"}


@dataclass(frozen=True)
class RunSpec:
    """One INR encoder configuration of the benchmark: a preset, its step budget and its modes.

    ``snapshot`` is the preset as it was when the run was measured (kept in ``rd.json``, so a
    report rebuilt with ``--render`` describes what was measured, not today's preset).
    """

    name: str
    preset: str
    steps: int | None  # None: the preset's own budgets
    modes: tuple[str, ...]
    snapshot: Preset | None = None

    def resolved(self) -> Preset:
        """The preset this run used."""
        return self.snapshot if self.snapshot is not None else get_preset(self.preset)

    def settings(self, device: str | None) -> CodecSettings:
        """The codec settings of this run (frames are resized before, so no ``max_side``)."""
        return CodecSettings(mode="qre", preset=self.preset, steps=self.steps, device=device)

    def describe(self) -> str:
        """Preset, networks, learning rates and step budget in words."""
        p = self.resolved()
        if self.steps is None:
            steps = f"{p.steps} background / {p.object_steps} object steps (the preset's own)"
        else:
            steps = f"{self.steps} steps per INR"
            if self.steps < p.steps:
                steps += f" (**reduced** from the preset's {p.steps})"
        qat = f", +{p.qat_fraction:.0%} quantization-aware steps for QRE" if p.qat_fraction else ""
        same = " (the same network as the background, so BS and BE coincide)" if p.baseline == p.background else ""
        first = getattr(p, "first_layer_bits", None)
        bits = (f"QRE weights {p.background_bits} bit background / {p.object_bits} bit object"
                + (f" (first layer {first} bit)" if first else "") + f", other modes {p.float_bits} bit")
        return (f"`{self.preset}`: background SIREN {p.background.depth}x{p.background.width}, "
                f"BS {p.baseline.depth}x{p.baseline.width}{same}, object tiers by box area; Adam lr "
                f"{p.lr:g} (object {p.object_lr:g}) {p.schedule}; {steps}{qat}; {bits}; "
                f"modes {', '.join(m.upper() for m in self.modes)}")


def preset_from_dict(data: dict[str, Any]) -> Preset:
    """A :class:`Preset` from its ``dataclasses.asdict`` form (fields this version lacks are dropped)."""
    known = {f.name for f in fields(Preset)}
    values = {k: v for k, v in data.items() if k in known}
    values["background"] = SirenArch(**values["background"])
    values["baseline"] = SirenArch(**values["baseline"])
    values["object_tiers"] = tuple((int(bound), SirenArch(**arch)) for bound, arch in values["object_tiers"])
    return Preset(**values)


@dataclass(frozen=True)
class RdConfig:
    """Everything that decides the benchmark's numbers."""

    data_dir: Path
    sequences: tuple[str, ...] | None  # None: every sequence folder in data_dir
    frames: int
    max_side: int
    runs: tuple[RunSpec, ...]
    device: str | None = None
    background_db: float = BACKGROUND_DB
    object_db: float = OBJECT_DB
    sequence_frames: int = 0  # first frames of each sequence for the sequence codecs (0: no such section, -1: all)
    nerv_preset: str = DEFAULT_NERV_PRESET
    nerv_epochs: int | None = None  # None: the NeRV preset's own
    nerv_bpp: float | None = None  # None: the NeRV preset's architecture as is
    aim_targets: bool = False  # Res-NeRV: grow the NeRV / refit objects that miss the targets (see --aim-targets)
    object_steps: int | None = None  # None: the object preset's own (sequence codecs)


@dataclass
class SequenceResult:
    """Everything measured on one sequence."""

    name: str
    size: tuple[int, int]
    frame_names: list[str]
    frame_indices: list[int]
    boxes: list[tuple[int, int, int, int]]
    source_jpeg_quality: int | None
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweep: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    pictures: list[str] = field(default_factory=list)
    video: dict[str, Any] = field(default_factory=dict)  # the sequence-codec section (empty: not run)


# --- configuration ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (the shared ones from ``common`` plus this benchmark's)."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR,
                        help="folder of OTB sequences (default ../shared/data)")
    parser.add_argument("--sequences", default=None, help="comma-separated sequence names (default: all)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help=f"frames per sequence, spread over it (default {DEFAULT_FRAMES})")
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                        help=f"longer side of the frames in pixels (default {DEFAULT_MAX_SIDE})")
    parser.add_argument("--fast-steps", type=int, default=None,
                        help="steps per INR for the fast preset (default: the preset's own)")
    parser.add_argument("--paper-steps", type=int, default=DEFAULT_PAPER_STEPS,
                        help=f"steps per INR for the paper preset (default {DEFAULT_PAPER_STEPS}; the paper uses 10000)")
    parser.add_argument("--render", type=Path, default=None,
                        help="rebuild the report and plots from a saved rd.json instead of measuring")
    parser.add_argument("--paper-modes", default=",".join(DEFAULT_PAPER_MODES),
                        help="INR modes run with the paper preset ('' to skip it; include qre for equal-byte peers)")
    parser.add_argument("--sequence-frames", type=_frame_count, default=DEFAULT_SEQUENCE_FRAMES,
                        help="first frames of each sequence encoded with Res-NeRV and NeRV "
                             f"(default {DEFAULT_SEQUENCE_FRAMES}; 'all': every frame; 0 skips the sequence section)")
    parser.add_argument("--nerv-preset", default=DEFAULT_NERV_PRESET, choices=sorted(NERV_PRESETS),
                        help=f"NeRV preset of the sequence codecs (default {DEFAULT_NERV_PRESET})")
    parser.add_argument("--nerv-bpp", type=float, default=None,
                        help="size the NeRV to about this many stored bits per pixel per frame "
                             "(SequenceSettings.nerv_bpp; default: the preset's architecture)")
    parser.add_argument("--aim-targets", action="store_true",
                        help="Res-NeRV aims at the PSNR targets: a NeRV sized in bits per pixel is refitted "
                             "larger while a frame's background misses the target (SequenceSettings.background_db), "
                             "object INRs below the object target are refitted with larger tiers (object_db)")
    parser.add_argument("--reuse-frames", type=Path, default=None,
                        help="copy the per-frame sections from this saved rd.json and measure only the "
                             "sequence codecs (the report names the run they came from)")
    return parser


def _frame_count(text: str) -> int:
    """``--sequence-frames``: a count, or ``all`` (-1)."""
    if text.strip().lower() == "all":
        return -1
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a frame count or 'all', got {text!r}") from None


def config_from_args(args: argparse.Namespace) -> RdConfig:
    """The benchmark configuration from parsed options (``--quick`` overrides sizes and steps)."""
    paper_modes = tuple(m.strip().lower() for m in args.paper_modes.split(",") if m.strip())
    unknown = [m for m in paper_modes if m not in MODES]
    if unknown:
        raise SystemExit(f"error: unknown --paper-modes {unknown}; choose from {', '.join(MODES)}")
    sequences = tuple(s.strip() for s in args.sequences.split(",") if s.strip()) if args.sequences else None
    frames, max_side, fast_steps, paper_steps = args.frames, args.max_side, args.fast_steps, args.paper_steps
    sequence_frames, nerv_epochs, object_steps = args.sequence_frames, None, None
    if args.quick:
        frames, max_side, fast_steps, paper_steps = QUICK["frames"], QUICK["max_side"], QUICK["steps"], QUICK["steps"]
        sequence_frames, nerv_epochs, object_steps = QUICK["sequence_frames"], QUICK["nerv_epochs"], QUICK["steps"]
    if frames < 1 or max_side < 8 or sequence_frames < -1:
        raise SystemExit(f"error: need --frames >= 1, --max-side >= 8 and --sequence-frames >= 0 (or all), "
                         f"got {frames}, {max_side} and {sequence_frames}")
    runs = [RunSpec("fast", "fast", fast_steps, MODES, get_preset("fast"))]
    if paper_modes:
        runs.append(RunSpec("paper", "paper", paper_steps, paper_modes, get_preset("paper")))
    return RdConfig(data_dir=Path(args.data), sequences=sequences, frames=frames, max_side=max_side,
                    runs=tuple(runs), device=args.device, sequence_frames=sequence_frames,
                    nerv_preset=args.nerv_preset, nerv_epochs=nerv_epochs, nerv_bpp=args.nerv_bpp,
                    aim_targets=args.aim_targets, object_steps=object_steps)


def sequence_dirs(config: RdConfig, quick: bool) -> list[Path]:
    """The sequence folders to measure (OTB folders: ``img/`` + ``groundtruth_rect.txt``)."""
    if not config.data_dir.is_dir():
        return []
    found = sorted((p for p in config.data_dir.iterdir() if (p / "img").is_dir()), key=lambda p: p.name.lower())
    if config.sequences is not None:
        names = {p.name: p for p in found}
        missing = [s for s in config.sequences if s not in names]
        if missing:
            raise SystemExit(f"error: no sequence {missing} in {config.data_dir}; found {sorted(names)}")
        found = [names[s] for s in config.sequences]
    return found[: QUICK["sequences"]] if quick else found


# --- measuring ----------------------------------------------------------------------------


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


def measure_sequence(path: Path, config: RdConfig, out: Path) -> SequenceResult | None:
    """All measurements of one sequence, plus its plot and comparison picture in ``out``."""
    frames, indices = spread_frames(path, config.frames, config.max_side)
    if not frames:
        log(f"{path.name}: no usable frames, skipped")
        return None
    result = SequenceResult(name=path.name, size=(frames[0].width, frames[0].height),
                            frame_names=[f.name for f in frames], frame_indices=indices,
                            boxes=[f.box for f in frames], source_jpeg_quality=jpeg_quality(frames[0].meta["path"]))
    for spec in config.runs:
        log(f"{path.name}: {len(frames)} frame(s) at {result.size[0]}x{result.size[1]}, "
            f"preset {spec.preset}, modes {','.join(spec.modes)} ...")
        ev, run = run_inr(frames, spec, config.device)
        result.runs[spec.name] = run
        log(f"  {run['seconds']:.0f} s")
        if spec is config.runs[0]:
            picture = out / f"{NAME}_{path.name}_frame.png"
            comparison_picture(ev, picture, columns=("jpeg", "avif", "roi-jpeg", "bs", "qre"))
            result.pictures.append(picture.name)
    result.sweep = {codec: mean_sweep(frames, codec) for codec in CLASSIC_CODECS}
    result.targets = classic_targets(frames, config)
    result.targets["qre"] = qre_targets(result.runs, result.targets["best_per_frame"], config.background_db,
                                        config.object_db)
    if config.sequence_frames:
        result.video = measure_video(path, config)
    result.pictures.insert(0, plot_sequence(result, out / f"{NAME}_{path.name}.png").name)
    return result


# --- plot ---------------------------------------------------------------------------------


def plot_sequence(result: SequenceResult, path: Path) -> Path:
    """Object and background PSNR against bytes: classic curves, INR points, target lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.4), layout="constrained")
    colors = {"jpeg": "tab:gray", "webp": "tab:green", "avif": "tab:purple", "roi-jpeg": "tab:brown",
              "bs": "tab:blue", "be": "tab:cyan", "de": "tab:olive", "re": "tab:orange", "qre": "tab:red"}
    markers = {"fast": "o", "paper": "s"}
    for ax, key, target in ((axes[0], "psnr_object", result.targets["object_db"]),
                            (axes[1], "psnr_background", result.targets["background_db"])):
        for codec, points in result.sweep.items():
            ax.plot([p["bytes"] for p in points], [p[key] for p in points], "-", color=colors[codec],
                    lw=1.4, marker=".", label=CODEC_TITLES[codec])
        for run_name, run in result.runs.items():
            for s in run["summary"]:
                if s["mode"] in MODES:
                    size = 12 if s["mode"] == "bs" else 8  # BS can coincide with BE: keep it visible
                    ax.plot(s["bytes"], s[key], markers.get(run_name, "D"), color=colors[s["mode"]], ms=size,
                            mfc=colors[s["mode"]] if run_name == "fast" else "none", mew=1.8,
                            label=f"{s['mode'].upper()} ({run_name})", ls="none")
        for codec, marker in zip(VIDEO_CODECS, ("*", "X"), strict=True):
            s = result.video.get("codecs", {}).get(codec, {}).get("summary")
            if s:
                ax.plot(s["bytes"], s[key], marker, color="black" if codec == "res-nerv" else "tab:pink", ms=13,
                        ls="none", label=f"{CODEC_TITLES[codec]} (first {result.video['frames']} frames)")
        ax.axhline(target, color="black", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("bytes per frame")
        ax.set_ylabel(f"{'object' if key == 'psnr_object' else 'background'} PSNR (dB)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    w, h = result.size
    video = f"; Res-NeRV/NeRV: first {result.video['frames']} frames" if result.video else ""
    fig.suptitle(f"{result.name}: {len(result.frame_names)} frame(s) at {w}x{h}{video}, mean per frame "
                 f"(dotted: targets {result.targets['object_db']:g} / {result.targets['background_db']:g} dB)",
                 fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- report -------------------------------------------------------------------------------


def _kb(value: float | None) -> str:
    return fmt(None if value is None else value / 1000, 2)


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
    return f"{fmt(s['psnr_object'], 1)} / {fmt(s['psnr_background'], 1)}"


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


def video_verdicts(results: Sequence[SequenceResult]) -> list[str]:
    """One plain sentence per sequence: bytes per frame at the targets, Res-NeRV vs the best classic codec."""
    return [f"- **{r.name}**: {video_winner(r.video)[1]}" for r in results if r.video]


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
                     fmt(s["bytes"], 0), s["psnr_full"], s["psnr_object"], s["psnr_background"]])
    for run_name, run in res.runs.items():
        q = next((x for x in run["summary"] if x["mode"] == "qre"), None)
        if q is not None:
            rows.append([f"QRE {run_name} (per-frame section: {len(res.frame_names)} other frames)", "–",
                         f"{q['bytes']:.0f}", q["psnr_full"], q["psnr_object"], q["psnr_background"]])
    return markdown_table(["codec", "frames", "bytes", "PSNR full", "PSNR object", "PSNR background"], rows)


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


# --- entry point --------------------------------------------------------------------------


@dataclass
class Report:
    """What a report is made of: the measurements and how they were taken."""

    results: list[SequenceResult]
    config: RdConfig
    environment: dict[str, Any]
    seconds: float
    command: str
    skipped: list[str]
    reused: dict[str, Any] | None = None  # the saved run the per-frame sections came from (--reuse-frames)

    def data(self) -> dict[str, Any]:
        """The JSON form written to ``rd.json`` (and read back by ``--render``)."""
        return {"benchmark": NAME, "command": self.command, "environment": self.environment,
                "seconds": self.seconds, "config": {**asdict(self.config), "data_dir": str(self.config.data_dir)},
                "sequences": [asdict(r) for r in self.results], "skipped": self.skipped, "reused": self.reused}


def measure(config: RdConfig, dirs: Sequence[Path], out: Path, command: str) -> Report:
    """Measure every sequence in ``dirs``; plots and pictures go to ``out``."""
    env = environment(config.device)
    start = time.perf_counter()
    results, skipped = [], []
    for path in dirs:
        res = measure_sequence(path, config, out)
        if res is None:
            skipped.append(f"{path.name} (no usable frames)")
        else:
            results.append(res)
    return Report(results, config, env, time.perf_counter() - start, command, skipped)


def _saved_config(cfg: dict[str, Any]) -> RdConfig:
    runs = tuple(RunSpec(r["name"], r["preset"], r["steps"], tuple(r["modes"]),
                         preset_from_dict(r["snapshot"]) if r.get("snapshot") else None) for r in cfg["runs"])
    return RdConfig(data_dir=Path(cfg["data_dir"]), sequences=tuple(cfg["sequences"]) if cfg["sequences"] else None,
                    frames=cfg["frames"], max_side=cfg["max_side"], runs=runs, device=cfg["device"],
                    background_db=cfg["background_db"], object_db=cfg["object_db"],
                    sequence_frames=cfg.get("sequence_frames", 0),
                    nerv_preset=cfg.get("nerv_preset", DEFAULT_NERV_PRESET), nerv_epochs=cfg.get("nerv_epochs"),
                    nerv_bpp=cfg.get("nerv_bpp"), aim_targets=cfg.get("aim_targets", False),
                    object_steps=cfg.get("object_steps"))


def _saved_result(item: dict[str, Any], config: RdConfig) -> SequenceResult:
    res = SequenceResult(**{**item, "size": tuple(item["size"]), "boxes": [tuple(b) for b in item["boxes"]]})
    res.targets["qre"] = qre_targets(res.runs, res.targets["best_per_frame"], config.background_db, config.object_db)
    return res


def load_report(path: Path, out: Path) -> Report:
    """A report rebuilt from a saved ``rd.json``: QRE verdicts and plots are recomputed, nothing is re-encoded.

    The comparison pictures need the decoded frames, so the ones already in ``out`` are kept.
    """
    data = json.loads(Path(path).read_text())
    config = _saved_config(data["config"])
    results = []
    for item in data["sequences"]:
        res = _saved_result(item, config)
        res.pictures[0] = plot_sequence(res, out / res.pictures[0]).name
        results.append(res)
    return Report(results, config, data["environment"], data["seconds"], data["command"], data["skipped"],
                  data.get("reused"))


def measure_reusing_frames(saved_path: Path, config: RdConfig, out: Path, command: str) -> Report:
    """Per-frame sections copied from a saved ``rd.json``; the sequence codecs measured now with ``config``.

    The sequences, frames, INR runs and targets are the saved run's; the comparison pictures
    already in ``out`` are kept (they need the decoded frames of that run).
    """
    data = json.loads(Path(saved_path).read_text())
    if data.get("reused"):
        raise SystemExit(f"error: {saved_path} itself reused per-frame results; point --reuse-frames at the "
                         f"rd.json of a full run ({data['reused']['command']})")
    saved = _saved_config(data["config"])
    config = replace(saved, device=config.device, sequence_frames=config.sequence_frames,
                     nerv_preset=config.nerv_preset, nerv_epochs=config.nerv_epochs, nerv_bpp=config.nerv_bpp,
                     aim_targets=config.aim_targets, object_steps=config.object_steps)
    env = environment(config.device)
    start = time.perf_counter()
    results = []
    for item in data["sequences"]:
        res = _saved_result({**item, "video": {}}, config)
        if config.sequence_frames:
            res.video = measure_video(config.data_dir / res.name, config)
        res.pictures[0] = plot_sequence(res, out / res.pictures[0]).name
        results.append(res)
    reused = {"path": str(saved_path), "command": data["command"], "environment": data["environment"],
              "seconds": data["seconds"]}
    return Report(results, config, env, time.perf_counter() - start, command, data["skipped"], reused)


def figures_dir(args: argparse.Namespace) -> Path:
    """Where plots and pictures of the real frames go: never ``docs/results`` (see FIGURES_NOTE)."""
    return output_dir(args) if args.quick else FIGURES_DIR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report (or JSON) and write it under the output folder."""
    args = build_parser().parse_args(argv)
    apply_threads(args.threads)
    out = output_dir(args)
    figures = figures_dir(args)
    figures.mkdir(parents=True, exist_ok=True)
    if args.render is not None:
        report = load_report(args.render, figures)
    elif args.reuse_frames is not None:
        report = measure_reusing_frames(args.reuse_frames, config_from_args(args), figures,
                                        reproduce_command(__file__, sys.argv[1:] if argv is None else argv))
    else:
        config = config_from_args(args)
        dirs = sequence_dirs(config, args.quick)
        if not dirs:
            log(f"no sequences in {config.data_dir} (shared data absent?): nothing to measure, skipped")
            return 0
        report = measure(config, dirs, figures, reproduce_command(__file__, sys.argv[1:] if argv is None else argv))
    markdown = render_markdown(report)
    data = report.data()
    paths = write_results(out, NAME, markdown, data)
    print(to_json(data) if args.json else markdown)
    log(f"wrote {', '.join(str(p) for p in paths)} and {sum(len(r.pictures) for r in report.results)} "
        f"picture(s) to {figures}; measuring took {report.seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
