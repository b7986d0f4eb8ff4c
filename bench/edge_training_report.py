"""The markdown report of ``bench/edge_training.py`` (tables from its JSON data)."""

from __future__ import annotations

from typing import Any

from common import environment_line

from rinr_core.tables import markdown_table

BITS_NAME = {"0": "float32", "16": "16-bit", "8": "8-bit"}


def _f(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


LOSS_HEADERS = ["loss", "box", "cls", "dfl", "top score"]


def _losses(r: dict[str, Any]) -> list[str]:
    return [_f(r.get("train_loss"), 2), _f(r.get("train_box_loss"), 2),
            _f(r.get("train_cls_loss"), 2), _f(r.get("train_dfl_loss"), 2),
            _f(r.get("top_score"), 3)]


def _memory_table(memory: list[dict[str, Any]]) -> str:
    backprop = {r["trainable"]: r["peak_mem_mb"] for r in memory if r["trainer"] == "backprop"}
    rows = [[r["trainer"], f"`{r['trainable']}`", r["trainable_params"], _f(r["peak_mem_mb"], 1),
             _f(r["resident_mem_mb"], 1), _f(r["transient_mem_mb"], 1),
             _f(r["peak_mem_mb"] / backprop[r["trainable"]], 2) if r["trainable"] in backprop
             else "-"] for r in memory]
    return markdown_table(["trainer", "trainable", "params", "peak MiB", "resident MiB",
                           "transient MiB", "peak / backprop"], rows)


def _runs_table(data: dict[str, Any]) -> str:
    rows = []
    for part, runs in data["backprop"]["runs"].items():
        for r in runs:
            rows.append([f"backprop, `{part}`", r["epochs"], r["steps"], _f(r["train_s"], 1),
                         _f(r["map50"]), _f(r["map50_95"]), *_losses(r),
                         _f(r.get("peak_mem_mb"), 1)])
    for bits, r in data["forward_gradient"]["bits"].items():
        rows.append([f"forward gradient {BITS_NAME[bits]}, `{r['trainable']}`, "
                     f"{r['directions']} directions", r["epochs"], r["steps"],
                     _f(r["train_s"], 1), _f(r["map50"]), _f(r["map50_95"]),
                     *_losses(r), _f(r.get("peak_mem_mb"), 1)])
    return markdown_table(["trainer", "epochs", "steps", "train s", "mAP50", "mAP50-95",
                           *LOSS_HEADERS, "peak MiB"], rows)


def _curve_table(data: dict[str, Any]) -> str:
    rows = []
    for bits, r in data["forward_gradient"]["bits"].items():
        for point in r["curve"]:
            rows.append([BITS_NAME[bits], point["step"], _f(point["train_s"], 1),
                         _f(point["map50"]), _f(point["map50_95"]), *_losses(point)])
    return markdown_table(["forward gradient", "step", "train s", "mAP50", "mAP50-95",
                           *LOSS_HEADERS], rows)


def _targets(data: dict[str, Any]) -> list[str]:
    t = data["targets"]
    lines = []
    for name, ratio in t["memory_ratio"].items():
        verdict = "meets" if ratio <= 0.5 else "misses"
        lines.append(f"- Peak memory, {name}: {ratio:.2f}x backprop's on the same part "
                     f"({verdict} the <= 0.5x target).")
    for bits in ("0", "16", "8"):
        if bits not in t:
            continue
        g = t[bits]
        verdict = "meets" if g["within"] else "misses"
        verdict_same = "meets" if g["within_at_closest_steps"] else "misses"
        lines.append(
            f"- mAP50-95, {BITS_NAME[bits]} forward gradients vs backprop on the same part: "
            f"{g['gap_points']:+.1f} points behind backprop's {g['backprop_steps']}-step run "
            f"({verdict} the within-{g['limit_points']:g}-points target) after {g['steps']} steps, "
            f"{g['gap_points_closest_steps']:+.1f} behind its {g['closest_backprop_steps']}-step "
            f"run ({verdict_same} it at about the same number of steps).")
    return lines


def markdown(data: dict[str, Any]) -> str:
    """The report: setup, memory, accuracy over steps and time, targets, how to reproduce."""
    spec, pre, target = data["spec"], data["pretrain"], data["target"]
    bp, fg = data["backprop"], data["forward_gradient"]
    start = (f"- Start: the checkpoint `{pre['checkpoint']}` (not pretrained in this run)."
             if "checkpoint" in pre else
             f"- Start: YOLOv8n trained from `yolov8n.yaml` on `{spec['pretrain_sequence']}` "
             f"({pre['num_train']} train / {pre['num_val']} held-out JPEG frames, longer side "
             f"{spec['max_side']} px, {spec['pretrain_epochs']} epochs at {spec['imgsz']} px, "
             f"batch {spec['batch']}, {_f(pre['train_s'], 0)} s): mAP50-95 "
             f"{_f(pre['map50_95'])} on its held-out frames.")
    return "\n".join([
        "# Edge training: backprop vs forward gradients",
        "",
        f"Measured {environment_line(data['environment'])}; whole benchmark "
        f"{data['wall_s'] / 60:.1f} min.",
        "",
        "## Setup",
        "",
        start,
        f"- Fine-tuning: `{target['sequence']}` (every {spec['target_stride']}th frame, every "
        f"{spec['val_every']}th of them held out: {target['num_train']} train / "
        f"{target['num_val']} val original JPEGs); the start model scores mAP50-95 "
        f"{_f(target['pretrained_map']['map50_95'])} there. Same image size and batch for "
        "every trainer; mAP from `rinr_runtime.detector.evaluate` on the held-out JPEGs.",
        f"- Backprop: Ultralytics' trainer (AdamW, automatic lr, EMA), whole model and "
        f"`trainable = {spec['trainable']}` (the rest frozen); one run per epoch budget "
        f"{list(spec['backprop_epochs'])}, each from the start model.",
        f"- Forward gradients (`rinr_runtime.detector.forward`): SPSA, {spec['fg_directions']} "
        f"directions per step, layer-wise perturbation scaling, momentum 0.9, normalized "
        f"steps of relative size {spec['fg_lr']:g} decaying linearly to a tenth, "
        f"`trainable = {spec['trainable']}`, frozen "
        f"prefix under `no_grad` in chunks of 4 images, BatchNorm on running statistics; "
        f"{spec['fg_epochs']} epochs at float32, {spec['fg_bits_epochs']} at 16 and 8 bits. "
        "16 and 8 bits: the whole model in simulated fixed point "
        "(per-channel weights, per-tensor activations, perturbations on the weight grid, "
        "stochastic rounding of updates; `rinr_runtime.detector.quantized`), evaluated in "
        "float32 with its dequantized weights.",
        "- Memory: peak bytes of one training step (the second), resident (model, EMA, optimizer "
        "state or momentum) + transient (allocations above the step's start, from "
        "`torch.profiler` on a CPU, `torch.cuda.max_memory_allocated` on a GPU); tensors in "
        "the simulation are float32, a fixed-point device would hold the quantized ones in "
        "16 or 8 bits.",
        "",
        "## Peak memory of one training step",
        "",
        _memory_table(data["memory"]),
        "",
        f"Measured on {spec['memory_batches']} batches of {spec['batch']} at {spec['imgsz']} px "
        "(forward gradients with 2 directions: their count changes time, not memory).",
        "",
        "## mAP over steps and wall-clock",
        "",
        _runs_table(data),
        "",
        _curve_table(data),
        "",
        "*loss, box, cls, dfl*: Ultralytics' detection loss per image and its parts (with its "
        "gains) on the training frames without augmentation, BatchNorm on running statistics "
        "(`rinr_runtime.detector.forward_train.loss_items`), at the end of each run or at "
        "each measured step; *top score*: the median over those images of the highest class "
        f"score of any anchor. The start model: loss {_f(target['pretrained_map'].get('train_loss'), 2)}, "
        f"cls {_f(target['pretrained_map'].get('train_cls_loss'), 2)}, top score "
        f"{_f(target['pretrained_map'].get('top_score'), 3)}.",
        "",
        f"Backprop on the part reached mAP50-95 {_f(bp['map50_95'])} in {_f(bp['train_s'], 1)} s "
        f"({bp['steps']} steps); forward gradients (float32) {_f(fg['map50_95'])} in "
        f"{_f(fg['train_s'], 1)} s ({fg['steps']} steps).",
        "",
        "## Targets",
        "",
        *_targets(data),
        "",
        f"Reproduce: `{data['command']}`",
    ])
