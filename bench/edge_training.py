"""Edge training: backprop vs forward gradients (float32, 16-bit, 8-bit): memory and mAP.

A YOLOv8n is trained from the YAML on one real sequence's JPEGs (the pretrained start), then
fine-tuned on another sequence's frames with backprop (whole model, the trainable part and a
much smaller part, ``small_part``) and with forward gradients on the same trainable part at
float32, 16 and 8 bits, and on the small part at float32.
mAP50-95 on the target's held-out original JPEGs over steps and wall-clock, and the peak
memory of one training step of each trainer (``rinr_runtime.detector.forward_memory``).

Writes docs/results/edge_training.md and .json. Run from the repo root:
    .venv/bin/python bench/edge_training.py [--quick] [--json] [--threads N] [--device D]
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
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
from edge_training_report import markdown  # noqa: E402

from rinr_core.frames import Frame  # noqa: E402


@dataclass(frozen=True)
class Spec:
    """What the benchmark runs (see the module docstring)."""

    pretrain_sequence: str = "vot_bag"
    target_sequence: str = "uav123_boat1"
    max_side: int = 160
    imgsz: int = 160
    batch: int = 16
    val_every: int = 5
    pretrain_stride: int = 1
    pretrain_epochs: int = 30
    target_stride: int = 2
    trainable: str = "head"
    small_part: str = "head:cls-out"
    backprop_epochs: tuple[int, ...] = (1, 5, 15)
    fg_epochs: int = 10
    fg_bits_epochs: int = 5
    fg_directions: int = 8
    fg_lr: float = 5e-3
    fg_points: int = 4
    fg_bits: tuple[int, ...] = (0, 16, 8)
    memory_parts: tuple[str, ...] = ("all", "last:10", "head", "head:cls-out")
    memory_batches: int = 2
    seed: int = 0


FULL = Spec()
QUICK = Spec(max_side=64, imgsz=64, batch=8, pretrain_stride=6, pretrain_epochs=2,
             target_stride=12, backprop_epochs=(1,), fg_epochs=1, fg_bits_epochs=1,
             fg_directions=2, fg_points=1,
             memory_parts=("head",), memory_batches=2)


def frames_of(sequence: str, spec: Spec, stride: int) -> tuple[list[Frame], list[Frame]]:
    """Train and held-out frames of a real sequence, decoded from the camera's JPEGs."""
    from rinr_core.datasets import load_sequence
    from rinr_core.images import load_image

    loaded = load_sequence(SHARED_DATA_DIR / sequence, max_side=spec.max_side, stride=stride,
                           keep_jpeg=True).frames
    frames = [Frame(load_image(f.meta["jpeg"]), f.box, f.name, "object") for f in loaded]
    train = [f for i, f in enumerate(frames) if (i + 1) % spec.val_every]
    val = [f for i, f in enumerate(frames) if (i + 1) % spec.val_every == 0]
    return train, val


def yolo_device(device: str | None) -> str | None:
    """A torch device name in Ultralytics' spelling (``cuda:1`` -> ``1``); ``None``: automatic."""
    if not device:
        return None
    return "0" if device == "cuda" else device.removeprefix("cuda:")


def settings_of(spec: Spec, model: str, epochs: int, device: str | None) -> Any:
    """The detector settings of one run."""
    from rinr_runtime.detector import TrainSettings

    return TrainSettings(model=model, epochs=epochs, imgsz=spec.imgsz, batch=spec.batch,
                         device=device, seed=spec.seed)


def summary(metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The fields the report keeps of one training run."""
    keys = ("map50", "map50_95", "train_seconds", "epochs", "steps", "trainable_params",
            "peak_mem_mb", "resident_mem_mb", "transient_mem_mb", "loss_first", "loss_last")
    out = {k: metrics[k] for k in keys if k in metrics}
    out["train_s"] = out.pop("train_seconds", None)
    return {**out, **extra}


def pretrain(spec: Spec, work: Path, device: str | None) -> tuple[str, dict[str, Any]]:
    """Train YOLOv8n from the YAML on the pretraining sequence; return its weights and metrics."""
    from rinr_runtime import detector

    train, val = frames_of(spec.pretrain_sequence, spec, spec.pretrain_stride)
    data_yaml = detector.write_dataset(train, val, work / "pretrain-data", ["object"])
    log(f"[edge-training] pretraining yolov8n.yaml on {spec.pretrain_sequence}: {len(train)} "
        f"train / {len(val)} val frames, {spec.pretrain_epochs} epochs at {spec.imgsz} px")
    outcome = detector.train(data_yaml, settings_of(spec, "yolov8n.yaml", spec.pretrain_epochs,
                                                    device), workdir=work / "pretrain-yolo")
    result = summary(outcome.metrics, num_train=len(train), num_val=len(val))
    log(f"[edge-training]   -> {result}")
    return str(outcome.weights_path), result


LOSS_KEYS = ("train_loss", "train_box_loss", "train_cls_loss", "train_dfl_loss", "top_score")


def train_losses(items: dict[str, float]) -> dict[str, float]:
    """``loss_items`` under the report's names (``train_loss``, ``train_cls_loss``, ...)."""
    return {"train_loss": items["loss"], "train_box_loss": items["box_loss"],
            "train_cls_loss": items["cls_loss"], "train_dfl_loss": items["dfl_loss"],
            "top_score": items["top_score"]}


def steps_per_epoch(num_train: int, batch: int) -> int:
    """Batches per epoch of a dataloader that keeps the last partial batch."""
    return math.ceil(num_train / batch)


def start_losses(spec: Spec, start: str, data_yaml: Path, device: str | None) -> dict[str, float]:
    """The start model's losses on the target's training frames."""
    from rinr_runtime import detector
    from rinr_runtime.detector.forward_train import loss_items

    settings = settings_of(spec, start, 1, device)
    return train_losses(loss_items(detector.build_model(settings, ["object"]), data_yaml, settings))


def class_outputs(start: str, spec: Spec, device: str | None) -> list[dict[str, float]]:
    """Per Detect level of the start model: its class-output bias and the largest |weight|.

    With layer-wise scaling these are the perturbation scales ``r`` of the two tensors of
    ``head:cls-out`` (one output channel for one class).
    """
    from rinr_runtime import detector

    head = detector.build_model(settings_of(spec, start, 1, device), ["object"]).model[-1]
    return [{"bias": float(level[2].bias.detach().abs().max()),
             "weight_max": float(level[2].weight.detach().abs().max())} for level in head.cv3]


def backprop_runs(spec: Spec, start: str, data_yaml: Path, num_train: int, work: Path,
                  device: str | None) -> dict[str, list[dict[str, Any]]]:
    """Backprop from ``start``: whole model and the trainable part, one run per epoch budget."""
    from rinr_runtime import detector
    from rinr_runtime.detector.forward_train import loss_items

    runs: dict[str, list[dict[str, Any]]] = {}
    for part in dict.fromkeys(("all", spec.trainable, spec.small_part)):
        runs[part] = []
        for epochs in spec.backprop_epochs:
            log(f"[edge-training] backprop, trainable={part}, {epochs} epoch(s)")
            settings = settings_of(spec, start, epochs, device)
            outcome = detector.train(data_yaml, settings, workdir=work / f"bp-{part}-{epochs}",
                                     trainable=part)
            model = detector.build_model(settings, ["object"])
            detector.set_weights(model, outcome.weights)
            runs[part].append(summary(outcome.metrics, trainable=part,
                                      steps=epochs * steps_per_epoch(num_train, spec.batch),
                                      **train_losses(loss_items(model, data_yaml, settings))))
            log(f"[edge-training]   -> {runs[part][-1]}")
    return runs


def forward_runs(spec: Spec, start: str, data_yaml: Path, num_train: int, work: Path,
                 device: str | None) -> dict[str, dict[str, Any]]:
    """Forward gradients on the trainable part at each bit width; mAP and loss along the way.

    Float32 runs ``fg_epochs`` with ``fg_points`` measurements; 16 and 8 bits run
    ``fg_bits_epochs`` (compare them with float32's point at the same step).
    """
    from rinr_runtime import detector
    from rinr_runtime.detector.forward_train import loss_items, train_forward

    runs: dict[str, dict[str, Any]] = {}
    plan = [(str(bits), bits, spec.trainable) for bits in spec.fg_bits]
    plan += [("small", 0, spec.small_part)] if spec.small_part != spec.trainable else []
    for key, bits, part in plan:
        epochs = spec.fg_bits_epochs if bits else spec.fg_epochs
        total = epochs * steps_per_epoch(num_train, spec.batch)
        count = spec.fg_points if key == "0" else 1
        points = {max(1, round(total * (i + 1) / count)) for i in range(count)}
        settings = settings_of(spec, start, epochs, device)
        curve: list[dict[str, Any]] = []

        def measure(step: int, seconds: float, model: Any, curve: list = curve,
                    points: set = points, total: int = total, settings: Any = settings) -> None:
            if step in points and step < total:  # the final point comes from train_forward
                metrics = detector.evaluate(model, data_yaml, settings, workdir=work / "fg-eval")
                curve.append({"step": step, "train_s": seconds, "map50": metrics["map50"],
                              "map50_95": metrics["map50_95"],
                              **train_losses(loss_items(model, data_yaml, settings))})

        log(f"[edge-training] forward gradients, trainable={part}, bits={bits}, "
            f"{spec.fg_directions} directions, {total} steps")
        forward = detector.ForwardSettings(directions=spec.fg_directions, bits=bits,
                                           lr=spec.fg_lr, seed=spec.seed)
        outcome = train_forward(data_yaml, settings, forward, trainable=part,
                                workdir=work / f"fg-{key}", callback=measure)
        model = detector.build_model(settings, ["object"])
        detector.set_weights(model, outcome.weights)
        final = summary(outcome.metrics, trainable=part, bits=bits,
                        directions=spec.fg_directions,
                        **train_losses(loss_items(model, data_yaml, settings)))
        curve.append({k: final[k] for k in ("train_s", "map50", "map50_95", *LOSS_KEYS)}
                     | {"step": final["steps"]})
        runs[key] = {**final, "curve": curve}
        log(f"[edge-training]   -> {runs[key]}")
    return runs


def memory_runs(spec: Spec, start: str, train: list[Frame], val: list[Frame], work: Path,
                device: str | None) -> list[dict[str, Any]]:
    """Peak memory of one step, backprop vs forward gradients, for each part in ``memory_parts``.

    Each run trains one epoch on ``memory_batches`` batches (the step measured is the second).
    """
    from rinr_runtime import detector

    subset = train[: spec.memory_batches * spec.batch]
    data_yaml = detector.write_dataset(subset, val[:2], work / "memory-data", ["object"])
    settings = settings_of(spec, start, 1, device)
    rows = []
    for part in spec.memory_parts:
        for bits in (None, 0, 8):
            forward = None if bits is None else detector.ForwardSettings(
                directions=min(spec.fg_directions, 2), bits=bits, seed=spec.seed)
            name = "backprop" if forward is None else f"forward-gradient ({bits or 32}-bit)"
            log(f"[edge-training] memory: {name}, trainable={part}")
            outcome = detector.train(data_yaml, settings, workdir=work / f"mem-{part}-{bits}",
                                     trainable=part, forward=forward)
            m = outcome.metrics
            rows.append({"trainer": name, "trainable": part,
                         "trainable_params": m["trainable_params"],
                         "peak_mem_mb": m["peak_mem_mb"], "resident_mem_mb": m["resident_mem_mb"],
                         "transient_mem_mb": m["transient_mem_mb"]})
            log(f"[edge-training]   -> {rows[-1]}")
    return rows


def targets(runs: dict[str, list[dict[str, Any]]], trainable: str, small_part: str,
            forward: dict[str, Any], memory: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, checked on what was measured.

    mAP gaps are backprop's mAP50-95 minus forward gradients', in points, against the longest
    backprop run on the same part and against the one with the closest number of steps.
    """
    same = [(r, b) for r in memory if r["trainer"].startswith("forward")
            for b in memory if b["trainer"] == "backprop" and b["trainable"] == r["trainable"]]
    ratios = {f"{r['trainer']}, {r['trainable']}": r["peak_mem_mb"] / b["peak_mem_mb"]
              for r, b in same}
    out: dict[str, Any] = {"memory_ratio": ratios,
                           "memory_ratio_at_most_0.5": {k: v <= 0.5 for k, v in ratios.items()}}
    for bits, limit in (("0", 3.0), ("16", 3.0), ("8", 5.0), ("small", 3.0)):
        if bits not in forward:
            continue
        run = forward[bits]
        part_runs = runs[small_part if bits == "small" else trainable]
        longest = part_runs[-1]
        closest = min(part_runs, key=lambda r: abs(r["steps"] - run["steps"]))
        gap = 100 * (longest["map50_95"] - run["map50_95"])
        gap_same = 100 * (closest["map50_95"] - run["map50_95"])
        out[bits] = {"trainable": run["trainable"], "limit_points": limit,
                     "map50_95": run["map50_95"], "backprop_map50_95": longest["map50_95"],
                     "gap_points": gap, "within": gap <= limit,
                     "steps": run["steps"],
                     "backprop_steps": longest["steps"], "gap_points_closest_steps": gap_same,
                     "closest_backprop_steps": closest["steps"],
                     "within_at_closest_steps": gap_same <= limit}
    return out


def main() -> int:
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--fg-epochs", type=int, default=None, help="forward-gradient epochs")
    parser.add_argument("--fg-directions", type=int, default=None)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    parser.add_argument("--pretrained", type=Path, default=None,
                        help="start from this checkpoint instead of pretraining (the report says so)")
    args = parser.parse_args()
    apply_threads(args.threads)
    spec = QUICK if args.quick else FULL
    if args.fg_epochs is not None:
        spec = replace(spec, fg_epochs=args.fg_epochs)
    if args.fg_directions is not None:
        spec = replace(spec, fg_directions=args.fg_directions)
    if not (SHARED_DATA_DIR / spec.pretrain_sequence).is_dir():
        log(f"{SHARED_DATA_DIR} has no {spec.pretrain_sequence}: this benchmark needs the real "
            "sequences (../shared/data)")
        return 2
    from rinr_runtime import detector

    device = yolo_device(args.device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rinr-edge-training-") as tmp:
        work = args.work or Path(tmp)
        if args.pretrained is not None:
            start, pre = str(args.pretrained.resolve()), {"checkpoint": str(args.pretrained)}
        else:
            start, pre = pretrain(spec, work, device)
        train, val = frames_of(spec.target_sequence, spec, spec.target_stride)
        data_yaml = detector.write_dataset(train, val, work / "target-data", ["object"])
        zero = detector.evaluate(start, data_yaml, settings_of(spec, start, 1, device),
                                 workdir=work / "target-data")
        zero.update(start_losses(spec, start, data_yaml, device))
        log(f"[edge-training] target {spec.target_sequence}: {len(train)} train / {len(val)} "
            f"val frames; pretrained mAP50-95 there {zero['map50_95']:.3f}")
        outputs = class_outputs(start, spec, device)
        memory = memory_runs(spec, start, train, val, work, device)
        bp = backprop_runs(spec, start, data_yaml, len(train), work, device)
        fg = forward_runs(spec, start, data_yaml, len(train), work, device)
    backprop = {**bp[spec.trainable][-1], "whole_model": bp["all"][-1], "runs": bp}
    data = {
        "environment": environment(args.device), "command": reproduce_command(),
        "spec": asdict(spec), "wall_s": time.perf_counter() - started, "pretrain": pre,
        "target": {"sequence": spec.target_sequence, "num_train": len(train),
                   "num_val": len(val), "pretrained_map": zero, "class_outputs": outputs},
        "backprop": backprop,
        "forward_gradient": {**fg[str(spec.fg_bits[0])],
                             "bits": {k: v for k, v in fg.items() if k != "small"}},
        "forward_gradient_small_part": fg.get("small"),
        "memory": memory,
        "targets": targets(bp, spec.trainable, spec.small_part, fg, memory),
    }
    md = markdown(data)
    write_results(output_dir(args), "edge_training", md, data)
    print(to_json(data) if args.json else md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
