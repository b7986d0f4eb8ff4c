"""Measured throughputs for ``rinr plan --throughputs``: encode, decode and training speed here.

On the machine it runs on, with the runtime's default settings: fog encode frames/s of each
per-frame codec the placement model prices (Residual-INR, Rapid-INR; warm-started in one
batched call, as the fog encodes a node's frames), edge decode frames/s (grouped, as an edge
decodes; the JPEG relay through Pillow), and YOLOv8n training images/s (one epoch at the
runtime's default image size). Frames: the first frames of a shared sequence at ``--max-side``
(generated scenes without ``../shared/data``). Writes ``docs/results/throughputs.md`` and
``throughputs.json``; the JSON is what ``rinr plan --throughputs`` reads.

    .venv/bin/python bench/throughputs.py [--frames 12] [--max-side 160] [--json]
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    SHARED_DATA_DIR,
    apply_threads,
    bench_parser,
    environment,
    environment_line,
    output_dir,
    reproduce_command,
    to_json,
    write_results,
)

from rinr_core.codecs import get_runtime_codec  # noqa: E402
from rinr_core.datasets import load_sequence  # noqa: E402
from rinr_core.images import load_image  # noqa: E402
from rinr_core.synthetic import generate_sequence  # noqa: E402
from rinr_core.tables import markdown_table  # noqa: E402
from rinr_runtime.config import RuntimeConfig, yolo_settings  # noqa: E402

PRICED = ("residual-inr", "rapid-inr")


def _frames(count: int, max_side: int, sequence: str) -> tuple[list, str]:
    folder = SHARED_DATA_DIR / sequence
    if folder.is_dir():
        loaded = load_sequence(folder, limit=count, max_side=max_side, keep_jpeg=True)
        return loaded.frames, f"{sequence} (first {count} frames, longer side {max_side} px)"
    frames = generate_sequence(count, width=max_side, height=max_side * 3 // 5, seed=0)
    return frames, f"generated scene ({count} frames, {frames[0].width}x{frames[0].height})"


def measure(frames: list, config: RuntimeConfig) -> dict:
    """Encode and decode frames/s per codec, training images/s."""
    from rinr_core.images import encode_image
    from rinr_runtime import detector

    options = config.codec_options()
    encode_fps, decode_fps, decoded = {}, {}, []
    for frame in frames:
        frame.meta["sequence"] = "node"  # one node's stream: warm starts chain frame to frame
    warm_up = replace(options, steps=2, warm_start=False)
    for name in PRICED:
        codec = get_runtime_codec(name)
        codec.encode(frames[:1], warm_up)  # untimed: first-call costs (allocator, kernels)
        start = time.perf_counter()
        results = codec.encode(frames, options, state=codec.new_state() if codec.new_state else None)
        encode_fps[name] = len(frames) / (time.perf_counter() - start)
        payloads = [r.payload for r in results]
        codec.decode(payloads[:1], config.torch_device)  # warm-up
        start = time.perf_counter()
        images = codec.decode(payloads, config.torch_device)
        decode_fps[name] = len(frames) / (time.perf_counter() - start)
        if name == "residual-inr":
            decoded = images
    jpegs = [f.meta.get("jpeg") or encode_image(f.image, "JPEG", 90) for f in frames]
    start = time.perf_counter()
    for jpeg in jpegs:
        load_image(jpeg)
    decode_fps["jpeg"] = len(frames) / (time.perf_counter() - start)
    from rinr_core.frames import Frame

    train_frames = [Frame(image, f.box, f.name) for image, f in zip(decoded, frames, strict=True)]
    settings = yolo_settings(config)
    with tempfile.TemporaryDirectory() as work:
        data_yaml = detector.write_dataset(train_frames, train_frames[:2], Path(work) / "ds",
                                           list(config.class_names))
        outcome = detector.train(data_yaml, settings, workdir=Path(work) / "yolo")
    train_fps = len(train_frames) * settings.epochs / outcome.metrics["train_seconds"]
    return {"encode_fps": encode_fps, "decode_fps": decode_fps, "edge_train_fps": train_fps,
            "fog_train_fps": train_fps}


def main(argv: list[str] | None = None) -> int:
    """Measure; print the table (``--json``: the object); write the results files."""
    parser = bench_parser(__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--max-side", type=int, default=160)
    parser.add_argument("--sequence", default="Crossing")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    if args.quick:
        args.frames, args.max_side = 4, 64
    config = RuntimeConfig.from_run_config({"device": args.device or "", "inr-steps":
                                            30 if args.quick else 300})
    frames, source = _frames(args.frames, args.max_side, args.sequence)
    rates = measure(frames, config)
    env = environment(args.device)
    result = {**rates, "source": source, "environment": env,
              "command": reproduce_command(__file__, argv),
              "note": f"measured on {env['device']} at {frames[0].width}x{frames[0].height} px "
                      "with the runtime's defaults; encode and decode times grow about "
                      "linearly with pixels, so larger frames are slower"}
    rows = [[c, f"{rates['encode_fps'].get(c, float('nan')):.2f}",
             f"{rates['decode_fps'][c]:.1f}"] for c in (*PRICED, "jpeg")]
    page = "\n".join([
        "# Measured throughputs (for `rinr plan --throughputs`)", "",
        f"Command: `{result['command']}`", "", f"Machine: {environment_line(env)}.", "",
        f"Frames: {source}. {result['note']}.", "",
        markdown_table(["codec", "fog encode frames/s", "edge decode frames/s"], rows), "",
        f"YOLOv8n training ({config.model}, {config.epochs} epoch at {config.imgsz} px, batch "
        f"{config.batch}): {rates['edge_train_fps']:.1f} images/s over a whole round's "
        "training run (Ultralytics' setup and final validation included, as each round of the "
        "runtime pays them); edge and fog alike on this machine.",
        "", "`.venv/bin/rinr plan --devices 10 --criterion time --throughputs "
        "docs/results/throughputs.json` prices the placements with these.", ""])
    write_results(output_dir(args), "throughputs", page, result)
    print(to_json(result) if args.json else page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
