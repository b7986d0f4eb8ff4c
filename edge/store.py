"""An edge node's state on disk: received frames, acknowledged uploads, its own model.

Layout under the node folder (``<edge-dir>/run-<run id>/node-<partition id>/``)::

    items/<frame id>.rinr | .jpg   what the fog delivered (INRs; JPEGs only with codec jpeg)
    index.json                     frame id -> kind, box, label, source node, round, bytes
    acked.json                     own frames the fog took (accepted) or refused (rejected)
    model.npz                      the node's YOLO weights (independent training)
    dataset/, yolo/                the YOLO training set and Ultralytics' work folder

The store survives across rounds and across restarts of the node process (every message
of the Deployment Engine runs in a fresh process). Files are written to a temporary name
and renamed, so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge.records import KIND_JPEG, Ack, Delivery

_SUFFIX = {KIND_JPEG: ".jpg"}


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


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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
        return dict(_read_json(self._index_path, {}))  # type: ignore[arg-type]

    def held_ids(self) -> list[str]:
        """Ids of every stored frame, in the order they arrived."""
        return list(self._index())

    def items(self) -> list[StoredItem]:
        """Every stored frame's description, in the order they arrived."""
        return [
            StoredItem(frame_id=fid, kind=e["kind"], box=tuple(e["box"]), label=e["label"],
                       source=e["source"], round=e["round"], bytes=e["bytes"])
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
            if d.frame_id in index:
                continue
            _write_atomic(self.item_path(d.frame_id, d.kind), d.data)
            item = StoredItem(d.frame_id, d.kind, tuple(int(v) for v in d.box), d.label,
                              d.source, int(server_round), len(d.data))
            entry = asdict(item)
            del entry["frame_id"]
            index[d.frame_id] = entry
            stored.append(d.frame_id)
        if stored:
            _write_atomic(self._index_path, json.dumps(index).encode())
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
        _write_atomic(self._acked_path, json.dumps(payload).encode())

    # --- own model ----------------------------------------------------------------------------

    def save_weights(self, weights: list[np.ndarray]) -> None:
        """Keep the node's model weights for the next round."""
        tmp = self._model_path.with_name(f".model.{os.getpid()}.tmp.npz")
        np.savez(tmp, *weights)
        os.replace(tmp, self._model_path)

    def load_weights(self) -> list[np.ndarray] | None:
        """The node's saved weights, or ``None`` before its first training."""
        if not self._model_path.is_file():
            return None
        with np.load(self._model_path) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]
