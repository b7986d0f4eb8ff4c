"""An edge node's state on disk: received frames, acknowledged uploads, its own model.

Layout under the node folder (``<edge-dir>/run-<run id>/node-<partition id>/``)::

    items/<frame id>.rinr | .jpg   what the fog delivered (INRs; JPEGs only with codec jpeg)
    items/<stream>.rinrs           stream codecs: a node's stream, every update merged in
    index.json                     frame id -> kind, box, label, source node, round, bytes
                                   (and for stream frames: stream, index in the stream)
    acked.json                     own frames the fog took (accepted) or refused (rejected)
    model.npz                      the node's YOLO weights (independent training)
    dataset/, yolo/                the YOLO training set and Ultralytics' work folder

The store survives across rounds and across restarts of the node process (every message
of the Deployment Engine runs in a fresh process). Files are written to a temporary name
and renamed, so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rinr_core.codecs import get_container
from rinr_core.errors import ConfigError, PayloadError
from rinr_core.files import write_atomic
from rinr_runtime.records import KIND_JPEG, Ack, Delivery

log = logging.getLogger(__name__)

_SUFFIX = {KIND_JPEG: ".jpg"}
_STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class StoredItem:
    """One stored delivery: what it is and where it came from."""

    frame_id: str
    kind: str
    box: tuple[int, int, int, int]
    label: str
    source: str
    round: int
    bytes: int
    stream: str = ""
    index: int = -1


def _read_json(path: Path, default: object) -> object:
    """The JSON content of ``path``, or ``default`` when it does not exist."""
    return json.loads(path.read_text()) if path.is_file() else default


class NodeStore:
    """The on-disk state of one edge node (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.items_dir = self.root / "items"
        self.items_dir.mkdir(parents=True, exist_ok=True)
        self._index_path = self.root / "index.json"
        self._acked_path = self.root / "acked.json"
        self._model_path = self.root / "model.npz"

    @property
    def dataset_dir(self) -> Path:
        """Folder of the YOLO training set (rewritten each round)."""
        return self.root / "dataset"

    @property
    def yolo_dir(self) -> Path:
        """Ultralytics' work folder."""
        return self.root / "yolo"

    # --- received frames ------------------------------------------------------------------

    def _index(self) -> dict[str, dict]:
        """The index; a damaged index file counts as empty (the fog then resends everything)."""
        try:
            return dict(_read_json(self._index_path, {}))  # type: ignore[arg-type]
        except (ValueError, TypeError, OSError) as exc:
            log.warning("edge store index %s is damaged (%s); starting from an empty store",
                        self._index_path, exc)
            return {}

    def held_ids(self) -> list[str]:
        """Ids of every stored frame, in the order they arrived.

        Frames of a stream whose file is missing or fails its checksum are left out, so the
        fog sends that stream whole again.
        """
        index = self._index()
        streams = {e["stream"]: e["kind"] for e in index.values() if e.get("stream")}
        damaged = {s for s, kind in streams.items() if not self._stream_intact(s, kind)}
        return [fid for fid, e in index.items()
                if e.get("stream", "") not in damaged and (e.get("stream") or self._item_intact(fid, e))]

    def _item_intact(self, frame_id: str, entry: dict) -> bool:
        """Whether a stored item's file is there with the sha256 it was stored with.

        A missing, truncated or damaged item is not reported as held, so the fog sends it
        again; an entry without a digest (stored by an older version) is checked by size.
        """
        try:
            data = self.item_path(frame_id, entry["kind"]).read_bytes()
        except (OSError, KeyError):
            return False
        digest = entry.get("sha256")
        if digest is None:
            return len(data) == entry.get("bytes")
        return hashlib.sha256(data).hexdigest() == digest

    def items(self) -> list[StoredItem]:
        """Every stored frame's description, in the order they arrived."""
        return [
            StoredItem(frame_id=fid, kind=e["kind"], box=tuple(e["box"]), label=e["label"],
                       source=e["source"], round=e["round"], bytes=e["bytes"],
                       stream=e.get("stream", ""), index=e.get("index", -1))
            for fid, e in self._index().items()
        ]

    def item_path(self, frame_id: str, kind: str) -> Path:
        """Where the data of a stored frame lives."""
        return self.items_dir / f"{frame_id}{_SUFFIX.get(kind, '.' + kind)}"

    def read(self, item: StoredItem) -> bytes:
        """The payload (or JPEG) bytes of a stored frame."""
        return self.item_path(item.frame_id, item.kind).read_bytes()

    def add(self, deliveries: list[Delivery], server_round: int) -> list[str]:
        """Store deliveries not held yet; return the ids stored now (duplicates are ignored)."""
        index = self._index()
        stored = []
        for d in deliveries:
            if d.frame_id in index and self._item_intact(d.frame_id, index[d.frame_id]):
                continue  # held and intact; a damaged copy is replaced
            write_atomic(self.item_path(d.frame_id, d.kind), d.data)
            item = StoredItem(d.frame_id, d.kind, tuple(int(v) for v in d.box), d.label,
                              d.source, int(server_round), len(d.data))
            stored.append(self._enter(index, item))
            index[d.frame_id]["sha256"] = hashlib.sha256(d.data).hexdigest()
        if stored:
            write_atomic(self._index_path, json.dumps(index).encode())
        return stored

    @staticmethod
    def _enter(index: dict[str, dict], item: StoredItem) -> str:
        entry = asdict(item)
        del entry["frame_id"]
        index[item.frame_id] = entry
        return item.frame_id

    # --- streams (video codecs) -------------------------------------------------------------

    def stream_path(self, stream: str) -> Path:
        """Where a stream's merged ``.rinrs`` lives (``PayloadError`` for an unsafe id)."""
        if not _STREAM_ID.fullmatch(stream):
            raise PayloadError(f"invalid stream id {stream!r}: expected letters, digits, '.', "
                               "'_' or '-' (at most 128)")
        return self.items_dir / f"{stream}.rinrs"

    def _stream_intact(self, stream: str, kind: str) -> bool:
        """Whether a stream's file is present and passes its format's check (its checksum)."""
        try:
            get_container(kind).check(self.stream_path(stream).read_bytes())
        except (OSError, PayloadError, ConfigError):
            return False
        return True

    def add_stream(self, delivery: Delivery, server_round: int) -> list[str]:
        """Store a ``.rinrs`` item: the whole stream, or an update merged into the one held.

        Returns the ids of the frames held now that were not before.

        Raises
        ------
        PayloadError
            The payload is damaged, it is an update to a stream this node does not hold (or
            holds in another version), or its frames disagree with the item's list.
        """
        container = get_container(delivery.kind)
        if container.merge is None or container.frame_boxes is None:
            raise PayloadError(f"{delivery.frame_id}: payload format {delivery.kind!r} is not a "
                               "stream format")
        path = self.stream_path(delivery.stream)
        if delivery.update:
            if not path.is_file():
                raise PayloadError(f"{delivery.frame_id}: an update to stream {delivery.stream!r}, "
                                   "which this node does not hold; the fog must send it whole")
            base = path.read_bytes()
            merged = container.merge(base, delivery.data)
            frames = list(container.frame_boxes(merged).items())[len(container.frame_boxes(base)):]
        else:
            merged = delivery.data
            frames = list(container.frame_boxes(merged).items())
        if len(frames) != len(delivery.frames) or len(delivery.frame_labels) != len(frames):
            raise PayloadError(f"{delivery.frame_id}: the payload holds {len(frames)} frame(s), "
                               f"the item lists {len(delivery.frames)}; the fog must list each")
        write_atomic(path, merged)
        index = self._index()
        share = round(len(delivery.data) / max(1, len(frames)))
        stored = []
        for fid, label, (position, box) in zip(delivery.frames, delivery.frame_labels, frames,
                                               strict=True):
            new = index.get(fid, {}).get("stream") != delivery.stream
            self._enter(index, StoredItem(fid, delivery.kind, box, label, delivery.source,
                                          int(server_round), share, delivery.stream, position))
            if new:
                stored.append(fid)
        write_atomic(self._index_path, json.dumps(index).encode())
        return stored

    # --- acknowledged uploads ---------------------------------------------------------------

    def acked(self) -> set[str]:
        """Ids of own frames the fog has taken or refused (never uploaded again)."""
        data = _read_json(self._acked_path, {"accepted": [], "rejected": {}})
        return set(data["accepted"]) | set(data["rejected"])  # type: ignore[index]

    def rejected(self) -> dict[str, str]:
        """Own frames the fog refused, with its reasons."""
        data = _read_json(self._acked_path, {"accepted": [], "rejected": {}})
        return dict(data["rejected"])  # type: ignore[index]

    def record_ack(self, ack: Ack) -> None:
        """Remember the fog's ack of this node's uploads (merged with earlier acks)."""
        data = _read_json(self._acked_path, {"accepted": [], "rejected": {}})
        accepted = list(dict.fromkeys([*data["accepted"], *ack.accepted]))  # type: ignore[index]
        rejected = dict(data["rejected"])  # type: ignore[index]
        for k, fid in enumerate(ack.rejected):
            rejected[fid] = ack.reasons[k] if k < len(ack.reasons) else "refused by the fog"
        payload = {"accepted": accepted, "rejected": rejected}
        write_atomic(self._acked_path, json.dumps(payload).encode())

    # --- own model ----------------------------------------------------------------------------

    def save_weights(self, weights: list[np.ndarray]) -> None:
        """Keep the node's model weights for the next round."""
        buffer = io.BytesIO()
        np.savez(buffer, *weights)
        write_atomic(self._model_path, buffer.getvalue())

    def load_weights(self) -> list[np.ndarray] | None:
        """The node's saved weights, or ``None`` before its first training."""
        if not self._model_path.is_file():
            return None
        with np.load(self._model_path) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]
