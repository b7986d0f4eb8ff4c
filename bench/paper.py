"""The paper's evaluation (Residual-INR, Chen et al. 2024), rerun with our codecs added.

Five figures, each a PNG beside a table and, where the paper gives a number, its claim:

1. object and background PSNR per ablation (BS, BE, DE, RE, QRE, Res-NeRV, grid, low-quality
   JPEG) on every shared sequence (:mod:`paper_ablation`);
2. average payload size per ablation against the camera's JPEG (same runs);
3. bytes vs accuracy: YOLOv8n trained on what the edges decode for each quality setting,
   mAP50-95 on held-out camera JPEGs, and each codec's "bytes at parity"
   (:mod:`paper_sweep`, through :func:`accuracy.measure`);
4. data transferred vs number of devices (2-50), edge training per codec at its bytes at
   parity vs fog training, with the crossover: real Flower simulations with 2, 5 and 10
   devices (their byte ledgers, :mod:`paper_runs`), the placement model beyond
   (:mod:`paper_devices`), and the model alone at 640x360 with its defaults;
5. latency of one round: encode (fog), transfer at 2 MB/s, decode (edge), training.

Encodes and training runs are cached (``--cache``), shared with ``bench/accuracy.py`` when
the configuration matches. ``--quick`` runs everything at toy sizes (files to
``out/bench-quick``).

    .venv/bin/python bench/paper.py --threads 1
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from accuracy import (  # noqa: E402
    DEFAULT_CACHE,
    FULL,
    PAPER_SCALE,
    QUICK,
    WORK_DIR,
    AccuracyConfig,
    CodecSetting,
    measure,
    parse_settings,
)
from common import (  # noqa: E402
    apply_threads,
    bench_parser,
    environment,
    log,
    output_dir,
    reproduce_command,
    to_json,
    write_results,
)
from paper_ablation import ABLATION, ablation_means, measure_ablation  # noqa: E402
from paper_devices import device_curves, latency, paper_scale_payloads  # noqa: E402
from paper_report import crossover_text, report_page, write_plots  # noqa: E402
from paper_runs import QUICK_RUNS, RUNS, RunSpec, device_runs, measured_curves  # noqa: E402
from paper_sweep import SWEEP, bytes_at_parity  # noqa: E402

from rinr_core.codecs import get_codec  # noqa: E402
from rinr_core.errors import ConfigError  # noqa: E402
from rinr_core.tables import markdown_table  # noqa: E402

NAME = "paper"
SEQUENCES = ("Crossing", "vot_bag", "uav123_boat1", "uav123_wakeboard7")
ABLATION_FRAMES = 4
QUICK_ABLATION = AccuracyConfig(train_frames=4, val_frames=2, max_side=48, inr_steps=10,
                                nerv_epochs=2)
QUICK_SWEEP = (CodecSetting("jpeg", label="JPEG (camera)"), CodecSetting("qre"),
               CodecSetting("jpeg", {"quality": 20}, "JPEG q20"))


def chosen_sizes(parity: list[dict[str, Any]], summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each codec's setting for figures 4 and 5: its bytes at parity, else its default (first)."""
    by_name = {s["setting"]: s for s in summary}
    for p in parity:
        name = p["setting"] or p["settings"][-1]  # default: the largest tried
        p["placed_setting"] = name
        p["placed_bytes"] = by_name[name]["bytes_per_frame"]
        relay = get_codec(p["codec"]).relay
        p["plan_name"] = f"{p['codec']}-reencode" if relay else p["codec"]
        p["paper_name"] = None if relay else get_codec(p["codec"]).runtime_name or p["codec"]
        p["placed"] = not (relay and not by_name[name]["options"])  # not the camera JPEG itself
        if not p["placed"]:  # the relay of the camera's JPEG: the model's "jpeg"
            p["plan_name"] = p["paper_name"] = "jpeg"
    return parity


def reference_setting(summary: list[dict[str, Any]]) -> str:
    """The sweep's camera-JPEG setting (a relay codec without options)."""
    for s in summary:
        if get_codec(s["codec"]).relay and not s["options"]:
            return str(s["setting"])
    raise ConfigError("the sweep needs the camera JPEG itself (plain 'jpeg') as its reference")


def _rates(sweep: dict[str, Any], setting: str, config: AccuracyConfig) -> dict[str, float]:
    row = next(s for s in sweep["summary"] if s["setting"] == setting)
    train_s = [r["train_s"] for r in sweep["runs"] if r["setting"] == setting]
    rates: dict[str, float] = {"epochs": config.epochs,
                               "train_fps": config.train_frames * config.epochs / float(np.mean(train_s))}
    if row.get("encode_s_per_frame"):
        rates["encode_fps"] = 1 / row["encode_s_per_frame"]
    if row.get("decode_s_per_frame"):
        rates["decode_fps"] = 1 / row["decode_s_per_frame"]
    return rates


def throughputs(sweep: dict[str, Any], parity: list[dict[str, Any]],
                config: AccuracyConfig) -> dict[str, dict[str, float]]:
    """Measured encode / decode / training rates: the camera JPEG and each placed setting."""
    out = {"jpeg": _rates(sweep, reference_setting(sweep["summary"]), config)}
    for p in parity:
        if p["placed"]:
            out[p["plan_name"]] = _rates(sweep, p["placed_setting"], config)
    return out


def compute_device(device: str | None) -> str:
    """The device a run used, in words (``None``: cuda when available)."""
    import torch

    resolved = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return "GPU" if resolved.startswith("cuda") else resolved.upper()


def run(config: AccuracyConfig, sweep_settings: tuple[CodecSetting, ...],
        ablation_config: AccuracyConfig, ablation_sequences: tuple[str, ...],
        ablation_frames: int, cache: Path | None, runs: RunSpec) -> dict[str, Any]:
    """Every measurement and model of the page (see the module docstring)."""
    ablation = measure_ablation(ablation_sequences, ablation_frames, ablation_config, ABLATION,
                                cache)
    work = WORK_DIR / f"{NAME}-{os.getpid()}"
    sweep = measure(config, sweep_settings, work=work, cache=cache)
    parity = chosen_sizes(bytes_at_parity(sweep["summary"]), sweep["summary"])
    camera = float(np.mean([s["camera_jpeg_bytes"] for s in sweep["sequences"]]))
    sizes = {"jpeg": camera, **{p["plan_name"]: p["placed_bytes"] for p in parity if p["placed"]}}
    sizes_text = ", ".join(f"{s['name']} {s['size'][0]}x{s['size'][1]}" for s in sweep["sequences"])
    scale = (f"{len(config.sequences)} sequence(s) at longer side {config.max_side} px "
             f"({sizes_text}), {config.train_frames} training frames per sequence, "
             f"{compute_device(config.device)}")
    size0 = ablation[0]["size"] if ablation else [0, 0]
    simulations = device_runs(parity, sweep["summary"], runs, config.max_side, work / "runs",
                              config.device)
    return {
        "accuracy_config": sweep["config"], "scale": scale,
        "ablation_scale": f"{len(ablation_sequences)} sequence(s), {ablation_frames} frames each "
                          f"at longer side {ablation_config.max_side} px (first: "
                          f"{size0[0]}x{size0[1]}), SIRENs {ablation_config.inr_steps or 'preset'} steps, "
                          f"NeRV {ablation_config.nerv_epochs or 'preset'} epochs, "
                          f"{compute_device(ablation_config.device)}",
        "ablation_frames": ablation_frames,
        "ablation": ablation, "ablation_means": ablation_means(ablation),
        "sweep": sweep, "parity": parity,
        "device_runs": simulations, "runs_spec": asdict(runs),
        "devices": measured_curves(simulations),
        "devices_paper_scale": device_curves(paper_scale_payloads(), 300),
        "latency": latency(sizes, throughputs(sweep, parity, config), config.train_frames),
    }


def headline(data: dict[str, Any]) -> list[str]:
    """The lines a reader needs first: bytes at parity and the crossover, per codec."""
    lines = []
    for p in data["parity"]:
        at = (f"{p['bytes_per_frame']:.0f} B/frame ({p['setting']})" if p["bytes_per_frame"]
              is not None else f"not reached (best {p['best_delta']:+.2f} points)")
        cross = crossover_text(data["devices"], p["plan_name"] if p["placed"] else None)
        paper_cross = crossover_text(data["devices_paper_scale"], p["paper_name"])
        lines.append(f"- **{p['codec']}**: bytes at parity {at}; training at the fog moves fewer "
                     f"bytes than at the edges from {cross} devices at this scale, "
                     f"{paper_cross} at 640x360 (model defaults).")
    return lines


def reductions(data: dict[str, Any]) -> list[str]:
    """What this run cut from the full configuration and the issue's, and why (for the page)."""
    c = data["accuracy_config"]
    tried = [s["setting"] for s in data["sweep"]["summary"]]
    left_out = [s.name for s in SWEEP if s.name not in tried
                and not any(t.get("codec") == s.codec and t.get("options") == s.options
                            for t in data["sweep"]["settings"])]
    return [
        "## What was reduced, and why",
        "",
        "Machine, device and load average: the header. Every figure says its scale"
        + (f"; this run used {c['max_side']} px, not the issue's 160 px CPU scale"
           if c["max_side"] < 160 else "") + ". Cuts:",
        "",
        f"- Frames at longer side {c['max_side']} px; YOLOv8n {c['epochs']} epochs; "
        f"{c['inr_steps'] or 'preset'} fitting steps per SIREN (`fast` preset: 1,500 / 1,000) and per grid "
        f"frame (grid `fast`: 1,200); NeRV {c['nerv_epochs'] or 'preset'} epochs (60). Fewer steps lower the "
        "INRs' PSNR, not their size: the INR PSNRs and mAPs here are lower bounds; grid suffers "
        "most.",
        f"- Figures 1-2: {data['ablation_scale']}.",
        f"- Figure 3: settings {', '.join(tried)}"
        + (f"; not run: {', '.join(left_out)} (CPU time)" if left_out else "") + ".",
        f"- Figure 4: real simulations with {', '.join(map(str, data['devices']['run_devices']))} "
        f"devices, {data['runs_spec']['frames_per_node']} frames per node (every "
        f"{data['runs_spec']['val_every']}th held out), not the sweep's "
        f"{c['train_frames']} per sequence; the placement model beyond.",
        f"- Figure 5: throughputs measured on this {compute_device(c['device'])} "
        f"({data['environment'].get('torch_threads', '?')} torch thread(s)), combined by the "
        "model" + ("; no GPU, so the paper's 2.9x GPU training speedup is not measured."
                   if compute_device(c["device"]) != "GPU" else "."),
        "- Encodes and training runs are taken from the cache (`--cache`, shared with "
        "`bench/accuracy.py`) where present: the run time in the header counts only the work "
        "done by this invocation, and encode seconds are those measured when each payload was "
        "first encoded.",
    ]


def main(argv: list[str] | None = None) -> int:
    """Measure; print the headline and parity table (``--json``: the object); write the files."""
    parser = bench_parser(__doc__.split("\n")[0])
    parser.add_argument("--sweep", default=None,
                        help="comma-separated sweep settings as bench/accuracy.py --codecs "
                             "(default: jpeg, jpeg q50/q20, qre, qre 5/8-bit, res-nerv, "
                             "res-nerv 0.1 bpp, grid-stream 30/35 dB)")
    parser.add_argument("--ablation-sequences", default=None,
                        help=f"comma-separated (default {','.join(SEQUENCES)})")
    parser.add_argument("--ablation-frames", type=int, default=None,
                        help=f"frames per sequence in figures 1-2 (default {ABLATION_FRAMES})")
    parser.add_argument("--seeds", default=None,
                        help="comma-separated detector seeds of figure 3 (default 0,1)")
    parser.add_argument("--max-side", type=int, default=None,
                        help="longer side of the frames and YOLOv8n's image size (default "
                             f"{FULL.max_side}; the issue's CPU scale: 160)")
    parser.add_argument("--device-runs", default=None,
                        help="comma-separated device counts of figure 4's simulations "
                             f"(default {','.join(map(str, RUNS.devices))})")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--paper-scale", action="store_true",
                        help="for a GPU: frames up to 640 px, 640 px YOLOv8n, 60 epochs, the "
                             "codecs' own step budgets (not run on a CPU)")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="write the page and plots again from a saved paper.json (no measuring)")
    args = parser.parse_args(argv)
    if args.render is not None:
        out = output_dir(args)
        data = json.loads(args.render.read_text())
        data["parity"] = chosen_sizes(data["parity"], data["sweep"]["summary"])
        data["devices"] = measured_curves(data["device_runs"])
        data["reductions"] = headline(data)
        data["notes"] = reductions(data)
        data["figures"] = write_plots(data, out)
        write_results(out, NAME, report_page(data), data)
        print("\n".join(data["reductions"]))
        return 0
    apply_threads(args.threads)
    config = replace(QUICK if args.quick else PAPER_SCALE if args.paper_scale else FULL,
                     device=args.device)
    if args.seeds:
        config = replace(config, seeds=tuple(int(s) for s in args.seeds.split(",")))
    if args.max_side:
        config = replace(config, max_side=args.max_side, imgsz=args.max_side)
    runs = QUICK_RUNS if args.quick else RUNS
    if args.device_runs:
        runs = replace(runs, devices=tuple(int(n) for n in args.device_runs.split(",")))
    ablation_config = replace(QUICK_ABLATION if args.quick else config, device=args.device)
    sweep_settings = (parse_settings(args.sweep) if args.sweep
                      else QUICK_SWEEP if args.quick else SWEEP)
    sequences = (tuple(args.ablation_sequences.split(",")) if args.ablation_sequences
                 else ("vot_bag",) if args.quick else SEQUENCES)
    frames = args.ablation_frames or (2 if args.quick else ABLATION_FRAMES)
    out = output_dir(args)
    env = environment(args.device)
    start = time.perf_counter()
    data = run(config, sweep_settings, ablation_config, sequences, frames, args.cache, runs)
    data.update(environment=env, seconds=time.perf_counter() - start,
                command=reproduce_command(argv=argv), reductions=headline(data))
    data["notes"] = reductions(data)
    data["figures"] = write_plots(data, out)
    write_results(out, NAME, report_page(data), data)
    log(f"[paper] {time.perf_counter() - start:.0f} s; files in {out}")
    if args.json:
        print(to_json(data))
    else:
        print("\n".join(data["reductions"]))
        print(markdown_table(["codec", "bytes at parity", "crossover (devices)"],
                             [[p["codec"], p["bytes_per_frame"] or "not reached",
                               crossover_text(data["devices"], p["plan_name"])]
                              for p in data["parity"]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
