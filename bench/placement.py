"""Placement benchmark: bytes of real simulations against the placement model, and detection accuracy.

Two parts, both on the real sequences in ``../shared/data``:

1. **Bytes.** Real in-process Flower simulations (``fog.simulation.run_inprocess``: the
   ServerApp and one ClientApp per virtual node on Flower's simulation engine) with 2, 5 and 10
   edge devices, each device one sequence (10 devices share the 4 sequences, interleaving their
   frames), for each codec (JPEG relay, Rapid-INR = BS, Residual-INR = QRE), training at the
   edges (``placement = edge``, ``train = false``: the frames are moved, nothing is trained).
   Each run's report holds the sizes it measured (mean JPEG, exact payload size, devices,
   frames); fed to the placement model (:mod:`rinr_runtime.planning`) they predict the run's
   bytes, which are set beside the bytes the run's ledger counted. A payload's size depends
   only on the INR architectures, never on the fitted weights, so the byte runs fit each INR
   for a few steps only (``--byte-inr-steps``).
2. **Accuracy.** YOLOv8n built from ``yolov8n.yaml`` (no pretrained weights) is trained under
   one recipe on the frames of one sequence (every ``--stride``-th frame of ``vot_bag``, every
   5th of those held out) three times: on the JPEGs, on decoded Rapid-INR (BS) reconstructions
   and on decoded Residual-INR (QRE) reconstructions of the same frames at the same size. Each
   model is evaluated on the held-out frames' original JPEGs (mAP50, mAP50-95).

Run from the repository root::

    .venv/bin/python bench/placement.py              # docs/results/placement.{md,json,_*.png}
    .venv/bin/python bench/placement.py --quick      # 2 devices, tiny training: checks the script
    .venv/bin/python bench/placement.py --json       # the same, JSON on stdout
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    SHARED_DATA_DIR,
    apply_threads,
    bench_parser,
    environment,
    environment_line,
    log,
    markdown_table,
    output_dir,
    reproduce_command,
    to_json,
    write_results,
)

from fog.report import load_report, plan_inputs_from_dict, report_plan_inputs
from rinr_core.frames import Frame
from rinr_core.presets import get_preset
from rinr_runtime.config import CODEC_MODES, RuntimeConfig
from rinr_runtime.planning import (
    CODECS,
    PlanInputs,
    default_payload_bytes,
    estimate,
    model_size,
    recommend,
    reduction_vs_jpeg,
    reduction_vs_serverless,
)

NAME = "placement"
PAPER_REDUCTION = 5.16
PAPER_DEVICES = 10
CODEC_TITLES = {"jpeg": "JPEG", "rapid-inr": "Rapid-INR (BS)", "residual-inr": "Residual-INR (QRE)"}
DETECTOR = "yolov8n.yaml"


@dataclass(frozen=True)
class ByteSpec:
    """The simulations of the bytes part."""

    devices: tuple[int, ...]
    frames_per_node: int
    val_every: int
    max_side: int
    inr_steps: int


@dataclass(frozen=True)
class AccuracySpec:
    """The accuracy part: which frames, the INR budget, and the one YOLOv8 recipe."""

    sequence: str
    stride: int
    max_side: int
    val_every: int
    inr_steps: int
    epochs: int
    imgsz: int
    batch: int
    seed: int = 0


FULL = (ByteSpec((2, 5, 10), frames_per_node=8, val_every=4, max_side=160, inr_steps=20),
        AccuracySpec("vot_bag", stride=4, max_side=128, val_every=5, inr_steps=200, epochs=40,
                     imgsz=128, batch=8))
QUICK = (ByteSpec((2,), frames_per_node=4, val_every=4, max_side=96, inr_steps=5),
         AccuracySpec("vot_bag", stride=8, max_side=64, val_every=5, inr_steps=20, epochs=3,
                      imgsz=64, batch=4))


# --- part 1: bytes ---------------------------------------------------------------------------


def yolov8n_weights() -> tuple[int, int]:
    """Bytes and arrays of the one-class yolov8n the runtime sends (``rinr_runtime.detector.get_weights``)."""
    from fog.placement import detector_size

    return detector_size(RuntimeConfig.from_run_config({"model": DETECTOR}))


def byte_run(spec: ByteSpec, devices: int, codec: str, data: Path, work: Path,
             device: str | None, detector: tuple[int, int]) -> dict[str, Any]:
    """One simulation: what it moved, what the model predicts from its sizes, and more."""
    from fog.server_app import report_path
    from fog.simulation import run_inprocess

    run_dir = work / f"run-{devices}-{codec}"
    overrides = {
        "num-server-rounds": 1, "min-nodes": devices, "data": str(data),
        "frames-per-node": spec.frames_per_node, "frames-per-round": 0,
        "val-every": spec.val_every, "max-side": spec.max_side, "inr-steps": spec.inr_steps,
        "codec": codec, "placement": "edge", "train": False, "run-dir": str(run_dir),
        "cache-dir": str(work / "cache"), "edge-dir": str(work / "edge"), "device": device or "",
    }
    log(f"[placement] simulation: {devices} devices, {codec}")
    start = time.perf_counter()
    report = load_report(report_path(run_inprocess(overrides, num_nodes=devices)))
    seconds = time.perf_counter() - start
    summary = report["summary"]
    broken = [b for r in report["rounds"] for b in r["broken"]]
    if summary["status"] != "completed" or summary["errors"] or broken:
        raise SystemExit(f"error: the {devices}-device {codec} run failed: "
                         f"{(summary['errors'] + broken)[:3]}")
    inputs = report_plan_inputs(report)
    assert inputs is not None
    predicted = estimate(inputs, codec, "edge")
    trained = replace(inputs, train=True, model_bytes=detector[0], model_arrays=detector[1])
    advice = recommend(trained, codec)
    measured = summary["total_bytes"]
    return {
        "devices": devices, "codec": codec, "seconds": round(seconds, 1),
        "frames_per_device": inputs.frames_per_device,
        "jpeg_bytes": inputs.payload("jpeg"), "payload_bytes": inputs.payload(codec),
        "delivered_frames": summary["delivered_frames"],
        "measured_bytes": measured, "model_bytes": round(predicted.total_bytes),
        "model_error": (predicted.total_bytes - measured) / measured,
        "measured_by_phase": summary["bytes_by_phase"], "model_by_phase": predicted.ledger,
        "measured_relay_bytes": summary["jpeg_relay_total_bytes"],
        "model_relay_bytes": round(estimate(inputs, "jpeg", "edge").total_bytes),
        "payload_ratio_vs_jpeg": summary["payload_ratio_vs_jpeg"],
        "model_serverless_jpeg_bytes": round(estimate(inputs, "jpeg", "serverless").total_bytes),
        "mean_psnr": summary["mean_psnr"],
        "yolov8n_edge_bytes": round(advice.edge.total_bytes),
        "yolov8n_fog_bytes": round(advice.fog.total_bytes),
        "yolov8n_choice": advice.placement, "yolov8n_crossover_devices": advice.crossover,
        "inputs": asdict(inputs),
    }


def byte_runs(spec: ByteSpec, data: Path, work: Path, device: str | None,
              detector: tuple[int, int]) -> list[dict]:
    """Every devices x codec simulation of ``spec``."""
    return [byte_run(spec, n, codec, data, work, device, detector)
            for n in spec.devices for codec in CODECS]


def reductions(runs: list[dict]) -> list[dict]:
    """Transfer reduction vs JPEG per devices x INR codec: measured and modelled."""
    by_key = {(r["devices"], r["codec"]): r for r in runs}
    rows = []
    for (devices, codec), run in by_key.items():
        jpeg = by_key.get((devices, "jpeg"))
        if codec == "jpeg" or jpeg is None:
            continue
        rows.append({
            "devices": devices, "codec": codec,
            "measured": jpeg["measured_bytes"] / run["measured_bytes"],
            "measured_in_run_relay": run["measured_relay_bytes"] / run["measured_bytes"],
            "model": jpeg["model_bytes"] / run["model_bytes"],
            "payload_only": run["payload_ratio_vs_jpeg"],
            "model_vs_serverless": run["model_serverless_jpeg_bytes"] / run["model_bytes"],
            "paper": PAPER_REDUCTION if devices == PAPER_DEVICES and codec == "residual-inr"
            else None,
        })
    return rows


def paper_scale_model() -> dict[str, Any]:
    """The model's reductions at the paper's frame size (``rinr plan --devices 10`` defaults)."""
    size = model_size("yolov8n")
    payloads = default_payload_bytes()
    inputs = PlanInputs(devices=PAPER_DEVICES, frames_per_device=300, payload_bytes=payloads,
                        model_bytes=size.bytes, model_arrays=size.arrays)
    return {"payload_bytes": payloads,
            "vs_jpeg": reduction_vs_jpeg(inputs)["edge"],
            "vs_serverless": reduction_vs_serverless(inputs)["edge"]}


# --- part 2: accuracy ------------------------------------------------------------------------


def split_frames(spec: AccuracySpec, data: Path) -> tuple[list[Frame], list[Frame]]:
    """Train and held-out frames of the sequence, decoded from their JPEGs (as an edge has them)."""
    from rinr_core.datasets import load_sequence
    from rinr_core.images import load_image

    loaded = load_sequence(data / spec.sequence, max_side=spec.max_side, stride=spec.stride,
                           keep_jpeg=True).frames
    frames = [Frame(load_image(f.meta["jpeg"]), f.box, f.name, "object",
                    meta={"jpeg_bytes": len(f.meta["jpeg"])}) for f in loaded]
    train = [f for i, f in enumerate(frames) if (i + 1) % spec.val_every]
    val = [f for i, f in enumerate(frames) if (i + 1) % spec.val_every == 0]
    return train, val


def reconstruct(frames: list[Frame], codec: str, spec: AccuracySpec,
                device: str | None) -> tuple[list[Frame], dict[str, Any]]:
    """``frames`` encoded with ``codec`` and decoded again, with sizes, PSNRs and times."""
    from rinr_core.codec import CodecSettings, encode_frames
    from rinr_core.decoding import decode_many
    from rinr_core.metrics import frame_psnrs

    settings = CodecSettings(mode=CODEC_MODES[codec], preset="fast", steps=spec.inr_steps,
                             device=device, seed=spec.seed)
    log(f"[placement] encoding {len(frames)} frames with {codec} ({spec.inr_steps} steps)")
    start = time.perf_counter()
    results = encode_frames(frames, settings)
    encode_s = time.perf_counter() - start
    images = decode_many([r.payload for r in results], device=device)
    decoded = [Frame(image, f.box, f.name, f.label) for image, f in zip(images, frames, strict=True)]
    psnrs = [frame_psnrs(f.image, d.image, f.box) for f, d in zip(frames, decoded, strict=True)]
    return decoded, {
        "payload_bytes": float(np.mean([len(r.payload) for r in results])),
        "psnr_full": float(np.mean([p["psnr_full"] for p in psnrs])),
        "psnr_object": float(np.mean([p["psnr_object"] for p in psnrs])),
        "encode_seconds": round(encode_s, 1),
    }


def train_detector(train: list[Frame], val: list[Frame], spec: AccuracySpec, name: str,
                   work: Path, device: str | None) -> dict[str, Any]:
    """Train YOLOv8n from the YAML on ``train``; mAP on ``val`` (original JPEGs)."""
    from rinr_runtime import detector

    yolo_device = RuntimeConfig.from_run_config({"device": device or ""}).yolo_device
    settings = detector.TrainSettings(model=DETECTOR, epochs=spec.epochs, imgsz=spec.imgsz,
                                  batch=spec.batch, device=yolo_device, seed=spec.seed)
    data_yaml = detector.write_dataset(train, val, work / f"dataset-{name}", ["object"])
    log(f"[placement] training {DETECTOR} on {name} ({spec.epochs} epochs, {spec.imgsz} px)")
    outcome = detector.train(data_yaml, settings, workdir=work / f"yolo-{name}")
    return {"map50": outcome.metrics["map50"], "map50_95": outcome.metrics["map50_95"],
            "train_seconds": round(outcome.metrics["train_seconds"], 1)}


def accuracy(spec: AccuracySpec, data: Path, work: Path, device: str | None) -> dict[str, Any]:
    """mAP of YOLOv8n trained on JPEG, BS and QRE frames, evaluated on original JPEGs."""
    train, val = split_frames(spec, data)
    rows = []
    for codec in CODECS:
        if codec == "jpeg":
            frames, info = train, {
                "payload_bytes": float(np.mean([f.meta["jpeg_bytes"] for f in train])),
                "psnr_full": None, "psnr_object": None, "encode_seconds": 0.0}
        else:
            frames, info = reconstruct(train, codec, spec, device)
        rows.append({"codec": codec, **info, **train_detector(frames, val, spec, codec, work,
                                                              device)})
    height, width = train[0].image.shape[:2]
    return {"spec": asdict(spec), "train_frames": len(train), "val_frames": len(val),
            "frame_size": [width, height], "rows": rows}


# --- output ----------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value:+.2%}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _db(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


LEFT_FIRST = ["r", "l"] + ["r"] * 7
"""Column alignment of the bytes tables (devices, codec, numbers); [1:] for codec-first ones."""


def bytes_tables(runs: list[dict], reduction_rows: list[dict], paper: dict) -> list[str]:
    """The markdown of the bytes part."""
    measured = markdown_table(
        ["devices", "codec", "frames / device", "JPEG B / frame", "payload B / frame",
         "measured bytes", "model bytes", "model error", "run s"],
        [[r["devices"], CODEC_TITLES[r["codec"]], r["frames_per_device"], round(r["jpeg_bytes"]),
          round(r["payload_bytes"]), r["measured_bytes"], r["model_bytes"], _pct(r["model_error"]),
          r["seconds"]] for r in runs], align=LEFT_FIRST, digits=1)
    reduction = markdown_table(
        ["devices", "codec", "measured (JPEG run / run)", "model", "payloads only",
         "vs serverless JPEG (model)", "paper"],
        [[r["devices"], CODEC_TITLES[r["codec"]], _x(r["measured"]), _x(r["model"]),
          _x(r["payload_only"]), _x(r["model_vs_serverless"]), _x(r["paper"])]
         for r in reduction_rows], align=LEFT_FIRST[:7])
    where = markdown_table(
        ["devices", "codec", "edge training (MB)", "fog training (MB)", "model's choice",
         "fog wins from"],
        [[r["devices"], CODEC_TITLES[r["codec"]], r["yolov8n_edge_bytes"] / 1e6,
          r["yolov8n_fog_bytes"] / 1e6, r["yolov8n_choice"],
          r["yolov8n_crossover_devices"] or "never (<= 50)"] for r in runs],
        align=LEFT_FIRST[:6])
    worst = max(abs(r["model_error"]) for r in runs)
    size_ratios = [r["jpeg_bytes"] / r["payload_bytes"] for r in runs if r["codec"] != "jpeg"]
    return [
        measured, "",
        f"Largest model error: **{worst:.2%}** of the measured total.", "",
        "### Transfer reduction vs JPEG (training at the edges)", "",
        "*Measured*: total bytes of the JPEG run / total bytes of the codec's run with the same "
        "devices and frames. *Model*: the same ratio predicted from each run's measured sizes. "
        "*Payloads only*: delivered JPEG bytes / delivered payload bytes. *vs serverless JPEG*: "
        "the paper's baseline (every edge sends its JPEGs to every other), from the model. The "
        f"paper reports up to {PAPER_REDUCTION}x among {PAPER_DEVICES} edge devices.", "",
        reduction, "",
        f"At the paper's frame size the model (`rinr plan --devices {PAPER_DEVICES}` defaults: "
        f"640x360 JPEGs of {paper['payload_bytes']['jpeg']:,.0f} B, Residual-INR "
        f"{paper['payload_bytes']['residual-inr']:,.0f} B, 300 frames per device) gives "
        f"**{paper['vs_jpeg']:.2f}x** vs the JPEG relay and **{paper['vs_serverless']:.2f}x** vs "
        "serverless JPEG. At the CPU-sized frames measured here a JPEG is only "
        f"{min(size_ratios):.2f}-{max(size_ratios):.2f}x an INR payload (an INR's size is fixed "
        "by its architecture, a JPEG's shrinks with the frame), which bounds the reduction: "
        "JPEG relay / codec -> N / (1 + (N - 1) S / J) for payloads alone.", "",
        "### Where to train YOLOv8n (model, from the measured sizes)", "",
        "The same runs' sizes with YOLOv8n training (one-class weights as the runtime sends them, "
        "1 round, independent models): what `placement = auto` would choose.", "",
        where,
    ]


def accuracy_table(result: dict) -> list[str]:
    """The markdown of the accuracy part."""
    spec = result["spec"]
    width, height = result["frame_size"]
    table = markdown_table(
        ["training frames", "B / frame", "PSNR full (dB)", "PSNR object (dB)", "encode s",
         "mAP50", "mAP50-95", "train s"],
        [[CODEC_TITLES[r["codec"]], round(r["payload_bytes"]), _db(r["psnr_full"]),
          _db(r["psnr_object"]), r["encode_seconds"], f"{r['map50']:.3f}",
          f"{r['map50_95']:.3f}", r["train_seconds"]] for r in result["rows"]], digits=1)
    jpeg = next(r for r in result["rows"] if r["codec"] == "jpeg")
    preset = get_preset("fast")
    lines = [
        f"Recipe (the same for every row): `{DETECTOR}` from scratch (no pretrained weights), "
        f"{spec['epochs']} epochs, {spec['imgsz']} px, batch {spec['batch']}, seed {spec['seed']}, "
        "no warm-up, no mosaic, nominal batch = batch (`rinr_runtime.detector.TrainSettings`). Frames: every "
        f"{spec['stride']}th frame of `{spec['sequence']}` at {width}x{height}; every "
        f"{spec['val_every']}th of those held out: {result['train_frames']} training / "
        f"{result['val_frames']} validation frames. Validation is always the held-out frames' "
        "original JPEGs. INRs: `fast` preset with its step budget cut to "
        f"{spec['inr_steps']} steps per INR (from {preset.steps:,} background / "
        f"{preset.object_steps:,} object) to fit the CPU time; PSNRs are against the training "
        "JPEGs.", "",
        table, "",
        f"With {result['val_frames']} validation frames, one frame detected or missed moves "
        f"mAP50 by about {1 / result['val_frames']:.2f}: differences of a few hundredths in "
        "mAP50-95 between rows are within the noise of one training run.", "",
    ]
    if jpeg["map50"] < 0.3:
        lines += ["**The JPEG-trained model did not reach a clearly non-zero mAP under this "
                  "recipe, so this table compares nothing.**", ""]
    return lines


def render_markdown(data: dict) -> str:
    """The whole results page."""
    spec = data["byte_spec"]
    lines = [
        "# Placement: measured bytes vs the model, and accuracy by training data", "",
        f"Measured {environment_line(data['environment'])}. Whole run "
        f"{data['seconds'] / 60:.1f} min. Reproduce: `{data['command']}`.", "",
        "## Bytes moved: real simulations vs the placement model", "",
        f"Flower simulation engine in process, 1 round, `placement = edge`, no training. Each "
        f"device is one sequence of `../shared/data` (devices share the 4 sequences, interleaving "
        f"their frames): {spec['frames_per_node']} frames per device at longer side "
        f"{spec['max_side']} px, every {spec['val_every']}th held out (never sent). INRs fitted "
        f"for {spec['inr_steps']} steps: a payload's size does not depend on the steps. *Model "
        "bytes*: `rinr_runtime.planning.estimate` on the sizes each run measured (its report's "
        "`placement.inputs`), message overhead included.", "",
        *bytes_tables(data["bytes"], data["reductions"], data["paper_scale_model"]), "",
        "![bytes vs devices](placement_bytes.png)", "",
        "## Detection accuracy by training data", "",
        *accuracy_table(data["accuracy"]),
        "![mAP by training data](placement_map.png)", "",
    ]
    return "\n".join(lines)


def plot_bytes(runs: list[dict], detector: tuple[int, int], path: Path) -> None:
    """Total bytes vs devices: measured points, model lines from the largest run's sizes, and
    the model's fog training with YOLOv8n weights for comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(7, 4.5))
    counts = np.arange(1, max(r["devices"] for r in runs) + 1)
    fog_inputs = None
    for i, (codec, marker, style) in enumerate(zip(CODECS, "os^", ("-", "--", ":"), strict=True)):
        mine = [r for r in runs if r["codec"] == codec]
        if not mine:
            continue
        inputs = plan_inputs_from_dict(max(mine, key=lambda r: r["devices"])["inputs"])
        model = [estimate(inputs.with_devices(int(k)), codec, "edge").total_bytes for k in counts]
        ax.plot(counts, np.array(model) / 1e6, style, color=f"C{i}",
                label=f"{CODEC_TITLES[codec]}: model")
        ax.plot([r["devices"] for r in mine], [r["measured_bytes"] / 1e6 for r in mine], marker,
                color=f"C{i}", markerfacecolor="none", markersize=9,
                label=f"{CODEC_TITLES[codec]}: measured")
        fog_inputs = replace(inputs, train=True, model_bytes=detector[0], model_arrays=detector[1])
    if fog_inputs is not None:
        fog = [estimate(fog_inputs.with_devices(int(k)), "jpeg", "fog").total_bytes for k in counts]
        ax.plot(counts, np.array(fog) / 1e6, "-", color="0.5", linewidth=1,
                label="fog training, YOLOv8n weights to every device (model)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xticks(counts)
    ax.set_xlabel("edge devices")
    ax.set_ylabel("total MB moved in the run")
    ax.set_title("Bytes moved: real simulations (points) vs the placement model (lines)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_map(result: dict, path: Path) -> None:
    """mAP50 and mAP50-95 bars per training data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    xs = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(6, 4))
    for offset, key, title in ((-0.2, "map50", "mAP50"), (0.2, "map50_95", "mAP50-95")):
        bars = ax.bar(xs + offset, [r[key] for r in rows], width=0.4, label=title)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_xticks(xs, [CODEC_TITLES[r["codec"]] for r in rows])
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("on held-out original JPEGs")
    spec = result["spec"]
    ax.set_title(f"YOLOv8n, {spec['epochs']} epochs at {spec['imgsz']} px, by training frames")
    ax.legend(loc="upper center", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- main ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (the shared ones from ``common`` plus this benchmark's)."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR,
                        help="folder of OTB sequences (default ../shared/data)")
    parser.add_argument("--skip-accuracy", action="store_true", help="run the bytes part only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report (or JSON) and write it under the output folder."""
    args = build_parser().parse_args(argv)
    apply_threads(args.threads)
    byte_spec, accuracy_spec = QUICK if args.quick else FULL
    data_dir = Path(args.data)
    if not data_dir.is_dir():
        log(f"no sequences in {data_dir} (shared data absent?): nothing to measure, skipped")
        return 0
    out = output_dir(args)
    env = environment(args.device)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rinr-bench-placement-") as tmp:
        work = Path(tmp)
        detector = yolov8n_weights()
        runs = byte_runs(byte_spec, data_dir, work / "bytes", args.device, detector)
        result = (None if args.skip_accuracy
                  else accuracy(accuracy_spec, data_dir, work / "accuracy", args.device))
    seconds = time.perf_counter() - start
    command = reproduce_command(__file__, sys.argv[1:] if argv is None else argv)
    data = {"benchmark": NAME, "command": command, "environment": env, "seconds": seconds,
            "byte_spec": asdict(byte_spec), "yolov8n_weights": {"bytes": detector[0],
                                                                 "arrays": detector[1]},
            "bytes": runs, "reductions": reductions(runs),
            "paper_scale_model": paper_scale_model(), "accuracy": result}
    markdown = render_markdown(data) if result is not None else "\n".join(
        bytes_tables(runs, data["reductions"], data["paper_scale_model"]))
    out.mkdir(parents=True, exist_ok=True)
    plot_bytes(runs, detector, out / f"{NAME}_bytes.png")
    if result is not None:
        plot_map(result, out / f"{NAME}_map.png")
    paths = write_results(out, NAME, markdown, data)
    print(to_json(data) if args.json else markdown)
    log(f"wrote {', '.join(str(p) for p in paths)} and the plots in {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
