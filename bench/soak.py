"""Soak and load: many virtual nodes over many rounds through ``flwr run``, with injected faults.

Default: 50 virtual nodes x 5 rounds, frames arriving every round (3 captured per node per
round, 2 of them shared),
one message in ten failing or going silent at random (``chaos-rate = 0.1``, seeded), the
Residual-INR codec on small generated frames, no YOLO training. It checks, from the run's
own report, that every frame reached every live node exactly once (no duplicate delivery,
nothing ``missing``, nothing ``undeliverable``), records the fog's resident memory and its
peak per round (flat memory: no growth with the rounds), the time per round, and the faults
the fog saw. Writes ``docs/results/soak.md`` and ``soak.json`` (``--out`` elsewhere).

    .venv/bin/python bench/soak.py [--nodes 50] [--rounds 5] [--chaos 0.1] [--json]
    .venv/bin/python bench/soak.py --quick      # 6 nodes x 2 rounds, a minute or two
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402  (puts the repository root on sys.path)
    REPO_ROOT,
    bench_parser,
    environment,
    environment_line,
    output_dir,
    reproduce_command,
    write_results,
)

from fog.launch import LocalSuperLink  # noqa: E402
from fog.report import load_report  # noqa: E402
from rinr_core.tables import markdown_table  # noqa: E402


def soak_config(args: argparse.Namespace, run_dir: Path) -> dict:
    """The run_config of one soak run."""
    return {
        "num-server-rounds": args.rounds, "min-nodes": args.nodes, "node-wait-s": 120.0,
        "round-timeout-s": args.round_timeout, "frame-width": 64, "frame-height": 48,
        "frames-per-node": 2 * args.rounds + args.rounds, "frames-per-round": 3,
        "val-every": 3, "inr-steps": args.steps, "train": False, "chaos-rate": args.chaos,
        "seed": args.seed, "run-dir": str(run_dir), "cache-dir": "",
        "edge-dir": str(run_dir / "edge"),
    }


def check_delivery(report: dict) -> dict:
    """Exactly-once delivery to every live node, from the report alone."""
    pairs = [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
             for fid in ids]
    summary = report["summary"]
    duplicates = len(pairs) - len(set(pairs))
    return {
        "deliveries": len(pairs), "duplicates": duplicates,
        "missing": sum(len(v) for v in summary["missing"].values()),
        "undeliverable": len(summary["undeliverable"]),
        "exactly_once": duplicates == 0 and not summary["missing"]
        and not summary["undeliverable"],
    }


def per_round(report: dict) -> list[dict]:
    """Seconds, fog memory and faults of each round."""
    return [{"round": r["round"], "seconds": r["seconds"], "fog_rss_mb": r["fog_rss_mb"],
             "fog_peak_rss_mb": r["fog_peak_rss_mb"], "collected": sum(r["collected"].values()),
             "delivered": sum(len(v) for v in r["delivered"].values()),
             "faults": len(r["errors"])} for r in report["rounds"]]


def markdown(result: dict) -> str:
    """The results page."""
    rounds = result["rounds"]
    delivery = result["delivery"]
    rows = [[r["round"], r["seconds"], r["collected"], r["delivered"], r["faults"],
             r["fog_rss_mb"], r["fog_peak_rss_mb"]] for r in rounds]
    growth = rounds[-1]["fog_rss_mb"] - rounds[0]["fog_rss_mb"] if rounds else 0.0
    return "\n".join([
        "# Soak and load through `flwr run`",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Machine: {environment_line(result['environment'])}.",
        "",
        f"{result['config']['min-nodes']} virtual nodes x "
        f"{result['config']['num-server-rounds']} rounds, {result['config']['frames-per-round']} "
        f"new frames per node per round (every {result['config']['val-every']}rd held out), "
        f"codec residual-inr at {result['config']['frame-width']}x"
        f"{result['config']['frame-height']}, chaos-rate {result['config']['chaos-rate']} "
        f"(seed {result['config']['seed']}), round timeout {result['config']['round-timeout-s']} s.",
        "",
        f"Run status `{result['status']}` ({'expected with injected faults' if result['config']['chaos-rate'] else 'no faults injected'}); "
        f"{delivery['deliveries']} deliveries, {delivery['duplicates']} duplicates, "
        f"{delivery['missing']} frames missing at live nodes, {delivery['undeliverable']} "
        f"undeliverable: exactly once to every live node: **{delivery['exactly_once']}**. "
        f"Total {result['seconds']:.0f} s; fog memory from round 1 to the last: "
        f"{growth:+.1f} MB.",
        "",
        markdown_table(["round", "seconds", "frames collected", "deliveries", "faults seen",
                        "fog RSS (MB)", "fog peak RSS (MB)"], rows),
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    """Run the soak; print its table (``--json``: the result); write the results files."""
    parser = bench_parser(__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chaos", type=float, default=0.1, help="chaos-rate of the run")
    parser.add_argument("--steps", type=int, default=30, help="INR fitting steps")
    parser.add_argument("--round-timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.rounds, args.round_timeout = 6, 2, 20.0
    run_dir = REPO_ROOT / "runs" / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    config = soak_config(args, run_dir)
    start = time.monotonic()
    with LocalSuperLink(REPO_ROOT, echo=lambda line: None) as superlink:
        result = superlink.run(config, run_dir, num_nodes=args.nodes, timeout=args.timeout)
    if result.run_id is None:
        print(f"error: flwr run did not start; see {result.log_path}", file=sys.stderr)
        return 2
    report = load_report(run_dir / "report.json")
    out = {
        "command": reproduce_command(__file__, argv),
        "environment": environment(), "config": config, "flwr_status": result.status,
        "status": report["summary"]["status"], "seconds": time.monotonic() - start,
        "delivery": check_delivery(report), "rounds": per_round(report),
        "errors": report["summary"]["errors"],
    }
    page = markdown(out)
    write_results(output_dir(args), "soak", page, out)
    print(json.dumps(out) if args.json else page)
    return 0 if out["delivery"]["exactly_once"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
