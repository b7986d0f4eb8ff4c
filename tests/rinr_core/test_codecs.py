"""Tests for the codec registry: every codec registers once, round-trips, and is listed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rinr_core.cli import main
from rinr_core.codecs import (
    FRAME,
    KINDS,
    STREAM,
    Codec,
    CodecOptions,
    Geometry,
    all_codecs,
    codec_names,
    get_codec,
    get_container,
    register,
)
from rinr_core.errors import ConfigError, PayloadError
from rinr_core.metrics import psnr
from rinr_core.synthetic import generate_sequence

FAST = CodecOptions(steps=30, nerv_epochs=2)


@pytest.fixture(scope="module")
def frames():
    return generate_sequence(2, width=48, height=32, seed=3)


def test_every_codec_has_a_kind_a_container_and_unique_names() -> None:
    # Execute
    codecs = all_codecs()

    # Assert
    names = [n for c in codecs for n in c.names]
    assert len(names) == len(set(names))
    assert {c.kind for c in codecs} <= set(KINDS)
    for codec in codecs:
        assert get_codec(codec.name) is codec
        assert get_container(codec.container).stream == (codec.kind == STREAM)
    assert {"qre", "bs", "be", "de", "re", "res-nerv", "nerv", "jpeg", "webp", "avif",
            "roi-jpeg", "png"} <= {c.name for c in codecs}


def test_runtime_names_resolve_to_the_paper_modes() -> None:
    assert get_codec("residual-inr").name == "qre"
    assert get_codec("rapid-inr").name == "bs"
    assert codec_names(runtime=True)[:3] == ("jpeg", "rapid-inr", "residual-inr")
    assert get_codec("jpeg").relay and not get_codec("qre").relay


def test_unknown_names_and_taken_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown codec 'h266'.*rinr codecs"):
        get_codec("h266")
    clash = Codec(name="qre-copy", kind=FRAME, family="inr", container="rinr", summary="",
                  encode=get_codec("qre").encode, decode=get_codec("qre").decode,
                  settings=get_codec("qre").settings, aliases=("residual-inr",))
    with pytest.raises(ConfigError, match="already registered"):
        register(clash)
    assert get_codec("residual-inr").name == "qre"


@pytest.mark.parametrize("name", [c.name for c in all_codecs() if c.kind == FRAME])
def test_frame_codecs_decode_what_they_encode(name: str, frames) -> None:
    # Prepare
    codec = get_codec(name)

    # Execute
    results = codec.encode(frames, FAST)
    images = codec.decode([r.payload for r in results], "cpu")

    # Assert: the decoded pixels are the ones the encoder measured its metrics on
    assert len(images) == len(frames)
    for result, image in zip(results, images, strict=True):
        assert image.shape == result.frame.image.shape
        assert result.metrics["bytes"] == len(result.payload)
        assert psnr(result.frame.image, image) == pytest.approx(result.metrics["psnr_full"],
                                                               abs=1e-3)
        get_container(codec.container).check(result.payload)


def test_exact_size_estimates_equal_the_encoded_bytes(frames) -> None:
    for codec in (c for c in all_codecs() if c.exact_size):
        results = codec.encode(frames, FAST)
        for result in results:
            x, y, w, h = result.frame.box
            geometry = Geometry(result.frame.width, result.frame.height, int(w) * int(h))
            assert codec.estimate_bytes(geometry, 1, FAST) == len(result.payload), codec.name


def test_stream_codecs_decode_every_frame_of_a_stream(frames) -> None:
    codec = get_codec("nerv")
    result = codec.encode(frames, FAST)
    images = codec.decode([result.payload], "cpu")
    assert len(images) == len(frames)
    assert all(np.array_equal(a, b) for a, b in
               zip(images, get_container("rinrs").decode([result.payload], "cpu"), strict=True))


def test_containers_refuse_damaged_payloads(frames) -> None:
    payload = get_codec("qre").encode(frames[:1], FAST)[0].payload
    with pytest.raises(PayloadError):
        get_container("rinr").check(payload[: len(payload) // 2])
    tampered = bytearray(payload)
    tampered[len(payload) // 2] ^= 0xFF
    with pytest.raises(PayloadError):
        get_container("rinr").check(bytes(tampered))


def test_rinr_codecs_json_lists_every_codec(capsys) -> None:
    # Execute
    assert main(["codecs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)

    # Assert
    assert [c["name"] for c in listed] == [c.name for c in all_codecs()]
    assert all({"name", "kind", "container", "presets"} <= set(c) for c in listed)
