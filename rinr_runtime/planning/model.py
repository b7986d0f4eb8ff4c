"""Where to train: the communication and latency model of edge vs fog training.

``N`` edge devices each share ``F`` new frames (JPEG, ``J`` bytes each). Three designs move
them (the equations, their assumptions and what differs from the paper are in
``docs/placement.md``):

- **edge**: the edges upload their JPEGs to the fog once, the fog broadcasts every frame to
  every other edge as a payload of ``S`` bytes (the JPEG itself, a Rapid-INR or a
  Residual-INR), and each edge fine-tunes YOLOv8 locally (optionally FedAvg of its weights);
- **fog**: the edges upload their JPEGs, the fog fine-tunes YOLOv8 itself and broadcasts only
  the model weights (``M`` bytes) once per round;
- **serverless** (the paper's baseline): no fog; every edge sends its JPEGs to every other.

Payload-only, with independent edge models and ``R`` rounds::

    edge:        N F J + N (N - 1) F S
    fog:         N F J + N R M
    serverless:  N (N - 1) F J

On top of the payloads, :class:`WireOverhead` adds what the runtime's Flower 1.41 messages
cost around them (message envelopes, per-item records, frame-id lists), so that an
:class:`Estimate` maps one to one onto the run report's byte ledger
(``fog.report.ByteLedger.totals()``: ``{phase: {direction: bytes}}`` with phases
``collect, broadcast, train, evaluate`` and directions ``down`` = fog to edge, ``up`` = edge
to fog). :func:`recommend` picks ``edge`` or ``fog`` and says why; :func:`crossover_devices`
finds the number of devices from which training at the fog moves fewer bytes.

The model itself is plain Python and numpy: it imports neither Flower nor torch. Only
:func:`inr_payload_bytes` (and :func:`default_payload_bytes`) load ``rinr_core``'s codec
modules, lazily, to size a payload with the real ``.rinr`` container.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

from rinr_core.codecs import FRAME, STREAM, all_codecs, codec_names
from rinr_core.errors import ConfigError, require

CODECS = tuple(str(c.runtime_name) for c in all_codecs() if c.runtime_name and c.kind == FRAME
               and (c.relay or c.exact_size))
"""Per-frame codecs whose size is known before encoding, by the runtime's ``codec`` names
(``jpeg``, ``rapid-inr``, ``residual-inr``), from the codec registry (:mod:`rinr_core.codecs`);
other codecs' sizes are measured (``payload_bytes``)."""
SEQUENCE_CODECS = codec_names(runtime=True, kind=STREAM)
"""Stream codecs (``res-nerv``, ``nerv``): one NeRV per node's stream, shipped as ``.rinrs``."""
RUNTIME_CODECS = codec_names(runtime=True)
"""Every ``codec`` the runtime can broadcast with."""
PLACEMENTS = ("edge", "fog", "serverless")
RUNTIME_PLACEMENTS = ("edge", "fog")
"""The placements the runtime can run (``placement`` in the run config)."""
AGGREGATIONS = ("independent", "fedavg", "fedprox", "fedadam", "fedyogi", "fedadagrad", "fedavgm")
INDEPENDENT = "independent"
"""Each edge keeps its own model: no weights travel. Every other aggregation sends the global
weights down and each edge's weights up every round (round 1 down: nothing yet)."""
CRITERIA = ("bytes", "time")
PHASES = ("collect", "broadcast", "train", "evaluate")
DIRECTIONS = ("down", "up")
PEER = "peer"
"""Direction of the serverless baseline's transfers (edge to edge, no fog)."""

MB = 1_000_000
"""One megabyte (decimal, as in ``fog.report.human_bytes``)."""
DEFAULT_BANDWIDTH_MBPS = 2.0
"""Link bandwidth in megabytes per second (2 MB/s = 16 Mbit/s)."""
DEFAULT_JPEG_BYTES = 26_727
"""Mean bytes of the camera's JPEG of a 640x360 frame over ``../shared/data``: re-encoded with
the source file's own quantization tables (``rinr_core.images.camera_jpeg``), as an edge
uploads it; ``bench/placement_jpeg.py``, ``docs/results/placement_jpeg.md`` (a quality-95
re-encode, the old default, is 63,909 B)."""
DEFAULT_BOX_AREA = 3_425
"""Median object box area (px^2) of the same frames at 640x360: the ``5x17`` object tier."""
DEFAULT_PRESET = "fast"
"""The encoder preset the default INR payload sizes are computed for (``rinr_core.presets``)."""


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WireOverhead:
    """Bytes the runtime's Flower messages add around the payloads and weights.

    Defaults: measured with ``rinr_runtime.records`` on Flower 1.41 (``message_wire_bytes`` of the
    runtime's messages; docs/placement.md). ``<phase>_<direction>`` is one message with no
    payload and no frame ids; ``upload_item`` / ``delivery_item`` are added per frame in a
    collect reply / broadcast message; ``ack_record`` once in a collect / broadcast message
    whose ack lists anything (an empty ack is not sent), plus ``frame_id`` per id it lists (a
    node report confirms the frames it holds by a digest, part of its envelope);
    ``weight_array`` per weight array (its ``.npy`` header and record entry).
    """

    collect_down: float = 357  # with the digest of the held set the fog expects, no ack
    collect_up: float = 807  # held and stored lists confirmed by that digest
    broadcast_down: float = 753
    broadcast_up: float = 412
    train_down: float = 320
    train_up: float = 983  # the report leaves out its empty lists
    evaluate_down: float = 465
    evaluate_up: float = 620
    upload_item: float = 415
    delivery_item: float = 391
    frame_id: float = 34
    ack_record: float = 175
    weight_array: float = 435

    @classmethod
    def none(cls) -> WireOverhead:
        """No overhead at all: the payload-only equations of the paper."""
        return cls(**{f.name: 0 for f in fields(cls)})


@dataclass(frozen=True)
class PlanInputs:
    """Everything the model needs (see the module docstring for the designs).

    Parameters
    ----------
    devices
        Number of edge devices ``N``.
    frames_per_device
        Frames each device uploads over the run ``F`` (the frames shared; held-out
        validation frames never travel). A mean over devices is exact for every term.
    payload_bytes
        Mean bytes per frame by codec name; ``"jpeg"`` (what the edges upload) is required.
    model_bytes
        Bytes of the detector's weights ``M`` as they travel (float32, or the weight codec's
        message: ``rinr_runtime.planning.weights_size``).
    model_arrays
        Number of weight arrays (each costs ``overhead.weight_array``; 1 for a weight message).
    weights_repeat_bytes
        Bytes of a weights message that repeats the model an edge holds already (FedAvg's
        train message after the evaluate phase: a keep message with a weight codec);
        ``None``: a full copy (``fp32``).
    rounds
        Rounds ``R``: one weights broadcast per round with fog training, one FedAvg per round.
    frames_per_round
        New frames each device uploads per round (0: all ``F`` in round 1).
    epochs
        Training epochs per round (times only).
    aggregation
        ``independent`` edge models, or a Flower strategy (``fedavg``, ``fedprox``, ...)
        aggregating their weights every round.
    train
        Whether YOLOv8 trains at all (``False``: frames are moved only).
    bandwidth
        Link bandwidth in **bytes** per second.
    overhead
        Protocol bytes around payloads; :meth:`WireOverhead.none` for payloads only.
    edge_train_fps, fog_train_fps
        Training throughput (images per second through one epoch) of one edge / the fog.
    decode_fps
        INR decoding throughput of one edge (frames per second) by codec name.
    encode_fps
        INR encoding throughput of the fog (frames per second) by codec name.
    """

    devices: int
    frames_per_device: float
    payload_bytes: Mapping[str, float]
    model_bytes: float
    model_arrays: int = 0
    weights_repeat_bytes: float | None = None
    rounds: int = 1
    frames_per_round: float = 0
    epochs: int = 1
    aggregation: str = "independent"
    train: bool = True
    bandwidth: float = DEFAULT_BANDWIDTH_MBPS * MB
    overhead: WireOverhead = field(default_factory=WireOverhead)
    edge_train_fps: float | None = None
    fog_train_fps: float | None = None
    decode_fps: Mapping[str, float] = field(default_factory=dict)
    encode_fps: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {
            "devices": self.devices >= 1,
            "frames_per_device": self.frames_per_device >= 0,
            "model_bytes": self.model_bytes >= 0,
            "model_arrays": self.model_arrays >= 0,
            "rounds": self.rounds >= 1,
            "frames_per_round": self.frames_per_round >= 0,
            "epochs": self.epochs >= 1,
            "aggregation": self.aggregation in AGGREGATIONS,
            "bandwidth": self.bandwidth > 0,
            "payload_bytes": "jpeg" in self.payload_bytes
            and all(v >= 0 for v in self.payload_bytes.values()),
            "edge_train_fps": self.edge_train_fps is None or self.edge_train_fps > 0,
            "fog_train_fps": self.fog_train_fps is None or self.fog_train_fps > 0,
            "decode_fps": all(v > 0 for v in self.decode_fps.values()),
            "encode_fps": all(v > 0 for v in self.encode_fps.values()),
        }
        require(checks, lambda name: getattr(self, name), "placement model inputs",
                "devices, rounds and epochs must be >= 1, sizes >= 0, throughputs and "
                f"bandwidth > 0, aggregation one of {AGGREGATIONS}, and payload_bytes must give "
                "the 'jpeg' size")

    def with_devices(self, devices: int) -> PlanInputs:
        """The same inputs for another number of devices."""
        return replace(self, devices=devices)

    @property
    def weights_bytes(self) -> float:
        """Bytes of one weights record on the wire: the weights plus their arrays' overhead."""
        return self.model_bytes + self.model_arrays * self.overhead.weight_array

    def payload(self, codec: str) -> float:
        """Mean payload bytes per frame of ``codec``."""
        try:
            return float(self.payload_bytes[codec])
        except KeyError:
            raise ConfigError(
                f"no payload size for codec {codec!r}; give one (payload_bytes) for "
                f"{sorted(self.payload_bytes)} or add it"
            ) from None

    def uploads_per_round(self) -> list[float]:
        """Frames each device uploads in rounds ``1..R``."""
        if self.frames_per_round <= 0:
            return [float(self.frames_per_device)] + [0.0] * (self.rounds - 1)
        out, left = [], float(self.frames_per_device)
        for _ in range(self.rounds):
            out.append(min(float(self.frames_per_round), left))
            left -= out[-1]
        return out


# --- estimates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """Bytes and times of one codec x placement (see :func:`estimate`).

    Attributes
    ----------
    ledger
        ``{phase: {direction: bytes}}`` over the run, shaped like the run report's
        ``bytes_by_phase`` (serverless: direction ``peer``, phases ``broadcast``/``train``).
    parts
        The same bytes by kind: ``uploads`` (JPEGs to the fog), ``payloads`` (frames to the
        edges), ``weights`` and ``overhead`` (envelopes, item records, frame-id lists).
    links
        Bytes over the run on one link: ``edge->fog`` and ``fog->edge``, or ``edge->edge``.
    transfer_s
        Every byte through one shared channel of the given bandwidth, one at a time.
    edge_radio_s
        The bytes one edge sends and receives at that bandwidth (links in parallel).
    encode_s, decode_s, train_s
        INR encoding at the fog, INR decoding at an edge, YOLOv8 training: ``None`` when the
        throughput needed was not given.
    """

    codec: str
    placement: str
    devices: int
    ledger: dict[str, dict[str, float]]
    parts: dict[str, float]
    links: dict[str, float]
    transfer_s: float
    edge_radio_s: float
    encode_s: float | None
    decode_s: float | None
    train_s: float | None

    @property
    def total_bytes(self) -> float:
        """Every byte moved over the run."""
        return sum(v for by_dir in self.ledger.values() for v in by_dir.values())

    @property
    def edge_sent(self) -> float:
        """Bytes one edge sends over the run."""
        if self.placement == "serverless":
            return self.total_bytes / self.devices
        return sum(self.ledger[p]["up"] for p in PHASES) / self.devices

    @property
    def edge_received(self) -> float:
        """Bytes one edge receives over the run."""
        if self.placement == "serverless":
            return self.total_bytes / self.devices
        return sum(self.ledger[p]["down"] for p in PHASES) / self.devices

    @property
    def total_s(self) -> float | None:
        """Transfer (shared channel) + encode + decode + training, or ``None`` if unknown."""
        steps = (self.transfer_s, self.encode_s, self.decode_s, self.train_s)
        return None if any(s is None for s in steps) else float(sum(steps))  # type: ignore[arg-type]

    def to_dict(self) -> dict:
        """JSON-ready data."""
        return {
            "codec": self.codec, "placement": self.placement, "devices": self.devices,
            "total_bytes": round(self.total_bytes), "ledger": _rounded(self.ledger),
            "parts": {k: round(v) for k, v in self.parts.items()},
            "links": {k: round(v) for k, v in self.links.items()},
            "edge_sent_bytes": round(self.edge_sent),
            "edge_received_bytes": round(self.edge_received),
            "transfer_s": self.transfer_s, "edge_radio_s": self.edge_radio_s,
            "encode_s": self.encode_s, "decode_s": self.decode_s, "train_s": self.train_s,
            "total_s": self.total_s,
        }


class _Tally:
    """Adds bytes to a ledger cell and to a kind at once."""

    def __init__(self, directions: Sequence[str]) -> None:
        self.ledger = {p: dict.fromkeys(directions, 0.0) for p in PHASES}
        self.parts = dict.fromkeys(("uploads", "payloads", "weights", "overhead"), 0.0)

    def add(self, phase: str, direction: str, **kinds: float) -> None:
        for kind, count in kinds.items():
            self.ledger[phase][direction] += count
            self.parts[kind] += count


def _ack(o: WireOverhead, listed: float) -> float:
    """Bytes of an ack listing ``listed`` frame ids (none: the message carries no ack)."""
    return o.ack_record + o.frame_id * listed if listed else 0.0


def _fog_tally(inputs: PlanInputs, codec: str, placement: str) -> _Tally:
    """Per-round message bytes of the runtime (collect, broadcast, train, evaluate), all nodes."""
    o, n = inputs.overhead, inputs.devices
    jpeg, payload, weights = inputs.payload("jpeg"), inputs.payload(codec), inputs.model_bytes
    weights_overhead = inputs.weights_bytes - weights
    fedavg = placement == "edge" and inputs.aggregation != INDEPENDENT and inputs.train
    tally = _Tally(DIRECTIONS)
    own = 0.0  # per device, before the round: own uploads acked
    for server_round, new in enumerate(inputs.uploads_per_round(), start=1):
        tally.add("collect", "down", overhead=n * (o.collect_down + _ack(o, own)))
        tally.add("collect", "up", uploads=n * new * jpeg,
                  overhead=n * (o.collect_up + new * o.upload_item))
        own += new
        if placement == "edge":
            sent = (n - 1) * new
            tally.add("broadcast", "down", payloads=n * sent * payload,
                      overhead=n * (o.broadcast_down + sent * o.delivery_item + _ack(o, own)))
            tally.add("broadcast", "up", overhead=n * o.broadcast_up)
            if inputs.train:
                repeat = weights if inputs.weights_repeat_bytes is None else float(
                    inputs.weights_repeat_bytes)
                down = repeat if fedavg and server_round > 1 else 0.0
                tally.add("train", "down", weights=n * down,
                          overhead=n * (o.train_down + (weights_overhead if down else 0.0)))
                up = weights if fedavg else 0.0
                tally.add("train", "up", weights=n * up,
                          overhead=n * (o.train_up + (weights_overhead if up else 0.0)))
        if (fedavg or placement == "fog") and inputs.train and own > 0:
            tally.add("evaluate", "down", weights=n * weights,
                      overhead=n * (o.evaluate_down + weights_overhead))
            tally.add("evaluate", "up", overhead=n * o.evaluate_up)
    return tally


def _serverless_tally(inputs: PlanInputs, codec: str) -> _Tally:
    """Every edge sends its frames (and, with FedAvg, its weights each round) to every other."""
    n, frames = inputs.devices, inputs.frames_per_device
    pairs = n * (n - 1)
    tally = _Tally((PEER,))
    tally.add("broadcast", PEER, payloads=pairs * frames * inputs.payload(codec),
              overhead=pairs * frames * inputs.overhead.delivery_item)
    if inputs.train and inputs.aggregation != INDEPENDENT:
        tally.add("train", PEER, weights=pairs * inputs.rounds * inputs.model_bytes,
                  overhead=pairs * inputs.rounds * (inputs.weights_bytes - inputs.model_bytes))
    return tally


def _seconds(count: float, fps: float | None) -> float | None:
    """``count`` items at ``fps`` per second (0 items take 0 s even when ``fps`` is unknown)."""
    if count == 0:
        return 0.0
    return None if fps is None else count / fps


def _times(inputs: PlanInputs, codec: str, placement: str) -> tuple[float | None, ...]:
    """``(encode_s, decode_s, train_s)`` of one codec x placement."""
    n, frames = inputs.devices, inputs.frames_per_device
    inr = codec != "jpeg" and placement != "fog"
    encoded = (n * frames if placement == "edge" else frames) if inr else 0.0
    decoded = (n - 1) * frames if inr else 0.0
    seen = 0.0  # images one trainer passes through over the run
    if inputs.train:
        have = 0.0
        for new in inputs.uploads_per_round():
            have += new
            seen += inputs.epochs * n * have
    fps = inputs.fog_train_fps if placement == "fog" else inputs.edge_train_fps
    return (_seconds(encoded, inputs.encode_fps.get(codec)),
            _seconds(decoded, inputs.decode_fps.get(codec)), _seconds(seen, fps))


def estimate(inputs: PlanInputs, codec: str, placement: str) -> Estimate:
    """Bytes and times of moving the frames with ``codec`` and training at ``placement``.

    Raises
    ------
    ConfigError
        An unknown placement, or no payload size for ``codec``.
    """
    if placement not in PLACEMENTS:
        raise ConfigError(f"unknown placement {placement!r}; choose one of {PLACEMENTS}")
    n = inputs.devices
    if placement == "serverless":
        tally = _serverless_tally(inputs, codec)
        total = sum(tally.ledger[p][PEER] for p in PHASES)
        links = {"edge->edge": total / (n * (n - 1)) if n > 1 else 0.0}
        radio = 2 * total / n  # every transfer leaves one edge and reaches another
    else:
        tally = _fog_tally(inputs, codec, placement)
        up = sum(tally.ledger[p]["up"] for p in PHASES)
        total = up + sum(tally.ledger[p]["down"] for p in PHASES)
        links = {"edge->fog": up / n, "fog->edge": (total - up) / n}
        radio = total / n  # every transfer has exactly one edge at one end
    encode_s, decode_s, train_s = _times(inputs, codec, placement)
    return Estimate(codec, placement, n, tally.ledger, tally.parts, links,
                    transfer_s=total / inputs.bandwidth, edge_radio_s=radio / inputs.bandwidth,
                    encode_s=encode_s, decode_s=decode_s, train_s=train_s)


def plan_codecs(inputs: PlanInputs) -> list[str]:
    """The codecs with a payload size, in :data:`CODECS` order (others after them)."""
    known = [c for c in CODECS if c in inputs.payload_bytes]
    return known + sorted(set(inputs.payload_bytes) - set(known))


def estimate_all(inputs: PlanInputs) -> list[Estimate]:
    """Every codec x runtime placement, then the serverless JPEG baseline."""
    rows = [estimate(inputs, c, p) for c in plan_codecs(inputs) for p in RUNTIME_PLACEMENTS]
    return rows + [estimate(inputs, "jpeg", "serverless")]


def reduction_vs_jpeg(inputs: PlanInputs, codec: str = "residual-inr") -> dict[str, float]:
    """Total bytes with JPEG payloads / with ``codec``, per runtime placement.

    With ``fog`` the codec never travels (the fog trains on the uploaded JPEGs), so that
    ratio is 1 by construction.
    """
    return {p: _ratio(estimate(inputs, "jpeg", p).total_bytes, estimate(inputs, codec, p).total_bytes)
            for p in RUNTIME_PLACEMENTS}


def reduction_vs_serverless(inputs: PlanInputs, codec: str = "residual-inr") -> dict[str, float]:
    """Total bytes of the serverless JPEG baseline / with ``codec``, per runtime placement."""
    baseline = estimate(inputs, "jpeg", "serverless").total_bytes
    return {p: _ratio(baseline, estimate(inputs, codec, p).total_bytes) for p in RUNTIME_PLACEMENTS}


# --- helpers -----------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else float("inf")


def _mb(count: float) -> str:
    return f"{count / MB:.2f} MB"


def _rounded(ledger: dict[str, dict[str, float]]) -> dict[str, dict[str, int]]:
    return {p: {d: round(v) for d, v in by_dir.items()} for p, by_dir in ledger.items()}
