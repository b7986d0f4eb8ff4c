"""The fog's encode cache: ``.rinr`` payloads on disk, keyed by frame content and codec settings.

A restarted fog node (or a new run over the same frames) finds what it encoded before and
does not fit those INRs again. The key is the sha256 of the JPEG's sha256, the object box and
every codec setting that changes the payload (not the device). Each entry is two files under
``<cache-dir>/<key[:2]>/``: ``<key>.rinr`` (the payload) and ``<key>.json`` (its metrics and
the box and size it was encoded at), written payload first and renamed into place, so an entry
is either complete or absent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rinr_core.codec import CodecSettings
from rinr_core.files import write_atomic

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rinr_core.sequence import SequenceSettings


@dataclass
class CachedEncode:
    """One cache entry: the payload and the metrics measured when it was encoded."""

    payload: bytes
    metrics: dict


def settings_fields(settings: CodecSettings | SequenceSettings | object) -> dict:
    """The fields of a codec's settings that change a payload (all but ``device``).

    A settings dataclass gives its fields; anything else (a classic codec's quality, ``None``)
    is taken as one value.
    """
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        return {k: v for k, v in dataclasses.asdict(settings).items() if k != "device"}
    return {"value": settings}


def jpeg_digest(jpeg: bytes) -> str:
    """The hex sha256 of a frame's JPEG bytes, as cache keys name frames."""
    return hashlib.sha256(jpeg).hexdigest()


def content_key(payload: object) -> str:
    """The hex sha256 of ``payload`` as JSON (sorted keys; values JSON lacks as ``str``)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def cache_key(jpeg: bytes, box: Sequence[float], settings: object, codec: str = "qre") -> str:
    """The cache key of a frame's JPEG, its box, the codec's registry name and its settings."""
    return content_key({"jpeg": jpeg_digest(jpeg), "box": [float(v) for v in box],
                        "name": codec, "codec": settings_fields(settings)})


class EncodeCache:
    """Payloads by :func:`cache_key` under ``folder``; ``folder=None`` is a cache that never hits."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.hits = 0
        self.misses = 0

    def _paths(self, key: str) -> tuple[Path, Path]:
        assert self.folder is not None
        sub = self.folder / key[:2]
        return sub / f"{key}.rinr", sub / f"{key}.json"

    def get(self, key: str) -> CachedEncode | None:
        """The entry for ``key``, or ``None`` (counted as a hit or a miss)."""
        if self.folder is not None:
            payload_path, meta_path = self._paths(key)
            if payload_path.is_file() and meta_path.is_file():
                try:
                    metrics = json.loads(meta_path.read_text())
                except json.JSONDecodeError:
                    metrics = None
                if isinstance(metrics, dict):
                    self.hits += 1
                    return CachedEncode(payload_path.read_bytes(), metrics)
        self.misses += 1
        return None

    def put(self, key: str, payload: bytes, metrics: dict) -> None:
        """Store an entry (no-op without a folder)."""
        if self.folder is None:
            return
        payload_path, meta_path = self._paths(key)
        payload_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(payload_path, payload)
        write_atomic(meta_path, json.dumps(metrics, default=float).encode())
