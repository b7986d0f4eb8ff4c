"""The run report: a byte ledger of every message, what each round did, and a summary.

:class:`ByteLedger` records, for every message the fog sends or receives, its round, phase
(``collect``, ``broadcast``, ``train``, ``evaluate``), node and direction (``down`` = fog to
edge, ``up`` = edge to fog), and its size as Flower 1.41 transfers it
(:func:`rinr_runtime.records.message_wire_bytes`: the deflated bytes of every distinct object of the
message) next to the bytes of its Arrays. Each broadcast message also carries what the same
message would have cost with the original JPEGs in place of the payloads (the JPEG relay);
every other message costs the same under both designs.

:class:`RunReport` gathers the ledger, per-round events (frames collected, refused, encoded,
delivered; train/evaluate metrics and their aggregates; errors and missing replies) and the
catalog's frames, and writes ``report.json``, ``report.md`` and ``report.png`` to the run
folder. It also keeps where YOLOv8 trained and why: the placement model's advice and the
inputs measured in the run (:meth:`RunReport.set_placement`), so a report can be checked
against the model (:func:`report_plan_inputs`).

The run's ``status`` (:data:`STATUSES`): ``running`` until the end, then ``completed`` when
every round ran, every node answered every phase readably and every shareable frame reached
every live node; ``completed_with_errors`` when every frame arrived but some phase lost a
reply or got an error reply or an unreadable one (the ``errors`` of the summary say which:
round, phase, node, reason); ``incomplete`` when a live node (one that answered the last
broadcast) still lacks frames (``missing``: node -> frame ids) or frames were given up on
(``undeliverable``: frame id -> why); and ``failed`` when the ServerApp stopped on an
exception (a fog-side error).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from flwr.app import Message

from fog.report_views import format_markdown, plot_report
from rinr_runtime.planning import PlanInputs, Recommendation, WireOverhead
from rinr_runtime.records import message_wire_bytes, payload_bytes

PHASES = ("collect", "broadcast", "train", "evaluate")
DIRECTIONS = ("down", "up")
COMPLETED = "completed"
COMPLETED_WITH_ERRORS = "completed_with_errors"
INCOMPLETE = "incomplete"
FAILED = "failed"
STATUSES = ("running", COMPLETED, COMPLETED_WITH_ERRORS, INCOMPLETE, FAILED)
"""Every ``status`` a report can have (see the module docstring)."""


@dataclass
class LedgerEntry:
    """One message: where it went and how many bytes it put on the wire."""

    round: int
    phase: str
    node: str
    direction: str
    message_type: str
    wire_bytes: int
    payload_bytes: int
    jpeg_relay_bytes: int
    error: bool = False


class ByteLedger:
    """Every message of the run with its size (see the module docstring)."""

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []

    def record(self, server_round: int, phase: str, node: str, direction: str,
               message: Message, *, jpeg_delta: int = 0) -> LedgerEntry:
        """Measure ``message`` and add it; ``jpeg_delta`` is JPEG bytes minus payload bytes."""
        wire = message_wire_bytes(message)
        entry = LedgerEntry(
            round=server_round, phase=phase, node=node, direction=direction,
            message_type=message.metadata.message_type, wire_bytes=wire,
            payload_bytes=payload_bytes(message), jpeg_relay_bytes=wire + jpeg_delta,
            error=message.has_error(),
        )
        self.entries.append(entry)
        return entry

    def totals(self, field_name: str = "wire_bytes") -> dict[str, dict[str, int]]:
        """``{phase: {direction: bytes}}`` summed over the run (every phase and direction)."""
        out = {p: dict.fromkeys(DIRECTIONS, 0) for p in PHASES}
        for e in self.entries:
            out.setdefault(e.phase, dict.fromkeys(DIRECTIONS, 0))[e.direction] += getattr(e, field_name)
        return out

    def total(self, field_name: str = "wire_bytes") -> int:
        """All bytes of the run."""
        return sum(getattr(e, field_name) for e in self.entries)


@dataclass
class RoundRecord:
    """What one round did."""

    round: int
    nodes: list[str] = field(default_factory=list)
    collected: dict[str, int] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)
    deferred: dict[str, dict] = field(default_factory=dict)  # node -> frames over its budget
    encoded_now: int = 0
    cache_hits: int = 0
    cache_corrupt: int = 0  # damaged encode-cache entries dropped and encoded again
    reencoded: list[str] = field(default_factory=list)  # frames encoded afresh: reported broken
    encode_seconds: float = 0.0
    delivered: dict[str, list[str]] = field(default_factory=dict)
    delivered_bytes: dict[str, int] = field(default_factory=dict)  # payload bytes of them
    broken: list[dict] = field(default_factory=list)
    train: dict[str, dict] = field(default_factory=dict)
    evaluate: dict[str, dict] = field(default_factory=dict)
    aggregate: dict[str, dict] = field(default_factory=dict)  # Flower's means: train/evaluate
    errors: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    fog_rss_mb: float = 0.0  # the fog process's resident memory at the round's end
    fog_peak_rss_mb: float = 0.0  # and its peak so far


class RunReport:
    """Everything the run measured; :meth:`write` saves it (see the module docstring)."""

    def __init__(self, run_config: dict, run_dir: Path) -> None:
        self.run_config = dict(run_config)
        self.run_dir = Path(run_dir)
        self.ledger = ByteLedger()
        self.rounds: dict[int, RoundRecord] = {}
        self.frames: dict[str, dict] = {}
        self.started = time.time()
        self.finished: float | None = None
        self.status = "running"
        self.placement: dict = {"requested": self.run_config.get("placement"), "chosen": None,
                                "round": None, "reason": "no frames were collected"}
        self.devices: dict[str, str] = {}  # "fog" and each node: the torch device it resolved
        self.missing: dict[str, list[str]] = {}
        self.undeliverable: dict[str, str] = {}
        self.postfilter: dict = {}  # post-filter = lut: trainings, checks, sends (fog.postfilter)
        self.preview: list[tuple[str, np.ndarray, np.ndarray]] = []  # fog.preview, not in JSON

    def round(self, server_round: int) -> RoundRecord:
        """The record of ``server_round`` (created on first use)."""
        return self.rounds.setdefault(server_round, RoundRecord(server_round))

    def add_frame(self, frame_id: str, owner: str, kind: str, jpeg_bytes: int,
                  metrics: dict, cached: bool) -> None:
        """Add a catalog frame with its sizes and qualities."""
        keep = ("bytes", "psnr_full", "psnr_object", "psnr_background", "width", "height",
                "macs_per_pixel")
        self.frames[frame_id] = {
            "owner": owner, "kind": kind, "jpeg_bytes": jpeg_bytes, "cached": cached,
            **{k: _finite(metrics[k]) for k in keep if k in metrics},
        }

    def set_placement(self, requested: str, chosen: str, server_round: int, reason: str,
                      advice: Recommendation, inputs: PlanInputs) -> None:
        """Record the placement that runs, why, and the model's advice and inputs."""
        self.placement = {
            "requested": requested, "chosen": chosen, "round": server_round, "reason": reason,
            "predicted_total_bytes": round(getattr(advice, chosen).total_bytes),
            "advice": advice.to_dict(), "inputs": asdict(inputs),
        }

    def set_device(self, who: str, device: str) -> None:
        """Record the device the fog (``who = "fog"``) or a node computes on."""
        if device:
            self.devices[who] = device

    def error(self, server_round: int, phase: str, node: str, reason: str) -> None:
        """An error reply, a missing reply or an unreadable reply of ``node`` in ``phase``."""
        self.round(server_round).errors.append({"phase": phase, "node": node, "reason": reason})

    def errors(self) -> list[dict]:
        """Every error of the run: ``{"round", "phase", "node", "reason"}``, in round order."""
        return [{"round": r.round, **e} for _, r in sorted(self.rounds.items()) for e in r.errors]

    def complete(self, missing: dict[str, list[str]] | None = None,
                 undeliverable: dict[str, str] | None = None) -> str:
        """Set and return the status of a run whose rounds all ran (see the module docstring).

        ``missing``: frames each live node still lacks; ``undeliverable``: frames given up on.
        """
        self.missing = dict(missing or {})
        self.undeliverable = dict(undeliverable or {})
        if self.missing or self.undeliverable:
            self.status = INCOMPLETE
        else:
            self.status = COMPLETED_WITH_ERRORS if self.errors() else COMPLETED
        return self.status

    def fail(self) -> str:
        """Set and return the status of a run that stopped on an exception."""
        self.status = FAILED
        return self.status

    # --- summary -------------------------------------------------------------------------------

    def deliveries(self) -> list[tuple[int, str, str]]:
        """Every confirmed delivery: ``(round, node, frame id)``."""
        return [(r.round, node, fid) for r in self.rounds.values()
                for node, ids in r.delivered.items() for fid in ids]

    def summary(self) -> dict:
        """Totals per phase, the JPEG-relay comparison, mean PSNRs and mAP per node and round."""
        wire = self.ledger.total()
        relay = self.ledger.total("jpeg_relay_bytes")
        delivered = self.deliveries()
        frames = [self.frames[fid] for _, _, fid in delivered if fid in self.frames]
        payload = sum(sum(r.delivered_bytes.values()) for r in self.rounds.values())
        jpeg = sum(f["jpeg_bytes"] for f in frames)
        distinct = {fid for _, _, fid in delivered if fid in self.frames}
        quality = {
            name: _mean([self.frames[fid].get(name) for fid in distinct])
            for name in ("psnr_full", "psnr_object", "psnr_background")
        }
        owners = sorted({f["owner"] for f in self.frames.values()})
        placement = {k: self.placement.get(k) for k in ("requested", "chosen", "round", "reason",
                                                       "predicted_total_bytes")}
        return {
            "codec": self.run_config.get("codec"),
            "placement": placement,
            "devices": dict(sorted(self.devices.items())),
            "status": self.status,
            "missing": self.missing,
            "undeliverable": self.undeliverable,
            "seconds": round((self.finished or time.time()) - self.started, 1),
            "bytes_by_phase": self.ledger.totals(),
            "jpeg_relay_bytes_by_phase": self.ledger.totals("jpeg_relay_bytes"),
            "total_bytes": wire,
            "jpeg_relay_total_bytes": relay,
            "total_ratio_vs_jpeg": _ratio(relay, wire),
            "delivered_frames": len(delivered),
            "delivered_payload_bytes": payload,
            "delivered_jpeg_bytes": jpeg,
            "payload_ratio_vs_jpeg": _ratio(jpeg, payload),
            "mean_psnr": quality,
            "frames_per_node": {
                node: {
                    "collected": sum(r.collected.get(node, 0) for r in self.rounds.values()),
                    "encoded": sum(1 for f in self.frames.values() if f["owner"] == node),
                    "received": sum(1 for _, n, _ in delivered if n == node),
                }
                for node in sorted(set(owners) | {n for _, n, _ in delivered})
            },
            "rejected": [x for r in self.rounds.values() for x in r.rejected],
            "map": self._map_table("train"),
            "global_map": self._map_table("evaluate"),
            "errors": self.errors(),
        }

    def _map_table(self, phase: str) -> dict[str, dict[str, dict[str, float]]]:
        """``{node: {round: {map50, map50_95}}}`` from the train or evaluate replies."""
        table: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
        for r in self.rounds.values():
            for node, metrics in getattr(r, phase).items():
                if "map50" in metrics and "map50_95" in metrics:
                    table[node][str(r.round)] = {
                        "map50": round(float(metrics["map50"]), 4),
                        "map50_95": round(float(metrics["map50_95"]), 4),
                    }
        return dict(table)

    def to_dict(self) -> dict:
        """The whole report as JSON-ready data."""
        return {
            "run_config": self.run_config,
            "summary": self.summary(),
            "placement": self.placement,
            "rounds": [asdict(r) for _, r in sorted(self.rounds.items())],
            "frames": self.frames,
            "ledger": [asdict(e) for e in self.ledger.entries],
            "postfilter": self.postfilter,
        }

    def write(self) -> dict[str, Path]:
        """Write ``report.json``, ``report.md`` and ``report.png`` into the run folder."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        paths = {
            "json": self.run_dir / "report.json",
            "markdown": self.run_dir / "report.md",
            "plot": self.run_dir / "report.png",
        }
        paths["json"].write_text(json.dumps(data, indent=1, default=_json_default))
        paths["markdown"].write_text(format_markdown(data))
        plot_report(data, paths["plot"], self.preview)
        return paths


# --- helpers -----------------------------------------------------------------------------------


def _finite(value: object) -> object:
    """``value`` as a float, ``None`` for NaN/inf (JSON has neither)."""
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    return value


def _mean(values: list) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return round(sum(numbers) / len(numbers), 2) if numbers else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def load_report(path: Path) -> dict:
    """Read a ``report.json``."""
    return json.loads(Path(path).read_text())


def plan_inputs_from_dict(given: dict) -> PlanInputs:
    """:class:`~rinr_runtime.planning.PlanInputs` from its JSON form (``dataclasses.asdict``)."""
    return PlanInputs(**{**given, "overhead": WireOverhead(**given["overhead"])})


def report_plan_inputs(report: dict) -> PlanInputs | None:
    """The placement model's inputs measured in a run (``None``: it collected no frames)."""
    given = report.get("placement", {}).get("inputs")
    return plan_inputs_from_dict(given) if given else None
