"""The grid stream codec: shared networks, update segments, grouped = one-by-one decoding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rinr_core.cli import main
from rinr_core.codecs import CONTAINER_RINRS, CodecOptions, Geometry, get_codec, get_container
from rinr_core.datasets import write_otb
from rinr_core.errors import (
    ChecksumMismatchError,
    ConfigError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.grid import GridSettings
from rinr_core.grid.stream import decode_stream, encode_stream, stream_boxes, update_stream
from rinr_core.grid.stream_format import merge, unpack_stream
from rinr_core.metrics import psnr
from rinr_core.sequence import SequenceResult
from rinr_core.synthetic import generate_sequence

QUICK = GridSettings(steps=40, warm_steps=10, device="cpu")


@pytest.fixture(scope="module")
def frames():
    return generate_sequence(7, width=40, height=28, seed=11)


@pytest.fixture(scope="module")
def encoded(frames) -> tuple[SequenceResult, object]:
    base = encode_stream(frames[:5], QUICK)
    update = update_stream(base.payload, frames[5:], QUICK)
    return base, update


def test_a_stream_holds_its_networks_once_and_each_frame_as_latents(encoded, frames) -> None:
    base, update = encoded

    parsed, part = unpack_stream(base.payload), unpack_stream(update.payload)

    assert len(parsed.nets) == 1 and [f.index for f in parsed.frames] == [0, 1, 2, 3, 4]
    assert [f.inter for f in parsed.frames] == [False, True, True, True, True]
    assert part.is_update and part.nets == [] and [f.index for f in part.frames] == [5, 6]
    assert len(update.payload) < len(base.payload)  # no networks in an update
    assert stream_boxes(update.merged) == {k: f.box for k, f in enumerate(frames)}
    assert merge(base.payload, update.payload) == update.merged


def test_frames_decode_identically_grouped_and_one_by_one(encoded) -> None:
    _, update = encoded

    grouped = decode_stream(update.merged, None, "cpu")
    singles = [decode_stream(update.merged, [k], "cpu")[0] for k in range(7)]
    backwards = decode_stream(update.merged, [6, 2, 0], "cpu")

    assert all(np.array_equal(a, b) for a, b in zip(grouped, singles, strict=True))
    assert all(np.array_equal(a, grouped[k]) for a, k in zip(backwards, [6, 2, 0], strict=True))


def test_metrics_are_measured_on_the_frames_decoded_from_the_stream(encoded) -> None:
    base, update = encoded
    decoded = decode_stream(update.merged, None, "cpu")
    metrics = base.metrics + update.metrics
    for k, m in enumerate(metrics):
        original = (base.frames + update.frames)[k].image
        assert m["index"] == k and m["mode"] == "grid"
        assert psnr(original, decoded[k]) == pytest.approx(m["psnr_full"], abs=1e-9)
    assert sum(m["bytes"] for m in base.metrics) == pytest.approx(len(base.payload))
    assert sum(m["bytes"] for m in update.metrics) == pytest.approx(len(update.payload))


def test_updates_apply_only_to_their_own_stream(encoded, frames) -> None:
    base, update = encoded
    other = encode_stream(frames[:2], GridSettings(steps=10, warm_steps=5, device="cpu", seed=1))

    with pytest.raises(PayloadError, match="another grid stream"):
        merge(other.payload, update.payload)
    with pytest.raises(PayloadError, match="merge"):
        decode_stream(update.payload, None, "cpu")  # an update alone cannot be decoded
    with pytest.raises(PayloadError, match="itself an update"):
        merge(update.payload, update.payload)
    with pytest.raises(ConfigError, match="not in this grid stream"):
        decode_stream(base.payload, [9], "cpu")


def test_damaged_truncated_and_future_streams_are_refused(encoded) -> None:
    data = encoded[0].payload
    for cut in (len(data) - 1, len(data) // 2, 20, 3):
        with pytest.raises(TruncatedPayloadError):
            unpack_stream(data[:cut])
    for position in (6, 30, len(data) // 2, len(data) - 1):
        tampered = bytearray(data)
        tampered[position] ^= 0x04
        with pytest.raises(ChecksumMismatchError):
            get_container(CONTAINER_RINRS).check(bytes(tampered))
    future = bytearray(data)
    future[4] = 2
    with pytest.raises(UnsupportedVersionError, match="version 2"):
        unpack_stream(bytes(future))
    with pytest.raises(NotARinrFileError):
        get_container(CONTAINER_RINRS).check(b"NOPE" + data[4:])


def test_the_stream_item_kind_serves_grid_and_nerv_streams_alike(encoded, tiny_stream) -> None:
    streams = get_container(CONTAINER_RINRS)
    assert streams.merge and streams.decode_frames and streams.frame_boxes  # for mypy
    base, update = encoded

    merged = streams.merge(base.payload, update.payload)
    nerv_merged = streams.merge(tiny_stream.base, tiny_stream.update)

    assert merged == update.merged and nerv_merged == tiny_stream.merged
    assert list(streams.frame_boxes(merged)) == list(range(7))
    grid_frames = streams.decode_frames(merged, [3], "cpu")
    assert np.array_equal(grid_frames[0], decode_stream(merged, [3], "cpu")[0])
    assert len(streams.decode_frames(nerv_merged, None, "cpu")) == 5
    with pytest.raises(PayloadError, match="another stream format"):
        streams.merge(base.payload, tiny_stream.update)


def test_the_registry_runs_the_stream_through_its_codec_record(frames) -> None:
    codec = get_codec("grid-stream")
    options = CodecOptions(steps=20, nerv_preset="quick")
    assert get_codec("grid").kind == "frame" and codec.runtime_name == "grid"
    assert codec.update is not None

    result = codec.encode(frames[:3], options)
    update = codec.update(result.payload, frames[3:4], options)

    images = codec.decode([update.merged], "cpu")
    assert len(images) == 4
    assert codec.estimate_bytes is not None
    assert codec.estimate_bytes(Geometry(160, 107, 400), 8, options) > 0


def test_encode_seq_and_decode_seq_with_codec_grid(tmp_path: Path, capsys) -> None:
    seq = write_otb(generate_sequence(3, width=40, height=28, seed=4), tmp_path / "seq")
    out, folder = tmp_path / "s.rinrs", tmp_path / "frames"

    code = main(["encode-seq", str(seq), "--codec", "grid", "--frames", "3", "--steps", "20",
                 "--preset", "quick", "-o", str(out), "--json"])

    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"bytes", "bpp", "psnr_full", "psnr_object", "psnr_background", "macs_per_pixel",
            "encode_s"} <= set(result)
    assert result["total_bytes"] == out.stat().st_size and result["mode"] == "grid"
    assert main(["decode-seq", str(out), "-o", str(folder)]) == 0
    names = sorted(p.name for p in folder.glob("*.png"))
    assert names == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]


def test_a_repeated_frame_keeps_the_previous_latents_through_skip_blocks(frames) -> None:
    # Prepare: the update repeats the base's last frame, so copying it is free
    from rinr_core.grid.skip import grid_shape

    settings = GridSettings(steps=100, warm_steps=15, lam=2000, device="cpu")
    base = encode_stream(frames[:4], settings)
    repeat = frames[3]

    # Execute
    update = update_stream(base.payload, [repeat], settings)

    # Assert: the repeated frame skips blocks and decodes exactly like one-by-one decoding
    record = unpack_stream(update.payload).frames[0]
    assert record.skip > 0 and record.inter
    rows, cols = grid_shape(repeat.height, repeat.width)
    grouped = decode_stream(update.merged, None, "cpu")
    assert np.array_equal(grouped[4], decode_stream(update.merged, [4], "cpu")[0])
    assert update.metrics[0]["bytes"] < base.metrics[-1]["bytes"]
    assert rows * cols > 0


CUT = GridSettings(steps=200, warm_steps=20, device="cpu", target_background_db=24.0,
                   target_object_db=26.0)
"""Targets a cold fit of these 40x28 scenes reaches; networks of another scene miss by 10 dB."""


@pytest.fixture(scope="module")
def scene_cut() -> tuple[list, list]:
    return (generate_sequence(3, width=40, height=28, seed=11),
            generate_sequence(3, width=40, height=28, seed=5))


def _misses(metrics: list[dict], settings: GridSettings) -> list[float]:
    from rinr_core.grid.rate import shortfall

    return [shortfall(m, settings) for m in metrics]


def test_a_scene_cut_starts_a_new_network_version_in_the_stream(scene_cut) -> None:
    # Prepare: three frames of one scene, then three of another
    first, second = scene_cut

    # Execute
    result = encode_stream(first + second, CUT)

    # Assert: the cut frame is coded alone under a second network version, the frames after
    # it under that version; each frame after the cut misses its targets by at most the
    # refresh threshold (under the first scene's networks: about 10 dB), and decoding agrees
    parsed = unpack_stream(result.payload)
    assert len(parsed.nets) == 2 and result.summary["network_versions"] == 2
    assert [f.net for f in parsed.frames] == [0, 0, 0, 1, 1, 1]
    assert [f.inter for f in parsed.frames] == [False, True, True, False, True, True]
    assert max(_misses(result.metrics[3:], CUT)) <= CUT.refresh_db
    grouped = decode_stream(result.payload, None, "cpu")
    assert np.array_equal(grouped[4], decode_stream(result.payload, [4], "cpu")[0])
    assert sum(m["bytes"] for m in result.metrics) == pytest.approx(len(result.payload))


def test_an_update_after_a_scene_cut_ships_its_new_networks(scene_cut) -> None:
    # Prepare: a stream of the first scene; without refreshing, the second scene's frames
    # would be fitted under its networks
    first, second = scene_cut
    base = encode_stream(first, CUT)

    # Execute
    update = update_stream(base.payload, second, CUT)

    # Assert: the update carries network version 1 and the merged stream decodes its frames
    # as measured
    part = unpack_stream(update.payload)
    assert part.first_net == 1 and len(part.nets) == 1 and update.storage == "networks"
    assert [f.net for f in part.frames] == [1, 1, 1] and not part.frames[0].inter
    assert max(_misses(update.metrics, CUT)) <= CUT.refresh_db
    merged = decode_stream(update.merged, [3, 4, 5], "cpu")
    assert [psnr(f.image, d) for f, d in zip(second, merged, strict=True)] == pytest.approx(
        [m["psnr_full"] for m in update.metrics], abs=1e-9)
