"""Tests for the classic codec peers (JPEG, WebP, AVIF, ROI-JPEG) in rinr_core.classic."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rinr_core.classic import (
    CLASSIC_CODECS,
    QUALITY_MAX,
    ROI_HEADER,
    ClassicResult,
    classic_at_budget,
    classic_at_target,
    classic_sweep,
    decode_classic,
    encode_classic,
    run_classic,
)
from rinr_core.errors import (
    BadFrameError,
    ConfigError,
    InvalidBoxError,
    MalformedPayloadError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
    UnreadableImageError,
)
from rinr_core.frames import validate_box
from rinr_core.metrics import frame_psnrs

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BOX = (58, 30, 44, 40)  # deliberately off the 16-pixel JPEG grid
WIDE_BOX = (130, 70, 44, 40)
QUALITIES = {"jpeg": 50, "webp": 50, "avif": 50, "roi-jpeg": (30, 80)}


def make_scene(width: int = 160, height: int = 96, box=BOX, seed: int = 0) -> np.ndarray:
    """A smooth background with a detailed object (luma texture, flat hue) in ``box``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    background = np.stack(
        [
            110 + 60 * np.sin(xx / 23.0) * np.cos(yy / 31.0),
            90 + 0.6 * xx,
            140 + 50 * np.cos((xx + yy) / 40.0),
        ],
        axis=-1,
    )
    image = background
    x, y, w, h = box
    oy, ox = np.mgrid[0:h, 0:w]
    checker = 70.0 * ((ox // 3 + oy // 3) % 2)[..., None]
    texture = rng.normal(0, 20, size=(h, w, 1))
    image[y : y + h, x : x + w] = np.array([90.0, 70.0, 50.0]) + checker + texture
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return make_scene()


@pytest.fixture(scope="module")
def wide_scene() -> np.ndarray:
    """A 320x192 scene whose object is a small part of the frame: where ROI coding pays."""
    return make_scene(320, 192, WIDE_BOX)


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CLASSIC_CODECS)
def test_round_trip_shape_dtype_and_sensible_psnr(scene: np.ndarray, codec: str) -> None:
    # Prepare
    quality = QUALITIES[codec]

    # Execute
    payload = encode_classic(scene, codec, quality, box=BOX)
    decoded = decode_classic(payload, codec)

    # Assert
    assert decoded.shape == scene.shape and decoded.dtype == np.uint8
    psnrs = frame_psnrs(scene, decoded, BOX)
    assert 22.0 < psnrs["psnr_full"] < 60.0
    assert psnrs["psnr_background"] > 28.0


@pytest.mark.parametrize("codec", CLASSIC_CODECS)
def test_run_classic_reports_all_metrics(scene: np.ndarray, codec: str) -> None:
    # Execute
    result = run_classic(scene, BOX, codec, QUALITIES[codec])

    # Assert
    assert isinstance(result, ClassicResult) and result.codec == codec
    m = result.metrics
    assert m["bytes"] == len(result.payload)
    assert (m["mode"], m["width"], m["height"]) == (codec, 160, 96)
    assert m["bpp"] == pytest.approx(8.0 * len(result.payload) / (160 * 96))
    assert m == m | frame_psnrs(scene, result.decoded, BOX)
    expected_label = "bg=30,obj=80" if codec == "roi-jpeg" else "q=50"
    assert result.quality == expected_label


@pytest.mark.parametrize("codec", CLASSIC_CODECS)
def test_sweep_psnr_and_bytes_increase_with_quality(scene: np.ndarray, codec: str) -> None:
    # Prepare
    qualities = [(10, 30), (40, 60), (80, 95)] if codec == "roi-jpeg" else [10, 40, 80]

    # Execute
    results = classic_sweep(scene, BOX, codec, qualities)

    # Assert
    full = [r.metrics["psnr_full"] for r in results]
    sizes = [r.metrics["bytes"] for r in results]
    assert full == sorted(full) and len(set(full)) == 3
    assert sizes == sorted(sizes) and len(set(sizes)) == 3


def test_sweep_default_qualities(scene: np.ndarray) -> None:
    # Execute
    results = classic_sweep(scene, BOX, "jpeg")

    # Assert
    assert len(results) > 5
    assert results[0].metrics["bytes"] < results[-1].metrics["bytes"]


def test_roi_jpeg_payload_layout_counts_every_byte(scene: np.ndarray) -> None:
    # Execute
    payload = encode_classic(scene, "roi-jpeg", (20, 90), box=BOX)

    # Assert
    magic, x, y, w, h, frame_len = ROI_HEADER.unpack_from(payload)
    assert magic == b"RJPG" and (x, y, w, h) == BOX
    frame_jpeg = payload[ROI_HEADER.size : ROI_HEADER.size + frame_len]
    crop_jpeg = payload[ROI_HEADER.size + frame_len :]
    assert frame_jpeg[:2] == crop_jpeg[:2] == b"\xff\xd8"
    assert len(payload) == 16 + len(frame_jpeg) + len(crop_jpeg)
    assert run_classic(scene, BOX, "roi-jpeg", (20, 90)).metrics["bytes"] == len(payload)


def test_roi_jpeg_object_depends_only_on_object_quality(scene: np.ndarray) -> None:
    # Execute
    low_bg = run_classic(scene, BOX, "roi-jpeg", (5, 90)).metrics
    high_bg = run_classic(scene, BOX, "roi-jpeg", (90, 90)).metrics

    # Assert
    assert low_bg["psnr_object"] == high_bg["psnr_object"]
    assert low_bg["psnr_background"] < high_bg["psnr_background"] - 5.0


def test_roi_jpeg_beats_plain_jpeg_on_the_object_at_equal_bytes(wide_scene: np.ndarray) -> None:
    # Prepare: the plain JPEG's size at a mid quality is the budget for both
    budget = run_classic(wide_scene, WIDE_BOX, "jpeg", 50).metrics["bytes"]

    # Execute
    jpeg = classic_at_budget(wide_scene, WIDE_BOX, "jpeg", budget)
    roi = classic_at_budget(wide_scene, WIDE_BOX, "roi-jpeg", budget)

    # Assert
    assert jpeg is not None and roi is not None
    assert roi.metrics["bytes"] <= budget and jpeg.metrics["bytes"] <= budget
    assert roi.metrics["psnr_object"] > jpeg.metrics["psnr_object"] + 3.0


def test_roi_jpeg_box_at_the_edge_of_an_odd_sized_frame() -> None:
    # Prepare: 150x90 is not a multiple of the 16-pixel grid; the box touches both far edges
    box = (131, 77, 19, 13)
    image = make_scene(150, 90, box)

    # Execute
    result = run_classic(image, box, "roi-jpeg", (20, 95))

    # Assert
    assert result.decoded.shape == image.shape
    assert result.metrics["psnr_object"] > 30.0
    assert (
        result.metrics["psnr_object"] > run_classic(image, box, "jpeg", 20).metrics["psnr_object"]
    )


def test_whole_frame_box_has_no_background_target(scene: np.ndarray) -> None:
    # Prepare
    box = (0, 0, scene.shape[1], scene.shape[0])

    # Execute
    roi = classic_at_target(scene, box, "roi-jpeg", background_db=99.0, object_db=30.0)
    jpeg = classic_at_target(scene, box, "jpeg", background_db=99.0, object_db=30.0)

    # Assert
    assert roi is not None and jpeg is not None
    assert np.isnan(roi.metrics["psnr_background"])
    assert roi.metrics["psnr_object"] >= 30.0 and jpeg.metrics["psnr_object"] >= 30.0


# --- budget search ------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif"])
def test_budget_search_returns_best_quality_within_budget(scene: np.ndarray, codec: str) -> None:
    # Prepare
    budget = len(encode_classic(scene, codec, 60)) + 37

    # Execute
    result = classic_at_budget(scene, BOX, codec, budget)

    # Assert
    assert result is not None
    quality = int(result.quality.removeprefix("q="))
    assert result.metrics["bytes"] <= budget
    assert quality >= 60
    if quality < QUALITY_MAX:
        assert len(encode_classic(scene, codec, quality + 1)) > budget


def test_budget_search_roi_jpeg_is_best_object_psnr_within_budget(scene: np.ndarray) -> None:
    # Prepare
    budget = run_classic(scene, BOX, "roi-jpeg", (20, 60)).metrics["bytes"] + 200

    # Execute
    result = classic_at_budget(scene, BOX, "roi-jpeg", budget)

    # Assert
    assert result is not None and result.metrics["bytes"] <= budget
    bg, obj = (int(part.split("=")[1]) for part in result.quality.split(","))
    assert obj >= 60
    # the chosen background quality is the highest that fits with this object quality
    assert run_classic(scene, BOX, "roi-jpeg", (bg + 1, obj)).metrics["bytes"] > budget


@pytest.mark.parametrize("codec", CLASSIC_CODECS)
def test_budget_search_returns_none_when_nothing_fits(scene: np.ndarray, codec: str) -> None:
    # Execute / Assert
    assert classic_at_budget(scene, BOX, codec, 50) is None


def test_budget_search_huge_budget_gives_top_quality(scene: np.ndarray) -> None:
    # Execute
    result = classic_at_budget(scene, BOX, "jpeg", 10_000_000)

    # Assert
    assert result is not None and result.quality == f"q={QUALITY_MAX}"


# --- target search ------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif"])
def test_target_search_meets_targets_and_one_lower_quality_does_not(
    scene: np.ndarray, codec: str
) -> None:
    # Execute
    result = classic_at_target(scene, BOX, codec, background_db=32.0, object_db=28.0)

    # Assert
    assert result is not None
    assert result.metrics["psnr_background"] >= 32.0 and result.metrics["psnr_object"] >= 28.0
    quality = int(result.quality.removeprefix("q="))
    assert quality > 1
    lower = run_classic(scene, BOX, codec, quality - 1).metrics
    assert lower["psnr_background"] < 32.0 or lower["psnr_object"] < 28.0


def test_target_search_roi_jpeg_each_quality_is_minimal(scene: np.ndarray) -> None:
    # Execute
    result = classic_at_target(scene, BOX, "roi-jpeg", background_db=30.0, object_db=35.0)

    # Assert
    assert result is not None
    assert result.metrics["psnr_background"] >= 30.0 and result.metrics["psnr_object"] >= 35.0
    bg, obj = (int(part.split("=")[1]) for part in result.quality.split(","))
    assert run_classic(scene, BOX, "roi-jpeg", (bg - 1, obj)).metrics["psnr_background"] < 30.0
    assert run_classic(scene, BOX, "roi-jpeg", (bg, obj - 1)).metrics["psnr_object"] < 35.0


def test_target_search_roi_jpeg_is_smaller_than_jpeg_for_a_demanding_object(
    wide_scene: np.ndarray,
) -> None:
    # Execute
    roi = classic_at_target(wide_scene, WIDE_BOX, "roi-jpeg", background_db=30.0, object_db=35.0)
    jpeg = classic_at_target(wide_scene, WIDE_BOX, "jpeg", background_db=30.0, object_db=35.0)

    # Assert
    assert roi is not None and jpeg is not None
    assert roi.metrics["bytes"] < jpeg.metrics["bytes"]


@pytest.mark.parametrize("codec", ["jpeg", "roi-jpeg"])
def test_target_search_returns_none_when_unreachable(scene: np.ndarray, codec: str) -> None:
    # Execute / Assert
    assert classic_at_target(scene, BOX, codec, background_db=30.0, object_db=99.0) is None


# --- bad input and bad payloads -----------------------------------------------------------


def test_encode_rejects_bad_arguments(scene: np.ndarray) -> None:
    # Execute / Assert
    with pytest.raises(ConfigError, match="unknown classic codec"):
        encode_classic(scene, "png", 50)
    with pytest.raises(ConfigError, match="1..100"):
        encode_classic(scene, "jpeg", 0)
    with pytest.raises(ConfigError, match="pair"):
        encode_classic(scene, "roi-jpeg", 50, box=BOX)
    with pytest.raises(ConfigError, match="needs the object box"):
        encode_classic(scene, "roi-jpeg", (20, 80))
    with pytest.raises(InvalidBoxError):
        encode_classic(scene, "roi-jpeg", (20, 80), box=(500, 500, 10, 10))
    with pytest.raises(BadFrameError, match="uint8 HxWx3"):
        encode_classic(scene.astype(np.float32), "jpeg", 50)


@pytest.mark.parametrize("codec", CLASSIC_CODECS)
def test_truncated_payload_raises_truncated_error(scene: np.ndarray, codec: str) -> None:
    # Prepare
    payload = encode_classic(scene, codec, QUALITIES[codec], box=BOX)

    # Execute / Assert
    for cut in (payload[:-1], payload[: len(payload) // 2], b""):
        with pytest.raises(TruncatedPayloadError):
            decode_classic(cut, codec)


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif"])
def test_garbage_or_wrong_format_raises_unreadable_image(scene: np.ndarray, codec: str) -> None:
    # Prepare
    payload = encode_classic(scene, codec, 50)
    other = "webp" if codec == "jpeg" else "jpeg"

    # Execute / Assert
    with pytest.raises(UnreadableImageError):
        decode_classic(b"not an image at all, just text", codec)
    with pytest.raises(UnreadableImageError):
        decode_classic(payload, other)


def test_roi_jpeg_bad_magic_and_inconsistent_box(scene: np.ndarray) -> None:
    # Prepare
    payload = encode_classic(scene, "roi-jpeg", (20, 80), box=BOX)
    _, x, y, w, h, frame_len = ROI_HEADER.unpack_from(payload)
    body = payload[ROI_HEADER.size :]
    bad_box = ROI_HEADER.pack(b"RJPG", x, y, w + 40, h, frame_len) + body
    bad_len = ROI_HEADER.pack(b"RJPG", x, y, w, h, len(body) + 5) + body

    # Execute / Assert
    with pytest.raises(NotARinrFileError, match="RJPG"):
        decode_classic(b"XXXX" + payload[4:], "roi-jpeg")
    with pytest.raises(NotARinrFileError):
        decode_classic(encode_classic(scene, "jpeg", 50), "roi-jpeg")
    with pytest.raises(MalformedPayloadError):
        decode_classic(bad_box, "roi-jpeg")
    with pytest.raises(TruncatedPayloadError):
        decode_classic(bad_len, "roi-jpeg")
    with pytest.raises(TruncatedPayloadError):
        decode_classic(payload[:10], "roi-jpeg")
    assert issubclass(TruncatedPayloadError, PayloadError)
    assert struct.calcsize(">4s4HI") == ROI_HEADER.size == 16


# --- real data ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_frame() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    seq = DATA / "vot_bag"
    if not (seq / "groundtruth_rect.txt").is_file():
        pytest.skip(f"real data not found at {seq} (needs ../shared/data next to the repo)")
    first = sorted((seq / "img").glob("*.jpg"))[0]
    image = np.asarray(Image.open(first).convert("RGB"))
    line = (seq / "groundtruth_rect.txt").read_text().splitlines()[0]
    box = validate_box(
        [float(v) for v in line.replace("\t", ",").split(",")], image.shape[1], image.shape[0]
    )
    return image, box


@pytest.mark.shared_data
@pytest.mark.parametrize("codec", ["jpeg", "webp", "roi-jpeg"])
def test_real_frame_target_and_budget(real_frame, codec: str) -> None:
    # Prepare
    image, box = real_frame

    # Execute
    target = classic_at_target(image, box, codec, background_db=30.0, object_db=35.0)
    budget = classic_at_budget(image, box, codec, 8_000)

    # Assert
    assert target is not None and budget is not None
    assert target.decoded.shape == image.shape
    assert target.metrics["psnr_background"] >= 30.0 and target.metrics["psnr_object"] >= 35.0
    assert budget.metrics["bytes"] <= 8_000
    assert budget.metrics["psnr_object"] > target.metrics["psnr_object"] - 0.5
