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
    DEFAULT_MAX_SIDE,
    DEFAULT_PAPER_MODES,
    DEFAULT_PAPER_STEPS,
    DEFAULT_SEQUENCE_FRAMES,
    FIGURES_DIR,
    NAME,
    QUICK,
    RdConfig,
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
