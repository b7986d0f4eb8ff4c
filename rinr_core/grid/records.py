"""Byte-level pieces shared by the grid formats: checksums, boxes, varints, network records.

Both grid formats (the ``.rinr`` version 2 frame, :mod:`rinr_core.grid.format`, and the
grid stream, :mod:`rinr_core.grid.stream_format`) end in a CRC-32 of everything before it
and are read with the bounds-checked :class:`rinr_core.container.Reader`, so damage is
reported the same way as for every other rinr payload.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from rinr_core.container import Reader
from rinr_core.errors import ChecksumMismatchError, MalformedPayloadError, TruncatedPayloadError
from rinr_core.frames import Box
from rinr_core.grid.arch import GridArch
from rinr_core.grid.arm import MAX_EXPONENT, WEIGHT_LIMIT
from rinr_core.grid.laplace import LADDER

_CRC = struct.Struct("<I")
_BOX8, _BOX16 = struct.Struct("<4B"), struct.Struct("<4H")
MAX_WORDS = 2**26
T = TypeVar("T")


def seal(body: bytes) -> bytes:
    """``body`` followed by its CRC-32."""
    return body + _CRC.pack(zlib.crc32(body))


def crc_of(data: bytes) -> int:
    """The CRC-32 stored at the end of a sealed payload."""
    return int(_CRC.unpack(bytes(data[-_CRC.size:]))[0])


def checksum_ok(data: bytes) -> bool:
    """Whether sealed bytes end with the CRC-32 of everything before them."""
    data = bytes(data)
    return len(data) > _CRC.size and zlib.crc32(data[:-_CRC.size]) == crc_of(data)


def open_sealed(data: bytes, parse: Callable[[bytes], T], what: str) -> T:
    """Parse a sealed payload's body, checking its CRC first.

    A payload whose CRC fails is reported as truncated when its body ends inside a record
    (:class:`TruncatedPayloadError`), else as damaged (:class:`ChecksumMismatchError`).
    """
    data = bytes(data)
    body = data[:-_CRC.size]
    if not checksum_ok(data):
        try:
            parse(body)
        except TruncatedPayloadError:
            raise TruncatedPayloadError(f"{what} is truncated ({len(data)} bytes); re-fetch it "
                                        "or encode it again") from None
        except Exception:  # noqa: BLE001 - any structural failure under a bad CRC means damage
            pass
        raise ChecksumMismatchError(f"{what} checksum mismatch: the payload was corrupted or "
                                    "tampered with; re-fetch it")
    return parse(body)


def wide_box(width: int, height: int) -> bool:
    """Whether boxes of a frame this size need 16-bit fields."""
    return width > 255 or height > 255


def pack_box(box: Box, wide: bool) -> bytes:
    """A box in 4 (narrow) or 8 (wide) bytes."""
    return (_BOX16 if wide else _BOX8).pack(*box)


def read_box(reader: Reader, wide: bool, width: int, height: int) -> Box:
    """A box, checked to lie inside the frame."""
    x, y, w, h = reader.unpack(_BOX16 if wide else _BOX8)
    if w < 1 or h < 1 or x + w > width or y + h > height:
        raise MalformedPayloadError(f"box {(x, y, w, h)} does not fit the {width}x{height} frame")
    return (x, y, w, h)


def pack_varint(value: int) -> bytes:
    """An unsigned integer in LEB128 (7 bits per byte)."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(reader: Reader) -> int:
    """Inverse of :func:`pack_varint` (at most 5 bytes)."""
    value = 0
    for k in range(5):
        byte = reader.take(1)[0]
        value |= (byte & 0x7F) << (7 * k)
        if not byte & 0x80:
            return value
    raise MalformedPayloadError("a length field of the grid payload is too long")


def pack_words(words: np.ndarray) -> bytes:
    """ANS words with their count in front."""
    return pack_varint(len(words)) + np.asarray(words, dtype="<u4").tobytes()


def read_words(reader: Reader) -> np.ndarray:
    """Inverse of :func:`pack_words`."""
    count = read_varint(reader)
    if count > MAX_WORDS:
        raise MalformedPayloadError(f"a grid payload claims {count} words of entropy-coded data")
    return np.frombuffer(reader.take(4 * count), dtype="<u4").astype(np.uint32)


@dataclass
class NetRecord:
    """Stored networks (synthesis + entropy model): per tensor its step exponent and the
    ladder index of its codes' Laplace, the codes' range, and the ANS words of the codes
    (in a per-frame payload the words are shared with the latents)."""

    weight_limit: int
    exponents: list[int]
    indices: list[int]


def pack_net(record: NetRecord) -> bytes:
    """The net record's header: range u16, then exponent u8 and index u8 per tensor."""
    return struct.pack("<H", record.weight_limit) + bytes(
        b for e, i in zip(record.exponents, record.indices, strict=True) for b in (e, i))


def read_net(reader: Reader, arch: GridArch) -> NetRecord:
    """Inverse of :func:`pack_net` for ``arch``'s tensors, checked."""
    (limit,) = reader.unpack(struct.Struct("<H"))
    pairs = reader.take(2 * len(arch.tensor_shapes))
    exponents, indices = list(pairs[0::2]), list(pairs[1::2])
    if not 1 <= limit <= WEIGHT_LIMIT or max(exponents) > MAX_EXPONENT or max(indices) >= LADDER:
        raise MalformedPayloadError("invalid network record in the grid payload (weight range, "
                                    "steps or scales out of bounds)")
    return NetRecord(limit, exponents, indices)
