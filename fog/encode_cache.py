"""The fog's encode cache: ``.rinr`` payloads on disk, keyed by frame content and codec settings.

A restarted fog node (or a new run over the same frames) finds what it encoded before and
does not fit those INRs again; every entry is verified when read, and a damaged one is dropped
and encoded again. The key is the sha256 of the JPEG's sha256, the object box and
every codec setting that changes the payload (not the device). Each entry is two files under
``<cache-dir>/<key[:2]>/``: ``<key>.rinr`` (the payload) and ``<key>.json`` (its metrics and
the box and size it was encoded at), written payload first and renamed into place, so an entry
is either complete or absent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rinr_core.codec import CodecSettings
from rinr_core.errors import RinrError
from rinr_core.files import write_atomic

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rinr_core.sequence import SequenceSettings

log = logging.getLogger(__name__)


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
    """Payloads by :func:`cache_key` under ``folder``; ``folder=None`` is a cache that never hits.

    Every entry is verified when read: its payload must match the sha256 written beside it and
    pass the payload format's own check (``check``, e.g. a ``.rinr`` CRC and parse). An entry
    that fails is deleted and counted in :attr:`corrupt`, and the caller encodes the frame
    again: a damaged cache never serves the same broken bytes twice.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.hits = 0
        self.misses = 0
        self.corrupt = 0
        self.corrupt_keys: list[str] = []

    def _paths(self, key: str) -> tuple[Path, Path]:
        assert self.folder is not None
        sub = self.folder / key[:2]
        return sub / f"{key}.rinr", sub / f"{key}.json"

    def get(self, key: str, check: Callable[[bytes], None] | None = None) -> CachedEncode | None:
        """The verified entry for ``key``, or ``None`` (a miss; a damaged entry is dropped)."""
        entry = self._read(key, check) if self.folder is not None else None
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def _read(self, key: str, check: Callable[[bytes], None] | None) -> CachedEncode | None:
        payload_path, meta_path = self._paths(key)
        if not (payload_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            payload = payload_path.read_bytes()
            if not isinstance(meta, dict) or not isinstance(meta.get("metrics"), dict):
                raise ValueError("no metrics record (an entry of an older version)")
            if hashlib.sha256(payload).hexdigest() != meta.get("payload_sha256"):
                raise ValueError("the payload does not match its recorded sha256")
            if check is not None:
                check(payload)
        except (OSError, ValueError, RinrError) as exc:
            self._drop(key, f"{type(exc).__name__}: {exc}")
            return None
        return CachedEncode(payload, meta["metrics"])

    def _drop(self, key: str, reason: str) -> None:
        """Delete a damaged entry so the frame is encoded afresh."""
        self.corrupt += 1
        self.corrupt_keys.append(key)
        for path in self._paths(key):
            path.unlink(missing_ok=True)
        log.warning("encode cache entry %s is damaged (%s); dropped, the frame is encoded again",
                    key, reason)

    def put(self, key: str, payload: bytes, metrics: dict) -> None:
        """Store an entry with its payload's sha256 (no-op without a folder)."""
        if self.folder is None:
            return
        payload_path, meta_path = self._paths(key)
        payload_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"payload_sha256": hashlib.sha256(payload).hexdigest(), "metrics": metrics}
        write_atomic(payload_path, payload)
        write_atomic(meta_path, json.dumps(meta, default=float).encode())
