"""Image decoding, resizing and encoding with Pillow.

Every image that enters rinr goes through :func:`load_image`, which returns a ``uint8`` RGB array
whatever the file holds (EXIF-rotated JPEG, grayscale, 16-bit, palette, alpha, CMYK, YCbCr) and
turns every decoding failure into :class:`~rinr_core.errors.UnreadableImageError`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, features

from rinr_core.errors import BadFrameError, ConfigError, UnreadableImageError
from rinr_core.frames import Box, Frame

ENCODE_FORMATS = ("JPEG", "PNG", "WEBP", "AVIF")
_SIXTEEN_BIT_SCALE = 255.0 / 65535.0


def load_image(source: str | Path | bytes, *, name: str | None = None) -> np.ndarray:
    """Decode an image file or its bytes into a ``uint8`` RGB array of shape ``(H, W, 3)``.

    The EXIF orientation tag is applied, so the array is upright as a viewer shows it.
    Colour handling:

    - grayscale ``L``/``1`` is replicated to three channels; 16-bit grayscale (``I;16*``) is
      scaled from 0..65535 to 0..255; 32-bit integer grayscale (``I``) is scaled the same way
      when any value exceeds 255, else taken as is; float grayscale (``F``) is taken as 0..1
      when its maximum is at most 1, else as 0..255 (clipped);
    - palette (``P``), ``CMYK`` and ``YCbCr`` are converted by Pillow;
    - alpha (``LA``, ``PA``, ``RGBA``, palette transparency) is **dropped**: the stored colour
      of every pixel is kept, transparent pixels are not blended with any background.

    Parameters
    ----------
    source
        A file path, or the encoded bytes of an image.
    name
        Name used in error messages (defaults to the path, or ``"<bytes>"``).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(H, W, 3)``.

    Raises
    ------
    UnreadableImageError
        The file is missing, not an image, corrupt or truncated; the message names the file
        and the cause.
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else "<bytes>")
    try:
        handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        with Image.open(handle) as img:
            img.load()  # decode now: truncated or corrupt data fails here, not later
            upright = ImageOps.exif_transpose(img)
            return _to_rgb_array(upright)
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        raise UnreadableImageError(
            f"cannot read image {label}: {type(exc).__name__}: {exc}; "
            "check that the file is a complete JPEG/PNG/WebP image"
        ) from exc


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert a loaded Pillow image of any mode into a ``uint8`` RGB array."""
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        gray = _gray_to_uint8(np.asarray(img), mode)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode != "RGB":
        img = img.convert("RGB")  # L, 1, P, PA, LA, RGBA, CMYK, YCbCr, ...: alpha is dropped
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _gray_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit, 32-bit integer or float grayscale values to ``uint8`` (see load_image)."""
    data = values.astype(np.float64)
    peak = float(data.max()) if data.size else 0.0
    if mode.startswith("I;16") or (mode == "I" and peak > 255.0):
        data = data * _SIXTEEN_BIT_SCALE
    elif mode == "F" and peak <= 1.0:
        data = data * 255.0
    return np.clip(np.rint(data), 0, 255).astype(np.uint8)


def resize_frame(frame: Frame, max_side: int | None) -> Frame:
    """Shrink ``frame`` so its longer side is ``max_side`` pixels, scaling its box to match.

    Aspect ratio is kept (sizes rounded, at least 2 px); Pillow's Lanczos filter is used.
    Frames already small enough, and ``max_side=None``, are returned as a copy of the same
    frame: this never upscales. ``name``, ``label`` and ``meta`` are kept, except that a
    ``meta["jpeg"]`` entry is removed when the pixels change, since it no longer matches them.

    Raises
    ------
    ConfigError
        ``max_side`` is smaller than 2.
    """
    if max_side is not None and max_side < 2:
        raise ConfigError(f"max_side must be at least 2 pixels or None, got {max_side}")
    meta = dict(frame.meta)
    if max_side is None or max(frame.width, frame.height) <= max_side:
        return Frame(frame.image.copy(), frame.box, frame.name, frame.label, meta)
    scale = max_side / max(frame.width, frame.height)
    new_w = max(2, round(frame.width * scale))
    new_h = max(2, round(frame.height * scale))
    resized = Image.fromarray(frame.image).resize((new_w, new_h), Image.Resampling.LANCZOS)
    sx, sy = new_w / frame.width, new_h / frame.height
    x, y, w, h = frame.box
    meta.pop("jpeg", None)
    box = cast(Box, (x * sx, y * sy, w * sx, h * sy))  # Frame rounds it to integer pixels
    return Frame(np.asarray(resized), box, frame.name, frame.label, meta)


def image_size(source: bytes, *, name: str | None = None) -> tuple[int, int]:
    """``(width, height)`` from an image's header alone (nothing is decoded).

    Raises
    ------
    UnreadableImageError
        The bytes are not an image Pillow can identify.
    """
    try:
        with Image.open(io.BytesIO(source)) as img:
            return int(img.size[0]), int(img.size[1])
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        raise UnreadableImageError(
            f"cannot read image {name or '<bytes>'}: its header: {type(exc).__name__}: {exc}; "
            "check that the file is a complete JPEG/PNG/WebP image"
        ) from exc


def encode_image(image: np.ndarray, fmt: str = "JPEG", quality: int = 95) -> bytes:
    """Encode a ``uint8`` RGB array as JPEG, PNG, WebP or AVIF bytes with Pillow.

    ``quality`` (1..100) applies to the lossy formats; PNG is lossless and ignores it.

    Raises
    ------
    ConfigError
        Unknown format, quality out of range, or a format this Pillow build cannot write.
    BadFrameError
        ``image`` is not a ``uint8`` array of shape ``(H, W, 3)``.
    """
    fmt = fmt.upper()
    if fmt not in ENCODE_FORMATS:
        raise ConfigError(f"unknown image format {fmt!r}; use one of {', '.join(ENCODE_FORMATS)}")
    if not 1 <= quality <= 100:
        raise ConfigError(f"quality must be within 1..100, got {quality}")
    if fmt in ("WEBP", "AVIF") and not features.check(fmt.lower()):
        raise ConfigError(
            f"this Pillow build cannot write {fmt}; install Pillow with {fmt} support"
        )
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise BadFrameError(f"encode_image needs a uint8 HxWx3 array, got {arr.dtype} {arr.shape}")
    buffer = io.BytesIO()
    options = {} if fmt == "PNG" else {"quality": int(quality)}
    Image.fromarray(arr).save(buffer, format=fmt, **options)
    return buffer.getvalue()


CAMERA_FALLBACK_QUALITY = 75
"""JPEG quality of a camera frame whose source is no JPEG (nothing to copy its tables from)."""


def camera_jpeg(source: bytes, image: np.ndarray) -> tuple[bytes, str]:
    """The JPEG the camera would send for ``image``, a resized version of the file ``source``.

    A JPEG source is re-encoded with its own quantization tables and chroma subsampling (its
    quality, whatever encoder made it), never at a fixed high quality; any other source at
    :data:`CAMERA_FALLBACK_QUALITY`. Returns the bytes and how they were made:
    ``"source-tables"`` or ``"quality-75"``.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise BadFrameError(f"camera_jpeg needs a uint8 HxWx3 array, got {arr.dtype} {arr.shape}")
    try:
        with Image.open(io.BytesIO(source)) as src:
            tables = getattr(src, "quantization", None) if src.format == "JPEG" else None
            sampling = JpegImagePlugin.get_sampling(src) if tables else -1
    except (OSError, ValueError) as exc:
        raise UnreadableImageError(f"cannot read the source image: {exc}") from exc
    buffer = io.BytesIO()
    if tables:
        options: dict = {"qtables": tables}
        if sampling in (0, 1, 2):
            options["subsampling"] = sampling
        Image.fromarray(arr).save(buffer, format="JPEG", **options)
        return buffer.getvalue(), "source-tables"
    Image.fromarray(arr).save(buffer, format="JPEG", quality=CAMERA_FALLBACK_QUALITY)
    return buffer.getvalue(), f"quality-{CAMERA_FALLBACK_QUALITY}"
