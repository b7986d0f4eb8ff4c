"""Single-image Pillow codecs (JPEG, WebP, AVIF) with container checks that name what is wrong.

Pillow runs with its default settings; JPEG adds ``optimize=True`` (per-image Huffman tables,
a lossless saving of about 350 header bytes and a few percent of the data) and keeps 4:2:0
chroma subsampling. AVIF is Pillow's built-in plugin.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from rinr_core.errors import TruncatedPayloadError, UnreadableImageError

_PILLOW_FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}


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
