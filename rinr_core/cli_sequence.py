"""``rinr encode-seq`` / ``update-seq`` / ``decode-seq``: video sequences as ``.rinrs`` files.

Registered on the main ``rinr`` parser by :func:`add_parser`. With ``--json`` a command prints
exactly one JSON object on stdout; ``encode-seq`` reports the ``rinr encode`` keys averaged
over the frames (``bytes`` amortized per frame), plus ``encode_s`` (seconds per frame) and the
sequence totals. ``--codec`` takes any stream codec by registry or runtime name (``res-nerv``,
``nerv``, ``grid``); ``decode-seq`` reads every stream format (told apart by magic number).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from rinr_core.codecs import (
    CONTAINER_RINRS,
    STREAM,
    Codec,
    CodecOptions,
    all_codecs,
    get_codec,
    get_container,
    get_runtime_codec,
)
from rinr_core.datasets import load_sequence
from rinr_core.frames import Frame
from rinr_core.grid import GridSettings
from rinr_core.grid.stream import encode_stream, update_stream
from rinr_core.lut.cli import add_post_filter_option, post_filtered
from rinr_core.nerv import DEFAULT_NERV_PRESET
from rinr_core.presets import DEFAULT_PRESET
from rinr_core.sequence import (
    UPDATE_SCOPES,
    SequenceSettings,
    encode_sequence,
    update_sequence,
)

AVERAGED_KEYS = ("bytes", "bpp", "psnr_full", "psnr_object", "psnr_background", "macs_per_pixel")


def average_metrics(metrics: list[dict]) -> dict:
    """Per-frame metrics -> one dict with the ``rinr encode`` keys (numbers averaged over frames)."""
    out: dict = {"mode": metrics[0]["mode"], "width": metrics[0]["width"], "height": metrics[0]["height"]}
    for key in AVERAGED_KEYS:
        values = [m[key] for m in metrics if not math.isnan(m[key])]
        out[key] = float(np.mean(values)) if values else float("nan")
    out["inrs"] = sorted({name for m in metrics for name in m["inrs"]})
    return out


def _load(seq_dir: str, limit: int | None, max_side: int | None, start: int = 0) -> list[Frame]:
    loaded = load_sequence(seq_dir, limit=None if limit is None else start + limit, max_side=max_side)
    for s in loaded.skipped:
        print(f"skipped {s.name}: {s.reason}", file=sys.stderr)
    return loaded.frames[start:]


STREAM_NAMES = tuple(dict.fromkeys(
    n for c in all_codecs() if c.kind == STREAM for n in (c.name, c.runtime_name) if n))
"""Names ``--codec`` takes: every stream codec's registry and runtime names."""


def stream_codec(name: str) -> Codec:
    """The stream codec ``name`` means (a runtime name such as ``grid`` included)."""
    codec = get_codec(name)
    return codec if codec.kind == STREAM else get_runtime_codec(name)


def add_grid_options(p: argparse.ArgumentParser) -> None:
    """The grid codec's rate-control flags (``rinr encode --mode grid``, ``encode-seq``)."""
    p.add_argument("--target-background-db", type=float,
                   help="smallest payload with the background at least this PSNR (dB; grid, "
                        "and the NeRV codecs' background refits)")
    p.add_argument("--target-object-db", type=float,
                   help="smallest payload with the object box at least this PSNR (dB; grid, "
                        "and res-nerv's object refits)")
    p.add_argument("--lambda", dest="lam", type=float,
                   help="grid: the background's rate-distortion weight (the object box gets 20x "
                        "it; default 150 without targets)")


def grid_settings(args: argparse.Namespace, *, stream: bool) -> GridSettings:
    """Grid settings from the command line, through the registry's option mapping."""
    options = CodecOptions(
        preset=None if stream else args.preset, nerv_preset=args.preset if stream else None,
        steps=getattr(args, "steps", None), lr=getattr(args, "lr", None),
        target_background_db=args.target_background_db, target_object_db=args.target_object_db,
        max_side=args.max_side, device=args.device)
    settings: GridSettings = get_codec("grid-stream" if stream else "grid").settings(options)
    return settings if args.lam is None else replace(settings, lam=args.lam)


def _is_grid(args: argparse.Namespace) -> bool:
    return stream_codec(args.codec).family == "grid"


def _settings(args: argparse.Namespace) -> SequenceSettings:
    """Settings from the options given (absent ones keep :class:`SequenceSettings`' defaults)."""
    given = {
        "codec": stream_codec(args.codec).name, "nerv_preset": args.preset, "epochs": args.epochs,
        "nerv_bits": args.nerv_bits, "background_db": args.target_background_db,
        "object_db": args.target_object_db,
        "update_epochs": getattr(args, "update_epochs", None), "update_scope": getattr(args, "update_scope", None),
        "object_preset": args.object_preset, "object_steps": args.object_steps, "object_bits": args.object_bits,
        "chains": args.chains, "device": args.device,
    }
    return SequenceSettings(**{k: v for k, v in given.items() if v is not None})


def _report(metrics: list[dict], extra: dict, args: argparse.Namespace, what: str) -> None:
    summary = {**average_metrics(metrics), **extra, "output": str(args.output)}
    if args.json:
        print(json.dumps(summary))
        return
    m = summary
    print(f"{args.output}: {what}, {m['bytes']:.0f} bytes/frame ({m['bpp']:.3f} bpp) {m['width']}x{m['height']} "
          f"codec {m['mode']}; PSNR full {m['psnr_full']:.2f} dB, object {m['psnr_object']:.2f} dB, "
          f"background {m['psnr_background']:.2f} dB; {m['macs_per_pixel']:.0f} MACs/pixel")


def _no_frames(seq_dir: str) -> int:
    print(f"error: no usable frames in {seq_dir}", file=sys.stderr)
    return 2


def cmd_encode_seq(args: argparse.Namespace) -> int:
    frames = _load(args.seq_dir, args.frames, args.max_side)
    if not frames:
        return _no_frames(args.seq_dir)
    start = time.perf_counter()
    if _is_grid(args):
        result = encode_stream(frames, grid_settings(args, stream=True))
    else:
        result = encode_sequence(frames, _settings(args))
    encode_s = (time.perf_counter() - start) / len(frames)
    Path(args.output).write_bytes(result.payload)
    _report(result.metrics, {"frames": len(frames), **result.summary, "encode_s": encode_s},
            args, f"{len(frames)} frames in {len(result.payload)} bytes")
    return 0


def cmd_update_seq(args: argparse.Namespace) -> int:
    frames = _load(args.seq_dir, args.frames, args.max_side, start=args.start)
    if not frames:
        return _no_frames(args.seq_dir)
    start = time.perf_counter()
    base = Path(args.base).read_bytes()
    if _is_grid(args):
        result = update_stream(base, frames, grid_settings(args, stream=True))
    else:
        result = update_sequence(base, frames, _settings(args))
    encode_s = (time.perf_counter() - start) / len(frames)
    Path(args.output).write_bytes(result.payload)
    if args.merged:
        Path(args.merged).write_bytes(result.merged)
    _report(result.metrics, {"frames": len(frames), **result.summary, "merged": args.merged,
                             "encode_s": encode_s},
            args, f"{len(frames)} new frames in a {len(result.payload)}-byte update ({result.storage})")
    return 0


def _parse_indices(text: str | None) -> list[int] | None:
    """``"0,4,10-12"`` -> ``[0, 4, 10, 11, 12]``; None for all frames."""
    if text is None:
        return None
    out: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frames takes indices like 0,4,10-12, got {text!r}") from None
    return out


def cmd_decode_seq(args: argparse.Namespace) -> int:
    data = Path(args.input).read_bytes()
    streams = get_container(CONTAINER_RINRS)  # every stream format, by magic number
    assert streams.frame_boxes is not None and streams.decode_frames is not None
    indices = args.frames if args.frames is not None else list(streams.frame_boxes(data))
    images = post_filtered(streams.decode_frames(data, indices, args.device), args.post_filter)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in zip(indices, images, strict=True):
        path = out / f"frame_{index:06d}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    if args.json:
        print(json.dumps({"output": str(out), "frames": len(paths), "files": paths}))
    else:
        print(f"{out}: {len(paths)} frame(s) at {images[0].shape[1]}x{images[0].shape[0]}" if paths
              else f"{out}: no frames", file=sys.stderr)
    return 0


def _add_encode_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("seq_dir", help="OTB or YOLO sequence folder")
    p.add_argument("--frames", type=int, help="number of frames (default: all)")
    p.add_argument("--max-side", type=int, help="resize so the longer side is at most PX (CPU: ~160)")
    p.add_argument("--codec", default="res-nerv", choices=STREAM_NAMES,
                   help="res-nerv (default), nerv (no residuals) or grid (latent grids, shared "
                        "networks)")
    p.add_argument("--preset", default=DEFAULT_NERV_PRESET,
                   choices=sorted({p for c in all_codecs() if c.kind == STREAM for p in c.presets}),
                   help="the codec's preset (NeRV: fast, paper, compact; grid: fast, thorough, "
                        "quick)")
    p.add_argument("--steps", type=int, help="grid: steps of the cold fit (overrides the preset)")
    p.add_argument("--epochs", type=int, help="NeRV training epochs (overrides the preset)")
    p.add_argument("--nerv-bits", type=int, help="bit width of the stored NeRV weights (default 8)")
    p.add_argument("--object-preset", default=DEFAULT_PRESET, choices=sorted(get_codec("qre").presets),
                   help="object INR preset")
    p.add_argument("--object-steps", type=int, help="steps of a cold object INR (warm ones get a quarter)")
    p.add_argument("--object-bits", type=int, help="bit width of the object INRs (default 10)")
    p.add_argument("--chains", type=int, default=8, help="object INRs fitted at once (warm-started runs)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_grid_options(p)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``encode-seq``, ``update-seq`` and ``decode-seq`` on the ``rinr`` subparsers."""
    p = subparsers.add_parser("encode-seq", help="encode a video sequence to a .rinrs file (NeRV + object INRs)")
    _add_encode_options(p)
    p.add_argument("-o", "--output", required=True, help="the .rinrs file to write")
    p.set_defaults(func=cmd_encode_seq)

    p = subparsers.add_parser("update-seq", help="append new frames to a .rinrs: fine-tune, ship what changed")
    p.add_argument("base", help="the .rinrs the receivers already hold")
    _add_encode_options(p)
    p.add_argument("--start", type=int, required=True, help="first new frame (position in SEQ_DIR)")
    p.add_argument("--update-epochs", type=int, help="fine-tuning epochs (default: half the preset's)")
    p.add_argument("--update-scope", default="stem", choices=UPDATE_SCOPES,
                   help="layers fine-tuning may change: stem (default, small updates) or all")
    p.add_argument("-o", "--output", required=True, help="the update payload to write")
    p.add_argument("--merged", help="also write base + update as one .rinrs here")
    p.set_defaults(func=cmd_update_seq)

    p = subparsers.add_parser("decode-seq", help="decode frames of a .rinrs file to PNGs")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="folder for frame_NNNNNN.png")
    p.add_argument("--frames", type=_parse_indices, help="frame indices, e.g. 0,4,10-12 (default: all)")
    p.add_argument("--device")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_post_filter_option(p)
    p.set_defaults(func=cmd_decode_seq)
