"""Look-up post-filter (TinyLUT-style) on every shared sequence: PSNR gain, bytes, time.

For each codec and sequence: ``--frames`` frames spread evenly over the whole sequence
(``load_sequence(stride=...)``, longer side ``--max-side``) are encoded with the codec as
the runtime does and decoded from the real payloads; a post-filter is trained on the
(decoded, original) pairs of the first half of them (the earlier frames) and measured on the
second half, which it never saw: PSNR full / object / background before and after, the
``.rlut`` size, and the time to apply it per frame against the codec's grouped decode time
per frame, both measured here in the same process (best of ``--repeats``). For the default
codec the post-filter is also trained on luma + chroma planes (``ycbcr``) to compare with RGB.

With ``--map``, YOLOv8n is trained from its YAML on one sequence's decoded frames with and
without the post-filter (same recipe, same seed) and validated on held-out original frames
(:mod:`postfilter_map`).

Encoded payloads are cached under ``--cache`` (keyed by codec, sequence and settings), so a
rerun trains and measures again without encoding again. Writes
``docs/results/postfilter.md`` and ``postfilter.json``.

    .venv/bin/python bench/postfilter.py --threads 1 [--codecs residual-inr,res-nerv] [--map]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    REPO_ROOT,
    SHARED_DATA_DIR,
    apply_threads,
    bench_parser,
    environment,
    log,
    output_dir,
    reproduce_command,
    to_json,
    write_results,
)
from postfilter_report import report_page  # noqa: E402

from rinr_core.codecs import STREAM, Codec, CodecOptions, get_runtime_codec  # noqa: E402
from rinr_core.datasets import load_sequence  # noqa: E402
from rinr_core.frames import Frame  # noqa: E402
from rinr_core.lut import LutFilter, LutTrainSettings, lut_preset, pack, train_lut  # noqa: E402
from rinr_core.metrics import frame_psnrs  # noqa: E402
from rinr_core.synthetic import generate_sequence  # noqa: E402

SEQUENCES = ("Crossing", "vot_bag", "uav123_boat1", "uav123_wakeboard7")


def spread_frames(name: str, count: int, max_side: int) -> list[Frame]:
    """``count`` frames spread evenly over the whole sequence ``name`` (first one included)."""
    folder = SHARED_DATA_DIR / name
    if not folder.is_dir():  # no shared data here: a generated scene keeps the script running
        return generate_sequence(count, width=max_side, height=max_side * 3 // 5, seed=0)
    total = len(list((folder / "img").iterdir()))
    return load_sequence(folder, limit=count, max_side=max_side,
                         stride=max(1, total // count)).frames


def _cache_path(args: argparse.Namespace, codec: Codec, name: str) -> Path:
    key = json.dumps([codec.name, name, args.frames, args.max_side, args.qre_steps,
                      args.nerv_epochs, args.quick])
    return Path(args.cache) / f"{codec.name}-{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"


def encoded(codec: Codec, name: str, frames: list[Frame], args: argparse.Namespace
            ) -> tuple[list[bytes], float]:
    """The payloads of ``frames`` (from the cache when there) and the encode seconds (0: cached)."""
    path = _cache_path(args, codec, name)
    if path.is_file():
        with np.load(path) as data:
            return [data[f"p{i}"].tobytes() for i in range(int(data["count"]))], 0.0
    options = CodecOptions(steps=args.qre_steps, nerv_epochs=args.nerv_epochs,
                           device=args.device, seed=0)
    start = time.perf_counter()
    if codec.kind == STREAM:
        payloads = [codec.encode(frames, options).payload]
    else:
        payloads = [r.payload for r in codec.encode(frames, options)]
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, count=len(payloads),
             **{f"p{i}": np.frombuffer(p, np.uint8) for i, p in enumerate(payloads)})
    return payloads, seconds


def best_of(repeats: int, work: Any) -> tuple[float, Any]:
    """The shortest CPU time (this process's) of ``repeats`` runs of ``work()``, and its result.

    CPU time rather than wall time: on a machine shared with other work, waiting for a core
    is not the code's cost (both the decode and the look-ups are timed the same way).
    """
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.process_time()
        out = work()
        best = min(best, time.process_time() - start)
    return best, out


def decode_timed(codec: Codec, payloads: list[bytes], test: slice, frames: int,
                 args: argparse.Namespace) -> tuple[list[np.ndarray], float]:
    """All decoded frames, and the grouped decode seconds per test frame (best of repeats).

    A per-frame codec decodes the test frames' payloads in one grouped call; a stream codec
    decodes its whole stream (the only way an edge gets its frames), divided by its frames.
    """
    decoded = codec.decode(payloads, args.device)  # also the warm-up
    if codec.kind == STREAM:
        seconds, _ = best_of(args.repeats, lambda: codec.decode(payloads, args.device))
        return decoded, seconds / frames
    part = payloads[test]
    seconds, _ = best_of(args.repeats, lambda: codec.decode(part, args.device))
    return decoded, seconds / len(part)


def measure_sequence(codec: Codec, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train on the first half, measure on the second half (see the module docstring)."""
    frames = spread_frames(name, args.frames, args.max_side)
    half = len(frames) // 2
    payloads, encode_s = encoded(codec, name, frames, args)
    decoded, decode_s = decode_timed(codec, payloads, slice(half, None), len(frames), args)
    originals = [f.image for f in frames]
    row: dict[str, Any] = {"codec": codec.runtime_name or codec.name, "sequence": name,
                           "frames": len(frames), "train_frames": half,
                           "test_frames": len(frames) - half,
                           "width": frames[0].width, "height": frames[0].height,
                           "payload_bytes_per_frame": sum(map(len, payloads)) / len(frames),
                           "encode_s": encode_s, "decode_s_per_frame": decode_s, "variants": {}}
    main_codec = codec.name == get_runtime_codec(args.codecs[0]).name
    variants = [(args.presets[0], args.colors[0])]
    if main_codec:  # the other planes and presets, for the default codec
        variants += [(args.presets[0], c) for c in args.colors[1:]]
        variants += [(p, args.colors[0]) for p in args.presets[1:]]
    for preset, color in variants:
        spec = lut_preset(preset, color=color, rotations=args.rotations)
        settings = LutTrainSettings(steps=args.lut_steps, lr=args.lut_lr, seed=0)
        trained = train_lut(decoded[:half], originals[:half], spec, settings,
                            meta={"codec": codec.name, "sequence": name})
        lut = LutFilter(trained.tables)
        test = decoded[half:]
        apply_s, filtered = best_of(args.repeats, lambda lut=lut, test=test: lut.apply_many(test))
        before = [frame_psnrs(f.image, d, f.box) for f, d in zip(frames[half:], test, strict=True)]
        after = [frame_psnrs(f.image, d, f.box) for f, d in zip(frames[half:], filtered, strict=True)]
        train_after = lut.apply_many(decoded[:half])
        variant = {
            "spec": spec.describe(), "lookups_per_pixel": spec.lookups_per_pixel,
            "lut_bytes": len(pack(trained.tables)), "train_s": trained.train_s,
            "apply_s_per_frame": apply_s / len(test),
            "apply_over_decode": apply_s / len(test) / decode_s,
            "train_gain_db": float(np.mean([frame_psnrs(f.image, a, f.box)["psnr_full"]
                                            - frame_psnrs(f.image, d, f.box)["psnr_full"]
                                            for f, a, d in zip(frames[:half], train_after,
                                                               decoded[:half], strict=True)])),
        }
        for key in ("psnr_full", "psnr_object", "psnr_background"):
            variant[f"{key}_before"] = float(np.mean([b[key] for b in before]))
            variant[f"{key}_after"] = float(np.mean([a[key] for a in after]))
        gains = [a["psnr_full"] - b["psnr_full"] for a, b in zip(after, before, strict=True)]
        variant["gain_db"] = float(np.mean(gains))
        variant["min_gain_db"] = float(np.min(gains))
        variant.update(preset=preset, color=color)
        row["variants"][f"{preset}/{color}"] = variant
        log(f"[postfilter] {row['codec']} {name} {preset}/{color}: {variant['psnr_full_before']:.2f} -> "
            f"{variant['psnr_full_after']:.2f} dB on {len(test)} unseen frames "
            f"(train +{variant['train_gain_db']:.2f}), {variant['lut_bytes']} B, apply "
            f"{1000 * variant['apply_s_per_frame']:.1f} ms vs decode {1000 * decode_s:.1f} ms")
    return row


def main(argv: list[str] | None = None) -> int:
    """Run, print the table (``--json``: the object), write the result files."""
    parser = bench_parser(__doc__.split("\n")[0])
    parser.add_argument("--codecs", default="residual-inr",
                        help="runtime codec names, comma-separated (default residual-inr)")
    parser.add_argument("--sequences", default=",".join(SEQUENCES))
    parser.add_argument("--frames", type=int, default=16, help="frames per sequence (half train)")
    parser.add_argument("--max-side", type=int, default=160)
    parser.add_argument("--qre-steps", type=int, default=300, help="INR fitting steps per frame")
    parser.add_argument("--nerv-epochs", type=int, default=None, help="NeRV epochs (preset's)")
    parser.add_argument("--presets", default="fast,lean",
                        help="post-filter network presets (first: main; others for the default "
                             "codec only)")
    parser.add_argument("--colors", default="rgb,ycbcr", help="planes to compare (first: main)")
    parser.add_argument("--rotations", type=int, default=1, choices=(1, 4))
    parser.add_argument("--lut-steps", type=int, default=LutTrainSettings.steps)
    parser.add_argument("--lut-lr", type=float, default=LutTrainSettings.lr)
    parser.add_argument("--repeats", type=int, default=5, help="timing: best of N")
    parser.add_argument("--cache", default=str(REPO_ROOT / "out" / "postfilter-cache"))
    parser.add_argument("--map", action="store_true", help="also train YOLOv8n (postfilter_map)")
    parser.add_argument("--map-sequence", default="vot_bag")
    parser.add_argument("--map-frames", type=int, default=48)
    parser.add_argument("--map-epochs", type=int, default=30)
    parser.add_argument("--map-imgsz", type=int, default=160)
    parser.add_argument("--map-into", type=Path, default=None,
                        help="measure only the mAP part and put it (with this command) into "
                             "this existing results JSON, re-rendering its page")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    if args.quick:
        args.frames, args.max_side, args.qre_steps, args.lut_steps = 4, 48, 20, 30
        args.sequences, args.nerv_epochs, args.map_frames, args.map_epochs = "Crossing", 2, 10, 1
        args.map_sequence = "Crossing"
    args.codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    args.colors = [c.strip() for c in args.colors.split(",") if c.strip()]
    args.presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    if args.map_into is not None:
        from postfilter_map import measure_map

        result = json.loads(args.map_into.read_text())
        if "map" in result:  # kept beside the new one, named on the page
            result["map_replaced"] = result["map"]
        result["map"] = {**measure_map(args, encoded),
                         "command": reproduce_command(__file__, argv)}
        page = report_page(result)
        write_results(args.map_into.parent, args.map_into.stem, page, result)
        print(to_json(result) if args.json else page)
        return 0
    rows = [measure_sequence(get_runtime_codec(codec), name, args)
            for codec in args.codecs for name in args.sequences.split(",") if name]
    result: dict[str, Any] = {
        "rows": rows, "environment": environment(args.device),
        "command": reproduce_command(__file__, argv),
        "settings": {k: getattr(args, k) for k in ("frames", "max_side", "qre_steps",
                                                     "nerv_epochs", "presets", "colors", "rotations",
                                                     "lut_steps", "lut_lr", "repeats")},
    }
    page = report_page(result)
    write_results(output_dir(args), "postfilter", page, result)  # kept if the mAP part fails
    if args.map:
        from postfilter_map import measure_map

        result["map"] = measure_map(args, encoded)
        page = report_page(result)
        write_results(output_dir(args), "postfilter", page, result)
    print(to_json(result) if args.json else page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
