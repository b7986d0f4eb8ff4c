"""The markdown report of ``bench/edge_training.py`` (tables from its JSON data)."""

from __future__ import annotations

from typing import Any

from common import environment_line

from rinr_core.tables import markdown_table

BITS_NAME = {"0": "float32", "16": "16-bit", "8": "8-bit", "small": "float32"}


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


def _forward_runs(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(bits key, run) of every forward-gradient run, the small part's last."""
    runs = list(data["forward_gradient"]["bits"].items())
    small = data.get("forward_gradient_small_part")
    return runs + ([("small", small)] if small else [])


def _behind(points: float) -> str:
    """A gap in mAP points as words: ``52.0 points behind`` or ``1.5 points ahead of``."""
    return f"{points:.1f} points behind" if points >= 0 else f"{-points:.1f} points ahead of"


def _runs_table(data: dict[str, Any]) -> str:
    rows = []
    for part, runs in data["backprop"]["runs"].items():
        for r in runs:
            rows.append([f"backprop, `{part}`", r["epochs"], r["steps"], _f(r["train_s"], 1),
                         _f(r["map50"]), _f(r["map50_95"]), *_losses(r),
                         _f(r.get("peak_mem_mb"), 1)])
    for bits, r in _forward_runs(data):
        rows.append([f"forward gradient {BITS_NAME[bits]}, `{r['trainable']}`, "
                     f"{r['directions']} directions", r["epochs"], r["steps"],
                     _f(r["train_s"], 1), _f(r["map50"]), _f(r["map50_95"]),
                     *_losses(r), _f(r.get("peak_mem_mb"), 1)])
    return markdown_table(["trainer", "epochs", "steps", "train s", "mAP50", "mAP50-95",
                           *LOSS_HEADERS, "peak MiB"], rows)


def _curve_table(data: dict[str, Any]) -> str:
    rows = []
    for bits, r in _forward_runs(data):
        for point in r["curve"]:
            rows.append([f"{BITS_NAME[bits]}, `{r['trainable']}`", point["step"], _f(point["train_s"], 1),
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
    for bits in ("0", "16", "8", "small"):
        if bits not in t:
            continue
        g = t[bits]
        verdict = "meets" if g["within"] else "misses"
        verdict_same = "meets" if g["within_at_closest_steps"] else "misses"
        part = g.get("trainable", "")
        lines.append(
            f"- mAP50-95, {BITS_NAME[bits]} forward gradients vs backprop on the same part "
            f"(`{part}`): {_behind(g['gap_points'])} backprop's {g['backprop_steps']}-step run "
            f"({verdict} the within-{g['limit_points']:g}-points target) after {g['steps']} "
            f"steps; {_behind(g['gap_points_closest_steps'])} its "
            f"{g['closest_backprop_steps']}-step run ({verdict_same} it at about the same "
            "number of steps)"
            + (": neither trainer reached any mAP, so this says nothing." if
               g.get("map50_95") == 0 and g.get("backprop_map50_95") == 0 else "."))
    return lines


def _cosine(directions: int, params: int) -> str:
    """sqrt(K / P), the expected cosine of a K-direction estimate to a P-dim gradient."""
    return f"{(directions / max(params, 1)) ** 0.5:.3f}"


def _diagnosis(data: dict[str, Any]) -> list[str]:
    """Why forward gradients lower the loss and still reach no mAP, from the measured parts."""
    start, fg = data["target"]["pretrained_map"], data["forward_gradient"]
    bp_part = data["backprop"]
    collapsed = ("train_cls_loss" in start and "train_cls_loss" in fg
                 and fg["map50_95"] == 0 < bp_part["map50_95"]
                 and fg["top_score"] < start["top_score"] > 0)
    if not collapsed:
        return ["- Nothing to explain: forward gradients reached some mAP, or backprop none, or "
                "the class scores did not fall (a quick run is too short to say)."]
    lines = [
        f"- Forward gradients on `{fg['trainable']}` lower the loss through its class term: "
        f"cls {_f(start['train_cls_loss'], 2)} -> {_f(fg['train_cls_loss'], 2)}, box "
        f"{_f(start['train_box_loss'], 2)} -> {_f(fg['train_box_loss'], 2)}, while the median "
        f"top class score falls from {_f(start['top_score'])} to {_f(fg['top_score'])}: every "
        "anchor's score goes down (the start model's confident false positives cost the most "
        "loss), the object's with them. "
        + ("The top scores stay above the validator's 0.001 confidence floor, so it is the "
           "ranking that fails: the object's anchors do not rise above the background's. "
           if fg["top_score"] > 0.001 else
           "The top scores end below the validator's 0.001 confidence floor. ")
        + "Backprop on the same part goes through the same dip (see its 1-epoch run) and then "
        f"raises the object's anchors (top score {_f(bp_part['top_score'])} after "
        f"{bp_part['steps']} steps).",
        "- The estimate is the limit, not the loss: with K directions in P weights a forward "
        "gradient's cosine to the gradient is about sqrt(K / P) "
        f"({_cosine(fg['directions'], fg['trainable_params'])} here), so the largest, "
        "common component (all class scores down) is found quickly and the small, "
        "object-specific one that lifts the object's anchors is lost in the noise.",
    ]
    outputs = data["target"].get("class_outputs")
    if outputs:
        ratio = min(o["bias"] / max(o["weight_max"], 1e-12) for o in outputs)
        lines.append(
            "- Layer-wise scaling sets each tensor's perturbation and step scale to its "
            "channel's largest magnitude: the class-output biases of the start model are "
            + ", ".join(f"{o['bias']:.2f}" for o in outputs)
            + " in magnitude against weights of at most "
            + ", ".join(f"{o['weight_max']:.2f}" for o in outputs)
            + f" ({ratio:.0f}x or more), so the step (which follows `r**2 * grad`) moves "
            "the biases, the overall score level, far more than the weights that rank anchors. "
            "(Not the whole story: in a side run outside this command, 40 steps on "
            "`head:cls-out` without layer scaling, mAP50-95 stayed 0.000 too.)")
    small = data.get("forward_gradient_small_part")
    runs = data["backprop"]["runs"].get(small["trainable"]) if small else None
    if small and runs and runs[-1]["map50_95"] < bp_part["map50_95"]:
        lines.append(
            f"- A much smaller part, `{small['trainable']}` ({small['trainable_params']} "
            f"weights), gives {small['directions']} directions an estimate near the gradient "
            f"(cosine about {_cosine(small['directions'], small['trainable_params'])}), "
            f"but it is too small a part: backprop on it reaches mAP50-95 "
            f"{_f(runs[-1]['map50_95'])} in {runs[-1]['steps']} steps, forward gradients "
            f"{_f(small['map50_95'])} in {small['steps']}.")
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
        f"- Backprop: Ultralytics' trainer (AdamW, automatic lr, EMA), whole model, "
        f"`trainable = {spec['trainable']}` and `trainable = {spec.get('small_part', '-')}` "
        "(the rest frozen); one run per epoch budget "
        f"{list(spec['backprop_epochs'])}, each from the start model. `head:cls-out`: only the "
        "classification branch's output 1x1 convolutions of the Detect head (195 weights for "
        "one class), a part small enough for a few random directions to point near the "
        "gradient.",
        f"- Forward gradients (`rinr_runtime.detector.forward`): SPSA, {spec['fg_directions']} "
        f"directions per step, layer-wise perturbation scaling, momentum 0.9, normalized "
        f"steps of relative size {spec['fg_lr']:g} decaying linearly to a tenth, "
        f"`trainable = {spec['trainable']}`, frozen "
        f"prefix under `no_grad` in chunks of 4 images, BatchNorm on running statistics; "
        f"{spec['fg_epochs']} epochs at float32, {spec['fg_bits_epochs']} at 16 and 8 bits; "
        f"also {spec['fg_epochs']} epochs at float32 on `{spec.get('small_part', '-')}`. "
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
        "## Why forward gradients reach no mAP",
        "",
        *_diagnosis(data),
        "",
        "## Targets",
        "",
        *_targets(data),
        "",
        f"Reproduce: `{data['command']}`",
    ])
