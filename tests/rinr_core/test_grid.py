"""The per-frame grid codec: exact decoding, rate control on real frames, refused damage."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from rinr_core.cli import main
from rinr_core.container import check, payload_box, payload_version
from rinr_core.datasets import load_sequence, write_otb
from rinr_core.decoding import decode, decode_many
from rinr_core.errors import (
    ChecksumMismatchError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.grid import FRAME_ARCH, GridSettings, decode_frame, encode_grid_frames
from rinr_core.grid.arm import IntArm, quantize
from rinr_core.grid.decode import render
from rinr_core.grid.encode import frame_payload, to_tensor
from rinr_core.grid.fit import Problem
from rinr_core.grid.laplace import LADDER, ladder, scale_of
from rinr_core.grid.model import arm_forward
from rinr_core.grid.rate import fit_frames
from rinr_core.images import encode_image
from rinr_core.metrics import psnr
from rinr_core.synthetic import generate_sequence

QUICK = GridSettings(steps=40, device="cpu")


@pytest.fixture(scope="module")
def frames():
    return generate_sequence(3, width=40, height=28, seed=5)


@pytest.fixture(scope="module")
def encoded(frames):
    return encode_grid_frames(frames, QUICK)


# --- exact decoding ---------------------------------------------------------------------------


def test_the_bytes_decode_to_the_encoders_own_reconstruction_bit_for_bit(frames) -> None:
    # Prepare: fit two frames and keep what the encoder itself would render
    chosen = frames[:2]
    problem = Problem(FRAME_ARCH, to_tensor(chosen, torch.device("cpu")), [f.box for f in chosen],
                      shared=False)
    outcome = fit_frames(problem, [f.image for f in chosen], QUICK)

    for k, frame in enumerate(chosen):
        fit, nets = outcome.frames[k], outcome.networks[k]
        own = render(FRAME_ARCH, nets, fit.levels, frame.height, frame.width, "cpu")

        # Execute
        payload, _ = frame_payload(FRAME_ARCH, nets, fit.levels, frame.width, frame.height,
                                   frame.box)
        decoded = decode(payload, "cpu")

        # Assert
        assert np.array_equal(decoded, own)
        assert payload_version(payload) == 2 and payload_box(payload) == frame.box


def test_metrics_are_measured_on_the_decoded_bytes(encoded) -> None:
    for result in encoded:
        image = decode_frame(result.payload, "cpu")
        m = result.metrics
        assert m["bytes"] == len(result.payload) and m["mode"] == "grid"
        assert psnr(result.frame.image, image) == pytest.approx(m["psnr_full"], abs=1e-9)
        assert 0 < m["macs_per_pixel"] <= 1500
        assert m["network_bytes"] > 0 and m["latent_bytes"] > 0


def test_grouped_decoding_equals_one_by_one_and_keeps_version_1_working(encoded, frames) -> None:
    # Prepare: a version-1 QRE payload among the grid ones
    from rinr_core.codecs import CodecOptions, get_codec

    v1 = get_codec("qre").encode(frames[:1], CodecOptions(steps=10))[0].payload
    payloads = [encoded[0].payload, v1, encoded[1].payload, encoded[2].payload]

    # Execute
    grouped = decode_many(payloads, "cpu")

    # Assert
    singles = [decode(p, "cpu") for p in payloads]
    assert all(np.array_equal(a, b) for a, b in zip(grouped, singles, strict=True))
    assert payload_version(v1) == 1


# --- the entropy model is exact -------------------------------------------------------------


def test_the_scale_ladder_is_exp_of_its_scales_built_without_exp() -> None:
    rhos = np.array(ladder())
    expected = np.exp(-1.0 / (8 * scale_of(np.arange(LADDER))))
    assert len(rhos) == LADDER
    assert np.allclose(rhos, expected, rtol=1e-12, atol=0)


def test_the_integer_entropy_model_follows_the_float_one() -> None:
    # Prepare: a random entropy model, quantized as it is stored
    generator = torch.Generator().manual_seed(0)
    shapes = FRAME_ARCH.arm_shapes
    tensors = [quantize((torch.rand(s, generator=generator) - 0.5).numpy(), 8) for s in shapes]
    contexts = np.random.default_rng(0).integers(-3, 4, size=(500, FRAME_ARCH.arm_inputs))

    # Execute
    mean, index = IntArm(tensors)(contexts)
    nets = [torch.zeros(1, *s) for s in FRAME_ARCH.synthesis_shapes]
    nets += [torch.from_numpy(t.values())[None] for t in tensors]
    fmean, flog = arm_forward(FRAME_ARCH, nets, torch.from_numpy(contexts).float()[None])

    # Assert: the fixed-point means are within a rounding of the float ones
    assert np.abs(mean / 8 - fmean[0].numpy()).max() < 0.15
    float_index = np.clip(np.round((flog[0].numpy() + 6) * 4), 0, LADDER - 1)
    assert np.abs(index - float_index).max() <= 1


# --- rate control -----------------------------------------------------------------------------


def test_the_rate_control_meets_the_targets_it_is_given_on_a_real_frame(seq_dir) -> None:
    # Prepare: one real frame, small enough for a test
    frame = load_sequence(seq_dir("vot_bag"), limit=1, max_side=64).frames[0]
    settings = GridSettings(steps=300, target_background_db=27.0, target_object_db=30.0,
                            device="cpu")

    # Execute
    result = encode_grid_frames([frame], settings)[0]

    # Assert: measured on the decoded bytes
    m = result.metrics
    assert m["meets_targets"] is True
    assert m["psnr_background"] >= 27.0 and m["psnr_object"] >= 30.0
    decoded = decode(result.payload, "cpu")
    assert psnr(result.frame.image, decoded) == pytest.approx(m["psnr_full"], abs=1e-9)


# --- damaged, foreign and future payloads ----------------------------------------------------


def test_damaged_truncated_and_future_payloads_are_refused(encoded) -> None:
    payload = encoded[0].payload
    for cut in (len(payload) - 1, len(payload) - 5, len(payload) // 2, 12, 6, 3):
        with pytest.raises(TruncatedPayloadError):
            check(payload[:cut])
    for position in (5, 9, len(payload) // 2, len(payload) - 6, len(payload) - 1):
        tampered = bytearray(payload)
        tampered[position] ^= 0x10
        with pytest.raises(ChecksumMismatchError):
            decode(bytes(tampered), "cpu")
    future = bytearray(payload)
    future[4] = 3
    with pytest.raises(UnsupportedVersionError, match="version 3"):
        decode(bytes(future), "cpu")
    with pytest.raises(NotARinrFileError):
        check(b"JUNK" + payload[4:])
    with pytest.raises(PayloadError):
        decode(b"", "cpu")


def test_every_single_bit_flip_is_detected(encoded) -> None:
    payload = encoded[0].payload
    for position in range(0, len(payload), max(1, len(payload) // 64)):
        for bit in (0, 7):
            flipped = bytearray(payload)
            flipped[position] ^= 1 << bit
            with pytest.raises(PayloadError):
                decode(bytes(flipped), "cpu")


# --- command line -------------------------------------------------------------------------


def test_rinr_encode_mode_grid_and_decode(tmp_path, capsys) -> None:
    frame = generate_sequence(1, width=48, height=32, seed=2)[0]
    image = tmp_path / "frame.png"
    image.write_bytes(encode_image(frame.image, "PNG"))
    out, png = tmp_path / "f.rinr", tmp_path / "f.png"
    x, y, w, h = frame.box

    code = main(["encode", str(image), "--bbox", f"{x},{y},{w},{h}", "--mode", "grid",
                 "--steps", "30", "--lambda", "300", "-o", str(out), "--json"])

    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"bytes", "bpp", "psnr_full", "psnr_object", "psnr_background", "macs_per_pixel",
            "encode_s"} <= set(result)
    assert result["bytes"] == out.stat().st_size and result["lambda"] == 300
    assert not math.isnan(result["psnr_full"])
    assert main(["decode", str(out), "-o", str(png)]) == 0
    assert np.array_equal(np.asarray(Image.open(png)), decode(out.read_bytes(), "cpu"))


def test_rinr_eval_runs_the_grid_modes(tmp_path, capsys) -> None:
    seq = write_otb(generate_sequence(2, width=40, height=28, seed=9), tmp_path / "seq")

    code = main(["eval", str(seq), "--frames", "2", "--steps", "20", "--modes",
                 "grid,grid-stream,jpeg", "--out", str(tmp_path / "out"), "--json"])

    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [s["mode"] for s in result["summary"]] == ["grid", "grid-stream", "jpeg"]
    assert all(s["macs_per_pixel"] > 0 for s in result["summary"][:2])
