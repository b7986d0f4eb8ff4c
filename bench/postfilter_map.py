"""Part 2 of ``bench/postfilter.py``: YOLOv8n trained on decoded frames with and without the
post-filter (and on the camera's JPEGs, the ceiling), validated on held-out original JPEGs.

As the runtime does it: frames of one sequence (``--map-sequence``, ``--map-frames`` spread
over it, ``--max-side``), every 5th held out for validation as the camera's JPEG; the rest
encoded with Residual-INR and decoded; the post-filter trained on the first 16 of those
(decoded, original) pairs (the fog's :data:`fog.postfilter.TRAIN_FRAMES`) and applied to all
of them. Same YOLOv8n recipe for every run: from the YAML, ``--map-epochs`` epochs at
``--map-imgsz`` px, batch 16, seed 0.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import SHARED_DATA_DIR, log

from rinr_core.codecs import get_runtime_codec
from rinr_core.datasets import load_sequence
from rinr_core.frames import Frame
from rinr_core.images import load_image
from rinr_core.lut import LutFilter, LutTrainSettings, lut_preset, mean_psnr, train_lut
from rinr_runtime.config import RuntimeConfig

VAL_EVERY = 5
LUT_FRAMES = 16
DETECTOR = "yolov8n.yaml"


def _split(args: argparse.Namespace) -> tuple[list[Frame], list[Frame]]:
    folder = SHARED_DATA_DIR / args.map_sequence
    total = len(list((folder / "img").iterdir()))
    loaded = load_sequence(folder, limit=args.map_frames, max_side=args.max_side,
                           stride=max(1, total // args.map_frames), keep_jpeg=True).frames
    frames = [Frame(load_image(f.meta["jpeg"]), f.box, f.name, "object") for f in loaded]
    train = [f for i, f in enumerate(frames) if (i + 1) % VAL_EVERY]
    val = [f for i, f in enumerate(frames) if (i + 1) % VAL_EVERY == 0]
    return train, val


def _yolo(train: list[Frame], val: list[Frame], name: str, work: Path,
          args: argparse.Namespace) -> dict[str, Any]:
    from rinr_runtime import detector

    device = RuntimeConfig.from_run_config({"device": args.device or ""}).yolo_device
    settings = detector.TrainSettings(model=DETECTOR, epochs=args.map_epochs,
                                      imgsz=args.map_imgsz, batch=16, device=device, seed=0)
    data_yaml = detector.write_dataset(train, val, work / f"dataset-{name}", ["object"])
    log(f"[postfilter] YOLOv8n on {name}: {len(train)} frames, {args.map_epochs} epochs")
    outcome = detector.train(data_yaml, settings, workdir=work / f"yolo-{name}")
    return {"map50": float(outcome.metrics["map50"]), "map50_95": float(outcome.metrics["map50_95"]),
            "train_s": float(outcome.metrics["train_seconds"])}


def measure_map(args: argparse.Namespace, encoded: Callable[..., tuple[list[bytes], float]]
                ) -> dict[str, Any]:
    """mAP50 / mAP50-95 of YOLOv8n trained on JPEG, decoded, and decoded + filtered frames.

    ``encoded(codec, name, frames, args)`` gives the payloads (``postfilter.encoded``: cached).
    """
    train, val = _split(args)
    codec = get_runtime_codec(args.codecs[0])
    payloads, _ = encoded(codec, f"{args.map_sequence}-map{args.map_frames}", train, args)
    decoded = codec.decode(payloads, args.device)
    originals = [f.image for f in train]
    lut = train_lut(decoded[:LUT_FRAMES], originals[:LUT_FRAMES],
                    lut_preset(args.presets[0], color=args.colors[0]),
                    LutTrainSettings(steps=args.lut_steps, lr=args.lut_lr, seed=0))
    filtered = LutFilter(lut.tables).apply_many(decoded)
    sets = {
        "camera JPEG": train,
        f"{codec.runtime_name} decoded": [Frame(d, f.box, f.name, f.label)
                                          for d, f in zip(decoded, train, strict=True)],
        f"{codec.runtime_name} decoded + post-filter": [
            Frame(d, f.box, f.name, f.label) for d, f in zip(filtered, train, strict=True)],
    }
    with tempfile.TemporaryDirectory() as work:
        runs = {name: _yolo(frames, val, f"set{i}", Path(work), args)
                for i, (name, frames) in enumerate(sets.items())}
    psnr = {"decoded": mean_psnr(originals, decoded), "filtered": mean_psnr(originals, filtered)}
    recipe = (f"{args.map_sequence}: {len(train) + len(val)} frames spread over the sequence at "
              f"{train[0].width}x{train[0].height}, every {VAL_EVERY}th held out ({len(train)} "
              f"train / {len(val)} val, validation on the camera's JPEGs); training frames "
              f"encoded with {codec.runtime_name} ({args.qre_steps} steps); post-filter trained "
              f"on the first {min(LUT_FRAMES, len(train))} training pairs; YOLOv8n from "
              f"{DETECTOR}, {args.map_epochs} epochs at {args.map_imgsz} px, batch 16, seed 0. "
              f"Mean full-frame PSNR of the training frames: decoded {psnr['decoded']:.2f} dB, "
              f"filtered {psnr['filtered']:.2f} dB.")
    gain = (runs[f"{codec.runtime_name} decoded + post-filter"]["map50_95"]
            - runs[f"{codec.runtime_name} decoded"]["map50_95"])
    note = (f"mAP50-95 with the post-filter minus without: {gain:+.3f} (one seed, "
            f"{len(val)} validation frames: differences of a few hundredths are within noise).")
    return {"recipe": recipe, "runs": runs, "psnr": psnr, "note": note,
            "train_frames": len(train), "val_frames": len(val),
            "payload_bytes_per_frame": float(np.mean([len(p) for p in payloads]))}
