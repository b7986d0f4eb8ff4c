"""Part 1 of ``bench/placement.py``: bytes of real Flower simulations against the placement model."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from common import log
from placement_config import DETECTOR, PAPER_DEVICES, PAPER_REDUCTION, ByteSpec

from fog.report import load_report, report_plan_inputs
from rinr_runtime.config import RuntimeConfig
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


def yolov8n_weights() -> tuple[int, int]:
    """Bytes and arrays of the one-class yolov8n the runtime sends (``rinr_runtime.detector.get_weights``)."""
    from fog.placement import detector_size

    return detector_size(RuntimeConfig.from_run_config({"model": DETECTOR}))


def simulate(devices: int, overrides: dict[str, Any], label: str) -> tuple[dict[str, Any], float]:
    """One in-process Flower simulation with ``devices`` nodes: its report and wall seconds.

    Exits with the run's first errors when it did not complete or lost any frame.
    """
    from fog.server_app import report_path
    from fog.simulation import run_inprocess

    log(f"[simulation] {devices} devices, {label}")
    start = time.perf_counter()
    report = load_report(report_path(run_inprocess(overrides, num_nodes=devices)))
    seconds = time.perf_counter() - start
    summary = report["summary"]
    broken = [b for r in report["rounds"] for b in r["broken"]]
    if summary["status"] != "completed" or summary["errors"] or broken:
        raise SystemExit(f"error: the {devices}-device {label} run failed: "
                         f"{(summary['errors'] + broken)[:3]}")
    return report, seconds


def byte_run(spec: ByteSpec, devices: int, codec: str, data: Path, work: Path,
             device: str | None, detector: tuple[int, int]) -> dict[str, Any]:
    """One simulation: what it moved, what the model predicts from its sizes, and more."""
    run_dir = work / f"run-{devices}-{codec}"
    overrides = {
        "num-server-rounds": 1, "min-nodes": devices, "data": str(data),
        "frames-per-node": spec.frames_per_node, "frames-per-round": 0,
        "val-every": spec.val_every, "max-side": spec.max_side, "inr-steps": spec.inr_steps,
        "codec": codec, "placement": "edge", "train": False, "run-dir": str(run_dir),
        "cache-dir": str(work / "cache"), "edge-dir": str(work / "edge"), "device": device or "",
    }
    report, seconds = simulate(devices, overrides, codec)
    summary = report["summary"]
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
