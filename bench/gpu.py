"""Paper-scale one-shot GPU benchmark: bytes, encode and decode speed, CPU-free training.

One command that, on one GPU, measures for 10 edge nodes at 640x360 (the sequences' native
size where that is smaller: frames are never enlarged) with at least 30 frames per node from
``../shared/data``:

1. **Bytes moved** (each run's own ledger, ``fog.report``): the real ServerApp and ClientApps
   on an in-process grid (``fog.local_grid.LocalGrid``: Flower's messages, no Ray, every node
   in this process on the one device; the ledger counts the same message objects a Flower
   simulation sends), 1 round, ``placement = edge``, no training, with the
   JPEG relay (the camera's JPEG), Residual-INR (QRE, ``paper`` preset), Res-NeRV and the
   grid stream (the project's best codec, ``docs/results/grid.md``); each run's fog encode
   frames/s (its rounds' ``encoded_now / encode_seconds``).
2. **Decoding**: the same QRE payloads decoded in one grouped call vs one at a time.
3. **CPU-free training**: YOLOv8n epochs fed by INRs rendered on the device vs by JPEGs decoded
   on the CPU, same frames, same recipe (``bench/gpu_training.py``): the speedup ratio.

Every model, tensor and simulation runs on ``--device`` (default ``cuda``), resolved with
:func:`rinr_core.devices.resolve_device`: asking for CUDA where there is none is refused,
never a silent CPU run, and the run reports are checked for the device every node used.
The JSON also holds ``encode_fps``, ``decode_fps``, ``edge_train_fps`` and ``fog_train_fps``,
so ``rinr plan --throughputs docs/results/gpu.json --criterion time`` prices placements with
them.

    .venv/bin/python bench/gpu.py                    # on a GPU: docs/results/gpu.{md,json}
    .venv/bin/python bench/gpu.py --quick --device cpu --threads 1   # the same code, tiny, CPU
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from common import (
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
from gpu_report import render_markdown
from gpu_training import decode_speed, training_speedup

NAME = "gpu"
TIME_LIMIT_S = 480
"""The whole benchmark on one GPU must finish in this (the issue's 8 minutes)."""


@dataclass(frozen=True)
class GpuSpec:
    """One configuration of the benchmark."""

    nodes: int
    frames_per_node: int  # each node's own frames (every val_every-th held out, never sent)
    val_every: int
    max_side: int  # longer side in px (0: native size)
    qre_steps: int  # QRE fitting steps per INR (0: the paper preset's 10,000)
    nerv_preset: str  # Res-NeRV's preset
    nerv_epochs: int  # 0: the preset's
    grid_preset: str
    train_frames: int  # frames of the decode and training parts
    epochs: int
    imgsz: int
    batch: int


FULL = GpuSpec(nodes=10, frames_per_node=36, val_every=12, max_side=640, qre_steps=1000,
               nerv_preset="compact", nerv_epochs=0, grid_preset="fast", train_frames=48,
               epochs=4, imgsz=640, batch=16)
QUICK = GpuSpec(nodes=2, frames_per_node=4, val_every=4, max_side=64, qre_steps=4,
                nerv_preset="compact", nerv_epochs=2, grid_preset="quick", train_frames=6,
                epochs=2, imgsz=64, batch=3)

CODEC_RUNS: dict[str, Any] = {
    "jpeg": lambda s: {"codec": "jpeg"},
    "residual-inr": lambda s: {"codec": "residual-inr", "preset": "paper", "inr-steps": s.qre_steps},
    "res-nerv": lambda s: {"codec": "res-nerv", "preset": "paper", "inr-steps": s.qre_steps,
                           "nerv-preset": s.nerv_preset, "nerv-epochs": s.nerv_epochs},
    "grid": lambda s: {"codec": "grid", "nerv-preset": s.grid_preset},
}
"""Run-config overrides of each byte run, by the runtime's codec name."""
TITLES = {"jpeg": "JPEG relay (camera's JPEG)", "residual-inr": "Residual-INR (QRE, paper)",
          "res-nerv": "Res-NeRV", "grid": "grid stream (best codec)"}


def byte_run(spec: GpuSpec, codec: str, data: Path, work: Path, device: str) -> dict[str, Any]:
    """One 1-round simulation with ``codec``: its ledger, encode speed, devices and quality."""
    from flwr.app import Context, RecordDict

    from edge.client_app import app as client_app
    from fog.local_grid import LocalGrid
    from fog.report import load_report
    from fog.server_app import app as server_app
    from fog.server_app import report_path
    from fog.simulation import PROJECT_DIR, fused_run_config

    overrides = {
        "num-server-rounds": 1, "min-nodes": spec.nodes, "data": str(data),
        "frames-per-node": spec.frames_per_node, "frames-per-round": 0,
        "val-every": spec.val_every, "max-side": spec.max_side, "placement": "edge",
        "train": False, "run-dir": str(work / f"run-{codec}"), "cache-dir": "",
        "edge-dir": str(work / f"edge-{codec}"), "device": device, **CODEC_RUNS[codec](spec)}
    log(f"[gpu] run: {spec.nodes} nodes, {codec} on {device}")
    start = time.perf_counter()
    run_config = dict(fused_run_config(PROJECT_DIR, overrides))
    grid = LocalGrid(client_app, spec.nodes, run_config)
    context = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(),
                      run_config=run_config)
    server_app(grid=grid, context=context)
    report = load_report(report_path(context))
    seconds = time.perf_counter() - start
    summary = report["summary"]
    broken = [b for r in report["rounds"] for b in r["broken"]]
    if summary["status"] != "completed" or summary["errors"] or broken:
        raise SystemExit(f"error: the {codec} run failed: {(summary['errors'] + broken)[:3]}")
    wrong = {who: used for who, used in summary["devices"].items()
             if not used.startswith(device.split(":")[0])}
    if wrong:
        raise SystemExit(f"error: the {codec} run was asked for {device} but computed on {wrong}")
    encoded = sum(r["encoded_now"] for r in report["rounds"])
    encode_s = sum(r["encode_seconds"] for r in report["rounds"])
    uploads = sum(v["collected"] for v in summary["frames_per_node"].values())
    return {
        "codec": codec, "title": TITLES[codec], "overrides": CODEC_RUNS[codec](spec),
        "seconds": round(seconds, 1), "devices": summary["devices"],
        "uploaded_frames": uploads, "delivered_frames": summary["delivered_frames"],
        "frames_per_node": summary["frames_per_node"],
        "total_bytes": summary["total_bytes"], "bytes_by_phase": summary["bytes_by_phase"],
        "jpeg_relay_total_bytes": summary["jpeg_relay_total_bytes"],
        "delivered_payload_bytes": summary["delivered_payload_bytes"],
        "delivered_jpeg_bytes": summary["delivered_jpeg_bytes"],
        "mean_upload_bytes": summary["delivered_jpeg_bytes"] / max(1, summary["delivered_frames"]),
        "mean_payload_bytes": summary["delivered_payload_bytes"] / max(1, summary["delivered_frames"]),
        "mean_psnr": summary["mean_psnr"],
        "encoded_frames": encoded, "encode_seconds": encode_s,
        "encode_fps": encoded / encode_s if encoded and encode_s > 0 else None,
    }


def training_frames(spec: GpuSpec, data: Path) -> list:
    """``spec.train_frames`` frames, taken in turn from each sequence, with their camera JPEGs."""
    from edge.data import sequence_paths
    from rinr_core.datasets import load_sequence

    paths = sequence_paths(str(data))
    per = -(-spec.train_frames // len(paths))
    loaded = [load_sequence(p, limit=per, max_side=spec.max_side or None, keep_jpeg=True).frames
              for p in paths]
    chosen = [frames[i] for i in range(per) for frames in loaded if i < len(frames)]
    return chosen[:spec.train_frames]


def encode_and_train(spec: GpuSpec, data: Path, device: Any) -> dict[str, Any]:
    """QRE (paper) payloads of the training frames; decode speeds; the training comparison.

    Frames of different sizes are grouped by size: each group is one feed of the comparison
    (a batch holds one size); the figures are summed over the groups.
    """
    from rinr_core.codecs import CodecOptions, get_runtime_codec

    frames = training_frames(spec, data)
    codec = get_runtime_codec("residual-inr")
    options = CodecOptions(preset="paper", steps=spec.qre_steps or None, device=str(device))
    by_size: dict[tuple[int, int], list] = {}
    for frame in frames:
        by_size.setdefault((frame.width, frame.height), []).append(frame)
    groups = []
    for (width, height), members in sorted(by_size.items()):
        log(f"[gpu] QRE paper encode + decode + training: {len(members)} frames {width}x{height}")
        start = time.perf_counter()
        results = codec.encode(members, options)
        encode_s = time.perf_counter() - start
        payloads = [r.payload for r in results]
        jpegs = [f.meta["jpeg"] for f in members]
        groups.append({
            "size": f"{width}x{height}", "frames": len(members), "encode_s": encode_s,
            "payload_bytes": sum(map(len, payloads)), "jpeg_bytes": sum(map(len, jpegs)),
            "decode": decode_speed(payloads, device),
            "training": training_speedup(members, payloads, jpegs, device, epochs=spec.epochs,
                                         imgsz=spec.imgsz, batch=min(spec.batch, len(members)))})
    return summarize_groups(groups)


def summarize_groups(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the size groups: frames/s and the speedup of summed epoch times."""
    frames = sum(g["frames"] for g in groups)
    grouped = sum(g["decode"]["grouped_s"] for g in groups)
    single = sum(g["decode"]["one_by_one_s"] for g in groups)
    inr = sum(g["training"]["inr"]["mean_epoch_s"] for g in groups)
    jpeg = sum(g["training"]["jpeg"]["mean_epoch_s"] for g in groups)
    inr_cpu = sum(g["training"]["inr"]["mean_cpu_s"] for g in groups)
    jpeg_cpu = sum(g["training"]["jpeg"]["mean_cpu_s"] for g in groups)
    return {"groups": groups, "frames": frames,
            "encode_fps": frames / sum(g["encode_s"] for g in groups),
            "grouped_decode_fps": frames / grouped, "one_by_one_decode_fps": frames / single,
            "grouped_speedup": single / grouped,
            "inr_epoch_s": inr, "jpeg_epoch_s": jpeg, "training_speedup": jpeg / inr,
            "inr_cpu_s": inr_cpu, "jpeg_cpu_s": jpeg_cpu,
            "inr_train_fps": frames / inr, "jpeg_train_fps": frames / jpeg}


def throughputs(runs: list[dict[str, Any]], parts: dict[str, Any]) -> dict[str, Any]:
    """The keys ``rinr plan --throughputs`` reads, from this run's measurements."""
    encode = {r["codec"]: r["encode_fps"] for r in runs
              if r["codec"] != "jpeg" and r["encode_fps"]}
    return {"encode_fps": encode,
            "decode_fps": {"residual-inr": parts["grouped_decode_fps"]},
            "edge_train_fps": parts["inr_train_fps"], "fog_train_fps": parts["jpeg_train_fps"]}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the page (or JSON) and write ``gpu.{md,json}``."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.set_defaults(device="cuda")
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR,
                        help="folder of OTB sequences (default ../shared/data)")
    parser.add_argument("--inr-steps", type=int, default=None,
                        help="QRE fitting steps (default: 1000 full, 4 quick; 0: the paper's 10k)")
    parser.add_argument("--grid-preset", default=None,
                        help="grid stream preset (default: fast full, quick with --quick)")
    parser.add_argument("--nerv-epochs", type=int, default=None,
                        help="Res-NeRV fitting epochs (default: the compact preset's 60 full)")
    args = parser.parse_args(argv)
    from rinr_core.devices import DeviceUnavailableError, resolve_device

    try:
        device = resolve_device(args.device)  # no silent CPU run
    except DeviceUnavailableError as exc:
        log(f"error: {exc} (bench/gpu.py --device cpu --quick runs the same code on a CPU)")
        return 2
    apply_threads(args.threads)
    spec = QUICK if args.quick else FULL
    if args.inr_steps is not None:
        spec = replace(spec, qre_steps=args.inr_steps)
    if args.grid_preset is not None:
        spec = replace(spec, grid_preset=args.grid_preset)
    if args.nerv_epochs is not None:
        spec = replace(spec, nerv_epochs=args.nerv_epochs)
    data = Path(args.data)
    if not data.is_dir():
        log(f"no sequences in {data} (shared data absent?): nothing to measure, skipped")
        return 0
    env = environment(str(device))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rinr-bench-gpu-") as tmp:
        runs = [byte_run(spec, codec, data, Path(tmp), str(device)) for codec in CODEC_RUNS]
        simulated = time.perf_counter()
        parts = encode_and_train(spec, data, device)
    seconds = time.perf_counter() - start
    part_seconds = {"simulations": simulated - start, "encode, decode and training":
                    time.perf_counter() - simulated}
    result: dict[str, Any] = {
        "benchmark": NAME, "command": reproduce_command(__file__, sys.argv[1:] if argv is None
                                                        else argv),
        "environment": env, "device": str(device), "quick": args.quick, "spec": asdict(spec),
        "seconds": seconds, "part_seconds": part_seconds, "time_limit_s": TIME_LIMIT_S, "runs": runs, "parts": parts,
        **throughputs(runs, parts),
        "note": f"measured on {device} by bench/gpu.py" + (" --quick (tiny sizes)" if args.quick
                                                            else "")}
    page = render_markdown(result)
    paths = write_results(output_dir(args), NAME, page, result)
    print(to_json(result) if args.json else page)
    log(f"wrote {', '.join(map(str, paths))} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
