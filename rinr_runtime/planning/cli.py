"""``rinr plan``: bytes and times of every codec x placement, the recommended placement, a plot.

The numbers come from :mod:`rinr_runtime.planning` (equations in ``docs/placement.md``).
Register the command with :func:`add_parser` on the ``rinr`` sub-parsers. ``--json`` prints
exactly one JSON object on stdout; ``--plot PATH`` writes data transferred vs number of devices
(1 to ``--max-devices``) with the crossovers marked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rinr_core.errors import ConfigError
from rinr_core.tables import text_table
from rinr_core.weights import weight_codec_names
from rinr_runtime.planning import (
    AGGREGATIONS,
    CODECS,
    CRITERIA,
    DEFAULT_BANDWIDTH_MBPS,
    DEFAULT_BOX_AREA,
    DEFAULT_JPEG_BYTES,
    DEFAULT_PRESET,
    MB,
    MODELS,
    Estimate,
    PlanInputs,
    Recommendation,
    WireOverhead,
    crossover_devices,
    estimate_all,
    inr_payload_bytes,
    model_size,
    recommend,
    reduction_vs_jpeg,
    reduction_vs_serverless,
    sweep,
    weights_size,
)
from rinr_runtime.planning.throughputs import Throughputs, load_throughputs

DEFAULT_DEVICES = 10
DEFAULT_FRAMES_PER_DEVICE = 300
DEFAULT_MODEL = "yolov8n"
DEFAULT_MAX_DEVICES = 50
DEFAULT_THROUGHPUTS = Path(__file__).resolve().parents[2] / "docs" / "results" / "throughputs.json"
"""The throughputs ``bench/throughputs.py`` measured (in a source checkout): ``--criterion time``
reads them when no ``--throughputs`` file and no ``--*-fps`` flag is given."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``plan`` on ``subparsers`` (the ``rinr`` sub-commands) and return its parser."""
    p = subparsers.add_parser(
        "plan", help="where to train (edge or fog): bytes and times per codec x placement",
        description="Communication/latency model of training at the edges vs at the fog node "
                    "(docs/placement.md). Sizes in decimal units: 1 MB = 10^6 bytes.",
    )
    p.add_argument("--devices", type=_positive_int, default=DEFAULT_DEVICES,
                   help=f"number of edge devices (default {DEFAULT_DEVICES})")
    p.add_argument("--frames-per-device", type=_non_negative, default=DEFAULT_FRAMES_PER_DEVICE,
                   help="new frames each device shares over the run "
                        f"(default {DEFAULT_FRAMES_PER_DEVICE})")
    p.add_argument("--bandwidth-mbps", type=_positive, default=DEFAULT_BANDWIDTH_MBPS,
                   help="link bandwidth in megabytes per second (MB/s, not Mbit/s; "
                        f"default {DEFAULT_BANDWIDTH_MBPS:g} MB/s = 16 Mbit/s)")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS),
                   help="detector whose weights travel: Ultralytics' published parameter "
                        f"count x 4 bytes (default {DEFAULT_MODEL})")
    p.add_argument("--model-bytes", type=_non_negative,
                   help="bytes of the weights (overrides --model's size)")
    p.add_argument("--weight-codec", choices=weight_codec_names(),
                   help="size the weights as this weight codec sends them: the detector is "
                        "built from <model>.yaml (one class) and compressed (as the runtime's "
                        "weight-codec; default: Ultralytics' published count x 4 bytes)")
    p.add_argument("--weight-bits", type=_positive_int, default=4,
                   help="bits per weight of --weight-codec sgq (2-8; default 4)")
    p.add_argument("--rounds", type=_positive_int, default=1,
                   help="training rounds: one weights broadcast (fog) or FedAvg (edge) each "
                        "(default 1)")
    p.add_argument("--frames-per-round", type=_non_negative, default=0,
                   help="new frames per device per round (default 0: all in round 1)")
    p.add_argument("--epochs", type=_positive_int, default=1,
                   help="training epochs per round (times only; default 1)")
    p.add_argument("--aggregation", default="independent", choices=AGGREGATIONS,
                   help="edge models: independent, or FedAvg of their weights every round")
    p.add_argument("--codec", default="residual-inr", choices=CODECS,
                   help="codec the recommendation is for (default residual-inr)")
    p.add_argument("--criterion", default="bytes", choices=CRITERIA,
                   help="recommend by total bytes, or by total time (needs every throughput)")
    p.add_argument("--jpeg-bytes", type=_non_negative, default=DEFAULT_JPEG_BYTES,
                   help="mean JPEG bytes per frame (default: the camera's JPEG of a 640x360 "
                        "frame, measured on ../shared/data: docs/results/placement_jpeg.md)")
    p.add_argument("--rapid-inr-bytes", type=_non_negative,
                   help="mean Rapid-INR bytes per frame (default: computed from --preset)")
    p.add_argument("--residual-inr-bytes", type=_non_negative,
                   help="mean Residual-INR bytes per frame (default: computed from --preset "
                        "and --box-area)")
    p.add_argument("--box-area", type=_positive_int, default=DEFAULT_BOX_AREA,
                   help="object box area in px^2 (picks the object INR tier; default "
                        f"{DEFAULT_BOX_AREA})")
    p.add_argument("--preset", default=DEFAULT_PRESET,
                   help=f"encoder preset the INR sizes are computed for (default {DEFAULT_PRESET})")
    p.add_argument("--payload-only", action="store_true",
                   help="leave out the Flower message overhead (the paper's equations)")
    p.add_argument("--edge-train-fps", type=_positive, help="training images/s of one edge")
    p.add_argument("--fog-train-fps", type=_positive, help="training images/s of the fog node")
    p.add_argument("--decode-fps", type=_positive, help="INR frames/s one edge decodes")
    p.add_argument("--encode-fps", type=_positive, help="INR frames/s the fog encodes")
    p.add_argument("--throughputs", type=Path, metavar="FILE",
                   help="measured encode/decode frames/s per codec and training images/s "
                        "(bench/throughputs.py writes docs/results/throughputs.json, "
                        "bench/gpu.py docs/results/gpu.json); the --*-fps flags override it; "
                        "--criterion time without it or any --*-fps flag reads "
                        "docs/results/throughputs.json of the source checkout")
    p.add_argument("--max-devices", type=_positive_int, default=DEFAULT_MAX_DEVICES,
                   help=f"the sweep and plot go from 1 to this many devices (default "
                        f"{DEFAULT_MAX_DEVICES})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", type=Path, metavar="PATH",
                   help="write data transferred vs number of devices to PATH (PNG)")
    p.set_defaults(func=cmd_plan)
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def inputs_from_args(args: argparse.Namespace) -> PlanInputs:
    """The model inputs the ``plan`` options describe."""
    size = model_size(args.model)
    model_bytes, arrays, repeat = float(size.bytes), size.arrays, None
    if args.weight_codec is not None:
        coded = weights_size(f"{size.name}.yaml", ["object"], args.weight_codec, args.weight_bits)
        model_bytes, arrays, repeat = float(coded.bytes), coded.arrays, coded.repeat_bytes
    inr = {"rapid-inr": args.rapid_inr_bytes, "residual-inr": args.residual_inr_bytes}
    payload = {"jpeg": float(args.jpeg_bytes)}
    for codec, given in inr.items():
        payload[codec] = float(given) if given is not None else float(
            inr_payload_bytes(codec, args.box_area, preset=args.preset))
    fps = {k: getattr(args, f"{k}_fps") for k in ("decode", "encode")}
    args.throughputs = args.throughputs or default_throughputs(args)
    measured = load_throughputs(args.throughputs) if args.throughputs else Throughputs()
    decode = {**measured.decode_fps, **{c: fps["decode"] for c in inr if fps["decode"]}}
    encode = {**measured.encode_fps, **{c: fps["encode"] for c in inr if fps["encode"]}}
    return PlanInputs(
        devices=args.devices, frames_per_device=args.frames_per_device, payload_bytes=payload,
        model_bytes=args.model_bytes if args.model_bytes is not None else model_bytes,
        model_arrays=arrays, weights_repeat_bytes=repeat, rounds=args.rounds, frames_per_round=args.frames_per_round,
        epochs=args.epochs, aggregation=args.aggregation, bandwidth=args.bandwidth_mbps * MB,
        overhead=WireOverhead.none() if args.payload_only else WireOverhead(),
        edge_train_fps=args.edge_train_fps or measured.edge_train_fps,
        fog_train_fps=args.fog_train_fps or measured.fog_train_fps,
        decode_fps=decode, encode_fps=encode,
    )


def default_throughputs(args: argparse.Namespace) -> Path | None:
    """:data:`DEFAULT_THROUGHPUTS` for ``--criterion time`` with no rate given at all, else ``None``.

    Raises
    ------
    ConfigError
        ``--criterion time`` with no rate given, and no measured file in this checkout.
    """
    flags = ("edge_train_fps", "fog_train_fps", "decode_fps", "encode_fps")
    if getattr(args, "criterion", "bytes") != "time" or any(getattr(args, f) for f in flags):
        return None
    if not DEFAULT_THROUGHPUTS.is_file():
        raise ConfigError(
            "--criterion time needs measured throughputs and this installation has no "
            f"{DEFAULT_THROUGHPUTS}: pass --throughputs FILE (bench/throughputs.py or "
            "bench/gpu.py write one) or the --encode-fps, --decode-fps, --edge-train-fps and "
            "--fog-train-fps flags")
    return DEFAULT_THROUGHPUTS


def plan_result(inputs: PlanInputs, advice: Recommendation, args: argparse.Namespace) -> dict:
    """Everything ``rinr plan`` reports, as JSON-ready data (``plot`` is set by the caller)."""
    return {
        "inputs": {
            "devices": inputs.devices, "frames_per_device": inputs.frames_per_device,
            "payload_bytes": dict(inputs.payload_bytes), "model": args.model,
            "model_bytes": inputs.model_bytes, "model_arrays": inputs.model_arrays,
            "weight_codec": args.weight_codec, "weight_bits": args.weight_bits,
            "weights_repeat_bytes": inputs.weights_repeat_bytes,
            "rounds": inputs.rounds, "frames_per_round": inputs.frames_per_round,
            "epochs": inputs.epochs, "aggregation": inputs.aggregation,
            "bandwidth_mbps": args.bandwidth_mbps, "box_area": args.box_area,
            "preset": args.preset, "overhead": "none" if args.payload_only else "flower-1.41",
            "encode_fps": dict(inputs.encode_fps), "decode_fps": dict(inputs.decode_fps),
            "edge_train_fps": inputs.edge_train_fps, "fog_train_fps": inputs.fog_train_fps,
            "throughputs": str(args.throughputs) if args.throughputs else None,
        },
        "codec": advice.codec,
        "recommended": advice.placement,
        "criterion": advice.criterion,
        "reason": advice.reason,
        "reduction_vs_jpeg": reduction_vs_jpeg(inputs, "residual-inr"),
        "reduction_vs_serverless_jpeg": reduction_vs_serverless(inputs, "residual-inr"),
        "crossover_devices": {c: crossover_devices(inputs, c, args.max_devices) for c in CODECS},
        "serverless_crossover_devices": {
            c: crossover_devices(inputs, c, args.max_devices, against="serverless")
            for c in CODECS
        },
        "estimates": [e.to_dict() for e in estimate_all(inputs)],
        "plot": None,
    }


def cmd_plan(args: argparse.Namespace) -> int:
    """Run ``rinr plan``."""
    inputs = inputs_from_args(args)
    advice = recommend(inputs, args.codec, args.criterion, args.max_devices)
    result = plan_result(inputs, advice, args)
    if args.plot is not None:
        result["plot"] = str(plot_devices(inputs, args.plot, args.max_devices))
    if args.json:
        print(json.dumps(result))
    else:
        print(format_plan(inputs, estimate_all(inputs), advice, result))
    return 0


# --- text --------------------------------------------------------------------------------------


PLAN_HEADERS = ("codec", "placement", "total MB", "up/edge MB", "down/edge MB", "transfer s",
                "radio s", "encode s", "decode s", "train s")
PLAN_ALIGN = ("l", "l") + ("r",) * 8
PLAN_WIDTHS = (13, 10, 9, 10, 12, 10, 8, 8, 8, 8)  # least widths, so the columns keep their place


def _mb(count: float) -> str:
    return f"{count / MB:.2f}"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def _n(count: int | None) -> str:
    return "never" if count is None else str(count)


def format_plan(inputs: PlanInputs, rows: list[Estimate], advice: Recommendation,
                result: dict) -> str:
    """The ``rinr plan`` table and its summary lines."""
    sizes = ", ".join(f"{c} {v:,.0f} B" for c, v in inputs.payload_bytes.items())
    lines = [
        f"{inputs.devices} devices x {inputs.frames_per_device:g} frames, {inputs.rounds} "
        f"round(s), {inputs.aggregation}, weights {_mb(inputs.model_bytes)} MB"
        f"{' (' + str(result['inputs']['weight_codec']) + ')' if result['inputs'].get('weight_codec') else ''}, "
        f"{inputs.bandwidth / MB:g} MB/s; payloads per frame: {sizes}",
        "",
        text_table(PLAN_HEADERS, [
            [e.codec, e.placement, _mb(e.total_bytes), _mb(e.edge_sent), _mb(e.edge_received),
             _s(e.transfer_s), _s(e.edge_radio_s), _s(e.encode_s), _s(e.decode_s), _s(e.train_s)]
            for e in rows], align=PLAN_ALIGN, widths=PLAN_WIDTHS),
    ]
    red, srv = result["reduction_vs_jpeg"], result["reduction_vs_serverless_jpeg"]
    cross = result["crossover_devices"]
    lines += [
        "",
        "transfer s: every byte through one shared channel; radio s: one edge's own bytes "
        "(links in parallel)",
        f"JPEG / Residual-INR total bytes: edge {red['edge']:.2f}x, fog {red['fog']:.2f}x; "
        f"serverless JPEG / Residual-INR: edge {srv['edge']:.2f}x, fog {srv['fog']:.2f}x",
        "fog training moves fewer bytes than edge training from: "
        + ", ".join(f"{c} {_n(n)}" for c, n in cross.items()) + " devices",
        "",
        f"recommended for {advice.codec}: {advice.placement} ({advice.criterion})",
        f"  {advice.reason}",
    ]
    if result.get("plot"):
        lines.append(f"\nplot: {result['plot']}")
    return "\n".join(lines)


# --- plot --------------------------------------------------------------------------------------


def plot_devices(inputs: PlanInputs, path: Path, max_devices: int = DEFAULT_MAX_DEVICES) -> Path:
    """Plot data transferred vs number of devices (1..``max_devices``), crossovers marked.

    Edge training is one line per codec; fog training is one line (its bytes do not depend
    on the codec: only JPEGs and weights travel); the serverless JPEG baseline is dashed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = list(range(1, max_devices + 1))
    codecs = [c for c in CODECS if c in inputs.payload_bytes]
    pairs = [(c, "edge") for c in codecs] + [("jpeg", "fog"), ("jpeg", "serverless")]
    # no bytes (serverless with one device) cannot be drawn on a log scale: leave them out
    totals = {k: np.where(v > 0, v / MB, np.nan) for k, v in sweep(inputs, counts, pairs).items()}
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    colors = dict(zip(CODECS, ("tab:red", "tab:blue", "tab:green"), strict=True))
    for codec in codecs:
        ax.plot(counts, totals[(codec, "edge")], color=colors.get(codec), lw=2,
                label=f"edge training, {codec} broadcast")
    ax.plot(counts, totals[("jpeg", "fog")], color="black", lw=2,
            label="fog training (any codec: JPEGs up, weights down)")
    ax.plot(counts, totals[("jpeg", "serverless")], color="gray", ls="--", lw=1.5,
            label="serverless: JPEGs edge to edge (paper's baseline)")
    by_count: dict[int, list[str]] = {}
    for codec in codecs:
        n = crossover_devices(inputs, codec, max_devices)
        if n is not None and n > 1:
            by_count.setdefault(n, []).append(codec)
    for n, names in sorted(by_count.items()):
        y = totals[("jpeg", "fog")][n - 1]
        ax.plot([n], [y], "o", color=colors.get(names[-1]), ms=8, mec="black")
        ax.annotate(f"{' and '.join(names)}: fog training moves less from N={n}", (n, y),
                    textcoords="offset points", xytext=(8, -14), fontsize=8)
    if 1 <= inputs.devices <= max_devices:
        ax.axvline(inputs.devices, color="gray", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("number of edge devices N")
    ax.set_ylabel("data transferred over the run (MB)")
    ax.set_title(f"{inputs.frames_per_device:g} frames/device, weights "
                 f"{inputs.model_bytes / MB:.1f} MB x {inputs.rounds} round(s), "
                 f"{inputs.aggregation}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
