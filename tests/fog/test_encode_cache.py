"""Tests for the fog's encode cache: entries are verified on read; damaged ones are re-encoded."""

from __future__ import annotations

import json
from pathlib import Path

from fog.encode_cache import EncodeCache
from fog.encoder import FogEncoder
from rinr_core.codecs import get_container
from rinr_core.images import encode_image
from rinr_core.synthetic import generate_sequence
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import Upload, frame_id


def _uploads(n: int) -> list[tuple[str, Upload]]:
    frames = generate_sequence(n, width=48, height=32, seed=5)
    out = []
    for frame in frames:
        jpeg = encode_image(frame.image, "JPEG", 90)
        out.append(("p0", Upload(frame_id(jpeg), jpeg, frame.box, "object", frame.name)))
    return out


def _config() -> RuntimeConfig:
    return RuntimeConfig.from_run_config({"inr-steps": 5, "inr-warm-start": False})


def test_a_damaged_entry_is_dropped_and_encoded_again(tmp_path: Path) -> None:
    # Prepare: fill the cache, then flip one byte of every cached payload
    uploads = _uploads(2)
    FogEncoder(_config(), EncodeCache(tmp_path)).encode(uploads)
    payloads = sorted(tmp_path.rglob("*.rinr"))
    assert len(payloads) == 2
    for path in payloads:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x40
        path.write_bytes(bytes(data))

    # Execute
    cache = EncodeCache(tmp_path)
    outcome = FogEncoder(_config(), cache).encode(uploads)

    # Assert: nothing was served from the damaged entries; fresh, intact payloads replace them
    assert (outcome.cache_hits, outcome.encoded_now, outcome.cache_corrupt) == (0, 2, 2)
    check = get_container("rinr").check
    for encoded in outcome.encoded:
        check(encoded.data)
    again = EncodeCache(tmp_path)
    assert FogEncoder(_config(), again).encode(uploads).cache_hits == 2 and again.corrupt == 0


def test_an_entry_whose_payload_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    # Prepare: a valid-looking payload swapped under another key's metadata
    cache = EncodeCache(tmp_path)
    cache.put("aa" * 32, b"first payload", {"bytes": 13})
    cache.put("bb" * 32, b"second payload", {"bytes": 14})
    first, _ = cache._paths("aa" * 32)
    second, _ = cache._paths("bb" * 32)
    first.write_bytes(second.read_bytes())

    # Execute / Assert
    assert cache.get("aa" * 32) is None and cache.corrupt == 1
    assert not first.exists()
    hit = cache.get("bb" * 32)
    assert hit is not None and hit.payload == b"second payload" and hit.metrics == {"bytes": 14}


def test_entries_of_the_older_layout_are_encoded_again(tmp_path: Path) -> None:
    # Prepare: an entry written without a digest (the layout before verification)
    cache = EncodeCache(tmp_path)
    payload_path, meta_path = cache._paths("cc" * 32)
    payload_path.parent.mkdir(parents=True)
    payload_path.write_bytes(b"old")
    meta_path.write_text(json.dumps({"bytes": 3}))

    # Execute / Assert
    assert cache.get("cc" * 32) is None and cache.corrupt == 1
