"""The Residual-INR codec end to end: modes, stored quality, resizing, bad input."""

import numpy as np
import pytest

from rinr_core.codec import CodecSettings, encode, encode_frame, encode_frames
from rinr_core.container import ROLE_FRAME, ROLE_OBJECT_DIRECT, ROLE_OBJECT_RESIDUAL, unpack
from rinr_core.datasets import load_sequence
from rinr_core.decoding import decode
from rinr_core.errors import ConfigError, InvalidBoxError
from rinr_core.frames import Frame
from rinr_core.metrics import frame_psnrs
from rinr_core.synthetic import generate_sequence

METRIC_KEYS = {"bytes", "psnr_full", "psnr_object", "psnr_background", "mode", "width", "height", "macs_per_pixel"}


@pytest.fixture(scope="module")
def frame() -> Frame:
    return generate_sequence(1, width=48, height=32, seed=7)[0]


@pytest.mark.parametrize(
    ("mode", "roles", "bits"),
    [
        ("bs", [ROLE_FRAME], [16]),
        ("be", [ROLE_FRAME], [16]),
        ("de", [ROLE_FRAME, ROLE_OBJECT_DIRECT], [16, 16]),
        ("re", [ROLE_FRAME, ROLE_OBJECT_RESIDUAL], [16, 16]),
        ("qre", [ROLE_FRAME, ROLE_OBJECT_RESIDUAL], [8, 16]),
    ],
)
def test_every_mode_stores_its_inrs_and_reports_quality_of_the_stored_bytes(frame, mode, roles, bits):
    result = encode_frame(frame, CodecSettings(mode=mode, steps=40))
    parsed = unpack(result.payload)
    assert [i.role for i in parsed.inrs] == roles
    assert [i.bits for i in parsed.inrs] == bits
    assert METRIC_KEYS <= set(result.metrics)
    assert result.metrics["bytes"] == len(result.payload)
    decoded = decode(result.payload, "cpu")
    assert decoded.dtype == np.uint8 and decoded.shape == frame.image.shape
    measured = frame_psnrs(frame.image, decoded, frame.box)
    for key, value in measured.items():
        assert result.metrics[key] == pytest.approx(value)


def test_residual_object_raises_object_quality_over_background_only(frame):
    be = encode_frame(frame, CodecSettings(mode="be", steps=120)).metrics
    re = encode_frame(frame, CodecSettings(mode="re", steps=120)).metrics
    assert re["psnr_object"] > be["psnr_object"] + 3
    assert re["psnr_background"] == pytest.approx(be["psnr_background"])


def test_qre_is_smaller_than_re(frame):
    re = encode_frame(frame, CodecSettings(mode="re", steps=20)).metrics
    qre = encode_frame(frame, CodecSettings(mode="qre", steps=20)).metrics
    assert qre["bytes"] < re["bytes"]


def test_max_side_resizes_frame_and_box(frame):
    result = encode_frame(frame, CodecSettings(mode="be", steps=5, max_side=24))
    assert (result.metrics["width"], result.metrics["height"]) == (24, 16)
    assert decode(result.payload).shape == (16, 24, 3)


def test_batched_encode_matches_separate_encodes():
    frames = generate_sequence(3, width=40, height=24, seed=3)
    settings = CodecSettings(mode="qre", steps=60)
    together = encode_frames(frames, settings)
    for f, r in zip(frames, together, strict=True):
        alone = encode_frame(f, settings)
        for key in ("psnr_full", "psnr_object", "psnr_background"):
            assert r.metrics[key] == pytest.approx(alone.metrics[key], abs=0.05)


def test_encode_rejects_box_outside_image_with_clear_error(frame):
    with pytest.raises(InvalidBoxError, match="outside"):
        encode(frame.image, (500, 500, 10, 10), steps=5)
    with pytest.raises(InvalidBoxError, match="NaN"):
        encode(frame.image, (1, 1, float("nan"), 4), steps=5)


def test_unknown_mode_and_preset_are_config_errors():
    with pytest.raises(ConfigError, match="mode"):
        CodecSettings(mode="xyz")
    with pytest.raises(ConfigError, match="preset"):
        CodecSettings(preset="nope")


def test_paper_preset_uses_paper_architectures(frame):
    result = encode_frame(frame, CodecSettings(mode="qre", preset="paper", steps=2))
    parsed = unpack(result.payload)
    assert str(parsed.inrs[0].arch) == "10x28"
    assert str(parsed.inrs[1].arch) == "3x10"  # box area < 1001
    assert result.metrics["macs_per_pixel"] > 7196


def test_paper_central_result_on_a_real_frame(seq_dir):
    """Residual encoding wins on the object: QRE >> BS at no more bytes, and RE > DE."""
    frame = load_sequence(seq_dir("Crossing"), limit=1, max_side=96).frames[0]
    m = {mode: encode_frame(frame, CodecSettings(mode=mode, steps=200)).metrics for mode in ("bs", "de", "re", "qre")}
    assert m["qre"]["bytes"] <= m["bs"]["bytes"]
    assert m["qre"]["psnr_object"] > m["bs"]["psnr_object"] + 6
    assert m["re"]["psnr_object"] > m["de"]["psnr_object"] + 2


def test_max_side_zero_keeps_the_frame_size() -> None:
    # the runtime's max-side = 0 means "keep the size"; the codec and the loaders agree
    assert CodecSettings(max_side=0).max_side is None
    with pytest.raises(ConfigError, match="0 \\(keep the size\\)"):
        CodecSettings(max_side=4)
