"""Placement benchmark: bytes of real simulations against the placement model, and detection accuracy.

Two parts, both on the real sequences in ``../shared/data``:

1. **Bytes.** Real in-process Flower simulations (``fog.simulation.run_inprocess``: the
   ServerApp and one ClientApp per virtual node on Flower's simulation engine) with 2, 5 and 10
   edge devices, each device one sequence (10 devices share the 4 sequences, interleaving their
   frames), for each codec (JPEG relay, Rapid-INR = BS, Residual-INR = QRE), training at the
   edges (``placement = edge``, ``train = false``: the frames are moved, nothing is trained).
   Each run's report holds the sizes it measured (mean JPEG, exact payload size, devices,
   frames); fed to the placement model (:mod:`rinr_runtime.planning`) they predict the run's
   bytes, which are set beside the bytes the run's ledger counted. A payload's size depends
   only on the INR architectures, never on the fitted weights, so the byte runs fit each INR
   for a few steps only (``--byte-inr-steps``).
2. **Accuracy.** YOLOv8n built from ``yolov8n.yaml`` (no pretrained weights) is trained under
   one recipe on the frames of one sequence (every ``--stride``-th frame of ``vot_bag``, every
   5th of those held out) three times: on the JPEGs, on decoded Rapid-INR (BS) reconstructions
   and on decoded Residual-INR (QRE) reconstructions of the same frames at the same size. Each
   model is evaluated on the held-out frames' original JPEGs (mAP50, mAP50-95).

This file holds the options and the main flow; the rest is in ``placement_config`` (the full
and quick specs), ``placement_bytes`` (part 1), ``placement_accuracy`` (part 2) and
``placement_report`` (the markdown page and the plots).

Run from the repository root::

    .venv/bin/python bench/placement.py              # docs/results/placement.{md,json,_*.png}
    .venv/bin/python bench/placement.py --quick      # 2 devices, tiny training: checks the script
    .venv/bin/python bench/placement.py --json       # the same, JSON on stdout
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from common import (
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
from placement_accuracy import accuracy
from placement_bytes import byte_runs, paper_scale_model, reductions, yolov8n_weights
from placement_config import FULL, QUICK
from placement_report import bytes_tables, plot_bytes, plot_map, render_markdown

NAME = "placement"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (the shared ones from ``common`` plus this benchmark's)."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR,
                        help="folder of OTB sequences (default ../shared/data)")
    parser.add_argument("--skip-accuracy", action="store_true", help="run the bytes part only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report (or JSON) and write it under the output folder."""
    args = build_parser().parse_args(argv)
    apply_threads(args.threads)
    byte_spec, accuracy_spec = QUICK if args.quick else FULL
    data_dir = Path(args.data)
    if not data_dir.is_dir():
        log(f"no sequences in {data_dir} (shared data absent?): nothing to measure, skipped")
        return 0
    out = output_dir(args)
    env = environment(args.device)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rinr-bench-placement-") as tmp:
        work = Path(tmp)
        detector = yolov8n_weights()
        runs = byte_runs(byte_spec, data_dir, work / "bytes", args.device, detector)
        result = (None if args.skip_accuracy
                  else accuracy(accuracy_spec, data_dir, work / "accuracy", args.device))
    seconds = time.perf_counter() - start
    command = reproduce_command(__file__, sys.argv[1:] if argv is None else argv)
    data: dict[str, Any] = {
        "benchmark": NAME, "command": command, "environment": env, "seconds": seconds,
        "byte_spec": asdict(byte_spec),
        "yolov8n_weights": {"bytes": detector[0], "arrays": detector[1]},
        "bytes": runs, "reductions": reductions(runs),
        "paper_scale_model": paper_scale_model(), "accuracy": result}
    markdown = render_markdown(data) if result is not None else "\n".join(
        bytes_tables(runs, data["reductions"], data["paper_scale_model"]))
    out.mkdir(parents=True, exist_ok=True)
    plot_bytes(runs, detector, out / f"{NAME}_bytes.png")
    if result is not None:
        plot_map(result, out / f"{NAME}_map.png")
    paths = write_results(out, NAME, markdown, data)
    print(to_json(data) if args.json else markdown)
    log(f"wrote {', '.join(str(p) for p in paths)} and the plots in {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
