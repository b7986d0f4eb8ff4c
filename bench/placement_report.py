"""What ``bench/placement.py`` writes: the markdown page and its two plots."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from common import environment_line
from placement_config import CODEC_TITLES, DETECTOR, PAPER_DEVICES, PAPER_REDUCTION

from fog.report import plan_inputs_from_dict
from rinr_core.presets import get_preset
from rinr_core.tables import MISSING, markdown_table
from rinr_runtime.planning import CODECS, estimate


def _pct(value: float) -> str:
    return f"{value:+.2%}"


def _x(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}x"


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
        f"640x360 camera JPEGs of {paper['payload_bytes']['jpeg']:,.0f} B "
        "(`bench/placement_jpeg.py`, `docs/results/placement_jpeg.md`), Residual-INR "
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
        [[CODEC_TITLES[r["codec"]], round(r["payload_bytes"]), r["psnr_full"], r["psnr_object"],
          r["encode_seconds"], r["map50"], r["map50_95"], r["train_seconds"]]
         for r in result["rows"]], digits=(0, 0, 2, 2, 1, 3, 3, 1))
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


def baseline_sentence(runs: list[dict]) -> str:
    """Which JPEG the runs upload and relay, and its mean bytes per frame by number of devices."""
    means = {r["devices"]: r["jpeg_bytes"] for r in runs if r["codec"] == "jpeg"}
    sizes = ", ".join(f"{means[n]:,.0f} B at {n} devices" for n in sorted(means))
    return ("Every edge uploads, and the JPEG relay sends, the camera's JPEG: a frame shrunk to "
            "the run's size is re-encoded with its source file's own quantization tables and "
            "chroma subsampling (`rinr_core.images.camera_jpeg`; the sources are quality-75 "
            "files), never at a fixed quality. Mean bytes per frame of that baseline: "
            f"{sizes}.")


def render_markdown(data: dict) -> str:
    """The whole results page."""
    spec = data["byte_spec"]
    lines = [
        "# Placement: measured bytes vs the model, and accuracy by training data", "",
        f"Measured {environment_line(data['environment'])}. Whole run "
        f"{data['seconds'] / 60:.1f} min. Reproduce: `{data['command']}`.", "",
        "## Bytes moved: real simulations vs the placement model", "",
        f"**JPEG baseline: the camera's JPEG.** {baseline_sentence(data['bytes'])}", "",
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
