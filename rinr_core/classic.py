"""Classic per-frame image codecs that Residual-INR is compared against.

Four peers, all through Pillow with its default settings: ``jpeg`` (4:2:0 chroma subsampling,
plus ``optimize=True``: per-image Huffman tables, a lossless saving of about 350 header bytes
and a few percent of the data), ``webp``, ``avif`` (Pillow's built-in AVIF plugin) and
``roi-jpeg``: a low-quality JPEG of the whole frame plus a high-quality JPEG of the object
crop, pasted back over the frame on decode.

ROI-JPEG byte layout (big-endian, every byte counts in the reported size)::

    b"RJPG" | box x, y, w, h as 4 x uint16 | len(frame JPEG) as uint32 | frame JPEG | crop JPEG

The crop is the box grown to the 16-pixel JPEG macroblock grid (clipped to the frame), so its
blocks line up with those of a JPEG source; on decode only the box pixels of the crop are pasted,
which keeps the background (frame JPEG, outside the box) and the object (crop JPEG, inside the
box) independent. Before the frame is encoded, each macroblock that lies wholly inside the box
is flattened to its mean colour: the crop overwrites those pixels anyway, so the frame JPEG
should not spend bits on them (a flat block costs one DC coefficient).

Besides encode/decode, the module answers the questions a benchmark asks of a peer: the
quality at a byte budget (:func:`classic_at_budget`), the smallest payload meeting PSNR targets
(:func:`classic_at_target`) and a rate-distortion sweep (:func:`classic_sweep`). Searches over
quality are binary searches that assume size and PSNR grow with quality.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError, features

from rinr_core.errors import (
    BadFrameError,
    ConfigError,
    MalformedPayloadError,
    NotARinrFileError,
    TruncatedPayloadError,
    UnreadableImageError,
)
from rinr_core.frames import Box, validate_box
from rinr_core.metrics import bits_per_pixel, box_mask, frame_psnrs, psnr

CLASSIC_CODECS = ("jpeg", "webp", "avif", "roi-jpeg")

QUALITY_MIN = 1
QUALITY_MAX = 100

ROI_MAGIC = b"RJPG"
ROI_HEADER = struct.Struct(">4s4HI")  # magic, x, y, w, h, length of the frame JPEG
ROI_BLOCK = 16  # JPEG macroblock with 4:2:0 subsampling
# Object qualities tried by classic_at_budget for ROI-JPEG (q=100 is a degenerate JPEG setting).
ROI_OBJECT_GRID = (20, 40, 60, 75, 85, 90, 95)

DEFAULT_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
DEFAULT_ROI_QUALITIES = ((5, 50), (10, 60), (20, 70), (30, 80), (40, 85), (60, 90), (80, 95))

_PILLOW_FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}

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


# --- single-image Pillow codecs -----------------------------------------------------------


def _pillow_encode(image: np.ndarray, codec: str, quality: int) -> bytes:
    options = {"optimize": True} if codec == "jpeg" else {}
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=_PILLOW_FORMATS[codec], quality=quality, **options)
    return buf.getvalue()


def _isobmff_complete(payload: bytes) -> bool:
    """True when the top-level ISOBMFF boxes (AVIF container) all end inside ``payload``."""
    pos = 0
    while pos < len(payload):
        if pos + 8 > len(payload):
            return False
        size = int.from_bytes(payload[pos : pos + 4], "big")
        header = 8
        if size == 1:  # 64-bit size follows the type
            if pos + 16 > len(payload):
                return False
            size, header = int.from_bytes(payload[pos + 8 : pos + 16], "big"), 16
        elif size == 0:  # box runs to the end of the file
            return True
        if size < header:
            return True  # malformed, not short: let the decoder report it
        pos += size
    return pos == len(payload)


def _check_container(payload: bytes, codec: str) -> None:
    """Raise when ``payload`` is empty, not of ``codec``'s format, or visibly cut short."""
    name = _PILLOW_FORMATS[codec]
    if not payload:
        raise TruncatedPayloadError(f"{name} payload is empty; it was lost in transfer or on disk")
    if codec == "jpeg":
        signed, complete = payload.startswith(b"\xff\xd8"), payload.endswith(b"\xff\xd9")
    elif codec == "webp":
        signed = payload[:4] == b"RIFF" and payload[8:12] == b"WEBP"
        complete = len(payload) >= 8 + int.from_bytes(payload[4:8], "little")
    else:
        signed = payload[4:8] == b"ftyp"
        complete = _isobmff_complete(payload)
    if not signed:
        raise UnreadableImageError(
            f"payload does not start with the {name} signature; it is not a {name} image "
            f"(wrong codec name, or corrupted header)"
        )
    if not complete:
        raise TruncatedPayloadError(
            f"{name} payload of {len(payload)} bytes ends early; it was cut off in transfer or on disk"
        )


def _pillow_decode(payload: bytes, codec: str) -> np.ndarray:
    _check_container(payload, codec)
    name = _PILLOW_FORMATS[codec]
    try:
        with Image.open(io.BytesIO(payload)) as im:
            im.load()
            fmt = im.format
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        raise UnreadableImageError(
            f"cannot decode {name} payload ({len(payload)} bytes): {exc}"
        ) from exc
    if fmt != name:
        raise UnreadableImageError(f"payload is a {fmt} image, not {name}; check the codec name")
    return rgb


# --- ROI-JPEG ---------------------------------------------------------------------------


def _crop_rect(box: Box, width: int, height: int, block: int = ROI_BLOCK) -> Box:
    """The ``block``-aligned rectangle (clipped to the frame) that holds ``box``.

    Cropping on the frame's JPEG grid keeps the crop's blocks aligned with those of a JPEG
    source, so re-encoding does not pay twice for misaligned block edges.
    """
    x, y, w, h = box
    x0, y0 = x // block * block, y // block * block
    x1, y1 = min(width, -(-(x + w) // block) * block), min(height, -(-(y + h) // block) * block)
    return (x0, y0, x1 - x0, y1 - y0)


def _roi_crop(image: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = _crop_rect(box, image.shape[1], image.shape[0])
    return np.ascontiguousarray(image[y : y + h, x : x + w])


def _box_in_crop(box: Box, width: int, height: int) -> tuple[slice, slice]:
    """Row and column slices of ``box`` inside the array returned by :func:`_roi_crop`."""
    x, y, w, h = box
    cx, cy, _, _ = _crop_rect(box, width, height)
    return slice(y - cy, y - cy + h), slice(x - cx, x - cx + w)


def _flatten_inner_blocks(image: np.ndarray, box: Box, block: int = ROI_BLOCK) -> np.ndarray:
    """Copy of ``image`` with each ``block``-aligned block lying wholly inside ``box`` set to its mean."""
    x, y, w, h = box
    x0, y0 = -(-x // block) * block, -(-y // block) * block
    x1, y1 = (x + w) // block * block, (y + h) // block * block
    out = image.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    region = out[y0:y1, x0:x1].astype(np.float64)
    rows, cols = (y1 - y0) // block, (x1 - x0) // block
    blocks = region.reshape(rows, block, cols, block, 3)
    means = np.rint(blocks.mean(axis=(1, 3), keepdims=True))
    out[y0:y1, x0:x1] = np.broadcast_to(means, blocks.shape).reshape(region.shape).astype(np.uint8)
    return out


def _roi_encode(image: np.ndarray, box: Box, bg_quality: int, obj_quality: int) -> bytes:
    frame_jpeg = _pillow_encode(_flatten_inner_blocks(image, box), "jpeg", bg_quality)
    crop_jpeg = _pillow_encode(_roi_crop(image, box), "jpeg", obj_quality)
    return ROI_HEADER.pack(ROI_MAGIC, *box, len(frame_jpeg)) + frame_jpeg + crop_jpeg


def _roi_split(payload: bytes) -> tuple[Box, bytes, bytes]:
    """Parse the ROI-JPEG layout into (box, frame JPEG, crop JPEG), checking its framing."""
    if not payload:
        raise TruncatedPayloadError("roi-jpeg payload is empty; it was lost in transfer or on disk")
    if payload[:4] != ROI_MAGIC[: len(payload[:4])]:
        raise NotARinrFileError(
            f"payload starts with {payload[:4]!r}, not the ROI-JPEG magic {ROI_MAGIC!r}; "
            "it is not a roi-jpeg payload (check the codec name)"
        )
    if len(payload) < ROI_HEADER.size:
        raise TruncatedPayloadError(
            f"roi-jpeg payload has {len(payload)} bytes, less than its {ROI_HEADER.size}-byte header"
        )
    _, x, y, w, h, frame_len = ROI_HEADER.unpack_from(payload)
    start = ROI_HEADER.size
    if len(payload) <= start + frame_len:
        raise TruncatedPayloadError(
            f"roi-jpeg payload has {len(payload)} bytes but its header announces a "
            f"{frame_len}-byte frame JPEG followed by a crop JPEG; it was cut off"
        )
    return (x, y, w, h), payload[start : start + frame_len], payload[start + frame_len :]


def _roi_decode(payload: bytes) -> np.ndarray:
    box, frame_jpeg, crop_jpeg = _roi_split(payload)
    frame = _pillow_decode(frame_jpeg, "jpeg").copy()
    crop = _pillow_decode(crop_jpeg, "jpeg")
    height, width = frame.shape[:2]
    x, y, w, h = box
    rect = _crop_rect(box, width, height)
    if w == 0 or h == 0 or x + w > width or y + h > height or crop.shape[:2] != (rect[3], rect[2]):
        raise MalformedPayloadError(
            f"roi-jpeg box {box} does not fit a {width}x{height} frame with a "
            f"{crop.shape[1]}x{crop.shape[0]} crop; the payload is inconsistent"
        )
    rows, cols = _box_in_crop(box, width, height)
    frame[y : y + h, x : x + w] = crop[rows, cols]
    return frame


# --- public encode / decode / measure -----------------------------------------------------


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


# --- searches over quality ----------------------------------------------------------------


def _lowest_passing(
    passes: Callable[[int], bool], lo: int = QUALITY_MIN, hi: int = QUALITY_MAX
) -> int | None:
    """Smallest ``q`` in ``lo..hi`` with ``passes(q)``, for a predicate that is monotone in ``q``.

    The answer ``q`` was checked to pass, and ``q - 1`` (when ``q > lo``) was checked to fail.
    Returns None when even ``hi`` fails.
    """
    if not passes(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _highest_within(size_of: Callable[[int], int], max_bytes: int) -> int | None:
    """Largest quality whose ``size_of(q) <= max_bytes`` (and ``q + 1`` was checked to exceed it)."""
    first_over = _lowest_passing(lambda q: size_of(q) > max_bytes)
    if first_over is None:
        return QUALITY_MAX
    return None if first_over == QUALITY_MIN else first_over - 1


def classic_at_budget(
    image: np.ndarray, box: Sequence[float], codec: str, max_bytes: int
) -> ClassicResult | None:
    """Best-quality setting of ``codec`` whose payload fits in ``max_bytes``; None if none fits.

    ``jpeg``/``webp``/``avif``: binary search for the highest quality in ``1..100`` that fits.
    ``roi-jpeg``: for each object quality in :data:`ROI_OBJECT_GRID`, the highest background
    quality that still fits; the pair with the best object PSNR wins (ties: best full PSNR).
    """
    img, valid_box = _check_inputs(image, box, codec)
    if codec != "roi-jpeg":
        best = _highest_within(
            functools.cache(lambda q: len(_pillow_encode(img, codec, q))), max_bytes
        )
        return None if best is None else run_classic(img, valid_box, codec, best)
    candidates = []
    for obj in ROI_OBJECT_GRID:
        size_of = functools.cache(lambda q, o=obj: len(_roi_encode(img, valid_box, q, o)))
        bg = _highest_within(size_of, max_bytes)
        if bg is not None:
            candidates.append(run_classic(img, valid_box, codec, (bg, obj)))
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.metrics["psnr_object"], r.metrics["psnr_full"]))


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    return _pillow_decode(_pillow_encode(image, "jpeg", quality), "jpeg")


def _meets(result: ClassicResult, background_db: float, object_db: float) -> bool:
    m = result.metrics
    # A box covering the whole frame has no background (NaN): only the object target applies.
    bg_ok = np.isnan(m["psnr_background"]) or m["psnr_background"] >= background_db
    return bool(bg_ok and m["psnr_object"] >= object_db)


def _roi_at_target(
    image: np.ndarray, box: Box, background_db: float, object_db: float
) -> ClassicResult | None:
    """Lowest background and object qualities meeting their targets, verified on the real decode."""
    flattened = _flatten_inner_blocks(image, box)
    outside = ~box_mask(image.shape[0], image.shape[1], box)
    crop = _roi_crop(image, box)
    inside = np.zeros(crop.shape[:2], dtype=bool)
    inside[_box_in_crop(box, image.shape[1], image.shape[0])] = True

    def background_ok(q: int) -> bool:
        if not outside.any():
            return True
        return psnr(image, _jpeg_round_trip(flattened, q), outside) >= background_db

    def object_ok(q: int) -> bool:
        return psnr(crop, _jpeg_round_trip(crop, q), inside) >= object_db

    bg, obj = _lowest_passing(background_ok), _lowest_passing(object_ok)
    if bg is None or obj is None:
        return None
    result = run_classic(image, box, "roi-jpeg", (bg, obj))
    return result if _meets(result, background_db, object_db) else None


def classic_at_target(
    image: np.ndarray,
    box: Sequence[float],
    codec: str,
    *,
    background_db: float = 30.0,
    object_db: float = 35.0,
) -> ClassicResult | None:
    """Smallest payload of ``codec`` with background PSNR >= ``background_db`` and object PSNR >= ``object_db``.

    ``jpeg``/``webp``/``avif``: binary search for the lowest quality meeting both targets.
    ``roi-jpeg``: the lowest background quality meeting the background target and the lowest
    object quality meeting the object target, checked again on the pasted decode.
    Returns None when no quality reaches the targets.
    """
    img, valid_box = _check_inputs(image, box, codec)
    if codec == "roi-jpeg":
        return _roi_at_target(img, valid_box, background_db, object_db)
    result_at = functools.cache(lambda q: run_classic(img, valid_box, codec, q))
    best = _lowest_passing(lambda q: _meets(result_at(q), background_db, object_db))
    return None if best is None else result_at(best)


def classic_sweep(
    image: np.ndarray,
    box: Sequence[float],
    codec: str,
    qualities: Sequence[Quality] | None = None,
) -> list[ClassicResult]:
    """Rate-distortion points of ``codec``, one :class:`ClassicResult` per quality setting.

    Default qualities: :data:`DEFAULT_QUALITIES`, or :data:`DEFAULT_ROI_QUALITIES` for ROI-JPEG.
    """
    codec = _check_codec(codec)
    if qualities is None:
        qualities = DEFAULT_ROI_QUALITIES if codec == "roi-jpeg" else DEFAULT_QUALITIES
    return [run_classic(image, box, codec, q) for q in qualities]
