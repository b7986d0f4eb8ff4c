"""The detector's training data: frames laid out as a YOLO dataset with train/val splits."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rinr_core.datasets import write_data_yaml, write_yolo_split
from rinr_core.errors import DatasetError
from rinr_core.frames import Box, Frame

LabelledImage = tuple[np.ndarray, Box, str]
"""An ``(image, box, label)`` tuple: a uint8 HxWx3 image, an ``(x, y, w, h)`` box, a class."""


def _as_frame(item: Frame | LabelledImage) -> Frame:
    """Return a frame, or an ``(image, box, label)`` tuple as a validated frame."""
    if isinstance(item, Frame):
        return item
    image, box, label = item
    return Frame(image=np.asarray(image), box=box, label=label)  # validates image and box


def write_dataset(
    train: Sequence[Frame | LabelledImage],
    val: Sequence[Frame | LabelledImage],
    folder: Path,
    class_names: Sequence[str],
) -> Path:
    """Write frames as a YOLO dataset under ``folder``; return the ``data.yaml`` path.

    Layout: ``images/{train,val}/NNNNNN.png``, ``labels/{train,val}/NNNNNN.txt`` and
    ``data.yaml`` whose ``path`` is absolute, so Ultralytics never resolves it against its
    own datasets folder. Images are stored as lossless PNG: training images are typically
    decoded INR reconstructions, and validation images (the original JPEG frames, decoded)
    keep exactly their pixels. Existing ``images/`` and ``labels/`` subfolders of ``folder``
    are replaced; nothing else in it is touched.

    Parameters
    ----------
    train, val
        :class:`~rinr_core.frames.Frame` objects or ``(image, box, label)`` tuples, with a
        ``uint8`` HxWx3 image and an ``(x, y, w, h)`` pixel box.
    folder
        Dataset root; created if needed.
    class_names
        Class names; a frame's label must be one of them. Index = YOLO class id.
    """
    if not train or not val:
        raise DatasetError(
            f"need at least one train and one val frame, got {len(train)} train and "
            f"{len(val)} val; hold out some original frames for validation"
        )
    if not class_names or len(set(class_names)) != len(class_names):
        raise DatasetError(f"class_names must be non-empty and unique, got {list(class_names)}")
    root = Path(folder).expanduser().resolve()
    for sub in ("images", "labels"):
        shutil.rmtree(root / sub, ignore_errors=True)
    class_ids = {name: i for i, name in enumerate(class_names)}
    for split, items in (("train", train), ("val", val)):
        frames = [_as_frame(item) for item in items]
        write_yolo_split(frames, root / "images" / split, root / "labels" / split, class_ids,
                         split=split)
    return write_data_yaml(root, {"train": "images/train", "val": "images/val"}, class_names)
