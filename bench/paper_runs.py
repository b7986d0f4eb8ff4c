"""Figure 4's measured part: real Flower simulations up to 10 devices and their byte ledgers.

For each device count, one in-process simulation (:func:`placement_bytes.simulate`: the
ServerApp and one ClientApp per virtual node on Flower's simulation engine) per curve:

- training at the edges, once with the JPEG relay and once per placed codec the runtime runs,
  each at its bytes-at-parity setting (the sweep's options as run-config keys);
- training at the fog: the edges upload their JPEGs, the fog trains YOLOv8n on them and sends
  its weights down to every node.

The figure plots each run's byte ledger (``summary.total_bytes``) and continues every curve
beyond the largest run with the placement model fed with the sizes that run measured.
Payload sizes do not depend on training, nor, for fixed-size codecs, on fitting steps: the
edge runs train nothing (with independent aggregation, edge training moves no weights) and fit
SIRENs and NeRVs briefly. Rate-controlled codecs (the grid stream) keep the sweep's step
budget, since their sizes follow from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from common import SHARED_DATA_DIR
from paper_devices import device_curves
from placement_bytes import simulate
from placement_config import DETECTOR

from fog.report import report_plan_inputs
from rinr_core.codecs import get_codec
from rinr_runtime.planning import estimate

FOG_CURVE = "fog (JPEG uploads, weights down)"
OPTION_KEYS = {"steps": "inr-steps", "lr": "inr-lr"}
"""Codec option fields whose run-config key is not the field name with hyphens."""


@dataclass(frozen=True)
class RunSpec:
    """The simulations: device counts, frames per node, and the cheap budgets that keep sizes."""

    devices: tuple[int, ...] = (2, 5, 10)
    frames_per_node: int = 8
    val_every: int = 4
    inr_steps: int = 20
    nerv_epochs: int = 2
    fog_epochs: int = 1
    fog_imgsz: int = 64


RUNS = RunSpec()
QUICK_RUNS = RunSpec(devices=(2,), frames_per_node=4, inr_steps=5, nerv_epochs=1, fog_imgsz=32)


def option_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """A sweep setting's codec options as run-config overrides (``background_bits`` ->
    ``background-bits``, ``steps`` -> ``inr-steps``)."""
    return {OPTION_KEYS.get(k, k.replace("_", "-")): v for k, v in options.items()}


def edge_curves(parity: list[dict[str, Any]],
                summary: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(curve, runtime codec, overrides)`` per edge-trained curve: the JPEG relay and each
    placed codec the runtime can run (fog re-encodes of the JPEG are not runtime codecs)."""
    curves: list[tuple[str, str, dict[str, Any]]] = [("jpeg", "jpeg", {})]
    for p in parity:
        codec = get_codec(p["codec"])
        if not p["placed"] or codec.relay or not codec.runtime_name:
            continue
        options = next(s["options"] for s in summary if s["setting"] == p["placed_setting"])
        curves.append((p["plan_name"], codec.runtime_name, option_overrides(options)))
    return curves


def _run(devices: int, curve: str, codec: str, placement: str, overrides: dict[str, Any],
         work: Path) -> dict[str, Any]:
    """One simulation and the model's estimate from the sizes it measured."""
    name = f"{devices}-{codec}-{placement}"
    config = {**overrides, "min-nodes": devices, "codec": codec, "placement": placement,
              "run-dir": str(work / f"run-{name}")}
    report, seconds = simulate(devices, config, f"{curve}, {placement} training")
    return run_row(report, seconds, curve, codec, placement)


def run_row(report: dict[str, Any], seconds: float, curve: str, codec: str,
            placement: str) -> dict[str, Any]:
    """A run's figure-4 row from its report: ledger, delivered payload and the model's bytes."""
    inputs = report_plan_inputs(report)
    assert inputs is not None, "the run collected no frames"
    summary = report["summary"]
    measured = summary["total_bytes"]
    predicted = estimate(inputs, codec, placement).total_bytes
    delivered = summary["delivered_frames"]
    payload = summary["delivered_payload_bytes"] / delivered if delivered else inputs.payload(codec)
    refit = replace(inputs, payload_bytes={**inputs.payload_bytes, codec: payload})
    refit_bytes = estimate(refit, codec, placement).total_bytes
    return {"devices": inputs.devices, "curve": curve, "codec": codec, "placement": placement,
            "seconds": round(seconds, 1), "frames_per_device": inputs.frames_per_device,
            "jpeg_bytes": inputs.payload("jpeg"), "payload_bytes": inputs.payload(codec),
            "delivered_payload_bytes": payload,
            "measured_bytes": measured, "model_bytes": round(predicted),
            "model_error": (predicted - measured) / measured,
            "delivered_model_error": (refit_bytes - measured) / measured,
            "measured_by_phase": summary["bytes_by_phase"],
            "delivered_frames": delivered, "inputs": asdict(inputs)}


def device_runs(parity: list[dict[str, Any]], summary: list[dict[str, Any]], spec: RunSpec,
                max_side: int, work: Path, device: str | None) -> list[dict[str, Any]]:
    """Every device count x curve simulation (see the module docstring)."""
    data = str(SHARED_DATA_DIR) if SHARED_DATA_DIR.is_dir() else ""  # "": the generated scenes
    base = {"num-server-rounds": 1, "data": data, "frames-per-node": spec.frames_per_node,
            "frames-per-round": 0, "val-every": spec.val_every, "max-side": max_side,
            "inr-steps": spec.inr_steps, "nerv-epochs": spec.nerv_epochs, "train": False,
            "cache-dir": str(work / "cache"), "edge-dir": str(work / "edge"),
            "device": device or ""}
    fog = {**base, "train": True, "model": DETECTOR, "epochs": spec.fog_epochs,
           "imgsz": spec.fog_imgsz, "batch": 8}
    rows = []
    for n in spec.devices:
        for curve, codec, overrides in edge_curves(parity, summary):
            rows.append(_run(n, curve, codec, "edge", {**base, **overrides}, work))
        rows.append(_run(n, FOG_CURVE, "jpeg", "fog", fog, work))
    return rows


def measured_curves(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Figure 4 from the runs: their bytes up to the largest count, the model beyond.

    The model curves (:func:`paper_devices.device_curves`) use the payload per frame the
    largest runs delivered (the runtime planner's estimate in results saved before runs
    recorded it); ``measured`` holds each curve's ledger per device count, ``crossover`` the
    fewest devices from which fog training moved fewer bytes in the runs, else the model's.
    """
    largest = max(r["devices"] for r in rows)
    top = {r["curve"]: r for r in rows if r["devices"] == largest}
    payloads = {"jpeg": top["jpeg"]["jpeg_bytes"],
                **{c: r.get("delivered_payload_bytes", r["payload_bytes"])
                   for c, r in top.items() if c not in ("jpeg", FOG_CURVE)}}
    curves = device_curves(payloads, top[FOG_CURVE]["frames_per_device"])
    measured: dict[str, dict[int, int]] = {}
    for r in rows:
        key = FOG_CURVE if r["curve"] == FOG_CURVE else f"{r['curve']} edge"
        measured.setdefault(key, {})[r["devices"]] = r["measured_bytes"]
    fog = measured[FOG_CURVE]
    source = {}
    for codec in payloads:
        edge = measured[f"{codec} edge"]
        wins = [n for n in sorted(edge) if n in fog and fog[n] < edge[n]]
        if wins and all(fog[n] < edge[n] for n in sorted(edge) if n >= wins[0]):
            curves["crossover"][codec], source[codec] = wins[0], "measured"
        else:
            source[codec] = "model" if curves["crossover"][codec] is not None else "none"
    if largest == 10:
        jpeg_edge = measured["jpeg edge"][largest]
        for codec in payloads:
            at = curves["at_10"][codec]
            at["measured_vs_jpeg_relay"] = jpeg_edge / measured[f"{codec} edge"][largest]
    curves.update(measured={k: {"devices": sorted(v), "bytes": [v[n] for n in sorted(v)]}
                            for k, v in measured.items()},
                  crossover_source=source, run_devices=sorted({r["devices"] for r in rows}),
                  max_model_error=max(abs(r["model_error"]) for r in rows),
                  max_delivered_model_error=max(
                      (abs(r["delivered_model_error"]) for r in rows
                       if "delivered_model_error" in r), default=None))
    return curves
