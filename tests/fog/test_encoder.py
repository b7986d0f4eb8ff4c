"""The fog's encode step: uploads are checked, encoded in batches, cached, or relayed."""

from __future__ import annotations

from pathlib import Path

import pytest

import rinr_core.codecs.inr
from fog.encode_cache import EncodeCache, cache_key
from fog.encoder import FogEncoder, check_upload, codec_settings
from rinr_core.codec import CodecSettings
from rinr_core.errors import InvalidBoxError, UnreadableImageError
from rinr_core.images import encode_image
from rinr_core.synthetic import generate_sequence
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import Upload, frame_id


def _uploads(count: int = 3) -> list[tuple[str, Upload]]:
    frames = generate_sequence(count, width=32, height=32, seed=1)
    out = []
    for f in frames:
        jpeg = encode_image(f.image, "JPEG", 90)
        out.append(("p0", Upload(frame_id(jpeg), jpeg, tuple(float(v) for v in f.box), "object",
                                 f.name)))
    return out


def _config(**values: object) -> RuntimeConfig:
    return RuntimeConfig.from_run_config({"inr-steps": 5, "encode-batch": 2, **values})


def test_check_upload_names_what_is_wrong() -> None:
    # Prepare
    _, good = _uploads(1)[0]
    cut = good.jpeg[:100]

    # Execute / Assert
    assert check_upload(good).box == tuple(int(v) for v in good.box)
    with pytest.raises(UnreadableImageError):
        check_upload(Upload(frame_id(cut), cut, good.box, "object"))
    with pytest.raises(InvalidBoxError, match="outside"):
        check_upload(Upload(good.frame_id, good.jpeg, (99.0, 99.0, 4.0, 4.0), "object"))
    with pytest.raises(Exception, match="content id"):
        check_upload(Upload("0" * 32, good.jpeg, good.box, "object"))


def test_inrs_are_encoded_in_batches_and_cached(tmp_path: Path, monkeypatch) -> None:
    # Prepare
    calls: list[int] = []
    real = rinr_core.codecs.inr.encode_frames

    def counting(frames, settings, **kwargs):
        calls.append(len(frames))
        return real(frames, settings, **kwargs)

    monkeypatch.setattr(rinr_core.codecs.inr, "encode_frames", counting)
    encoder = FogEncoder(_config(), EncodeCache(tmp_path))

    # Execute
    first = encoder.encode(_uploads(3))
    second = encoder.encode(_uploads(3))

    # Assert
    assert calls == [2, 1]
    assert (first.encoded_now, first.cache_hits) == (3, 0)
    assert (second.encoded_now, second.cache_hits) == (0, 3)
    assert [e.data for e in first.encoded] == [e.data for e in second.encoded]
    assert all(e.kind == "rinr" and e.metrics["psnr_full"] > 5 for e in first.encoded)


def test_each_nodes_frames_are_warm_started_from_its_previous_frame(tmp_path: Path) -> None:
    # Prepare
    encoder = FogEncoder(_config(), EncodeCache(None))
    uploads = _uploads(3)

    # Execute
    outcome = encoder.encode(uploads)

    # Assert: the first frame of each node starts cold, its next ones warm
    seen: set[str] = set()
    for entry in outcome.encoded:
        assert entry.metrics["warm_background"] == (entry.owner in seen)
        seen.add(entry.owner)


def test_jpeg_codec_and_fog_placement_relay_the_checked_jpegs(tmp_path: Path) -> None:
    # Prepare
    uploads = _uploads(2)

    # Execute
    relayed = FogEncoder(_config(codec="jpeg"), EncodeCache(None)).encode(uploads)
    kept = FogEncoder(_config(), EncodeCache(tmp_path)).encode(uploads, relay=True)

    # Assert
    for outcome in (relayed, kept):
        assert [e.data for e in outcome.encoded] == [u.jpeg for _, u in uploads]
        assert outcome.encoded_now == 0 and not list(tmp_path.iterdir())


def test_cache_key_depends_on_content_box_and_codec_not_device() -> None:
    # Prepare
    base = cache_key(b"jpeg", (1, 2, 3, 4), CodecSettings(steps=10))

    # Assert
    assert base == cache_key(b"jpeg", (1, 2, 3, 4), CodecSettings(steps=10, device="cpu"))
    assert base != cache_key(b"jpeg2", (1, 2, 3, 4), CodecSettings(steps=10))
    assert base != cache_key(b"jpeg", (1, 2, 3, 5), CodecSettings(steps=10))
    assert base != cache_key(b"jpeg", (1, 2, 3, 4), CodecSettings(steps=11))
    assert base != cache_key(b"jpeg", (1, 2, 3, 4), CodecSettings(mode="bs", steps=10))


def test_an_incomplete_cache_entry_is_a_miss(tmp_path: Path) -> None:
    # Prepare
    cache = EncodeCache(tmp_path)
    cache.put("ab" * 32, b"payload", {"bytes": 7})
    (tmp_path / "ab" / f"{'ab' * 32}.json").unlink()

    # Execute / Assert
    assert cache.get("ab" * 32) is None
    cache.put("cd" * 32, b"payload", {"bytes": 7})
    hit = cache.get("cd" * 32)
    assert hit is not None and hit.payload == b"payload" and hit.metrics == {"bytes": 7}
    assert (cache.hits, cache.misses) == (1, 1)


def test_codec_settings_follow_the_run_config() -> None:
    settings = codec_settings(_config(codec="rapid-inr", **{"inr-lr": 0.002, "object-bits": 12}))
    assert (settings.mode, settings.steps, settings.lr, settings.object_bits) == ("bs", 5, 0.002, 12)
    assert settings.background_bits is None
    assert codec_settings(_config(codec="jpeg")) is None
