"""The classic peers by name: argument checks, encode, decode and measuring one frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import features

from rinr_core.classic.pillow import _pillow_decode, _pillow_encode
from rinr_core.classic.roi import _roi_decode, _roi_encode
from rinr_core.errors import BadFrameError, ConfigError
from rinr_core.frames import Box, validate_box
from rinr_core.metrics import bits_per_pixel, frame_psnrs

CLASSIC_CODECS = ("jpeg", "webp", "avif", "roi-jpeg")

QUALITY_MIN = 1
QUALITY_MAX = 100

Quality = int | tuple[int, int]


@dataclass
class ClassicResult:
    """One classic encode of one frame: the payload, its decode and its measurements.

    Attributes
    ----------
    codec
        One of :data:`CLASSIC_CODECS`.
    quality
        Human-readable setting, ``"q=35"`` or ``"bg=20,obj=90"`` for ROI-JPEG.
    payload
        The exact bytes that would be sent.
    decoded
        ``uint8`` array ``(H, W, 3)`` decoded from ``payload``.
    metrics
        ``bytes``, ``psnr_full``, ``psnr_object``, ``psnr_background``, ``mode`` (the codec),
        ``width``, ``height`` and ``bpp``.
    """

    codec: str
    quality: str
    payload: bytes
    decoded: np.ndarray
    metrics: dict


# --- argument checks ----------------------------------------------------------------------


def _check_codec(codec: str) -> str:
    if codec not in CLASSIC_CODECS:
        raise ConfigError(f"unknown classic codec {codec!r}; choose one of {CLASSIC_CODECS}")
    if codec == "avif" and not features.check("avif"):
        raise ConfigError(
            "this Pillow build has no AVIF support; install Pillow >= 11.3 built with libavif "
            "or leave 'avif' out of the codec list"
        )
    return codec


def _check_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise BadFrameError(f"classic codecs need a uint8 HxWx3 image, got {img.dtype} {img.shape}")
    return img


def _check_level(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(
            f"{what} must be an integer in {QUALITY_MIN}..{QUALITY_MAX}, got {value!r}"
        )
    if not QUALITY_MIN <= int(value) <= QUALITY_MAX:
        raise ConfigError(f"{what} must be in {QUALITY_MIN}..{QUALITY_MAX}, got {value}")
    return int(value)


def _check_quality(codec: str, quality: Quality) -> Quality:
    if codec == "roi-jpeg":
        if not isinstance(quality, Sequence) or len(quality) != 2:
            raise ConfigError(
                f"roi-jpeg quality must be a pair (bg_quality, obj_quality), got {quality!r}"
            )
        return (_check_level(quality[0], "bg quality"), _check_level(quality[1], "obj quality"))
    return _check_level(quality, f"{codec} quality")


def _check_box(box: Sequence[float] | None, image: np.ndarray, codec: str) -> Box:
    if box is None:
        raise ConfigError(f"{codec} needs the object box (x, y, w, h); pass box=...")
    height, width = image.shape[:2]
    if codec == "roi-jpeg" and max(width, height) > 0xFFFF:
        raise ConfigError(f"roi-jpeg stores the box as uint16; image {width}x{height} is too large")
    return validate_box(box, width, height)


def _check_inputs(
    image: np.ndarray, box: Sequence[float] | None, codec: str
) -> tuple[np.ndarray, Box]:
    """Checked image and box for the functions that measure a frame (after the codec check)."""
    img = _check_image(image)
    return img, _check_box(box, img, _check_codec(codec))


def quality_label(codec: str, quality: Quality) -> str:
    """Human-readable quality setting: ``"q=35"``, or ``"bg=20,obj=90"`` for ROI-JPEG."""
    if isinstance(quality, Sequence):
        bg, obj = quality
        return f"bg={bg},obj={obj}"
    return f"q={quality}"


def encode_classic(
    image: np.ndarray,
    codec: str,
    quality: Quality,
    box: Sequence[float] | None = None,
) -> bytes:
    """Encode ``image`` with a classic codec and return the payload bytes.

    Parameters
    ----------
    image
        ``uint8`` array ``(H, W, 3)``.
    codec
        One of :data:`CLASSIC_CODECS`.
    quality
        Pillow quality ``1..100`` (higher is better, for AVIF too), or for ``roi-jpeg`` a pair
        ``(bg_quality, obj_quality)``.
    box
        Object box ``(x, y, w, h)``; required by ``roi-jpeg``, ignored by the others.

    Raises
    ------
    ConfigError
        Unknown codec, quality out of range, missing box, or AVIF missing from this Pillow.
    BadFrameError
        ``image`` is not ``uint8`` HxWx3 (``InvalidBoxError`` for a bad box).
    """
    codec = _check_codec(codec)
    img = _check_image(image)
    level = _check_quality(codec, quality)
    if isinstance(level, tuple):
        return _roi_encode(img, _check_box(box, img, codec), *level)
    return _pillow_encode(img, codec, level)


def decode_classic(payload: bytes, codec: str) -> np.ndarray:
    """Decode a payload written by :func:`encode_classic` into a ``uint8`` ``(H, W, 3)`` array.

    Raises
    ------
    TruncatedPayloadError
        The payload is empty or ends early.
    NotARinrFileError
        A ``roi-jpeg`` payload does not start with ``b"RJPG"``.
    MalformedPayloadError
        A ``roi-jpeg`` payload's box does not fit its frame or crop.
    UnreadableImageError
        The bytes are not an image of the codec's format or the decoder rejects them.
    """
    codec = _check_codec(codec)
    data = bytes(payload)
    if codec == "roi-jpeg":
        return _roi_decode(data)
    return _pillow_decode(data, codec)


def _measure(
    image: np.ndarray, box: Box, codec: str, quality: Quality, payload: bytes
) -> ClassicResult:
    decoded = decode_classic(payload, codec)
    height, width = image.shape[:2]
    metrics = {
        "bytes": len(payload),
        **frame_psnrs(image, decoded, box),
        "mode": codec,
        "width": width,
        "height": height,
        "bpp": bits_per_pixel(len(payload), width, height),
    }
    return ClassicResult(codec, quality_label(codec, quality), payload, decoded, metrics)


def run_classic(
    image: np.ndarray, box: Sequence[float], codec: str, quality: Quality
) -> ClassicResult:
    """Encode ``image`` at ``quality``, decode it and measure size and PSNRs against the original."""
    img, valid_box = _check_inputs(image, box, codec)
    payload = encode_classic(img, codec, quality, valid_box)
    return _measure(img, valid_box, codec, _check_quality(codec, quality), payload)
