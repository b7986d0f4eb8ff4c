"""The ``.rlut`` file: a post-filter's tables, versioned and CRC-32 checked.

Layout (little-endian)::

    magic      4s   b"RLUT"
    version    u8   1
    flags      u8   0 (reserved)
    body_len   u32  bytes of the compressed body
    body            zlib-compressed:
        color      u8   index into COLORS (rgb, ycbcr)
        rotations  u8   1 or 4
        knots      u8
        n_layers   u8
        hidden     2 x i16   lo, hi
        meta_len   u32, meta: UTF-8 JSON (codec, frames, PSNR before/after, ...)
        n_layers x (kh u8, kw u8, channels u8)
        per layer: positions  i16 [planes, knots]
                   values     i16 [taps, knots, channels]   (units of 1/16 pixel level)
    crc32      u32  of every byte before it

:func:`pack` and :func:`unpack` are exact inverses; :func:`unpack` never returns tables it
cannot vouch for: a short, corrupted, foreign or future-version file raises a specific
:class:`~rinr_core.errors.PayloadError`.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from rinr_core.errors import (
    ChecksumMismatchError,
    ConfigError,
    MalformedPayloadError,
    NotARinrFileError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.lut.network import COLORS, VALUE_LIMIT, LutSpec
from rinr_core.lut.tables import LayerTables, LutTables, spec_from_shapes

MAGIC = b"RLUT"
VERSION = 1
SUFFIX = ".rlut"

_HEAD = struct.Struct("<4sBBI")
_BODY = struct.Struct("<BBBBhhI")
_LAYER = struct.Struct("<BBB")
_CRC = struct.Struct("<I")


def pack(tables: LutTables) -> bytes:
    """The ``.rlut`` bytes of ``tables``."""
    spec = tables.spec
    meta = json.dumps(tables.meta, sort_keys=True, separators=(",", ":")).encode()
    parts = [_BODY.pack(COLORS.index(spec.color), spec.rotations, spec.knots, len(spec.layers),
                        *spec.hidden, len(meta)), meta]
    parts += [_LAYER.pack(ly.kh, ly.kw, ly.channels) for ly in spec.layers]
    for layer in tables.layers:
        parts.append(np.ascontiguousarray(layer.positions, dtype="<i2").tobytes())
        parts.append(np.ascontiguousarray(layer.values, dtype="<i2").tobytes())
    body = zlib.compress(b"".join(parts), 9)
    data = _HEAD.pack(MAGIC, VERSION, 0, len(body)) + body
    return data + _CRC.pack(zlib.crc32(data))


def check(data: bytes) -> None:
    """Raise the :class:`~rinr_core.errors.PayloadError` :func:`unpack` would raise, if any."""
    unpack(data)


def unpack(data: bytes) -> LutTables:
    """The tables in ``.rlut`` bytes.

    Raises
    ------
    NotARinrFileError
        The bytes do not start with ``RLUT``.
    UnsupportedVersionError
        A version this build does not read (newer than 1).
    TruncatedPayloadError
        The file ends early.
    ChecksumMismatchError
        Its CRC-32 does not match: damaged in transfer or on disk.
    MalformedPayloadError
        The checksum is right but the fields are inconsistent.
    """
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(data):
            raise TruncatedPayloadError(f"the .rlut file is truncated to {len(data)} bytes; "
                                        "send or train the post-filter again")
        raise NotARinrFileError("not a .rlut post-filter (bad magic number); was it written "
                                "by `rinr postfilter train`?")
    if len(data) < _HEAD.size:
        raise TruncatedPayloadError(f"the .rlut file is truncated to {len(data)} bytes (header "
                                    f"needs {_HEAD.size}); send or train the post-filter again")
    _, version, _, body_len = _HEAD.unpack_from(data)
    if version != VERSION:
        raise UnsupportedVersionError(f".rlut version {version} is not supported (this build "
                                      f"reads version {VERSION}); upgrade rinr")
    end = _HEAD.size + body_len
    if len(data) < end + _CRC.size:
        raise TruncatedPayloadError(f"the .rlut file is truncated: {len(data)} of "
                                    f"{end + _CRC.size} bytes; send or train it again")
    if len(data) > end + _CRC.size:
        raise MalformedPayloadError(f"the .rlut file has {len(data) - end - _CRC.size} bytes "
                                    "after its checksum")
    (crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(data[:end]) != crc:
        raise ChecksumMismatchError("the .rlut file fails its CRC-32 check (corrupted in "
                                    "transfer or on disk); send or train it again")
    try:
        return _read_body(zlib.decompress(data[_HEAD.size:end]))
    except (zlib.error, struct.error, ValueError, ConfigError, UnicodeDecodeError) as exc:
        raise MalformedPayloadError(f"the .rlut file passes its checksum but cannot be read "
                                    f"({exc}); it was written by a faulty writer") from None


def _read_body(body: bytes) -> LutTables:
    color, rotations, knots, n_layers, lo, hi, meta_len = _BODY.unpack_from(body)
    offset = _BODY.size
    meta = json.loads(body[offset:offset + meta_len].decode())
    offset += meta_len
    shapes = []
    for _ in range(n_layers):
        shapes.append(_LAYER.unpack_from(body, offset))
        offset += _LAYER.size
    if color >= len(COLORS):
        raise ValueError(f"color id {color}")
    spec = spec_from_shapes(COLORS[color], knots, (lo, hi), rotations, shapes)
    layers = []
    for i, shape in enumerate(spec.layers):
        planes = spec.in_channels(i)
        low, high = spec.input_range(i)
        positions = _array(body, offset, (planes, knots))
        offset += positions.nbytes
        values = _array(body, offset, (planes * shape.kh * shape.kw, knots, shape.channels))
        offset += values.nbytes
        if not ((positions[:, 0] == low).all() and (positions[:, -1] == high).all()
                and (np.diff(positions, axis=1) > 0).all()):
            raise ValueError(f"layer {i}: knot positions are not increasing over {low}..{high}")
        if (values < -VALUE_LIMIT).any() or (values >= VALUE_LIMIT).any():
            raise ValueError(f"layer {i}: a value is outside +-{VALUE_LIMIT}")
        layers.append(LayerTables(positions, values))
    if offset != len(body):
        raise ValueError(f"{len(body) - offset} bytes left over after the last layer")
    return LutTables(spec, tuple(layers), meta)


def _array(body: bytes, offset: int, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape))
    if offset + 2 * count > len(body):
        raise ValueError("the body ends inside a table")
    return np.frombuffer(body, "<i2", count, offset).astype(np.int16).reshape(shape)


def size_bound(spec: LutSpec, meta_bytes: int = 512) -> int:
    """An upper bound of the ``.rlut`` size of a ``spec`` network (``meta_bytes`` of meta).

    The uncompressed tables plus headers and zlib's worst-case growth; trained tables
    compress below it (the size is known exactly only after training).
    """
    body = _BODY.size + meta_bytes + _LAYER.size * len(spec.layers)
    for i, layer in enumerate(spec.layers):
        planes = spec.in_channels(i)
        body += 2 * planes * spec.knots * (1 + layer.kh * layer.kw * layer.channels)
    return _HEAD.size + body + body // 1000 + 64 + _CRC.size
