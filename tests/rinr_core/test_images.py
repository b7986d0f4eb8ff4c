"""Tests for rinr_core.images: decoding any image mode, resizing frames, encoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rinr_core.errors import BadFrameError, ConfigError, UnreadableImageError
from rinr_core.frames import Frame
from rinr_core.images import encode_image, load_image, resize_frame


def _gradient(width: int = 40, height: int = 24) -> np.ndarray:
    """A smooth RGB test image (compresses well, survives JPEG nearly unchanged)."""
    xs = np.linspace(0, 255, width)[None, :]
    ys = np.linspace(0, 255, height)[:, None]
    return np.stack(
        [
            np.broadcast_to(xs, (height, width)),
            np.broadcast_to(ys, (height, width)),
            128 + 0 * xs * ys,
        ],
        axis=2,
    ).astype(np.uint8)


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_exif_orientation_6_rotates_the_image() -> None:
    # Prepare: a 40x24 (landscape) JPEG tagged "rotate 90 CW to display"
    img = Image.fromarray(_gradient(40, 24))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _save(img, "JPEG", exif=exif.tobytes(), quality=95)

    # Execute
    loaded = load_image(data)

    # Assert: displayed upright it is portrait, and the top-left comes from the bottom-left
    assert loaded.shape == (40, 24, 3)
    plain = load_image(_save(img, "JPEG", quality=95))
    np.testing.assert_allclose(loaded[0, :, :].astype(int), plain[::-1, 0, :].astype(int), atol=8)


@pytest.mark.parametrize(
    ("mode", "array"),
    [
        ("L", np.full((10, 12), 77, np.uint8)),
        ("I;16", np.full((10, 12), 65535, np.uint16)),
        ("F", np.full((10, 12), 0.5, np.float32)),
    ],
)
def test_grayscale_modes_become_gray_rgb(mode: str, array: np.ndarray) -> None:
    # Prepare
    img = Image.fromarray(array)
    assert img.mode == mode
    data = _save(img, "TIFF")

    # Execute
    loaded = load_image(data)

    # Assert: three equal channels with the scaled gray value
    expected = {"L": 77, "I;16": 255, "F": 128}[mode]
    assert loaded.dtype == np.uint8 and loaded.shape == (10, 12, 3)
    assert np.all(loaded == expected)


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    # Prepare: 16-bit gray ramp 0..65535
    ramp = np.linspace(0, 65535, 64).astype(np.uint16).reshape(8, 8)
    data = _save(Image.fromarray(ramp), "PNG")

    # Execute
    loaded = load_image(data)

    # Assert: mid values map to mid gray, not to 255
    assert loaded[0, 0, 0] == 0 and loaded[-1, -1, 0] == 255
    assert 100 < loaded[4, 0, 0] < 160


def test_rgba_alpha_is_dropped_keeping_colour() -> None:
    # Prepare: fully transparent red pixels
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., 0] = 200
    data = _save(Image.fromarray(rgba, mode="RGBA"), "PNG")

    # Execute
    loaded = load_image(data)

    # Assert
    assert loaded.shape == (6, 6, 3)
    assert np.all(loaded[..., 0] == 200) and np.all(loaded[..., 1:] == 0)


def test_cmyk_jpeg_converts_to_rgb() -> None:
    # Prepare: pure cyan in CMYK
    img = Image.new("CMYK", (16, 8), (255, 0, 0, 0))
    data = _save(img, "JPEG", quality=95)

    # Execute
    loaded = load_image(data)

    # Assert: cyan is low red, high green and blue
    assert loaded.shape == (8, 16, 3)
    r, g, b = loaded[4, 8].astype(int)
    assert r < 40 and g > 215 and b > 215


def test_palette_image_converts_to_rgb() -> None:
    # Prepare
    img = Image.new("P", (5, 4))
    img.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    data = _save(img, "GIF")

    # Execute
    loaded = load_image(data)

    # Assert
    assert loaded.shape == (4, 5, 3)
    assert tuple(loaded[0, 0]) == (10, 20, 30)


def test_file_path_and_bytes_load_the_same(tmp_path) -> None:
    # Prepare
    data = _save(Image.fromarray(_gradient()), "PNG")
    path = tmp_path / "frame.png"
    path.write_bytes(data)

    # Execute / Assert
    np.testing.assert_array_equal(load_image(path), load_image(data))
    np.testing.assert_array_equal(load_image(str(path)), _gradient())


def test_corrupt_bytes_raise_unreadable_naming_the_source() -> None:
    with pytest.raises(UnreadableImageError, match="cam7/0001.jpg"):
        load_image(b"this is not an image at all", name="cam7/0001.jpg")


def test_truncated_jpeg_raises_unreadable(tmp_path) -> None:
    # Prepare: first half of a real JPEG file
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _save(Image.fromarray(noisy), "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])

    # Execute / Assert
    with pytest.raises(UnreadableImageError, match="cut.jpg"):
        load_image(path)


def test_missing_file_raises_unreadable(tmp_path) -> None:
    with pytest.raises(UnreadableImageError, match="nope.jpg"):
        load_image(tmp_path / "nope.jpg")


def test_resize_frame_scales_image_and_box() -> None:
    # Prepare: 400x200 frame, box (100, 50, 40, 20)
    frame = Frame(np.zeros((200, 400, 3), np.uint8), (100, 50, 40, 20), "f1", "car", {"k": 1})

    # Execute
    small = resize_frame(frame, 100)

    # Assert: longer side 100, box scaled by 1/4, identity kept
    assert (small.width, small.height) == (100, 50)
    assert small.box == (25, 12, 10, 6)  # y 12.5 floors, bottom 17.5 ceils
    assert (small.name, small.label, small.meta) == ("f1", "car", {"k": 1})


def test_resize_frame_never_upscales_and_drops_stale_jpeg() -> None:
    # Prepare
    frame = Frame(np.zeros((30, 60, 3), np.uint8), (1, 2, 3, 4), meta={"jpeg": b"x"})

    # Execute
    same = resize_frame(frame, 100)
    smaller = resize_frame(frame, 30)

    # Assert
    assert (same.width, same.height, same.box, same.meta) == (60, 30, (1, 2, 3, 4), {"jpeg": b"x"})
    assert (smaller.width, smaller.height) == (30, 15)
    assert "jpeg" not in smaller.meta


def test_resize_frame_rejects_tiny_max_side(synthetic_frames) -> None:
    with pytest.raises(ConfigError):
        resize_frame(synthetic_frames[0], 1)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF"])
def test_encode_image_round_trips(fmt: str) -> None:
    # Prepare
    image = _gradient()

    # Execute
    data = encode_image(image, fmt, quality=90)

    # Assert: decodes back to (nearly) the same pixels
    decoded = load_image(data)
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).mean() < 4


def test_encode_image_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="unknown image format"):
        encode_image(_gradient(), "GIF")
    with pytest.raises(ConfigError, match="quality"):
        encode_image(_gradient(), "JPEG", quality=0)
    with pytest.raises(BadFrameError, match="uint8 HxWx3"):
        encode_image(np.zeros((4, 4), np.uint8))
