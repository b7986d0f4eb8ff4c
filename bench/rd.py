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
and measures only the sequence codecs (``--reuse-video``: those too) and the grid section.

Grid section (``rd_grid``): the per-frame ``grid`` codec at the targets on the first
``--grid-frames`` frames of the per-frame section, its curve at fixed distortion weights
(``--grid-lambdas``) on the first ``--grid-curve-frames`` (BD-rate against AVIF on the same
frames), the ``grid stream`` on the first ``--grid-stream-frames`` frames of each sequence, and
the camera's JPEG (:func:`rinr_core.images.camera_jpeg`) of every frame of the per-frame section.

This file holds the options and the main flow; the rest is in ``rd_config`` (settings, run specs,
the records in ``rd.json``), ``rd_frames`` (the per-frame section and the PSNR targets),
``rd_video`` (the sequence codecs), ``rd_runs`` (measuring, ``--render``, ``--reuse-frames``),
``rd_plots``, ``rd_tables`` and ``rd_report`` (the ``rd.md`` page).

Run from the repository root::

    .venv/bin/python bench/rd.py              # writes docs/results/rd.md, rd.json; plots to out/rd-figures/
    .venv/bin/python bench/rd.py --quick      # 1 sequence, 1 frame, 96 px, 100 steps, 6 video frames
    .venv/bin/python bench/rd.py --json       # the same, JSON on stdout
    .venv/bin/python bench/rd.py --render docs/results/rd.json   # rebuild report + plots, no encoding
    .venv/bin/python bench/rd.py --reuse-frames docs/results/rd.json --sequence-frames all   # sequence codecs only
    .venv/bin/python bench/rd.py --reuse-frames docs/results/rd.json --reuse-video   # grid section only
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from common import (
    SHARED_DATA_DIR,
    apply_threads,
    bench_parser,
    log,
    output_dir,
    reproduce_command,
    to_json,
    write_results,
)
from rd_config import (
    DEFAULT_FRAMES,
    DEFAULT_GRID_LAMBDAS,
    DEFAULT_MAX_SIDE,
    DEFAULT_PAPER_MODES,
    DEFAULT_PAPER_STEPS,
    DEFAULT_SEQUENCE_FRAMES,
    FIGURES_DIR,
    NAME,
    QUICK,
    RdConfig,
    Report,
    RunSpec,
)
from rd_report import render_markdown
from rd_runs import load_report, measure, measure_reusing_frames

from rinr_core.container import MODES
from rinr_core.nerv import DEFAULT_NERV_PRESET, NERV_PRESETS
from rinr_core.presets import get_preset


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
                             "sequence codecs and the grid section (the report names the run they came from)")
    parser.add_argument("--reuse-video", action="store_true",
                        help="with --reuse-frames: copy the saved sequence-codec sections too (Res-NeRV, NeRV "
                             "and their classic peers) instead of measuring them")
    parser.add_argument("--reuse-grid", action="store_true",
                        help="with --reuse-frames: keep the saved grid section's parts and measure only those "
                             "asked for now (a nonzero --grid-frames, --grid-curve-frames or --grid-stream-frames)")
    parser.add_argument("--fast-modes", default=",".join(MODES),
                        help="INR modes run with the fast preset (default all; e.g. qre at large sizes, '' for none)")
    parser.add_argument("--grid-frames", type=int, default=DEFAULT_FRAMES,
                        help="first frames of the per-frame section coded with the per-frame grid codec at "
                             f"the targets (default {DEFAULT_FRAMES}; 0 skips it)")
    parser.add_argument("--grid-curve-frames", type=int, default=1,
                        help="first frames of the per-frame section coded with grid at each --grid-lambdas "
                             "(its RD curve and BD-rate against AVIF; default 1, 0 skips it)")
    parser.add_argument("--grid-lambdas", default=",".join(f"{v:g}" for v in DEFAULT_GRID_LAMBDAS),
                        help="fixed distortion weights of the grid curve (comma-separated)")
    parser.add_argument("--grid-steps", type=int, default=None,
                        help="cold steps of a grid fit (default: the codec's `fast` preset; warm steps a 30th)")
    parser.add_argument("--grid-stream-frames", type=int, default=16,
                        help="first frames of each sequence coded as one grid stream at the targets "
                             "(default 16; 0 skips it)")
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
    fast_modes = tuple(m.strip().lower() for m in args.fast_modes.split(",") if m.strip())
    unknown = [m for m in fast_modes if m not in MODES]
    if unknown:
        raise SystemExit(f"error: unknown --fast-modes {unknown}; choose from {', '.join(MODES)} ('' for none)")
    try:
        lambdas = tuple(float(v) for v in args.grid_lambdas.split(",") if v.strip())
    except ValueError:
        raise SystemExit(f"error: --grid-lambdas must be numbers, got {args.grid_lambdas!r}") from None
    grid_frames, curve_frames, stream_frames = args.grid_frames, args.grid_curve_frames, args.grid_stream_frames
    grid_steps = args.grid_steps
    if args.quick:
        grid_frames, curve_frames, stream_frames, lambdas, grid_steps = 1, 1, 3, lambdas[:1], QUICK["steps"]
    if min(grid_frames, curve_frames, stream_frames) < 0 or any(v <= 0 for v in lambdas) or (grid_steps or 1) < 1:
        raise SystemExit("error: grid frame counts must be >= 0 and --grid-lambdas positive")
    runs = [RunSpec("fast", "fast", fast_steps, fast_modes, get_preset("fast"))] if fast_modes else []
    if paper_modes:
        runs.append(RunSpec("paper", "paper", paper_steps, paper_modes, get_preset("paper")))
    return RdConfig(data_dir=Path(args.data), sequences=sequences, frames=frames, max_side=max_side,
                    runs=tuple(runs), device=args.device, sequence_frames=sequence_frames,
                    nerv_preset=args.nerv_preset, nerv_epochs=nerv_epochs, nerv_bpp=args.nerv_bpp,
                    aim_targets=args.aim_targets, object_steps=object_steps, grid_frames=grid_frames,
                    grid_curve_frames=curve_frames, grid_lambdas=lambdas, grid_stream_frames=stream_frames,
                    grid_steps=grid_steps)


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
    def progress(partial: Report) -> None:  # an interrupted run keeps the sequences it measured
        write_results(out, NAME, render_markdown(partial), partial.data())
        log(f"  wrote the {len(partial.results)} sequence(s) measured so far to {out}")

    if args.render is not None:
        report = load_report(args.render, figures)
    elif args.reuse_frames is not None:
        report = measure_reusing_frames(args.reuse_frames, config_from_args(args), figures,
                                        reproduce_command(__file__, sys.argv[1:] if argv is None else argv),
                                        reuse_video=args.reuse_video, reuse_grid=args.reuse_grid,
                                        progress=progress)
    else:
        if args.reuse_video or args.reuse_grid:
            raise SystemExit("error: --reuse-video and --reuse-grid need --reuse-frames FILE")
        config = config_from_args(args)
        dirs = sequence_dirs(config, args.quick)
        if not dirs:
            log(f"no sequences in {config.data_dir} (shared data absent?): nothing to measure, skipped")
            return 0
        report = measure(config, dirs, figures, reproduce_command(__file__, sys.argv[1:] if argv is None else argv),
                         progress=progress)
    markdown = render_markdown(report)
    data = report.data()
    paths = write_results(out, NAME, markdown, data)
    print(to_json(data) if args.json else markdown)
    log(f"wrote {', '.join(str(p) for p in paths)} and {sum(len(r.pictures) for r in report.results)} "
        f"picture(s) to {figures}; measuring took {report.seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
