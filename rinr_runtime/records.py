"""Flower records <-> the runtime's objects, and the bytes a message puts on the wire.

Every message of the runtime is built and read here, so the fog (``fog/``) and the edge
(``edge/``) agree on one layout. Large byte strings (JPEGs, ``.rinr`` payloads) travel as
``uint8`` Arrays in ArrayRecords, which Flower splits into chunks; the per-item fields travel
as parallel lists in a ConfigRecord.

Message layout (record names in quotes)::

    query.collect    fog -> edge  "round" (+ "expect-held"), "ack" (the node's uploads the fog
                                  has; left out while there are none)
                     edge -> fog  "frames" (ArrayRecord: frame id -> JPEG), "frame-meta", "node"
    query.broadcast  fog -> edge  "round" (+ "expect-held"), "items" (item id -> payload),
                                  "item-meta", "ack"
                     edge -> fog  "node" (what it holds, what it stored now)
    train            fog -> edge  "round" (+ "weights" with FedAvg)
                     edge -> fog  "metrics", "node" without "held" (+ "weights" when asked)
    evaluate         fog -> edge  "round", "weights"
                     edge -> fog  "metrics", "node" without "held"

"expect-held" is the digest of the frame set the fog expects the node to hold once it has
handled the message; a reply whose node holds exactly that set (and stored everything the
message brought, nothing broken) sends the digest back instead of its held and stored lists
(:meth:`NodeReport.confirmed`), which otherwise grow with every frame the node holds.

"weights" is float32 Arrays (``weight-codec = fp32``) or one ``uint8`` Array holding a
``rinr_core.weights`` message (every other weight codec; ``rinr_runtime.weight_link``).

Sizes: Flower 1.41 moves a message as a tree of content-addressed objects (Message ->
RecordDict -> records -> Arrays -> chunks), each sent as ``obj.deflate()`` bytes and
identical objects once; :func:`message_wire_bytes` adds up exactly those bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

from rinr_core.errors import BadFrameError, PayloadError
from rinr_runtime.flower_compat import nested_objects

KIND_JPEG = "jpeg"
KIND_RINR = "rinr"
KIND_RINRS = "rinrs"
KIND_RLUT = "rlut"
"""A look-up post-filter (``.rlut``, ``rinr_core.codecs.postfilter``): no frames, applied to them."""
FRAME_ID_HEX = 32
EXPECT_HELD_KEY = "expect-held"
"""Round-record key of a fog message: the :func:`held_digest` of what the fog expects the node
to hold once it has handled the message (see :meth:`NodeReport.confirmed`)."""


# --- bytes and sizes ---------------------------------------------------------------------------


def frame_id(jpeg: bytes) -> str:
    """Content id of a frame: the first 32 hex digits (128 bits) of the JPEG's sha256."""
    return hashlib.sha256(jpeg).hexdigest()[:FRAME_ID_HEX]


def held_digest(ids: Iterable[str]) -> str:
    """Digest of a set of frame ids (sorted, one per line; the first 32 hex digits of its
    sha256): how a node confirms it holds exactly the set the fog expects without listing it."""
    return hashlib.sha256("\n".join(sorted(set(ids))).encode()).hexdigest()[:FRAME_ID_HEX]


def bytes_to_array(blob: bytes) -> Array:
    """Wrap raw bytes in a ``uint8`` Array with no ``.npy`` header (``stype="raw"``)."""
    return Array(dtype="uint8", shape=(len(blob),), stype="raw", data=bytes(blob))


def array_to_bytes(array: Array) -> bytes:
    """The raw bytes of an Array made by :func:`bytes_to_array`."""
    return bytes(array.data)


def message_wire_bytes(message: Message) -> int:
    """Bytes of every distinct object of ``message`` as Flower 1.41 transfers them (deflated)."""
    return sum(len(obj.deflate()) for obj in nested_objects(message).values())


def payload_bytes(message: Message) -> int:
    """Bytes held by the Arrays of ``message``'s ArrayRecords (0 for an error reply)."""
    if message.has_error() or not message.has_content():
        return 0
    records = message.content.array_records.values()
    return sum(len(array.data) for record in records for array in record.values())


# --- the round number and the node report -------------------------------------------------


def round_record(server_round: int, **extra: bool | int | float | str) -> ConfigRecord:
    """The ``"round"`` record every fog message carries (plus per-message flags)."""
    return ConfigRecord({"round": int(server_round), **extra})


def read_round(content: RecordDict) -> ConfigRecord:
    """The ``"round"`` record of a fog message."""
    return content.config_records["round"]


def expected_held(content: RecordDict) -> str | None:
    """The :data:`EXPECT_HELD_KEY` digest of a fog message, or ``None`` when it sends none."""
    value = read_round(content).get(EXPECT_HELD_KEY)
    return str(value) if value is not None else None


T = TypeVar("T")


def _items(record: ConfigRecord, key: str, default: list | None = None) -> list:
    """The list stored under ``key``; :class:`PayloadError` when the value is no list."""
    value = record.get(key, [] if default is None else default)
    if not isinstance(value, list):
        raise PayloadError(f"record entry {key!r} must be a list, got {type(value).__name__}; "
                           "the sender is out of date or the message is damaged")
    return value


def _number(record: ConfigRecord, key: str, default: int = 0) -> int:
    """The integer stored under ``key``; :class:`PayloadError` when it is no number."""
    value = record.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PayloadError(f"record entry {key!r} must be a number, got {value!r}")
    return int(value)


def _box4(values: list[T]) -> tuple[T, T, T, T]:
    """Four box values as an ``(x, y, w, h)`` tuple (the caller checked the count)."""
    x, y, w, h = values
    return x, y, w, h


@dataclass
class NodeReport:
    """What an edge says about itself in every reply.

    Attributes
    ----------
    key
        Stable node name (``"p<partition id>"``, or the node id outside simulations).
    held
        Ids of the frames of other nodes it holds in its store.
    stored
        Ids it stored from this message (broadcast replies).
    broken
        Ids it received but could not store (bad payloads), with :attr:`reasons`.
    device
        The torch device it decodes and trains on, as resolved (``cuda:0 (NVIDIA ...)``).
    weights_base
        Id of the global weights it holds as the base of weight deltas (``""``: none;
        ``rinr_runtime.weight_link``).
    held_digest
        Set (with :attr:`held` and :attr:`stored` empty) when the node holds exactly the set
        whose digest the fog's message expected (:meth:`confirmed`).
    """

    key: str
    held: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    num_own: int = 0
    num_val: int = 0
    device: str = ""
    weights_base: str = ""
    held_digest: str = ""

    def confirmed(self, expected: str | None, brought: Sequence[str] | None = None
                  ) -> NodeReport:
        """This report as the reply sends it: when the node holds exactly what the fog's
        message expected (``expected``, its :data:`EXPECT_HELD_KEY`), nothing arrived broken
        and it stored every id the message brought (``brought``, :attr:`Delivery.held_ids`;
        ``None``: a collect reply, which brings nothing), the digest stands for the held and
        stored lists (the fog knows both: what it expected, and what it sent); otherwise in
        full."""
        if expected is None or self.broken or held_digest(self.held) != expected:
            return self
        if brought is not None and set(brought) != set(self.stored):
            return self  # e.g. a stream sent whole again: only its new frames count as stored
        return replace(self, held=[], stored=[], held_digest=expected)

    def to_record(self) -> ConfigRecord:
        """This report as the ``"node"`` ConfigRecord (empty lists and names left out)."""
        fields: dict[str, str | int | list[str]] = {
            "key": self.key, "held": list(self.held), "stored": list(self.stored),
            "broken": list(self.broken), "reasons": list(self.reasons),
            "num-own": self.num_own, "num-val": self.num_val, "device": self.device,
            "weights-base": self.weights_base, "held-digest": self.held_digest,
        }
        return ConfigRecord({k: v for k, v in fields.items() if k == "key" or v != [] and v != ""})

    @classmethod
    def from_record(cls, record: ConfigRecord) -> NodeReport:
        """Read a ``"node"`` ConfigRecord."""
        return cls(
            key=str(record["key"]),
            held=[str(i) for i in _items(record, "held")],
            stored=[str(i) for i in _items(record, "stored")],
            broken=[str(i) for i in _items(record, "broken")],
            reasons=[str(r) for r in _items(record, "reasons")],
            num_own=_number(record, "num-own"),
            num_val=_number(record, "num-val"),
            device=str(record.get("device", "")),
            weights_base=str(record.get("weights-base", "")),
            held_digest=str(record.get("held-digest", "")),
        )


def read_node_report(content: RecordDict) -> NodeReport:
    """The ``"node"`` report of an edge reply."""
    return NodeReport.from_record(content.config_records["node"])


# --- uploads (collect) ---------------------------------------------------------------------


@dataclass
class Upload:
    """One new frame an edge uploads: its JPEG, object box and class label."""

    frame_id: str
    jpeg: bytes
    box: tuple[float, float, float, float]
    label: str
    name: str = ""


def uploads_to_content(uploads: Sequence[Upload], report: NodeReport) -> RecordDict:
    """A collect reply: the JPEGs in ``"frames"``, their boxes/labels in ``"frame-meta"``."""
    return RecordDict(
        {
            "frames": ArrayRecord({u.frame_id: bytes_to_array(u.jpeg) for u in uploads}),
            "frame-meta": ConfigRecord(
                {
                    "ids": [u.frame_id for u in uploads],
                    "boxes": [float(v) for u in uploads for v in u.box],
                    "labels": [u.label for u in uploads],
                    "names": [u.name for u in uploads],
                }
            ),
            "node": report.to_record(),
        }
    )


def content_to_uploads(content: RecordDict) -> list[Upload]:
    """The uploads of a collect reply, in order.

    Raises
    ------
    BadFrameError
        The reply's lists disagree (a frame without JPEG, box or label).
    """
    meta = content.config_records["frame-meta"]
    frames = content.array_records["frames"]
    ids = [str(i) for i in _items(meta, "ids")]
    boxes = [float(v) for v in _items(meta, "boxes")]
    labels = [str(v) for v in _items(meta, "labels")]
    names = [str(v) for v in _items(meta, "names")]
    if len(boxes) != 4 * len(ids) or len(labels) != len(ids) or len(names) != len(ids):
        raise BadFrameError(
            f"collect reply lists disagree: {len(ids)} ids, {len(boxes)} box values, "
            f"{len(labels)} labels, {len(names)} names; the edge must send 4 box values, "
            "one label and one name per frame"
        )
    missing = [i for i in ids if i not in frames]
    if missing:
        raise BadFrameError(f"collect reply has no JPEG for frames {missing}")
    return [
        Upload(i, array_to_bytes(frames[i]), _box4(boxes[4 * k : 4 * k + 4]), labels[k], names[k])
        for k, i in enumerate(ids)
    ]


# --- deliveries (broadcast) -----------------------------------------------------------------


@dataclass
class Delivery:
    """One item the fog sends to an edge: a ``.rinr`` payload, a relayed JPEG, or ``.rinrs``.

    A ``.rinr`` or JPEG item is one frame (``frame_id``, ``box``, ``label``). A ``.rinrs``
    item (video codecs) carries several frames of one node's ``stream``: ``frame_id`` is the
    item's own id, ``frames`` and ``frame_labels`` list the frames in the payload's order
    (their boxes are in the payload), and ``update`` says whether it extends the stream the
    edge holds (``rinr_core.sequence.apply_update``) or is the whole stream.
    """

    frame_id: str
    kind: str
    data: bytes
    box: tuple[int, int, int, int]
    label: str
    source: str
    frames: tuple[str, ...] = ()
    frame_labels: tuple[str, ...] = ()
    stream: str = ""
    update: bool = False

    @property
    def carried(self) -> tuple[str, ...]:
        """Ids of the frames this item delivers (a post-filter, ``rlut``, delivers none)."""
        if self.kind == KIND_RLUT:
            return ()
        return self.frames if self.kind == KIND_RINRS else (self.frame_id,)

    @property
    def held_ids(self) -> tuple[str, ...]:
        """Ids a node holds once it stored this item (a post-filter is held under its own id)."""
        return self.carried or (self.frame_id,)


@dataclass
class Ack:
    """The fog's word on a node's uploads: taken, or refused with a reason."""

    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_record(self) -> ConfigRecord:
        """This ack as the ``"ack"`` ConfigRecord (empty lists left out)."""
        lists = {"accepted": self.accepted, "rejected": self.rejected, "reasons": self.reasons}
        return ConfigRecord({k: list(v) for k, v in lists.items() if v})

    def records(self) -> dict[str, ConfigRecord]:
        """``{"ack": record}``, or nothing for an empty ack: a node merges every ack into the
        ones before (``edge.store.NodeStore.record_ack``), so an empty one tells it nothing."""
        return {"ack": self.to_record()} if self.accepted or self.rejected else {}


def read_ack(content: RecordDict) -> Ack | None:
    """The ``"ack"`` record of a fog message, or ``None`` when it carries none."""
    record = content.config_records.get("ack")
    if record is None:
        return None
    return Ack([str(i) for i in _items(record, "accepted")],
               [str(i) for i in _items(record, "rejected")],
               [str(r) for r in _items(record, "reasons")])


def expect_fields(expected: Iterable[str] | None) -> dict[str, str]:
    """The round-record entry that asks a node to confirm it holds ``expected`` (none: ``{}``)."""
    return {} if expected is None else {EXPECT_HELD_KEY: held_digest(expected)}


def deliveries_to_content(server_round: int, deliveries: Sequence[Delivery], ack: Ack,
                          expected: Iterable[str] | None = None) -> RecordDict:
    """A broadcast message: the payloads, their metadata, the ack of the node's uploads and,
    with ``expected``, the digest of what the node should hold once it stored them."""
    return RecordDict(
        {
            "round": round_record(server_round, **expect_fields(expected)),
            "items": ArrayRecord({d.frame_id: bytes_to_array(d.data) for d in deliveries}),
            "item-meta": ConfigRecord(
                {
                    "ids": [d.frame_id for d in deliveries],
                    "kinds": [d.kind for d in deliveries],
                    "boxes": [int(v) for d in deliveries for v in d.box],
                    "labels": [d.label for d in deliveries],
                    "sources": [d.source for d in deliveries],
                    "streams": [d.stream for d in deliveries],
                    "updates": [bool(d.update) for d in deliveries],
                    "frame-counts": [len(d.frames) for d in deliveries],
                    "frames": [f for d in deliveries for f in d.frames],
                    "frame-labels": [x for d in deliveries for x in d.frame_labels],
                }
            ),
            **ack.records(),
        }
    )


def brought_ids(deliveries: Sequence[Delivery]) -> list[str]:
    """Every id a node holds once it stored ``deliveries`` (:attr:`Delivery.held_ids`)."""
    return [i for d in deliveries for i in d.held_ids]


def content_to_deliveries(content: RecordDict) -> list[Delivery]:
    """The deliveries of a broadcast message, in order.

    Raises
    ------
    PayloadError
        The message's lists disagree (an item without payload, kind, box or label).
    """
    meta = content.config_records["item-meta"]
    items = content.array_records["items"]
    ids = [str(i) for i in _items(meta, "ids")]
    kinds = [str(v) for v in _items(meta, "kinds")]
    boxes = [int(v) for v in _items(meta, "boxes")]
    labels = [str(v) for v in _items(meta, "labels")]
    sources = [str(v) for v in _items(meta, "sources")]
    streams = [str(v) for v in _items(meta, "streams", [""] * len(ids))]
    updates = [bool(v) for v in _items(meta, "updates", [False] * len(ids))]
    counts = [int(v) for v in _items(meta, "frame-counts", [0] * len(ids))]
    frames = [str(v) for v in _items(meta, "frames")]
    frame_labels = [str(v) for v in _items(meta, "frame-labels")]
    lengths = {len(kinds), len(labels), len(sources), len(boxes) // 4, len(streams),
               len(updates), len(counts)}
    if (lengths != {len(ids)} or len(boxes) % 4 or any(i not in items for i in ids)
            or min(counts, default=0) < 0 or sum(counts) != len(frames)
            or len(frame_labels) != len(frames)):
        raise PayloadError(
            f"broadcast lists disagree: {len(ids)} ids, {len(kinds)} kinds, {len(boxes)} box "
            f"values, {len(labels)} labels, {len(sources)} sources, {len(streams)} streams, "
            f"{sum(counts)} counted / {len(frames)} listed / {len(frame_labels)} labelled "
            "stream frames; the fog must send one of each (and 4 box values) per item"
        )
    starts = np.cumsum([0, *counts])
    return [
        Delivery(i, kinds[k], array_to_bytes(items[i]), _box4(boxes[4 * k : 4 * k + 4]),
                 labels[k], sources[k], tuple(frames[starts[k] : starts[k + 1]]),
                 tuple(frame_labels[starts[k] : starts[k + 1]]), streams[k], updates[k])
        for k, i in enumerate(ids)
    ]


# --- weights and metrics ----------------------------------------------------------------------


def weights_to_record(weights: Sequence[np.ndarray]) -> ArrayRecord:
    """YOLO weights (``rinr_runtime.detector.get_weights`` order) as an ArrayRecord."""
    return ArrayRecord([np.ascontiguousarray(w, dtype=np.float32) for w in weights])


def record_to_weights(record: ArrayRecord) -> list[np.ndarray]:
    """The arrays of a :func:`weights_to_record` record, in order."""
    return record.to_numpy_ndarrays()


WEIGHT_MESSAGE = "rinr-weights"
"""Name of the one Array of a weights record that holds a ``rinr_core.weights`` message."""


def weights_message_to_record(data: bytes) -> ArrayRecord:
    """A ``rinr_core.weights`` message (any weight codec but ``fp32``) as a weights record."""
    return ArrayRecord({WEIGHT_MESSAGE: bytes_to_array(data)})


def record_to_weights_message(record: ArrayRecord) -> bytes | None:
    """The weight message of a :func:`weights_message_to_record` record (``None``: float arrays)."""
    if list(record.keys()) != [WEIGHT_MESSAGE]:
        return None
    return array_to_bytes(record[WEIGHT_MESSAGE])


def metrics_to_record(metrics: dict[str, float | int]) -> MetricRecord:
    """Numeric metrics as a MetricRecord (non-numeric entries are left out)."""
    return MetricRecord(
        {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    )
