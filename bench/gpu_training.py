"""Part of ``bench/gpu.py``: the CPU-free training claim, and grouped vs one-by-one decoding.

**Training.** The same YOLOv8n (built from ``yolov8n.yaml``, same seed, same initial weights),
the same frames in the same batch order, the same loss (Ultralytics' ``v8DetectionLoss``) and
optimizer (SGD, lr 0.01, momentum 0.9) for the same epochs, fed two ways:

- **INR feed**: every batch is rendered from its ``.rinr`` payloads on ``device``
  (:func:`rinr_core.decoding.render_payloads`, one grouped call per batch): pixels never
  exist on the CPU;
- **JPEG feed**: every batch is decoded from the camera's JPEGs on the CPU (Pillow,
  :func:`rinr_core.images.load_image`) and copied to ``device``.

Both resize to ``imgsz`` x ``imgsz`` on ``device`` (normalized boxes are unchanged by a plain
resize). Each epoch's wall time (GPU work synchronized) and CPU time of this process are
measured; the first epoch of each feed is a warm-up and left out of the means. The speedup
is JPEG-fed seconds per epoch / INR-fed seconds per epoch.

**Decoding.** The same payloads decoded in one grouped call (:func:`rinr_core.decoding.decode_many`)
and one at a time (:func:`rinr_core.decoding.decode`), after one untimed warm-up of each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from rinr_core.container import unpack
from rinr_core.decoding import decode, decode_many, render_payloads
from rinr_core.frames import Frame
from rinr_core.images import load_image

LR = 0.01
MOMENTUM = 0.9


def sync(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, float, Any]:
    """``(wall s, CPU s of this process, result)`` of ``fn``, queued GPU work included."""
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    sync(device)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def decode_speed(payloads: Sequence[bytes], device: torch.device) -> dict[str, float]:
    """Frames/s of grouped decoding (one call) and of one-by-one decoding, same payloads."""
    decode_many(payloads[:2], device)
    decode(payloads[0], device)  # warm-ups: kernels, allocator
    grouped_s, _, _ = timed(lambda: decode_many(payloads, device), device)
    single_s, _, _ = timed(lambda: [decode(p, device) for p in payloads], device)
    n = len(payloads)
    return {"frames": n, "grouped_s": grouped_s, "one_by_one_s": single_s,
            "grouped_fps": n / grouped_s, "one_by_one_fps": n / single_s,
            "grouped_speedup": single_s / grouped_s}


def _targets(frames: Sequence[Frame], device: torch.device) -> list[dict[str, torch.Tensor]]:
    """Per frame: class and normalized ``cx, cy, w, h`` box (YOLO's targets), on ``device``."""
    out = []
    for f in frames:
        x, y, w, h = f.box
        box = [(x + w / 2) / f.width, (y + h / 2) / f.height, w / f.width, h / f.height]
        out.append({"cls": torch.zeros(1, 1, device=device),
                    "bboxes": torch.tensor([box], dtype=torch.float32, device=device)})
    return out


def _batch(images: torch.Tensor, targets: list[dict[str, torch.Tensor]], imgsz: int
           ) -> dict[str, Any]:
    """Ultralytics' batch dict from ``[B, H, W, 3]`` float images in [0, 1] on the device."""
    img = torch.nn.functional.interpolate(images.permute(0, 3, 1, 2).clamp(0, 1),
                                          size=(imgsz, imgsz), mode="bilinear",
                                          align_corners=False)
    index = torch.cat([torch.full((len(t["cls"]),), float(i), device=img.device)
                       for i, t in enumerate(targets)])
    return {"img": img, "cls": torch.cat([t["cls"] for t in targets]),
            "bboxes": torch.cat([t["bboxes"] for t in targets]), "batch_idx": index}


def inr_feed(payloads: Sequence[bytes], device: torch.device) -> Callable[[list[int]], torch.Tensor]:
    """Images of a batch rendered from their payloads on ``device`` (one grouped call)."""
    parsed = [unpack(p) for p in payloads]

    def images(indices: list[int]) -> torch.Tensor:
        return torch.stack(render_payloads([parsed[i] for i in indices], device))
    return images


def jpeg_feed(jpegs: Sequence[bytes], device: torch.device) -> Callable[[list[int]], torch.Tensor]:
    """Images of a batch decoded from their JPEGs on the CPU, then copied to ``device``."""
    def images(indices: list[int]) -> torch.Tensor:
        host = np.stack([load_image(jpegs[i]) for i in indices])
        return torch.from_numpy(host).to(device).float() / 255
    return images


def _model(seed: int, device: torch.device) -> tuple[Any, Any]:
    """A fresh YOLOv8n (seeded) on ``device`` in training mode, and its loss."""
    from rinr_runtime.detector import TrainSettings, build_model
    from rinr_runtime.detector.forward_train import hyperparameters

    settings = TrainSettings(seed=seed)
    model = build_model(settings, ["object"]).to(device)
    model.args = hyperparameters(settings)
    model.train()
    return model, model.init_criterion()


def train_epochs(feed: Callable[[list[int]], torch.Tensor], frames: Sequence[Frame],
                 device: torch.device, *, epochs: int, imgsz: int, batch: int, seed: int = 0
                 ) -> dict[str, Any]:
    """Train YOLOv8n for ``epochs`` on ``frames`` through ``feed``; seconds and loss per epoch."""
    model, criterion = _model(seed, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    targets = _targets(frames, device)
    order = np.random.default_rng(seed).permutation(len(frames)).tolist()
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    wall, cpu, data_s, losses = [], [], [], []

    def epoch() -> float:
        total, spent = 0.0, 0.0
        for indices in batches:
            start = time.perf_counter()
            images = feed(indices)
            sync(device)
            spent += time.perf_counter() - start
            inputs = _batch(images, [targets[i] for i in indices], imgsz)
            loss, _ = criterion(model(inputs["img"]), inputs)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            total += float(loss.sum().detach())
        data_s.append(spent)
        return total / len(batches)

    for _ in range(epochs):
        seconds, cpu_s, loss = timed(epoch, device)
        wall.append(seconds)
        cpu.append(cpu_s)
        losses.append(loss)
    if next(model.parameters()).device.type != device.type:  # pragma: no cover - a guard
        raise RuntimeError(f"the model left {device}: nothing may fall back silently")
    timed_epochs = slice(1, None) if epochs > 1 else slice(None)
    return {"epochs": epochs, "frames": len(frames), "batch": batch, "imgsz": imgsz,
            "epoch_s": wall, "cpu_s": cpu, "data_s": data_s, "loss": losses,
            "mean_epoch_s": float(np.mean(wall[timed_epochs])),
            "mean_cpu_s": float(np.mean(cpu[timed_epochs])),
            "mean_data_s": float(np.mean(data_s[timed_epochs]))}


def training_speedup(frames: Sequence[Frame], payloads: Sequence[bytes], jpegs: Sequence[bytes],
                     device: torch.device, *, epochs: int, imgsz: int, batch: int
                     ) -> dict[str, Any]:
    """Both feeds under one recipe; speedup = JPEG-fed / INR-fed seconds per epoch."""
    inr = train_epochs(inr_feed(payloads, device), frames, device,
                       epochs=epochs, imgsz=imgsz, batch=batch)
    jpeg = train_epochs(jpeg_feed(jpegs, device), frames, device,
                        epochs=epochs, imgsz=imgsz, batch=batch)
    return {"inr": inr, "jpeg": jpeg, "speedup": jpeg["mean_epoch_s"] / inr["mean_epoch_s"],
            "cpu_ratio": jpeg["mean_cpu_s"] / max(inr["mean_cpu_s"], 1e-9),
            "training_s_per_epoch_per_frame": inr["mean_epoch_s"] / len(frames)}
