"""Weight codecs in FedAvg and fog placement: weight bytes per round and final mAP50-95.

Runs the real runtime (the ServerApp against the ClientApp on a :class:`fog.local_grid.LocalGrid`,
nodes one after another in this process) on the shared real sequences, once per weight codec
(``fp32``, ``fp16``, ``int8``, ``sgq`` at 4 and 2 bits) and seed:

1. **Pretraining** (once, cached under ``out/bench-weights/``): YOLOv8n from the YAML on frames
   of the same sequences that no node owns (the frames after the nodes' ones), so that the
   federated rounds fine-tune a detector with a clearly non-zero mAP; the checkpoint is the
   runs' ``model`` (both sides build it: it is the base of the first weight deltas).
2. **FedAvg** (``aggregation = fedavg``, ``placement = edge``): every node fine-tunes on its
   own frames plus everybody's relayed JPEGs (``codec = jpeg``: the frames are not what is
   measured here) and the fog averages; mAP50-95 of the global model on every node's held-out
   original JPEGs after the last round (the evaluate phase, averaged over nodes by Flower).
3. **Fog placement** (``placement = fog``): the fog trains on the collected JPEGs and sends
   its model to every node each round.
4. **Plan**: ``rinr plan``'s fog/edge crossover (devices from which training at the fog moves
   fewer bytes than at the edges) with the weights sized by each codec (``--weight-codec``).

Weight bytes are the run report's ledger (Flower 1.41 message bytes) of the train and evaluate
phases. The default is the issue's configuration (5 nodes, 10 rounds, 2 seeds); ``--quick``
checks the script end to end in minutes; the results file says which configuration ran.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    REPO_ROOT,
    SHARED_DATA_DIR,
    apply_threads,
    bench_parser,
    environment,
    environment_line,
    log,
    output_dir,
    reproduce_command,
    to_json,
    write_results,
)

KEEP_LIMIT = 1000
"""Payload bytes below which a weights message is a keep message (no tensors)."""
CODECS = {"fp32": ("fp32", 4), "fp16": ("fp16", 4), "int8": ("int8", 8), "sgq-4": ("sgq", 4),
          "sgq-2": ("sgq", 2)}
"""Benchmark name -> (``weight-codec``, ``weight-bits``)."""
SEQUENCES = ("Crossing", "uav123_boat1", "uav123_wakeboard7", "vot_bag")
"""The shared sequences in the order ``edge.data`` assigns them (sorted folder names)."""


@dataclass(frozen=True)
class Spec:
    """What one benchmark run measures (defaults: the issue's full configuration)."""

    nodes: int = 5
    rounds: int = 10
    seeds: tuple[int, ...] = (0, 1)
    codecs: tuple[str, ...] = tuple(CODECS)
    fog_codecs: tuple[str, ...] = ("fp32", "sgq-4")
    frames_per_node: int = 24
    val_every: int = 5
    max_side: int = 160
    epochs: int = 1
    imgsz: int = 128
    batch: int = 8
    lr0: float = 0.0005
    pretrain_epochs: int = 60
    pretrain_frames: int = 40
    pretrain_lr0: float = 0.002

    @property
    def full(self) -> bool:
        """Whether this is at least the issue's configuration."""
        return (self.nodes >= 5 and self.rounds >= 10 and len(self.seeds) >= 2
                and set(CODECS) <= set(self.codecs))


QUICK = Spec(nodes=2, rounds=2, seeds=(0,), frames_per_node=10, epochs=1, imgsz=64, batch=4,
             pretrain_epochs=3, pretrain_frames=8)


# --- pretraining ---------------------------------------------------------------------------


def pretrain(spec: Spec, data: Path, cache: Path) -> dict[str, Any]:
    """A YOLOv8n checkpoint trained on frames no node owns; cached by its settings."""
    from rinr_core.datasets import load_sequence
    from rinr_core.frames import Frame
    from rinr_core.images import load_image
    from rinr_runtime import detector

    key = {"epochs": spec.pretrain_epochs, "frames": spec.pretrain_frames, "imgsz": spec.imgsz,
           "lr0": spec.pretrain_lr0, "max_side": spec.max_side, "skip": _skip(spec),
           "batch": spec.batch, "version": 1}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache / f"pretrain-{digest}"
    done = folder / "pretrain.json"
    if done.is_file():
        log(f"[weights] pretrained detector from the cache: {folder}")
        return json.loads(done.read_text())
    frames = []
    for name in SEQUENCES:
        loaded = load_sequence(data / name, max_side=spec.max_side, keep_jpeg=True).frames
        start = _skip(spec)[name]
        frames += [Frame(load_image(f.meta["jpeg"]), f.box, f.name, "object")
                   for f in loaded[start::2][: spec.pretrain_frames]]
    train = [f for i, f in enumerate(frames) if i % 8]
    val = [f for i, f in enumerate(frames) if i % 8 == 0]
    log(f"[weights] pretraining YOLOv8n on {len(train)} frames no node owns "
        f"({spec.pretrain_epochs} epochs, {spec.imgsz} px)")
    yaml = detector.write_dataset(train, val, folder / "dataset", ["object"])
    settings = detector.TrainSettings(epochs=spec.pretrain_epochs, imgsz=spec.imgsz,
                                      batch=spec.batch, device="cpu", lr0=spec.pretrain_lr0)
    start_s = time.perf_counter()
    outcome = detector.train(yaml, settings, workdir=folder / "yolo")
    result = {"checkpoint": str(outcome.weights_path), "train_frames": len(train),
              "val_frames": len(val), "seconds": round(time.perf_counter() - start_s, 1),
              "map50": outcome.metrics["map50"], "map50_95": outcome.metrics["map50_95"],
              **key}
    done.write_text(json.dumps(result, indent=1))
    return result


def _skip(spec: Spec) -> dict[str, int]:
    """Frames of each sequence the nodes own (they take the first ones): pretraining skips them."""
    shares = {name: sum(1 for p in range(spec.nodes) if p % len(SEQUENCES) == i)
              for i, name in enumerate(SEQUENCES)}
    return {name: spec.frames_per_node * max(1, n) for name, n in shares.items()}


# --- runs ----------------------------------------------------------------------------------


def run_config(spec: Spec, codec: str, seed: int, placement: str, model: str,
               data: Path, work: Path) -> dict[str, Any]:
    """The run_config of one run."""
    weight_codec, bits = CODECS[codec]
    return {
        "num-server-rounds": spec.rounds, "min-nodes": spec.nodes, "node-wait-s": 1.0,
        "codec": "jpeg", "placement": placement,
        "aggregation": "fedavg" if placement == "edge" else "independent",
        "weight-codec": weight_codec, "weight-bits": bits, "model": model,
        "epochs": spec.epochs, "imgsz": spec.imgsz, "batch": spec.batch, "lr0": spec.lr0,
        "data": str(data), "frames-per-node": spec.frames_per_node, "frames-per-round": 0,
        "val-every": spec.val_every, "max-side": spec.max_side, "seed": seed,
        "run-dir": str(work / "run"), "edge-dir": str(work / "edge"), "cache-dir": "",
        "device": "cpu",
    }


def run_once(config: dict[str, Any], nodes: int) -> dict[str, Any]:
    """Run the ServerApp on a LocalGrid of ``nodes``; return the run report."""
    from flwr.app import Context, RecordDict

    from edge.client_app import app as client_app
    from fog.local_grid import LocalGrid
    from fog.server_app import app as server_app
    from fog.server_app import report_path

    grid = LocalGrid(client_app, num_nodes=nodes, run_config=config)
    context = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(),
                      run_config=config)
    server_app(grid=grid, context=context)
    path = report_path(context)
    assert path is not None
    return json.loads(path.read_text())


def summarize(report: dict[str, Any], name: str, seed: int, placement: str,
              seconds: float) -> dict[str, Any]:
    """Weight bytes per round and direction, and the global model's mAP per round."""
    rounds = len(report["rounds"])
    per_round: list[dict[str, int]] = [{"down": 0, "up": 0, "messages": 0} for _ in range(rounds)]
    carrying = []  # wire bytes of the messages that carry weights (keep messages aside)
    for row in report["ledger"]:
        if row["phase"] in ("train", "evaluate") and row["payload_bytes"] > 0:
            cell = per_round[row["round"] - 1]
            cell[row["direction"]] += int(row["wire_bytes"])
            cell["messages"] += 1
            if row["payload_bytes"] > KEEP_LIMIT:
                carrying.append(int(row["wire_bytes"]))
    maps = [r.get("aggregate", {}).get("evaluate", {}) for r in report["rounds"]]
    last = maps[-1] if maps else {}
    return {
        "codec": name, "seed": seed, "placement": placement,
        "status": report["summary"]["status"], "errors": len(report["summary"]["errors"]),
        "weight_bytes_per_round": per_round,
        "weight_bytes": sum(c["down"] + c["up"] for c in per_round),
        "weight_messages": sum(c["messages"] for c in per_round),
        "bytes_per_weights_message": float(np.mean(carrying)) if carrying else None,
        "keep_messages": sum(c["messages"] for c in per_round) - len(carrying),
        "map50_per_round": [m.get("map50") for m in maps],
        "map50_95_per_round": [m.get("map50_95") for m in maps],
        "map50": last.get("map50"), "map50_95": last.get("map50_95"),
        "seconds": round(seconds, 1),
    }


def run_all(spec: Spec, data: Path, model: str, work: Path, reuse: bool = False
            ) -> list[dict[str, Any]]:
    """Every (placement, codec, seed) run of ``spec`` (``reuse``: read finished runs' reports)."""
    todo = [("edge", c, s) for s in spec.seeds for c in spec.codecs]
    todo += [("fog", c, s) for s in spec.seeds for c in spec.fog_codecs]
    results = []
    for k, (placement, codec, seed) in enumerate(todo, start=1):
        folder = work / f"{placement}-{codec}-seed{seed}"
        config = run_config(spec, codec, seed, placement, model, data, folder)
        log(f"[weights] run {k}/{len(todo)}: {placement} {codec} seed {seed}")
        done = folder / "run" / "report.json"
        start = time.perf_counter()
        if reuse and done.is_file():
            report = json.loads(done.read_text())
            seconds = report["summary"].get("seconds") or 0.0
        else:
            shutil.rmtree(folder, ignore_errors=True)  # a node's old store would hold acks
            report = run_once(config, spec.nodes)
            seconds = time.perf_counter() - start
        results.append(summarize(report, codec, seed, placement, seconds))
        log(f"[weights]   {results[-1]['weight_bytes'] / 1e6:.2f} MB of weights, "
            f"mAP50-95 {results[-1]['map50_95']}, {results[-1]['seconds']} s")
    return results


# --- sizes and the plan ---------------------------------------------------------------------


def codec_sizes(model: str) -> dict[str, dict[str, Any]]:
    """``rinr weights`` of the pretrained checkpoint under every codec."""
    from rinr_runtime.cli import weights_report
    from rinr_runtime.weight_link import initial_model

    weights, names = initial_model(model, ["object"])
    return {name: weights_report(weights, codec, bits, names)
            for name, (codec, bits) in CODECS.items()}


def plan_crossovers(spec: Spec) -> dict[str, Any]:
    """``rinr plan --weight-codec``: devices from which fog training moves fewer bytes."""
    from rinr_runtime.cli import build_parser
    from rinr_runtime.planning import crossover_devices
    from rinr_runtime.planning.cli import inputs_from_args

    argv = ["plan", "--rounds", str(spec.rounds), "--frames-per-device", "300"]
    out: dict[str, Any] = {"argv": " ".join(argv), "codecs": {}}
    for name, (codec, bits) in CODECS.items():
        args = build_parser().parse_args([*argv, "--weight-codec", codec, "--weight-bits",
                                          str(bits)])
        inputs = inputs_from_args(args)
        out["codecs"][name] = {
            "model_bytes": inputs.model_bytes,
            "crossover_devices": {c: crossover_devices(inputs, c, 200)
                                  for c in ("jpeg", "rapid-inr", "residual-inr")}}
    return out


# --- report ---------------------------------------------------------------------------------


def _mean(values: list[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return float(np.mean(numbers)) if numbers else None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def aggregate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (placement, codec): means over seeds, ratios against fp32."""
    rows = []
    for placement in ("edge", "fog"):
        base = [r for r in results if r["placement"] == placement and r["codec"] == "fp32"]
        fp32_bytes = _mean([r["weight_bytes"] for r in base])
        fp32_map = _mean([r["map50_95"] for r in base])
        for codec in CODECS:
            runs = [r for r in results if r["placement"] == placement and r["codec"] == codec]
            if not runs:
                continue
            weight = _mean([r["weight_bytes"] for r in runs]) or 0.0
            rounds = len(runs[0]["weight_bytes_per_round"])
            map95 = _mean([r["map50_95"] for r in runs])
            message = _mean([r["bytes_per_weights_message"] for r in runs])
            fp32_message = _mean([r["bytes_per_weights_message"] for r in base])
            rows.append({
                "placement": placement, "codec": codec, "seeds": len(runs),
                "weight_mb_per_round": weight / rounds / 1e6,
                "mb_per_weights_message": message / 1e6 if message else None,
                "message_ratio_vs_fp32": fp32_message / message if message and fp32_message
                else None,
                "keep_messages": sum(r["keep_messages"] for r in runs) // len(runs),
                "ratio_vs_fp32": fp32_bytes / weight if fp32_bytes and weight else None,
                "map50": _mean([r["map50"] for r in runs]), "map50_95": map95,
                "map50_95_vs_fp32_points": (100 * (map95 - fp32_map)
                                            if map95 is not None and fp32_map is not None
                                            else None),
                "completed": all(r["status"] == "completed" for r in runs),
            })
    return rows


def markdown(spec: Spec, data: dict[str, Any]) -> str:
    """The results file."""
    from rinr_core.tables import markdown_table

    pre, rows, sizes, plan = data["pretrain"], data["rows"], data["sizes"], data["plan"]
    state = ("the issue's full configuration" if spec.full else
             "a **reduced** configuration: the full one (5 nodes, 10 rounds, 2 seeds, every "
             "codec) is **pending** (it takes hours on this 2-core shared CPU; rerun without "
             "`--nodes/--rounds/--seeds` options)")
    lines = [
        "# Weight codecs: FedAvg and fog placement", "",
        f"Measured {environment_line(data['environment'])}."
        + (" Tables rebuilt (`--reuse`) from the reports of runs made earlier with the same "
           "command on this machine." if data.get("reused_runs") else ""), "",
        f"Command: `{data['command']}`", "",
        f"Configuration measured: {state}. {spec.nodes} nodes on the 4 shared sequences "
        f"(node p takes sequence p mod 4; nodes sharing one interleave its frames), "
        f"{spec.frames_per_node} frames per node at {spec.max_side} px, every "
        f"{spec.val_every}th held out (validation on the original JPEGs), {spec.rounds} "
        f"rounds, seeds {', '.join(map(str, spec.seeds))}; YOLOv8n, {spec.epochs} epoch(s) "
        f"per round at {spec.imgsz} px, batch {spec.batch}, lr0 {spec.lr0}; frames relayed as "
        "JPEG (`codec = jpeg`); LocalGrid (the real ServerApp and ClientApp in one process).",
        "",
        f"Start model: YOLOv8n pretrained from the YAML for {pre['epochs']} epochs on "
        f"{pre['train_frames']} frames of the same sequences that no node owns (mAP50 "
        f"{_fmt(pre['map50'])}, mAP50-95 {_fmt(pre['map50_95'])} on {pre['val_frames']} of "
        "them), so the rounds fine-tune a detector whose mAP means something."
        + ("" if (pre["map50_95"] or 0) > 0.05 else " **Here it did not train long enough: "
           "the mAP columns compare near-zero numbers and prove nothing.**"), "",
        "## Weight bytes per round and final accuracy", "",
        "Weight bytes: every train and evaluate message (both directions, Flower wire bytes "
        "from the run report's ledger), per round, mean over seeds. *Per message*: the mean "
        "of the messages that carry weights; the others are *keep* messages (under 1 KB: "
        "FedAvg's train message repeats the model the evaluate phase delivered, which every "
        "codec but fp32 does not send again). mAP: the global model after the last round on "
        f"every node's held-out frames ({spec.frames_per_node // spec.val_every} a node, "
        f"{spec.nodes * (spec.frames_per_node // spec.val_every)} in all: differences under "
        "about a point are within what one frame's box changes).", "",
        markdown_table(
            ["placement", "codec", "seeds", "weight MB / round", "vs fp32", "MB / message",
             "vs fp32", "keep msgs", "mAP50", "mAP50-95", "mAP50-95 vs fp32 (points)",
             "completed"],
            [[r["placement"], r["codec"], str(r["seeds"]), f"{r['weight_mb_per_round']:.2f}",
              _fmt(r["ratio_vs_fp32"], 1) + "x" if r["ratio_vs_fp32"] else "-",
              _fmt(r["mb_per_weights_message"], 2),
              _fmt(r["message_ratio_vs_fp32"], 1) + "x" if r["message_ratio_vs_fp32"] else "-",
              str(r["keep_messages"]),
              _fmt(r["map50"]), _fmt(r["map50_95"]),
              _fmt(r["map50_95_vs_fp32_points"], 1), "yes" if r["completed"] else "no"]
             for r in rows], align=["l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "l"]),
        "",
        "## One full weights message of the start model (`rinr weights`)", "",
        markdown_table(
            ["codec", "bytes", "vs fp32", "bits/weight", "rel. L2 error", "encode s",
             "decode s"],
            [[k, f"{v['bytes']:,}", f"{v['ratio']:.2f}x", f"{v['bits_per_weight']:.2f}",
              f"{v['rel_error']:.2e}", f"{v['encode_s']:.2f}", f"{v['decode_s']:.2f}"]
             for k, v in sizes.items()], align=["l", "r", "r", "r", "r", "r", "r"]),
        "",
        "## Fog/edge crossover (`rinr plan --weight-codec`)", "",
        f"`rinr {plan['argv']} --weight-codec C`: number of devices from which training at the "
        "fog moves fewer bytes than training at the edges (`never`: not up to 200 devices), "
        "with the weights of yolov8n.yaml sized by each codec.", "",
        markdown_table(
            ["codec", "weights MB", "jpeg", "rapid-inr", "residual-inr"],
            [[k, f"{v['model_bytes'] / 1e6:.2f}",
              *[str(v["crossover_devices"][c] or "never")
                for c in ("jpeg", "rapid-inr", "residual-inr")]]
             for k, v in plan["codecs"].items()], align=["l", "r", "r", "r", "r"]),
        "",
        "Per-run numbers (bytes per round, mAP per round, times): `weights.json`.",
    ]
    return "\n".join(lines)


def main() -> int:
    """Run the benchmark (see the module docstring)."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, help="edge nodes (default 5)")
    parser.add_argument("--rounds", type=int, help="rounds (default 10)")
    parser.add_argument("--seeds", help="comma-separated seeds (default 0,1)")
    parser.add_argument("--codecs", help=f"comma-separated, of {','.join(CODECS)}")
    parser.add_argument("--fog-codecs", help="codecs of the fog-placement runs (default fp32,sgq-4)")
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR)
    parser.add_argument("--reuse", action="store_true",
                        help="read the reports of runs already under out/bench-weights*/runs "
                             "instead of running them again")
    args = parser.parse_args()
    apply_threads(args.threads)
    spec = QUICK if args.quick else Spec()
    for key in ("nodes", "rounds"):
        if getattr(args, key) is not None:
            spec = replace(spec, **{key: getattr(args, key)})
    if args.seeds:
        spec = replace(spec, seeds=tuple(int(s) for s in args.seeds.split(",")))
    for key in ("codecs", "fog_codecs"):
        if getattr(args, key) is not None:
            spec = replace(spec, **{key: tuple(c for c in getattr(args, key).split(",") if c)})
    unknown = sorted(set(spec.codecs + spec.fog_codecs) - set(CODECS))
    if unknown or not args.data.is_dir():
        parser.error(f"unknown codecs {unknown}" if unknown else f"no data at {args.data}")
    env = environment(args.device or "cpu")
    work = REPO_ROOT / "out" / ("bench-weights-quick" if args.quick else "bench-weights")
    pre = pretrain(spec, args.data, REPO_ROOT / "out" / "bench-weights")
    results = run_all(spec, args.data, pre["checkpoint"], work / "runs", reuse=args.reuse)
    argv = [a for a in sys.argv[1:] if a != "--reuse"]
    data = {"environment": env, "command": reproduce_command(argv=argv), "spec": asdict(spec),
            "reused_runs": args.reuse,
            "full_configuration": spec.full, "pretrain": pre, "results": results,
            "rows": aggregate(results), "sizes": codec_sizes(pre["checkpoint"]),
            "plan": plan_crossovers(spec)}
    text = markdown(spec, data)
    paths = write_results(output_dir(args), "weights", text, data)
    print(to_json(data) if args.json else text)
    log(f"[weights] wrote {', '.join(map(str, paths))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
