"""Part 2 of ``bench/placement.py``: YOLOv8n trained on JPEG, Rapid-INR and Residual-INR frames."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from common import log
from placement_config import DETECTOR, AccuracySpec

from rinr_core.codecs import get_codec
from rinr_core.frames import Frame
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.planning import CODECS


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

    settings = CodecSettings(mode=get_codec(codec).name, preset="fast", steps=spec.inr_steps,
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
