"""The ``rinr`` console script: the codec commands of :mod:`rinr_core.cli` plus the runtime's.

Runtime commands: ``rinr plan`` (:mod:`rinr_runtime.planning.cli`) and ``rinr weights`` (the
size and error of a detector's weights under a weight codec, :mod:`rinr_core.weights`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import numpy as np

from rinr_core import cli as core_cli
from rinr_core.tables import text_table
from rinr_core.weights import decode_weights, encode_weights, unpack_message, weight_codec_names
from rinr_runtime.planning.cli import add_parser as add_plan_parser


def weights_report(weights: Sequence[np.ndarray], codec: str, bits: int,
                   names: Sequence[str] | None = None) -> dict:
    """Size, error and speed of one full weights message of ``weights`` under ``codec``.

    ``rel_error`` is the relative L2 error of the decoded weights, ``max_abs_error`` the
    largest difference of one element, ``within_bounds`` whether every tensor kept the
    bound its method promises, ``methods`` how many tensors each tensor method stored.
    """
    start = time.perf_counter()
    encoded = encode_weights(weights, codec, bits, names=names)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decode_weights(encoded.data)
    decode_s = time.perf_counter() - start
    diff = [d.astype(np.float64) - w for w, d in zip(weights, decoded.weights, strict=True)]
    energy = sum(float(np.sum(np.square(w, dtype=np.float64))) for w in weights)
    error = sum(float(np.sum(d**2)) for d in diff)
    fp32 = int(sum(np.asarray(w).size for w in weights)) * 4
    methods: dict[str, int] = {}
    for tensor in unpack_message(encoded.data).tensors:
        name = {0: "raw32", 1: "fp16", 2: "const", 3: f"affine{tensor.bits}",
                4: f"sgq{tensor.bits}"}.get(tensor.method, str(tensor.method))
        methods[name] = methods.get(name, 0) + 1
    return {
        "codec": codec, "bits": bits, "tensors": len(weights),
        "params": int(sum(np.asarray(w).size for w in weights)), "bytes_fp32": fp32,
        "bytes": len(encoded.data), "ratio": fp32 / len(encoded.data),
        "bits_per_weight": 8 * len(encoded.data) / max(1, fp32 // 4),
        "rel_error": float(np.sqrt(error / energy)) if energy > 0 else 0.0,
        "max_abs_error": max((float(np.max(np.abs(d), initial=0.0)) for d in diff), default=0.0),
        "within_bounds": all(float(np.max(np.abs(d), initial=0.0)) <= b
                             for d, b in zip(diff, decoded.bounds, strict=True)),
        "encode_s": round(encode_s, 3), "decode_s": round(decode_s, 3), "methods": methods,
    }


def add_weights_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``weights`` on the ``rinr`` sub-parsers and return its parser."""
    p = subparsers.add_parser(
        "weights", help="bytes and error of a detector's weights under a weight codec",
        description="Build the detector (a model YAML from scratch, or a local .pt), encode "
                    "its weights with a weight codec, decode them, and report the size, the "
                    "relative L2 error and the times.")
    p.add_argument("--model", default="yolov8n.yaml", help="model YAML or .pt path "
                   "(default yolov8n.yaml)")
    p.add_argument("--codec", default="sgq", choices=weight_codec_names(),
                   help="weight codec (default sgq)")
    p.add_argument("--bits", type=int, default=4, help="bits per weight of sgq (2-8; default 4)")
    p.add_argument("--classes", default="object",
                   help="comma-separated class names the detector is built for")
    p.add_argument("--seed", type=int, default=0, help="seed of a model built from a YAML")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_weights)
    return p


def cmd_weights(args: argparse.Namespace) -> int:
    """Run ``rinr weights``."""
    from rinr_runtime.weight_link import initial_model

    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    weights, names = initial_model(args.model, classes, args.seed)
    result = {"model": args.model, "classes": classes,
              **weights_report(weights, args.codec, args.bits, names)}
    if args.json:
        print(json.dumps(result))
        return 0
    keys = ("codec", "bits", "params", "bytes_fp32", "bytes", "ratio", "bits_per_weight",
            "rel_error", "max_abs_error", "within_bounds", "encode_s", "decode_s")
    rows = [[k, f"{result[k]:.4g}" if isinstance(result[k], float) else str(result[k])]
            for k in keys]
    print(f"{args.model} ({len(weights)} tensors)")
    print(text_table(("", "value"), rows, align=("l", "r")))
    print("tensors by method: " + ", ".join(f"{k} {v}" for k, v in result["methods"].items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Every ``rinr`` command: the codec library's and the runtime's."""
    parser = core_cli.build_parser()
    subcommands = core_cli.subcommands(parser)
    add_plan_parser(subcommands)
    add_weights_parser(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rinr`` console script."""
    return core_cli.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
