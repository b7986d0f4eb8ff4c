"""``make demo``: a CPU-sized local simulation of the whole system, with a summary table.

Runs the real app with ``flwr run .`` on a private local SuperLink (see :mod:`fog.launch`):
4 virtual edge nodes with generated scenes (160x96 frames, 12 per node, captured over 2
rounds, every 4th held out), grid-stream encoding at the fog (the project's best codec,
aiming at background >= 30 dB and object >= 35 dB; two cameras' streams at a time), YOLOv8n
training from scratch at the edges (12 epochs per round, batch 2, 96 px), then the JPEG relay
of the same frames run for real (``--no-baseline`` skips it). It prints each run report's
summary (bytes moved per phase, PSNRs of the delivered frames, mAP per node and round), the
two runs side by side, and the demo's targets (:data:`DEMO_TARGETS`) with what was measured,
met or missed; each run's ``report.png`` holds the charts and original vs decoded frames.
If ``flwr run`` cannot start (no SuperLink, no ``flwr`` executable), the same run goes
in-process (:func:`fog.simulation.run_inprocess`). Nothing keeps running afterwards.

Usage::

    python -m fog.demo [--nodes 4] [--rounds 2] [--codec grid] [--no-baseline]
                       [--inprocess] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from fog.launch import LocalSuperLink, gpu_share
from fog.report import load_report
from fog.report_views import format_summary, human_bytes
from rinr_core.errors import RinrError
from rinr_core.toml import tomllib
from rinr_runtime.config import DEFAULTS
from rinr_runtime.planning import RUNTIME_CODECS

PROJECT_DIR = Path(__file__).resolve().parents[1]

DEMO_NODES = 4
"""Virtual edge nodes of the demo (``--nodes``)."""

DEMO_CONFIG: dict[str, bool | int | float | str] = {
    "num-server-rounds": 2,
    "codec": "grid",
    "inr-steps": 0,
    "target-background-db": 30.0,
    "target-object-db": 35.0,
    "encode-workers": 2,
    "frames-per-node": 12,
    "frames-per-round": 6,
    "val-every": 4,
    "frame-width": 160,
    "frame-height": 96,
    "epochs": 12,
    "imgsz": 96,
    "batch": 2,
}
"""Demo settings that differ from the defaults of ``[tool.flwr.app.config]``.

The codec is the grid stream at the demo's quality targets (``inr-steps = 0``: its own
preset's steps): on these frames it meets them with payloads about 3.3x smaller than the
cameras' JPEGs, where Residual-INR's fixed 3.5 KB is about the JPEGs' size
(``docs/results/demo.md``). Its cold fits (about 45 s per camera here) are what the demo's
time goes to, so the fog encodes two cameras at a time (``encode-workers = 2``). With 4 nodes
every frame reaches 3 others; fewer nodes leave less to save over the relay (the uploads are
the same in both runs). The detector settings (12 epochs per round, batch 2, 96 px) are the
cheapest measured here that take YOLOv8n from scratch past mAP50 0.3 on every node by
round 2."""


def _parse_set(items: list[str]) -> dict:
    """``["k=v", ...]`` with TOML values -> dict, checked against the known keys."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in DEFAULTS:
            raise SystemExit(f"--set {item!r}: expected key=value with a key of "
                             "[tool.flwr.app.config]")
        out[key] = tomllib.loads(f"v = {value}")["v"] if value else ""
    return out


def build_overrides(args: argparse.Namespace, codec: str, run_dir: Path) -> dict:
    """The run_config overrides of one demo run."""
    runs = PROJECT_DIR / "runs"
    return {
        **DEMO_CONFIG,
        "num-server-rounds": args.rounds,
        "min-nodes": args.nodes,
        "codec": codec,
        "run-dir": str(run_dir),
        "cache-dir": str(runs / "encode-cache"),
        "edge-dir": str(runs / "edge"),
        **_parse_set(args.set),
    }


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def echo_progress(line: str) -> None:
    """Print a ``[rinr]`` log line of the run without colours and Ray's prefixes."""
    text = _ANSI.sub("", line)
    print("  " + text[text.index("[rinr]"):].rstrip())


def run_one(args: argparse.Namespace, codec: str, superlink: LocalSuperLink | None) -> Path:
    """Run the app once with ``codec``; return its ``report.json``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_dir = PROJECT_DIR / "runs" / f"demo-{stamp}-{codec}"
    overrides = build_overrides(args, codec, run_dir)
    gpus = gpu_share(args.nodes, overrides)
    if superlink is not None:
        print(f"[demo] flwr run . ({codec}, {args.nodes} nodes); log: {run_dir / 'flwr-run.log'}")
        result = superlink.run(overrides, run_dir, num_nodes=args.nodes, num_gpus=gpus,
                               timeout=args.timeout)
        if result.run_id is not None and not result.ok:
            raise RinrError(f"flwr run {result.run_id} ended {result.status}: {result.details}; "
                            f"see {result.log_path}")
        if result.run_id is not None:
            return run_dir / "report.json"
        print(f"[demo] `flwr run` did not start a run (see {result.log_path}); "
              "running in-process instead")
    from fog.simulation import run_inprocess

    print(f"[demo] in-process simulation ({codec}, {args.nodes} nodes)")
    run_inprocess(overrides, num_nodes=args.nodes, num_gpus=gpus)
    return run_dir / "report.json"


def compare(reports: dict[str, dict]) -> str:
    """A one-line-per-codec table of bytes, PSNR and mean final mAP."""
    lines = [f"{'codec':<14} {'all traffic':>12} {'broadcast':>11} {'PSNR obj/bg':>12} "
             f"{'mean mAP50':>10}"]
    for codec, report in reports.items():
        s = report["summary"]
        down = s["bytes_by_phase"]["broadcast"]["down"]
        psnr = s["mean_psnr"]
        table = s["global_map"] or s["map"]
        finals = [rounds[max(rounds, key=int)]["map50"] for rounds in table.values()]
        mean_map = f"{sum(finals) / len(finals):.3f}" if finals else "-"
        quality = (f"{psnr['psnr_object']}/{psnr['psnr_background']}"
                   if psnr["psnr_object"] is not None else "lossless")
        lines.append(f"{codec:<14} {human_bytes(s['total_bytes']):>12} {human_bytes(down):>11} "
                     f"{quality:>12} {mean_map:>10}")
    return "\n".join(lines)


DEMO_TARGETS = {"traffic_ratio": 2.0, "psnr_object": 35.0, "psnr_background": 30.0, "map50": 0.3}
"""What the demo should show (issue #13): all traffic at least 2x below the JPEG relay run,
delivered frames at object >= 35 dB and background >= 30 dB, mAP50 >= 0.3 on every node in
the last round."""


def _last_map50(summary: dict) -> dict[str, float]:
    """``{node: mAP50}`` of the last round (the global model's where there is one)."""
    table = summary["global_map"] or summary["map"]
    return {node: rounds[max(rounds, key=int)]["map50"] for node, rounds in table.items()}


def check_targets(codec_report: dict, relay_report: dict | None) -> list[tuple[str, str, bool]]:
    """``(target, what was measured, met)`` for each demo target (:data:`DEMO_TARGETS`).

    The traffic ratio is the JPEG relay run's total bytes over the codec run's; without a
    relay run it is the codec run's own JPEG-relay estimate (``total_ratio_vs_jpeg``).
    """
    s = codec_report["summary"]
    if relay_report is not None:
        ratio = relay_report["summary"]["total_bytes"] / max(s["total_bytes"], 1)
        source = "JPEG relay run / codec run"
    else:
        ratio, source = s["total_ratio_vs_jpeg"] or 0.0, "estimated from the codec run"
    rows = [(f"all traffic >= {DEMO_TARGETS['traffic_ratio']:g}x below the JPEG relay",
             f"{ratio:.2f}x ({source})", ratio >= DEMO_TARGETS["traffic_ratio"])]
    for key, what in (("psnr_object", "object"), ("psnr_background", "background")):
        value = s["mean_psnr"][key]
        rows.append((f"{what} >= {DEMO_TARGETS[key]:g} dB",
                     "lossless" if value is None else f"{value:.2f} dB",
                     value is None or value >= DEMO_TARGETS[key]))
    finals = _last_map50(s)
    rows.append((f"mAP50 >= {DEMO_TARGETS['map50']:g} on every node, last round",
                 "  ".join(f"{n} {v:.3f}" for n, v in sorted(finals.items())) or "no training",
                 bool(finals) and min(finals.values()) >= DEMO_TARGETS["map50"]))
    return rows


def format_targets(rows: list[tuple[str, str, bool]]) -> str:
    """The targets as printed lines: target, measured, met / missed."""
    width = max(len(target) for target, _, _ in rows)
    return "\n".join(f"  {target:<{width}}  {measured}  {'met' if met else 'MISSED'}"
                     for target, measured, met in rows)


def unsuccessful(reports: dict[str, dict]) -> dict[str, str]:
    """``{codec: status}`` of the runs whose report does not say ``completed``."""
    return {codec: str(report["summary"]["status"]) for codec, report in reports.items()
            if report["summary"]["status"] != "completed"}


def _interrupt(signum: int, frame: object) -> None:
    """Turn SIGTERM into KeyboardInterrupt so the SuperLink is stopped on the way out."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m fog.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=DEMO_NODES,
                        help=f"virtual edge nodes (default {DEMO_NODES})")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--codec", default=str(DEMO_CONFIG["codec"]), choices=RUNTIME_CODECS)
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the JPEG relay (codec jpeg) and compare (default: on)")
    parser.add_argument("--inprocess", action="store_true",
                        help="skip `flwr run`; run the simulation in this process")
    parser.add_argument("--timeout", type=float, default=1200.0, help="per run, seconds")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other run_config key (TOML value), repeatable")
    args = parser.parse_args(argv)
    codecs = [args.codec] + (["jpeg"] if args.baseline and args.codec != "jpeg" else [])
    start = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)  # clean up on `kill` as on Ctrl-C
    reports: dict[str, Path] = {}
    superlink: LocalSuperLink | None = None
    try:
        if not args.inprocess:
            superlink = LocalSuperLink(PROJECT_DIR, echo=echo_progress)
            try:
                superlink.start()
            except (RinrError, OSError) as exc:
                print(f"[demo] cannot start a local SuperLink ({exc}); running in-process")
                superlink.stop()
                superlink = None
        for codec in codecs:
            reports[codec] = run_one(args, codec, superlink)
    except KeyboardInterrupt:
        print("[demo] interrupted; stopping everything")
        return 130
    except RinrError as exc:
        print(f"[demo] failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if superlink is not None:
            superlink.stop()
    loaded = {codec: load_report(path) for codec, path in reports.items()}
    for codec, report in loaded.items():
        print(f"\n=== {codec}: {reports[codec].parent}\n{format_summary(report)}")
    if len(loaded) > 1:
        print(f"\n=== codecs compared\n{compare(loaded)}")
    if args.codec != "jpeg":
        print(f"\n=== demo targets ({args.codec})\n"
              + format_targets(check_targets(loaded[args.codec], loaded.get("jpeg"))))
        print(f"  charts and original vs decoded frames: {reports[args.codec].parent / 'report.png'}")
    print(f"\n[demo] done in {time.monotonic() - start:.0f} s; reports: "
          + ", ".join(str(p.parent) for p in reports.values()))
    failed = unsuccessful(loaded)
    for codec, status in failed.items():
        print(f"[demo] the {codec} run ended {status}: see the errors listed above and in "
              f"{reports[codec]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
