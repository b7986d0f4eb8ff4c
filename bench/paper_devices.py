"""Figures 4 and 5 of ``bench/paper.py``: data moved vs devices, and latency per round.

Both come from the placement model (:mod:`rinr_runtime.planning`, within 0.1% of the runs'
byte ledgers in ``docs/results/placement.md``) fed with what the sweep measured: the camera
JPEG's mean size, each codec's bytes at parity (its default setting where it never reaches
parity), the frames per device, YOLOv8n's real weights size, and the measured encode, decode
and training throughputs. A second device sweep uses the model's defaults at the paper's
640x360 (camera JPEG 26,727 B, exact ``.rinr`` sizes, 300 frames per device), for the
paper's 5.16x.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rinr_runtime.planning import (
    DEFAULT_BOX_AREA,
    PlanInputs,
    crossover_devices,
    default_payload_bytes,
    estimate,
    sequence_payload_bytes,
    weights_size,
)

DEVICES = tuple(range(2, 51))
LATENCY_DEVICES = 10
PAPER_FRAMES_PER_DEVICE = 300
PAPER_SIZE = (640, 360)


def _inputs(payloads: dict[str, float], frames: float, **extra: Any) -> PlanInputs:
    weights = weights_size("yolov8n.yaml", ["object"])
    return PlanInputs(devices=2, frames_per_device=frames, payload_bytes=payloads,
                      model_bytes=weights.bytes, model_arrays=weights.arrays, **extra)


def device_curves(payloads: dict[str, float], frames: float) -> dict[str, Any]:
    """Total bytes vs devices for edge training per codec and for fog training, crossovers."""
    inputs = _inputs(payloads, frames)
    curves = {f"{codec} edge": [estimate(inputs.with_devices(n), codec, "edge").total_bytes
                                for n in DEVICES] for codec in payloads}
    curves["fog (JPEG uploads, weights down)"] = [
        estimate(inputs.with_devices(n), "jpeg", "fog").total_bytes for n in DEVICES]
    curves["serverless JPEG"] = [estimate(inputs.with_devices(n), "jpeg", "serverless").total_bytes
                                 for n in DEVICES]
    at10 = inputs.with_devices(10)
    jpeg10 = estimate(at10, "jpeg", "edge").total_bytes
    serverless10 = estimate(at10, "jpeg", "serverless").total_bytes
    return {
        "devices": list(DEVICES), "frames_per_device": frames, "payload_bytes": payloads,
        "model_bytes": inputs.model_bytes, "curves": curves,
        "crossover": {codec: crossover_devices(inputs, codec, max(DEVICES)) for codec in payloads},
        "at_10": {codec: {"edge_bytes": estimate(at10, codec, "edge").total_bytes,
                          "vs_jpeg_relay": jpeg10 / estimate(at10, codec, "edge").total_bytes,
                          "vs_serverless_jpeg": serverless10 / estimate(at10, codec, "edge").total_bytes}
                  for codec in payloads},
    }


def paper_scale_payloads() -> dict[str, float]:
    """The model's default payload sizes at 640x360 (not measured here)."""
    payloads = default_payload_bytes()
    width, height = PAPER_SIZE
    payloads["res-nerv"] = sequence_payload_bytes("res-nerv", PAPER_FRAMES_PER_DEVICE, width,
                                                  height, DEFAULT_BOX_AREA)
    return payloads


def latency(sizes: dict[str, float], throughputs: dict[str, dict[str, float]],
            frames: float) -> list[dict[str, Any]]:
    """One round with :data:`LATENCY_DEVICES` devices, edge training, per codec (model seconds).

    ``throughputs[codec]``: ``encode_fps``, ``decode_fps`` (absent for the JPEG relay) and
    ``train_fps`` (images per second through one epoch, measured on that codec's frames),
    plus ``epochs``.
    """
    rows = []
    for codec, bytes_per_frame in sizes.items():
        t = throughputs[codec]
        extra: dict[str, Any] = {"epochs": int(t["epochs"]), "edge_train_fps": t["train_fps"]}
        if t.get("encode_fps"):
            extra["encode_fps"] = {codec: t["encode_fps"]}
        if t.get("decode_fps"):
            extra["decode_fps"] = {codec: t["decode_fps"]}
        inputs = _inputs({"jpeg": sizes["jpeg"], codec: bytes_per_frame}, frames, **extra)
        est = estimate(inputs.with_devices(LATENCY_DEVICES), codec, "edge")
        rows.append({
            "codec": codec, "bytes_per_frame": bytes_per_frame,
            "encode_s_per_frame": 1 / t["encode_fps"] if t.get("encode_fps") else 0.0,
            "transfer_s_per_frame": bytes_per_frame / inputs.bandwidth,
            "decode_s_per_frame": 1 / t["decode_fps"] if t.get("decode_fps") else 0.0,
            "round": {"encode_s": est.encode_s, "transfer_s": est.transfer_s,
                      "decode_s": est.decode_s, "train_s": est.train_s, "total_s": est.total_s},
        })
    return rows


def mean_or_none(values: list[float]) -> float | None:
    """The mean of ``values`` (``None`` when empty)."""
    return float(np.mean(values)) if values else None
