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

The trained weights of every FedAvg run are also compared with those of the fp32 run of the
same seed (*drift*, a finer measure than mAP on a few held-out frames).

Weight bytes are the run report's ledger (Flower 1.41 message bytes) of the train and evaluate
phases. The default is the issue's configuration (5 nodes, 10 rounds, 2 seeds); ``--quick``
checks the script end to end in minutes; ``--rounds``, ``--frames-per-node``, ``--val-every``,
``--seeds``, ``--seed-codecs`` and ``--fog-seeds`` reduce it; the results file says which
configuration ran and what it left out.
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
PRETRAIN_SKIP_PER_NODE = 24
"""Frames a node counts for at least when pretraining skips the nodes' frames (``_skip``)."""
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
    fog_seeds: tuple[int, ...] | None = None
    """Seeds of the fog-placement runs (``None``: ``seeds``)."""
    seed_codecs: tuple[str, ...] | None = None
    """Codecs run on every seed (``None``: all); the others run on the first seed only."""
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
        fog_seeds = self.seeds if self.fog_seeds is None else self.fog_seeds
        return (self.nodes >= 5 and self.rounds >= 10 and len(self.seeds) >= 2
                and set(CODECS) <= set(self.codecs) and len(fog_seeds) >= 2
                and (self.seed_codecs is None or set(self.codecs) <= set(self.seed_codecs)))

    def edge_runs(self) -> list[tuple[str, int]]:
        """``(codec, seed)`` of every FedAvg run, seed by seed."""
        return [(c, s) for k, s in enumerate(self.seeds) for c in self.codecs
                if k == 0 or self.seed_codecs is None or c in self.seed_codecs]


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
    """Frames of each sequence pretraining skips: at least the ones the nodes own (they take
    the first ones), counted as ``PRETRAIN_SKIP_PER_NODE`` a node when they own fewer, so that
    runs with fewer frames per node share one pretrained detector."""
    shares = {name: sum(1 for p in range(spec.nodes) if p % len(SEQUENCES) == i)
              for i, name in enumerate(SEQUENCES)}
    per_node = max(spec.frames_per_node, PRETRAIN_SKIP_PER_NODE)
    return {name: per_node * max(1, n) for name, n in shares.items()}


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
    evaluated = report["rounds"][-1].get("evaluate", {}) if report["rounds"] else {}
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
        "val_frames": sum(int(m.get("num_val", 0)) for m in evaluated.values()),
        "placement_model_weight_bytes": (report.get("placement", {}).get("inputs") or {}
                                         ).get("model_bytes"),
        "placement_model_choice": (report.get("placement", {}).get("advice") or {}
                                   ).get("placement"),
        "seconds": round(seconds, 1),
    }


def run_all(spec: Spec, data: Path, model: str, work: Path, reuse: bool = False
            ) -> list[dict[str, Any]]:
    """Every (placement, codec, seed) run of ``spec`` (``reuse``: read finished runs' reports)."""
    fog_seeds = spec.seeds if spec.fog_seeds is None else spec.fog_seeds
    todo = [("edge", c, s) for c, s in spec.edge_runs()]
    todo += [("fog", c, s) for s in fog_seeds for c in spec.fog_codecs]
    todo.sort(key=lambda run: run[2] != spec.seeds[0])  # every first-seed run first
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


# --- how far the trained weights drift from fp32's ---------------------------------------------


def _node_models(folder: Path) -> dict[str, list[np.ndarray]]:
    """Each node's last trained weights (``model.npz`` of its store) in a run folder."""
    out = {}
    for path in sorted((folder / "edge").glob("run-*/node-*/model.npz")):
        with np.load(path) as data:
            out[path.parent.name] = [data[f"arr_{i}"] for i in range(len(data.files))]
    return out


def _flat(weights: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(w, np.float64).reshape(-1) for w in weights])


def add_drift(results: list[dict[str, Any]], work: Path, model: str) -> None:
    """``drift_vs_fp32``: distance of each FedAvg run's last trained weights from the fp32 run
    of the same seed, relative to how far fp32's moved from the start model (mean over
    nodes); ``drift_vs_other_seed`` the same for fp32's other seed (what a seed changes)."""
    from rinr_runtime.weight_link import initial_model

    start = _flat(initial_model(model, ["object"])[0])
    models = {(r["codec"], r["seed"]): _node_models(work / f"edge-{r['codec']}-seed{r['seed']}")
              for r in results if r["placement"] == "edge"}

    def drift(a: dict[str, list[np.ndarray]], ref: dict[str, list[np.ndarray]]) -> float | None:
        nodes = sorted(set(a) & set(ref))
        if not nodes:
            return None
        return float(np.mean([np.linalg.norm(_flat(a[n]) - _flat(ref[n]))
                              / max(float(np.linalg.norm(_flat(ref[n]) - start)), 1e-30)
                              for n in nodes]))

    fp32_seeds = sorted(s for c, s in models if c == "fp32")
    for r in results:
        if r["placement"] != "edge" or ("fp32", r["seed"]) not in models:
            continue
        ref = models[("fp32", r["seed"])]
        r["drift_vs_fp32"] = drift(models[(r["codec"], r["seed"])], ref)
        others = [s for s in fp32_seeds if s != r["seed"]]
        if r["codec"] == "fp32" and others:
            r["drift_vs_other_seed"] = drift(models[("fp32", others[0])], ref)


# --- sizes and the plan ---------------------------------------------------------------------


def codec_sizes(model: str) -> dict[str, dict[str, Any]]:
    """``rinr weights`` of the pretrained checkpoint under every codec."""
    from rinr_runtime.cli import weights_report
    from rinr_runtime.weight_link import initial_model

    weights, names = initial_model(model, ["object"])
    return {name: weights_report(weights, codec, bits, names)
            for name, (codec, bits) in CODECS.items()}


PLAN_CODECS = ("jpeg", "rapid-inr", "residual-inr")
PLAN_ROUNDS = 10
"""Rounds of the issue's configuration: the plan is shown for them too."""


def plan_crossovers(rounds: int) -> dict[str, Any]:
    """``rinr plan --weight-codec``: devices from which fog training moves fewer bytes."""
    from rinr_runtime.cli import build_parser
    from rinr_runtime.planning import crossover_devices
    from rinr_runtime.planning.cli import inputs_from_args

    argv = ["plan", "--rounds", str(rounds), "--frames-per-device", "300"]
    out: dict[str, Any] = {"argv": " ".join(argv), "codecs": {}}
    for name, (codec, bits) in CODECS.items():
        args = build_parser().parse_args([*argv, "--weight-codec", codec, "--weight-bits",
                                          str(bits)])
        inputs = inputs_from_args(args)
        out["payload_bytes"] = {c: inputs.payload_bytes[c] for c in PLAN_CODECS}
        out["codecs"][name] = {
            "model_bytes": inputs.model_bytes,
            "crossover_devices": {c: crossover_devices(inputs, c, 200) for c in PLAN_CODECS}}
    return out


# --- report ---------------------------------------------------------------------------------


def _mean(values: list[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return float(np.mean(numbers)) if numbers else None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def aggregate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (placement, codec): means over seeds, against fp32 on the same seeds."""
    rows = []
    for placement in ("edge", "fog"):
        for codec in CODECS:
            runs = [r for r in results if r["placement"] == placement and r["codec"] == codec]
            if not runs:
                continue
            seeds = {r["seed"] for r in runs}
            base = [r for r in results if r["placement"] == placement and r["codec"] == "fp32"
                    and r["seed"] in seeds]
            fp32_bytes = _mean([r["weight_bytes"] for r in base])
            fp32_map = _mean([r["map50_95"] for r in base])
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
                "drift_vs_fp32": _mean([r.get("drift_vs_fp32") for r in runs]),
                "completed": all(r["status"] == "completed" for r in runs),
            })
    return rows


def reductions(spec: Spec) -> list[str]:
    """How ``spec`` falls short of the issue's configuration and of this script's defaults."""
    full, out = Spec(), []
    if spec.nodes < full.nodes:
        out.append(f"{spec.nodes} nodes instead of {full.nodes}")
    if spec.rounds < full.rounds:
        out.append(f"{spec.rounds} rounds instead of {full.rounds}")
    once = [c for c in spec.codecs if spec.seed_codecs is not None and c not in spec.seed_codecs]
    if len(spec.seeds) < 2:
        out.append(f"1 seed ({spec.seeds[0]}) instead of 2")
    elif once:
        out.append(f"{', '.join(once)} on seed {spec.seeds[0]} only (2 seeds: "
                   f"{', '.join(c for c in spec.codecs if c not in once)})")
    fog_seeds = spec.seeds if spec.fog_seeds is None else spec.fog_seeds
    if spec.fog_codecs and len(fog_seeds) < 2:
        out.append(f"fog-placement runs on seed {', '.join(map(str, fog_seeds))} only")
    missing = [c for c in CODECS if c not in spec.codecs]
    if missing:
        out.append(f"no {', '.join(missing)} runs")
    if (spec.frames_per_node, spec.val_every) != (full.frames_per_node, full.val_every):
        out.append(f"{spec.frames_per_node} frames a node with every {_nth(spec.val_every)} "
                   f"held out instead of {full.frames_per_node} with every "
                   f"{_nth(full.val_every)}")
    return out


def _nth(n: int) -> str:
    """``2nd``, ``5th``, ``21st``: every n-th frame."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _per_round(values: list[Any]) -> str:
    return " ".join("-" if v is None else f"{v:.3f}" for v in values)


def markdown(spec: Spec, data: dict[str, Any]) -> str:
    """The results file."""
    from rinr_core.tables import markdown_table

    pre, rows, sizes, results = data["pretrain"], data["rows"], data["sizes"], data["results"]
    cut = reductions(spec)
    state = ("the issue's full configuration" if not cut else
             "a **reduced** configuration (" + "; ".join(cut) + "): the issue's one (5 nodes, "
             "10 rounds, 2 seeds for every codec and the fog runs) did not fit the time this "
             "2-core CPU, shared with other jobs, had for it")
    val = sorted({r["val_frames"] for r in results})
    train_frames = spec.frames_per_node - spec.frames_per_node // spec.val_every
    by_name = {(r["placement"], r["codec"]): r for r in rows}
    edge32, edge4 = by_name.get(("edge", "fp32")), by_name.get(("edge", "sgq-4"))
    fp32_seeds = [r["map50_95"] for r in results if r["placement"] == "edge"
                  and r["codec"] == "fp32" and r["map50_95"] is not None]
    lines = [
        "# Weight codecs: FedAvg and fog placement", "",
        f"Measured {environment_line(data['environment'])}."
        + (" Tables rebuilt (`--reuse`) from the reports of the runs made just before with "
           "the same command on this machine." if data.get("reused_runs") else ""), "",
        f"Command: `{data['command']}`", "",
        f"Configuration measured: {state}. {spec.nodes} nodes on the 4 shared sequences "
        f"(node p takes sequence p mod 4; nodes sharing one interleave its frames), "
        f"{spec.frames_per_node} frames per node at {spec.max_side} px, every "
        f"{_nth(spec.val_every)} held out ({train_frames} own training frames a node; validation "
        f"on the original JPEGs of the held-out ones, {'/'.join(map(str, val))} in all), "
        f"{spec.rounds} rounds; YOLOv8n, {spec.epochs} epoch(s) per round at {spec.imgsz} px, "
        f"batch {spec.batch}, lr0 {spec.lr0}; every node trains on its own frames plus the "
        "others' relayed as JPEG (`codec = jpeg`: the frames are not what is measured here); "
        "LocalGrid (the real ServerApp and ClientApp in one process).", "",
        f"Start model: YOLOv8n pretrained from the YAML for {pre['epochs']} epochs on "
        f"{pre['train_frames']} frames of the same sequences that no node owns (mAP50 "
        f"{_fmt(pre['map50'])}, mAP50-95 {_fmt(pre['map50_95'])} on {pre['val_frames']} of "
        "them), so the rounds fine-tune a detector whose mAP means something. Ultralytics "
        "stores that checkpoint in float16, so fp16 is exact on the start model (its error "
        "column is 0); the deltas of later rounds are not."
        + ("" if (pre["map50_95"] or 0) > 0.05 else " **Here it did not train long enough: "
           "the mAP columns compare near-zero numbers and prove nothing.**"), "",
        "## Targets", "",
    ]
    if edge32 and edge4:
        msg_ratio, round_ratio = edge4["message_ratio_vs_fp32"], edge4["ratio_vs_fp32"]
        points = edge4["map50_95_vs_fp32_points"]
        spread = 100 * (max(fp32_seeds) - min(fp32_seeds)) if len(fp32_seeds) > 1 else None
        seed_drift = _mean([r.get("drift_vs_other_seed") for r in results])
        lines += [
            f"- sgq at 4 bits, at least 8x fewer weight bytes than fp32: "
            f"**{'met' if (msg_ratio or 0) >= 8 else 'missed'}** per weights message "
            f"({_fmt(msg_ratio, 1)}x: the codec itself; the seed paper reports 15.97x"
            + (", which we do not reach), " if (msg_ratio or 0) < 15.97 else "), ")
            + f"{_fmt(round_ratio, 1)}x per round (that also counts FedAvg's train messages, "
            "which every codec but fp32 replaces by a keep message: fp32 could skip them too).",
            f"- mAP50-95 within 1 point of fp32 FedAvg after the same rounds: "
            f"**{'met' if points is not None and points >= -1 else 'missed'}** "
            f"({_fmt(points, 1)} points, mean of {edge4['seeds']} seed(s) against fp32 on "
            "the same seeds"
            + (f"; the two fp32 seeds themselves differ by {spread:.1f} points" if spread
               is not None else "")
            + "). The trained weights say more: sgq-4's drift from fp32's is "
            + _fmt(edge4["drift_vs_fp32"], 3)
            + (f" of the way fp32 moved, where a different seed gives {seed_drift:.3f}"
               if seed_drift is not None else "")
            + f". On {'/'.join(map(str, val))} validation frames and {spec.rounds} rounds of "
            f"{train_frames * spec.nodes} frames a node, this is a weak test: it shows "
            "4-bit weights do not break FedAvg, not that they match fp32 over long training.",
            "- The placement crossover moves with the codec (table below), and `placement = "
            "auto` uses the codec's size measured on the run's own detector (the placement "
            "model's weights size per run, last table).", "",
        ]
    lines += [
        "## Weight bytes per round and final accuracy", "",
        "Weight bytes: every train and evaluate message (both directions, Flower wire bytes "
        "from the run report's ledger), per round, mean over seeds. *Per message*: the mean "
        "of the messages that carry weights; the others are *keep* messages (under 1 KB: "
        "FedAvg's train message repeats the model the evaluate phase delivered, which every "
        "codec but fp32 does not send again). mAP: the global model after the last round on "
        "every node's held-out frames, averaged over nodes by Flower; *vs fp32*: against the "
        "fp32 runs of the same seeds (node p2's sequence, "
        "uav123_wakeboard7, stays at mAP 0 for every codec: it caps the mean mAP50 at about "
        "0.8). *Drift*: see the next table. With fog placement the fog trains its own exact "
        "model whatever the codec; the codec only changes the copy the nodes evaluate (full "
        "weights in round 1, deltas after), so the fog rows' mAP differ in round 1 at most.",
        "",
        markdown_table(
            ["placement", "codec", "seeds", "weight MB / round", "vs fp32", "MB / message",
             "vs fp32", "keep msgs", "mAP50", "mAP50-95", "mAP50-95 vs fp32 (points)",
             "drift", "completed"],
            [[r["placement"], r["codec"], str(r["seeds"]), f"{r['weight_mb_per_round']:.2f}",
              _fmt(r["ratio_vs_fp32"], 1) + "x" if r["ratio_vs_fp32"] else "-",
              _fmt(r["mb_per_weights_message"], 2),
              _fmt(r["message_ratio_vs_fp32"], 1) + "x" if r["message_ratio_vs_fp32"] else "-",
              str(r["keep_messages"]),
              _fmt(r["map50"]), _fmt(r["map50_95"]),
              _fmt(r["map50_95_vs_fp32_points"], 1), _fmt(r["drift_vs_fp32"], 4),
              "yes" if r["completed"] else "no"]
             for r in rows], align=["l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r",
                                    "l"]),
        "",
        "## Every run", "",
        "mAP50-95 of the global model after each round. *Drift*: how far the nodes' last "
        "trained weights are from those of the fp32 run of the same seed, as a fraction of "
        "how far fp32's moved from the start model (mean over nodes; a far finer measure "
        "than mAP on a few frames); for fp32, in brackets, the same for its other seed: what "
        "a different seed changes. The placement model's weights size is what the run's "
        "placement model (`placement = auto`) used: the codec's size on the run's detector.",
        "",
        markdown_table(
            ["placement", "codec", "seed", "weight MB", "mAP50-95 per round",
             "weights vs fp32 (drift)", "placement model weights MB", "its choice", "s"],
            [[r["placement"], r["codec"], str(r["seed"]), f"{r['weight_bytes'] / 1e6:.2f}",
              _per_round(r["map50_95_per_round"]),
              _fmt(r.get("drift_vs_fp32"), 4) + (
                  f" (other seed: {r['drift_vs_other_seed']:.4f})"
                  if r.get("drift_vs_other_seed") is not None else ""),
              _fmt((r.get("placement_model_weight_bytes") or 0) / 1e6, 2),
              str(r.get("placement_model_choice")), f"{r['seconds']:.0f}"]
             for r in results], align=["l", "l", "r", "r", "l", "r", "r", "l", "r"]),
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
    ]
    for plan in data["plan"]:
        lines += [
            f"`rinr {plan['argv']} --weight-codec C`: number of devices from which training "
            "at the fog moves fewer bytes than training at the edges (`never`: not up to 200 "
            "devices), with the weights of yolov8n.yaml sized by each codec and `rinr plan`'s "
            "default frame payloads in this checkout ("
            + ", ".join(f"{c} {v:,.0f} B" for c, v in plan.get("payload_bytes", {}).items())
            + " a frame).", "",
            markdown_table(
                ["codec", "weights MB", *PLAN_CODECS],
                [[k, f"{v['model_bytes'] / 1e6:.2f}",
                  *[str(v["crossover_devices"][c] or "never") for c in PLAN_CODECS]]
                 for k, v in plan["codecs"].items()], align=["l", "r", "r", "r", "r"]),
            "",
        ]
    lines.append("Per-run numbers (bytes per round, mAP per round, times): `weights.json`.")
    return "\n".join(lines)


def main() -> int:
    """Run the benchmark (see the module docstring)."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, help="edge nodes (default 5)")
    parser.add_argument("--rounds", type=int, help="rounds (default 10)")
    parser.add_argument("--seeds", help="comma-separated seeds (default 0,1)")
    parser.add_argument("--fog-seeds", help="seeds of the fog-placement runs (default: --seeds)")
    parser.add_argument("--seed-codecs",
                        help="codecs run on every seed (default: all; the others on the first)")
    parser.add_argument("--frames-per-node", type=int, help="frames a node owns (default 24)")
    parser.add_argument("--val-every", type=int,
                        help="every n-th frame of a node is held out for validation (default 5)")
    parser.add_argument("--codecs", help=f"comma-separated, of {','.join(CODECS)}")
    parser.add_argument("--fog-codecs", help="codecs of the fog-placement runs (default fp32,sgq-4)")
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR)
    parser.add_argument("--reuse", action="store_true",
                        help="read the reports of runs already under out/bench-weights*/runs "
                             "instead of running them again")
    args = parser.parse_args()
    apply_threads(args.threads)
    spec = QUICK if args.quick else Spec()
    for key in ("nodes", "rounds", "frames_per_node", "val_every"):
        if getattr(args, key) is not None:
            spec = replace(spec, **{key: getattr(args, key)})
    if args.seeds:
        spec = replace(spec, seeds=tuple(int(s) for s in args.seeds.split(",")))
    if args.fog_seeds is not None:
        spec = replace(spec, fog_seeds=tuple(int(s) for s in args.fog_seeds.split(",") if s))
    for key in ("codecs", "fog_codecs", "seed_codecs"):
        if getattr(args, key) is not None:
            spec = replace(spec, **{key: tuple(c for c in getattr(args, key).split(",") if c)})
    unknown = sorted(set(spec.codecs + spec.fog_codecs + (spec.seed_codecs or ())) - set(CODECS))
    if unknown or not args.data.is_dir():
        parser.error(f"unknown codecs {unknown}" if unknown else f"no data at {args.data}")
    env = environment(args.device or "cpu")
    work = REPO_ROOT / "out" / ("bench-weights-quick" if args.quick else "bench-weights")
    pre = pretrain(spec, args.data, REPO_ROOT / "out" / "bench-weights")
    results = run_all(spec, args.data, pre["checkpoint"], work / "runs", reuse=args.reuse)
    add_drift(results, work / "runs", pre["checkpoint"])
    argv = [a for a in sys.argv[1:] if a != "--reuse"]
    data = {"environment": env, "command": reproduce_command(argv=argv), "spec": asdict(spec),
            "reused_runs": args.reuse,
            "full_configuration": spec.full, "pretrain": pre, "results": results,
            "rows": aggregate(results), "sizes": codec_sizes(pre["checkpoint"]),
            "plan": [plan_crossovers(r) for r in sorted({spec.rounds, PLAN_ROUNDS})]}
    text = markdown(spec, data)
    paths = write_results(output_dir(args), "weights", text, data)
    print(to_json(data) if args.json else text)
    log(f"[weights] wrote {', '.join(map(str, paths))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
