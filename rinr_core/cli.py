"""The ``rinr`` command line: encode, decode and evaluate frames.

Every command that reports numbers takes ``--json`` and then prints exactly one JSON object
on stdout (progress and messages go to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from PIL import Image

from rinr_core.cli_sequence import add_grid_options, grid_settings
from rinr_core.cli_sequence import add_parser as add_sequence_parsers
from rinr_core.codec import CodecSettings, encode_frame
from rinr_core.codecs import all_codecs, codec_names, get_codec
from rinr_core.datasets import load_sequence
from rinr_core.decoding import decode
from rinr_core.errors import RinrError
from rinr_core.evaluation import comparison_picture, evaluate, format_table, parse_modes
from rinr_core.frames import Frame
from rinr_core.grid import encode_grid_frames
from rinr_core.images import load_image
from rinr_core.lut.cli import add_parser as add_postfilter_parser
from rinr_core.lut.cli import add_post_filter_option, post_filtered
from rinr_core.presets import DEFAULT_PRESET
from rinr_core.tables import text_table


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"--bbox takes X,Y,W,H (4 numbers), got {text!r}")
    try:
        return tuple(float(p) for p in parts)  # type: ignore[return-value]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bbox values must be numbers, got {text!r}") from None


def _add_codec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(get_codec("qre").presets),
                   help="encoder preset")
    p.add_argument("--steps", type=int, help="optimizer steps per INR (overrides the preset)")
    p.add_argument("--lr", type=float, help="learning rate (overrides the preset)")
    p.add_argument("--max-side", type=int, help="resize so the longer side is at most PX before encoding")
    p.add_argument("--background-bits", type=int, help="QRE background bit width (default 8)")
    p.add_argument("--object-bits", type=int, help="QRE object bit width (default 16)")
    p.add_argument("--target-psnr", type=float, help="stop each INR early at this PSNR (dB)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _settings(args: argparse.Namespace, mode: str) -> CodecSettings:
    return CodecSettings(mode=mode, preset=args.preset, steps=args.steps, lr=args.lr, max_side=args.max_side,
                         background_bits=args.background_bits, object_bits=args.object_bits,
                         target_psnr=args.target_psnr, device=args.device)


def cmd_encode(args: argparse.Namespace) -> int:
    frame = Frame(load_image(args.image), args.bbox, name=Path(args.image).stem)
    start = time.perf_counter()
    if args.mode == "grid":
        result = encode_grid_frames([frame], grid_settings(args, stream=False))[0]
    else:
        result = encode_frame(frame, _settings(args, args.mode))
    encode_s = time.perf_counter() - start
    Path(args.output).write_bytes(result.payload)
    if args.json:
        print(json.dumps({**result.metrics, "encode_s": encode_s, "output": str(args.output)}))
    else:
        m = result.metrics
        print(f"{args.output}: {m['bytes']} bytes ({m['bpp']:.3f} bpp) {m['width']}x{m['height']} "
              f"mode {m['mode']}; PSNR full {m['psnr_full']:.2f} dB, object {m['psnr_object']:.2f} dB, "
              f"background {m['psnr_background']:.2f} dB; {m['macs_per_pixel']:.0f} MACs/pixel")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    image = decode(Path(args.input).read_bytes(), args.device)
    image = post_filtered([image], args.post_filter)[0]
    Image.fromarray(image).save(args.output)
    print(f"{args.output}: {image.shape[1]}x{image.shape[0]}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    loaded = load_sequence(args.seq_dir, limit=args.frames)
    for s in loaded.skipped:
        print(f"skipped {s.name}: {s.reason}", file=sys.stderr)
    if not loaded.frames:
        print(f"error: no usable frames in {args.seq_dir}", file=sys.stderr)
        return 2
    ev = evaluate(loaded.frames, parse_modes(args.modes), _settings(args, "qre"), progress=not args.json)
    out = Path(args.out)
    picture = comparison_picture(ev, out / f"{Path(args.seq_dir).name}_comparison.png")
    summary = ev.summary()
    if args.json:
        print(json.dumps({"sequence": str(args.seq_dir), "preset": args.preset, "summary": summary,
                          "rows": ev.rows, "picture": str(picture),
                          "skipped": [vars(s) for s in loaded.skipped]}))
    else:
        f0 = ev.frames[0]
        print(format_table(summary, f"{args.seq_dir}: {len(ev.frames)} frame(s) at {f0.width}x{f0.height}, "
                                    f"preset {args.preset}\n"))
        print(f"\ncomparison picture: {picture}")
    return 0


def cmd_codecs(args: argparse.Namespace) -> int:
    """``rinr codecs``: every registered codec (``--json``: a list of objects)."""
    codecs = all_codecs()
    if args.json:
        print(json.dumps([c.describe() for c in codecs]))
        return 0
    rows = [[c.name, c.kind, c.container, c.runtime_name or "-", ",".join(c.presets) or "-",
             c.summary] for c in codecs]
    print(text_table(["name", "kind", "container", "runtime", "presets", "summary"], rows,
                     align=["l"] * 6))
    return 0


def cmd_bench_speed(args: argparse.Namespace) -> int:
    from rinr_core.speed import measure_speed
    from rinr_core.synthetic import generate_sequence

    if args.seq:
        loaded = load_sequence(args.seq, limit=args.frames)
        frames, source = loaded.frames, str(args.seq)
    else:
        frames, source = generate_sequence(args.frames, width=160, height=96, seed=0), "generated scene (seed 0)"
    if len(frames) < 2:
        print("error: the speed benchmark needs at least 2 frames", file=sys.stderr)
        return 2
    result = {"source": source, **measure_speed(frames, _settings(args, "qre"))}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{source}: {result['frames']} frames at {result['width']}x{result['height']} on {result['device']}")
    rows = [
        ("encode fps, cold one by one", result["encode_fps_single"]),
        ("encode fps, cold batched", result["encode_fps_batched"]),
        ("encode fps, warm start", result["encode_fps_warm"]),
        ("warm/cold steps to the cold PSNR", result["warm_over_cold_steps"]),
        ("decode fps, one by one", result["decode_fps_single"]),
        ("decode fps, grouped", result["decode_fps_grouped"]),
        ("decode fps, Pillow JPEG", result["decode_fps_jpeg_pillow"]),
        ("grouped / one-by-one decode speed", result["grouped_over_single_decode_speed"]),
        ("multiply-adds per pixel", result["macs_per_pixel"]),
    ]
    for name, value in rows:
        print(f"  {name:36s} {value:10.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rinr", description="Residual-INR codec and tools")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("encode", help="encode one image with its object box to a .rinr file")
    p.add_argument("image")
    p.add_argument("--bbox", required=True, type=_bbox, help="object box X,Y,W,H in pixels")
    p.add_argument("--mode", default="qre", choices=(*codec_names(family="inr"), "grid"),
                   help="INR codec (`rinr codecs` lists every codec)")
    p.add_argument("-o", "--output", required=True)
    _add_codec_options(p)
    add_grid_options(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="decode a .rinr file (version 1 or 2) to an image (PNG, ...)")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--device")
    add_post_filter_option(p)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("eval", help="compare INR modes and classic codecs on a sequence")
    p.add_argument("seq_dir")
    p.add_argument("--frames", type=int, default=4, help="number of frames (default 4)")
    p.add_argument("--modes", default="bs,be,de,re,qre,jpeg,webp,avif,roi-jpeg")
    p.add_argument("--out", default="out/eval", help="folder for the comparison picture")
    _add_codec_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("codecs", help="list every codec: name, kind, container, presets")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(func=cmd_codecs)

    bench = sub.add_parser("bench", help="short benchmarks").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("speed", help="encode/decode speed: cold vs warm vs batched, grouped decode")
    p.add_argument("--seq", help="OTB/YOLO sequence folder (default: a generated scene)")
    p.add_argument("--frames", type=int, default=4)
    _add_codec_options(p)
    p.set_defaults(func=cmd_bench_speed, max_side=96, steps=300)

    add_sequence_parsers(sub)
    add_postfilter_parser(sub)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """The sub-command table of a parser from :func:`build_parser` (to add commands to)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise ValueError("parser has no sub-commands")


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` with ``parser`` and run its command; a :class:`RinrError` exits 2."""
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RinrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """The codec commands alone (``rinr`` adds the runtime's: :mod:`rinr_runtime.cli`)."""
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
