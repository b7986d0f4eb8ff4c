"""What ``bench/placement.py`` runs: the simulations of the bytes part and the accuracy recipe."""

from __future__ import annotations

from dataclasses import dataclass

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
