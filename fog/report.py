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
every round ran and every node answered every phase readably, ``completed_with_errors`` when
every round ran but some phase lost a reply or got an error reply or an unreadable one (the
``errors`` of the summary say which: round, phase, node, reason), and ``failed`` when the
ServerApp stopped on an exception (a fog-side error).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flwr.app import Message

from rinr_runtime.planning import PlanInputs, Recommendation, WireOverhead
from rinr_runtime.records import message_wire_bytes, payload_bytes

PHASES = ("collect", "broadcast", "train", "evaluate")
DIRECTIONS = ("down", "up")
COMPLETED = "completed"
COMPLETED_WITH_ERRORS = "completed_with_errors"
FAILED = "failed"
STATUSES = ("running", COMPLETED, COMPLETED_WITH_ERRORS, FAILED)
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
    encoded_now: int = 0
    cache_hits: int = 0
    encode_seconds: float = 0.0
    delivered: dict[str, list[str]] = field(default_factory=dict)
    delivered_bytes: dict[str, int] = field(default_factory=dict)  # payload bytes of them
    broken: list[dict] = field(default_factory=list)
    train: dict[str, dict] = field(default_factory=dict)
    evaluate: dict[str, dict] = field(default_factory=dict)
    aggregate: dict[str, dict] = field(default_factory=dict)  # Flower's means: train/evaluate
    errors: list[dict] = field(default_factory=list)
    seconds: float = 0.0


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

    def error(self, server_round: int, phase: str, node: str, reason: str) -> None:
        """An error reply, a missing reply or an unreadable reply of ``node`` in ``phase``."""
        self.round(server_round).errors.append({"phase": phase, "node": node, "reason": reason})

    def errors(self) -> list[dict]:
        """Every error of the run: ``{"round", "phase", "node", "reason"}``, in round order."""
        return [{"round": r.round, **e} for _, r in sorted(self.rounds.items()) for e in r.errors]

    def complete(self) -> str:
        """Set and return the status of a run whose rounds all ran (see the module docstring)."""
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
            "status": self.status,
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
        plot_report(data, paths["plot"])
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


def human_bytes(count: float | None) -> str:
    """``1234567`` -> ``"1.23 MB"`` (decimal units)."""
    if count is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.2f} {unit}"
        count /= 1000
    return f"{count:.2f} GB"


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


def _placement_lines(summary: dict) -> list[str]:
    """Which placement ran and why, and the bytes the model predicted for it."""
    placement = summary.get("placement") or {}
    chosen = placement.get("chosen")
    if chosen is None:
        return [f"placement {placement.get('requested') or '-'}: undecided "
                f"({placement.get('reason', '-')})"]
    predicted, measured = placement["predicted_total_bytes"], summary["total_bytes"]
    error = f"{(predicted - measured) / measured:+.1%}" if measured else "-"
    return [f"placement {chosen} (requested {placement['requested']}): {placement['reason']}",
            f"placement model predicted {human_bytes(predicted)} for this run, measured "
            f"{human_bytes(measured)} (model error {error})"]


# --- text, markdown, plot ---------------------------------------------------------------------


def _bytes_rows(summary: dict) -> list[tuple[str, str, str, str]]:
    """(phase, up, down, JPEG-relay total) rows and a total row, as text."""
    rows = []
    actual, relay = summary["bytes_by_phase"], summary["jpeg_relay_bytes_by_phase"]
    for phase in actual:
        up, down = actual[phase]["up"], actual[phase]["down"]
        rows.append((phase, human_bytes(up), human_bytes(down),
                     human_bytes(relay[phase]["up"] + relay[phase]["down"])))
    ups = sum(actual[p]["up"] for p in actual)
    downs = sum(actual[p]["down"] for p in actual)
    rows.append(("total", human_bytes(ups), human_bytes(downs),
                 human_bytes(summary["jpeg_relay_total_bytes"])))
    return rows


def _map_rows(table: dict) -> list[tuple[str, str]]:
    return [
        (node, "  ".join(f"r{r}: {m['map50']:.3f} / {m['map50_95']:.3f}"
                         for r, m in sorted(rounds.items(), key=lambda x: int(x[0]))))
        for node, rounds in sorted(table.items())
    ]


def format_summary(report: dict) -> str:
    """A plain-text summary table of a report (what ``make demo`` prints)."""
    s = report["summary"]
    lines = [
        f"codec {s['codec']}  status {s['status']}  {s['seconds']} s",
        *_placement_lines(s),
        "",
        f"{'phase':<10} {'up (edge->fog)':>15} {'down (fog->edge)':>17} {'JPEG relay':>12}",
    ]
    for phase, up, down, relay in _bytes_rows(s):
        lines.append(f"{phase:<10} {up:>15} {down:>17} {relay:>12}")
    lines += [
        "",
        f"delivered frames: {s['delivered_frames']}  payloads {human_bytes(s['delivered_payload_bytes'])}"
        f" vs their JPEGs {human_bytes(s['delivered_jpeg_bytes'])}",
        f"JPEG relay / {s['codec']}: payloads {s['payload_ratio_vs_jpeg'] or '-'}x, all traffic"
        f" {s['total_ratio_vs_jpeg'] or '-'}x (above 1: {s['codec']} moves fewer bytes)",
        "mean PSNR of delivered frames (dB): "
        + "  ".join(f"{k.removeprefix('psnr_')} {v if v is not None else '-'}"
                    for k, v in s["mean_psnr"].items()),
        "frames per node (collected / encoded / received): "
        + "  ".join(f"{n} {c['collected']}/{c['encoded']}/{c['received']}"
                    for n, c in s["frames_per_node"].items()),
    ]
    for title, key in (("mAP50 / mAP50-95 after local training", "map"),
                       ("mAP50 / mAP50-95 of the global model", "global_map")):
        if s[key]:
            lines += ["", f"{title} (held-out original JPEGs):"]
            lines += [f"  {node:<6} {text}" for node, text in _map_rows(s[key])]
    finals = [m["map50"] for t in (s["map"], s["global_map"]) for r in t.values()
              for m in r.values()]
    if finals and max(finals) < 0.05:
        lines.append("  (near zero: YOLOv8n from scratch, few epochs on few frames; raise "
                     "epochs and frames-per-node for a meaningful accuracy)")
    if s["rejected"]:
        lines += ["", f"refused uploads: {len(s['rejected'])}"]
        lines += [f"  {x['node']} {x['frame']}: {x['reason']}" for x in s["rejected"]]
    if s["errors"]:
        lines += ["", f"errors and missing replies: {len(s['errors'])}"]
        lines += [f"  round {e['round']} {e['phase']} {e['node']}: {e['reason'][:160]}"
                  for e in s["errors"]]
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    """The report as a markdown page (``report.md``)."""
    s = report["summary"]
    rc = report["run_config"]
    out = [
        f"# rinr run report: codec `{s['codec']}`",
        "",
        f"Status **{s['status']}**, {s['seconds']} s. Settings: "
        + ", ".join(f"`{k}={v}`" for k, v in sorted(rc.items())),
        "",
        "## Placement",
        "",
        *(f"{line[0].upper()}{line[1:].rstrip('.')}." for line in _placement_lines(s)),
        "",
        "## Bytes moved",
        "",
        "Sizes are the deflated Flower message objects (what Flower 1.41 transfers). "
        "*JPEG relay* is the same traffic with the original JPEGs broadcast in place of the "
        "payloads.",
        "",
        "| phase | up (edge->fog) | down (fog->edge) | JPEG relay (up+down) |",
        "|---|---:|---:|---:|",
    ]
    out += [f"| {p} | {u} | {d} | {r} |" for p, u, d, r in _bytes_rows(s)]
    out += [
        "",
        f"Delivered frames: {s['delivered_frames']}; payloads "
        f"{human_bytes(s['delivered_payload_bytes'])} vs JPEGs "
        f"{human_bytes(s['delivered_jpeg_bytes'])}. JPEG relay bytes / {s['codec']} bytes: "
        f"payloads **{s['payload_ratio_vs_jpeg'] or '-'}x**, all traffic "
        f"**{s['total_ratio_vs_jpeg'] or '-'}x** (above 1: fewer bytes than the relay).",
        "",
        "## Frames and quality",
        "",
        "| node | collected | encoded | received |",
        "|---|---:|---:|---:|",
    ]
    out += [f"| {n} | {c['collected']} | {c['encoded']} | {c['received']} |"
            for n, c in s["frames_per_node"].items()]
    out += ["", "Mean PSNR of the delivered frames against the uploaded JPEGs (dB): "
            + ", ".join(f"{k.removeprefix('psnr_')} {v if v is not None else '-'}"
                        for k, v in s["mean_psnr"].items()), ""]
    for title, key in (("Detection after local training", "map"),
                       ("Detection of the global model", "global_map")):
        if s[key]:
            out += [f"## {title}", "", "mAP50 / mAP50-95 on each node's held-out original JPEGs.",
                    "", "| node | per round |", "|---|---|"]
            out += [f"| {n} | {t} |" for n, t in _map_rows(s[key])]
            out.append("")
    if s["rejected"] or s["errors"]:
        out += ["## Problems", ""]
        out += [f"- refused {x['node']} {x['frame']}: {x['reason']}" for x in s["rejected"]]
        out += [f"- round {e['round']} {e['phase']} {e['node']}: {e['reason'][:300]}"
                for e in s["errors"]]
        out.append("")
    out += ["![bytes and mAP](report.png)", ""]
    return "\n".join(out)


def plot_report(report: dict, path: Path) -> None:
    """Bytes per phase (actual vs JPEG relay) and mAP50 per node and round, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["summary"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    phases = list(s["bytes_by_phase"])
    actual = [sum(s["bytes_by_phase"][p].values()) / 1e6 for p in phases]
    relay = [sum(s["jpeg_relay_bytes_by_phase"][p].values()) / 1e6 for p in phases]
    xs = range(len(phases))
    left.bar([x - 0.2 for x in xs], actual, width=0.4, label=f"{s['codec']}")
    left.bar([x + 0.2 for x in xs], relay, width=0.4, label="JPEG relay")
    left.set_xticks(list(xs), phases)
    left.set_ylabel("MB on the wire")
    left.set_title("Bytes moved per phase")
    left.legend()
    table = s["global_map"] or s["map"]
    for node, rounds in sorted(table.items()):
        order = sorted(rounds, key=int)
        right.plot([int(r) for r in order], [rounds[r]["map50"] for r in order], "o-", label=node)
    all_rounds = sorted({int(r) for rounds in table.values() for r in rounds})
    right.set_xticks(all_rounds or [1])
    right.set_ylim(-0.02, 1.02)
    right.set_xlabel("round")
    right.set_ylabel("mAP50 (held-out JPEGs)")
    right.set_title("Detection" if table else "Detection (no training in this run)")
    if table:
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
