"""``rinr postfilter train`` and the ``--post-filter`` option of ``rinr decode`` / ``decode-seq``.

``postfilter train SEQ --codec NAME`` encodes the sequence's first frames with a registered
codec, decodes the payloads as an edge would, trains a look-up post-filter on (decoded,
original) pairs and writes it as a ``.rlut`` file. With ``--json`` it prints one JSON object:
``lut_bytes``, ``psnr_before`` / ``psnr_after`` (mean full-frame PSNR of the frames it trained
on, decoded / decoded and filtered), ``train_s``, and with ``--holdout K`` the same PSNRs on
the last ``K`` frames, which it did not train on (``holdout_psnr_before`` / ``_after``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from rinr_core.codecs import Codec, CodecOptions, get_codec, get_runtime_codec
from rinr_core.datasets import load_sequence
from rinr_core.errors import ConfigError
from rinr_core.files import write_atomic
from rinr_core.lut.apply import LutFilter
from rinr_core.lut.format import pack, unpack
from rinr_core.lut.network import COLORS, DEFAULT_LUT_PRESET, LUT_PRESETS, lut_preset
from rinr_core.lut.pairs import codec_pairs
from rinr_core.lut.training import LutTrainSettings, mean_psnr, train_lut


def load_filter(path: str | Path) -> LutFilter:
    """The post-filter in a ``.rlut`` file (a damaged file raises its PayloadError)."""
    return LutFilter(unpack(Path(path).read_bytes()))


def post_filtered(images: Sequence[np.ndarray], path: str | Path | None) -> list[np.ndarray]:
    """``images`` through the post-filter at ``path`` (unchanged when ``path`` is ``None``)."""
    if path is None:
        return list(images)
    return load_filter(path).apply_many(images)


def add_post_filter_option(p: argparse.ArgumentParser) -> None:
    """``--post-filter F.rlut`` on a decode command."""
    p.add_argument("--post-filter", metavar="F.rlut",
                   help="apply this look-up post-filter (from `rinr postfilter train`) to the "
                        "decoded frames")


def _codec(name: str) -> Codec:
    """The codec ``name`` means: a registry name or alias, else a runtime name."""
    try:
        return get_codec(name)
    except ConfigError:
        return get_runtime_codec(name)


def timed_apply(lut: LutFilter, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """The filtered images and the mean seconds per frame the look-ups took."""
    start = time.perf_counter()
    out = lut.apply_many(images)
    return out, (time.perf_counter() - start) / max(1, len(images))


def cmd_train(args: argparse.Namespace) -> int:
    """``rinr postfilter train``: see the module docstring."""
    if args.holdout < 0 or args.holdout >= args.frames:
        raise ConfigError(f"--holdout must be in 0..{args.frames - 1} (frames it does not train "
                          f"on), got {args.holdout}")
    loaded = load_sequence(args.seq_dir, limit=args.frames, max_side=args.max_side)
    for s in loaded.skipped:
        print(f"skipped {s.name}: {s.reason}", file=sys.stderr)
    if len(loaded.frames) <= args.holdout:
        print(f"error: {len(loaded.frames)} usable frame(s) in {args.seq_dir}, need more than "
              f"--holdout {args.holdout}", file=sys.stderr)
        return 2
    codec = _codec(args.codec)
    options = CodecOptions(steps=args.codec_steps, nerv_epochs=args.nerv_epochs,
                           device=args.device, seed=args.seed)
    pairs = codec_pairs(codec, loaded.frames, options, args.device)
    cut = len(pairs.frames) - args.holdout
    spec = lut_preset(args.preset, color=args.color, rotations=args.rotations)
    settings = LutTrainSettings(steps=args.steps, lr=args.lr, seed=args.seed)
    meta = {"codec": codec.name, "frames": cut, "source": str(args.seq_dir),
            "width": pairs.frames[0].width, "height": pairs.frames[0].height}
    trained = train_lut(pairs.decoded[:cut], pairs.originals[:cut], spec, settings, meta=meta)
    lut = LutFilter(trained.tables)
    filtered, apply_s = timed_apply(lut, pairs.decoded)
    before = mean_psnr(pairs.originals[:cut], pairs.decoded[:cut])
    after = mean_psnr(pairs.originals[:cut], filtered[:cut])
    tables = trained.tables
    tables.meta.update(psnr_before=before, psnr_after=after)
    data = pack(tables)
    write_atomic(args.output, data)
    result = {
        "codec": codec.name, "frames": cut, "holdout": args.holdout, "spec": spec.describe(),
        "lookups_per_pixel": spec.lookups_per_pixel, "width": pairs.frames[0].width,
        "height": pairs.frames[0].height, "lut_bytes": len(data), "psnr_before": before,
        "psnr_after": after, "gain_db": after - before, "train_s": trained.train_s,
        "encode_s": pairs.encode_s, "decode_s_per_frame": pairs.decode_s / len(pairs.frames),
        "apply_s_per_frame": apply_s, "output": str(args.output),
    }
    if args.holdout:
        held = slice(cut, None)
        result["holdout_psnr_before"] = mean_psnr(pairs.originals[held], pairs.decoded[held])
        result["holdout_psnr_after"] = mean_psnr(pairs.originals[held], filtered[held])
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.output}: {len(data)} bytes ({spec.describe()}, {spec.lookups_per_pixel} "
          f"look-ups/pixel) for {codec.name}; PSNR {before:.2f} -> {after:.2f} dB on {cut} "
          f"training frame(s), trained in {trained.train_s:.1f} s")
    if args.holdout:
        print(f"  held out ({args.holdout} frame(s)): {result['holdout_psnr_before']:.2f} -> "
              f"{result['holdout_psnr_after']:.2f} dB")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``postfilter train`` on the ``rinr`` subparsers."""
    top = subparsers.add_parser("postfilter", help="look-up post-filters that restore decoded "
                                "frames (TinyLUT-style)")
    sub = top.add_subparsers(dest="postfilter", required=True)
    p = sub.add_parser("train", help="encode a sequence with a codec, train a post-filter on "
                       "(decoded, original) pairs, write a .rlut")
    p.add_argument("seq_dir", help="OTB or YOLO sequence folder")
    p.add_argument("--codec", default="qre", help="registry or runtime codec name (`rinr codecs`)")
    p.add_argument("--frames", type=int, default=8, help="frames to encode (default 8)")
    p.add_argument("--max-side", type=int, default=160,
                   help="resize so the longer side is at most PX (default 160)")
    p.add_argument("--holdout", type=int, default=0,
                   help="train on all but the last K frames and report PSNR on those K")
    p.add_argument("-o", "--output", required=True, help="the .rlut file to write")
    p.add_argument("--preset", default=DEFAULT_LUT_PRESET, choices=sorted(LUT_PRESETS),
                   help="network shape (default fast: 54 look-ups per pixel)")
    p.add_argument("--color", choices=COLORS, help="planes the first layer reads (default rgb)")
    p.add_argument("--rotations", type=int, choices=(1, 4), help="4: rotation ensemble")
    p.add_argument("--steps", type=int, default=LutTrainSettings.steps,
                   help=f"training steps (default {LutTrainSettings.steps})")
    p.add_argument("--lr", type=float, default=LutTrainSettings.lr, help="learning rate")
    p.add_argument("--codec-steps", type=int, help="the codec's fitting steps per INR "
                   "(default: its preset's)")
    p.add_argument("--nerv-epochs", type=int, help="stream codecs: NeRV epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--device", help="codec device: cpu, cuda, ... (training runs on the CPU)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_with_threads(cmd_train))


def _with_threads(command: Callable[[argparse.Namespace], int]
                  ) -> Callable[[argparse.Namespace], int]:
    """``command`` run after ``torch.set_num_threads(--threads)`` when that is given."""

    def run(args: argparse.Namespace) -> int:
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        return command(args)

    return run
