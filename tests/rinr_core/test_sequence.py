"""Res-NeRV sequences: encode, decode, update, the .rinrs container and the CLI."""

import argparse
import json
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rinr_core.cli_sequence import add_parser
from rinr_core.codec import CodecSettings, encode_frame
from rinr_core.datasets import load_sequence, write_otb
from rinr_core.errors import (
    ChecksumMismatchError,
    ConfigError,
    MalformedPayloadError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.frames import Frame
from rinr_core.metrics import frame_psnrs
from rinr_core.nerv import Nerv, NervArch, frame_times, load_quantized, render
from rinr_core.sequence import (
    SequenceSettings,
    apply_update,
    decode_sequence,
    encode_sequence,
    frame_boxes,
    unpack_sequence,
    update_sequence,
)
from rinr_core.synthetic import generate_sequence

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
METRIC_KEYS = {"bytes", "psnr_full", "psnr_object", "psnr_background", "mode", "width", "height", "macs_per_pixel"}
TINY = NervArch(pe_levels=16, stem_hidden=32, base_channels=8, strides=(2, 2, 2), widths=(16, 12, 8))
SETTINGS = SequenceSettings(arch=TINY, epochs=25, lr=5e-3, qat_epochs=2, update_epochs=10, object_steps=80,
                            chains=2, device="cpu")


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    return generate_sequence(12, width=48, height=32, seed=2)


@pytest.fixture(scope="module")
def encoded(frames):
    return encode_sequence(frames[:8], SETTINGS)


@pytest.fixture(scope="module")
def updated(encoded, frames):
    return update_sequence(encoded.payload, frames[8:], SETTINGS)


def test_metrics_have_the_rinr_keys_and_bytes_add_up_to_the_payload(encoded):
    assert len(encoded.metrics) == 8
    for m in encoded.metrics:
        assert METRIC_KEYS <= set(m)
        assert (m["mode"], m["width"], m["height"]) == ("res-nerv", 48, 32)
    assert sum(m["bytes"] for m in encoded.metrics) == pytest.approx(len(encoded.payload))
    assert encoded.summary["total_bytes"] == len(encoded.payload)


def test_metrics_are_measured_on_the_decoded_payload(encoded):
    decoded = decode_sequence(encoded.payload, device="cpu")
    assert len(decoded) == 8 and decoded[0].dtype == np.uint8 and decoded[0].shape == (32, 48, 3)
    for f, image, m in zip(encoded.frames, decoded, encoded.metrics, strict=True):
        for key, value in frame_psnrs(f.image, image, f.box).items():
            assert m[key] == pytest.approx(value)


def test_decoding_some_frames_gives_the_same_pixels_as_decoding_all(encoded):
    everything = decode_sequence(encoded.payload, device="cpu")
    some = decode_sequence(encoded.payload, [5, 2], device="cpu")
    np.testing.assert_array_equal(some[0], everything[5])
    np.testing.assert_array_equal(some[1], everything[2])
    assert frame_boxes(encoded.payload) == {i: f.box for i, f in enumerate(encoded.frames)}
    with pytest.raises(ConfigError, match="not in this"):
        decode_sequence(encoded.payload, [8])


def test_residuals_raise_object_quality_over_nerv_alone_for_few_bytes(encoded, frames):
    nerv = encode_sequence(frames[:8], SequenceSettings(codec="nerv", arch=TINY, device="cpu"),
                           background=encoded.background)
    res, plain = encoded.metrics, nerv.metrics
    assert all(m["inrs"] == ["nerv:v0@8b"] for m in plain)
    gain = np.mean([r["psnr_object"] - p["psnr_object"] for r, p in zip(res, plain, strict=True)])
    assert gain > 4
    for r, p in zip(res, plain, strict=True):
        assert r["psnr_background"] == pytest.approx(p["psnr_background"], abs=0.01)  # same stored NeRV
    extra = np.mean([r["bytes"] - p["bytes"] for r, p in zip(res, plain, strict=True)])
    assert 0 < extra < 700  # one 3x10 SIREN at 10 bits plus its record


def test_object_inrs_are_warm_started_along_their_runs(encoded):
    # 8 frames in 2 runs of 4: the first frame of each run starts cold.
    assert [m["warm_object"] for m in encoded.metrics] == [False, True, True, True] * 2
    assert all(m["steps_object"] <= 20 for m in encoded.metrics if m["warm_object"])  # a quarter of 80


def test_nerv_weights_are_quantized_and_entropy_coded(encoded):
    s = encoded.summary
    assert s["nerv_weights"] == TINY.num_params(32, 48)
    assert s["nerv_bits_per_weight"] < s["nerv_raw_bits_per_weight"] == 8
    assert s["nerv_bytes"] < len(encoded.payload)


def test_update_ships_a_small_difference_and_keeps_earlier_frames(encoded, updated, frames):
    base = unpack_sequence(encoded.payload)
    merged = unpack_sequence(updated.merged)
    assert updated.storage == "delta" and updated.summary["delta_bytes"] < updated.summary["codes_bytes"]
    assert len(updated.payload) < len(encoded.payload)
    assert [f.index for f in merged.frames] == list(range(12))
    assert [f.version for f in merged.frames] == [0] * 8 + [1] * 4
    old, new = merged.versions
    changed = [not np.array_equal(a.codes, b.codes) for a, b in zip(old.tensors, new.tensors, strict=True)]
    assert any(changed[:4]) and not any(changed[4:])  # stem only: convolutions unchanged
    decoded = decode_sequence(updated.merged, device="cpu")
    for a, b in zip(decode_sequence(encoded.payload, device="cpu"), decoded[:8], strict=True):
        np.testing.assert_array_equal(a, b)
    parent = load_quantized(Nerv(TINY, 32, 48), base.versions[0].tensors)
    stale = (render(parent, frame_times(range(8, 12), base.index_scale)).clamp(0, 1) * 255).round()
    stale_psnr = np.mean([frame_psnrs(f.image, s.byte().numpy(), f.box)["psnr_background"]
                          for f, s in zip(frames[8:], stale, strict=True)])
    assert np.mean([m["psnr_background"] for m in updated.metrics]) > stale_psnr + 1
    assert [m["index"] for m in updated.metrics] == [8, 9, 10, 11]


def test_an_update_alone_or_on_the_wrong_base_is_refused(encoded, updated, frames):
    with pytest.raises(PayloadError, match="update"):
        decode_sequence(updated.payload)
    other = encode_sequence(frames[:8], SequenceSettings(codec="nerv", arch=TINY, device="cpu"),
                            background=encoded.background)
    with pytest.raises(PayloadError, match="another base"):
        apply_update(other.payload, updated.payload)
    assert apply_update(encoded.payload, updated.payload) == updated.merged


# --- damaged payloads --------------------------------------------------------------------


@pytest.mark.parametrize("cut", [0, 2, 10, 40, 200, -200, -9, -1])
def test_truncated_payload_raises_truncated(encoded, cut):
    with pytest.raises(TruncatedPayloadError):
        unpack_sequence(encoded.payload[:cut] if cut else b"")


@pytest.mark.parametrize("position", [0.2, 0.5, 0.9])
def test_flipped_bit_raises_checksum_mismatch(encoded, position):
    data = bytearray(encoded.payload)
    data[int(len(data) * position)] ^= 0x10
    with pytest.raises(ChecksumMismatchError):
        decode_sequence(bytes(data))


def test_wrong_version_and_foreign_bytes_have_their_own_errors(encoded, frames):
    data = bytearray(encoded.payload)
    data[4] = 9
    with pytest.raises(UnsupportedVersionError, match="version 9"):
        decode_sequence(bytes(data))
    rinr = encode_frame(frames[0], CodecSettings(mode="be", steps=2)).payload
    with pytest.raises(NotARinrFileError):
        decode_sequence(rinr)
    with pytest.raises(NotARinrFileError):
        decode_sequence(b"\x89PNG\r\n\x1a\n" + bytes(100))


def test_inconsistent_fields_under_a_valid_checksum_are_malformed(encoded):
    body = bytearray(encoded.payload[:-4])
    body[5] = 7  # codec index out of range
    with pytest.raises(MalformedPayloadError, match="codec"):
        unpack_sequence(bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))))


def test_frames_of_different_sizes_and_unknown_codecs_are_config_errors(frames):
    with pytest.raises(ConfigError, match="one size"):
        encode_sequence([frames[0], generate_sequence(1, width=40, height=32)[0]], SETTINGS)
    with pytest.raises(ConfigError, match="codec"):
        SequenceSettings(codec="h264")
    with pytest.raises(ConfigError, match="scope"):
        SequenceSettings(update_scope="head")


def test_objects_below_the_target_are_refitted_with_larger_tiers(encoded, frames):
    easy = encode_sequence(frames[:8], replace(SETTINGS, object_db=1.0), background=encoded.background)
    assert all(m["object_refits"] == 0 for m in easy.metrics)
    assert len(easy.payload) == len(encoded.payload)
    hard = encode_sequence(frames[:8], replace(SETTINGS, object_db=99.0), background=encoded.background)
    assert all(m["object_refits"] == 3 for m in hard.metrics)  # 3x10 -> 3x15 -> 5x17 -> 5x24, the best kept
    for before, after in zip(encoded.metrics, hard.metrics, strict=True):
        assert after["psnr_object"] >= before["psnr_object"] - 1e-6


def test_nerv_bpp_sizes_the_nerv_from_the_frame_count_and_size(frames):
    assert SETTINGS.arch_for(8, 32, 48) == TINY  # no budget: the architecture as given
    sized = replace(SETTINGS, nerv_bpp=1.5)
    few, many = sized.arch_for(4, 32, 48), sized.arch_for(16, 32, 48)
    assert few.strides == many.strides == TINY.strides
    assert few.num_params(32, 48) < many.num_params(32, 48) <= 1.5 * 48 * 32 * 16 / (8 - 1.2)
    result = encode_sequence(frames[:4], replace(sized, codec="nerv", epochs=2, qat_epochs=0))
    assert unpack_sequence(result.payload).arch == few
    assert result.summary["nerv_weights"] == few.num_params(32, 48)
    with pytest.raises(ConfigError, match="nerv_bpp"):
        SequenceSettings(nerv_bpp=0)
    grown = encode_sequence(frames[:4], replace(sized, codec="nerv", epochs=2, qat_epochs=0, background_db=99.0,
                                                max_nerv_bpp=1.5 * 1.6**2))
    assert grown.summary["nerv_bpp_tries"] == "1.5,2.4,3.84"  # missed every time: grown while within the cap
    assert unpack_sequence(grown.payload).arch == sized.arch_for(4, 32, 48, 1.5 * 1.6**2)
    compact = SequenceSettings(nerv_preset="compact")  # sized by the preset's own bpp
    assert compact.arch_for(120, 90, 160).num_params(90, 160) <= 0.3 * 160 * 90 * 120 / (5 - 1.2)
    assert compact.arch_for(300, 90, 160).num_params(90, 160) > compact.arch_for(120, 90, 160).num_params(90, 160)


# --- the command line -------------------------------------------------------------------


def _run(argv: list[str], capsys) -> dict:
    parser = argparse.ArgumentParser(prog="rinr")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


def test_cli_encodes_and_decodes_a_sequence_folder(tmp_path, capsys):
    folder = write_otb(generate_sequence(5, width=40, height=24, seed=6), tmp_path / "seq")
    out = tmp_path / "s.rinrs"
    result = _run(["encode-seq", str(folder), "--frames", "4", "--epochs", "2", "--object-steps", "10",
                   "--device", "cpu", "-o", str(out), "--json"], capsys)
    assert METRIC_KEYS <= set(result) and result["frames"] == 4 and result["mode"] == "res-nerv"
    assert result["bytes"] == pytest.approx(out.stat().st_size / 4)
    assert [n for n in result["inrs"] if n.startswith("object")] == ["object-residual:3x10@10b"]  # default bits
    decoded = _run(["decode-seq", str(out), "-o", str(tmp_path / "png"), "--frames", "1-2", "--json"], capsys)
    assert [Path(p).name for p in decoded["files"]] == ["frame_000001.png", "frame_000002.png"]
    update = tmp_path / "u.rinrs"
    result = _run(["update-seq", str(out), str(folder), "--start", "4", "--update-epochs", "1", "--object-steps",
                   "10", "--device", "cpu", "-o", str(update), "--merged", str(tmp_path / "m.rinrs"), "--json"], capsys)
    assert result["frames"] == 1 and result["storage"] in ("delta", "codes")
    assert list(frame_boxes((tmp_path / "m.rinrs").read_bytes())) == [0, 1, 2, 3, 4]


# --- a real sequence --------------------------------------------------------------------


@pytest.mark.shared_data
def test_res_nerv_beats_nerv_on_the_object_of_a_real_sequence_for_a_few_more_bytes():
    """The issue's "done when", at small size: a wide object-PSNR margin for a small byte increase."""
    seq = SHARED / "Crossing"
    if not seq.is_dir():
        pytest.skip("../shared/data/Crossing is absent (real-data test)")
    frames = load_sequence(seq, limit=16, max_side=96).frames
    settings = SequenceSettings(epochs=12, object_steps=300, device="cpu")
    res = encode_sequence(frames, settings)
    nerv = encode_sequence(frames, SequenceSettings(codec="nerv", device="cpu"), background=res.background)

    def mean(metrics: list[dict], key: str) -> float:
        return float(np.mean([m[key] for m in metrics]))

    assert mean(res.metrics, "psnr_object") > mean(nerv.metrics, "psnr_object") + 8
    assert mean(res.metrics, "bytes") < 1.2 * mean(nerv.metrics, "bytes")


def test_cuda_decode_agrees_with_the_cpu_within_one_level(encoded, cuda_device):
    # the fog measured its metrics on the CPU decode; a GPU edge sees the same frames up to
    # float32 rounding order (TF32 off), i.e. at most one 8-bit level on a few pixels
    cpu = decode_sequence(encoded.payload, device="cpu")
    gpu = decode_sequence(encoded.payload, device=cuda_device)
    for a, b in zip(cpu, gpu, strict=True):
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01
