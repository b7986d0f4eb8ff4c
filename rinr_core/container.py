"""The ``.rinr`` container: a versioned, checksummed binary holding one encoded frame.

Version 1 holds SIREN INRs (the layout below); version 2 holds a grid-codec frame (latents
and networks, :mod:`rinr_core.grid.format`). Both start with the magic and the version byte
and end with a CRC-32; :func:`payload_version` tells them apart, :func:`check` and
:func:`payload_box` read either, :func:`unpack` reads version 1.

Layout (little-endian), version 1::

    magic      4s   b"RINR"
    version    u8   1
    mode       u8   index into MODES (bs, be, de, re, qre)
    flags      u8   0 (reserved)
    n_inrs     u8
    width      u16  frame size as stored
    height     u16
    box        4 x u16  x, y, w, h (pixels)
    n_inrs x INR record:
        role   u8   0 frame (background / baseline), 1 object residual, 2 object direct
        depth  u8, width u16, in u8, out u8, w0 f32, bits u8, scale f32
        per tensor (W0, b0, W1, b1, ...): bits u8, lo f32, step f32
        per tensor: its codes packed at its bit width (byte-aligned per tensor)
    crc32      u32  of every byte before it

:func:`pack` and :func:`unpack` are exact inverses. :func:`unpack` never returns garbage: a
short, corrupted, foreign or future-version payload raises a specific :class:`PayloadError`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from rinr_core.errors import (
    ChecksumMismatchError,
    MalformedPayloadError,
    NotARinrFileError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.frames import Box
from rinr_core.quantize import QuantTensor, pack_bits, packed_size, unpack_bits
from rinr_core.siren import SirenArch

MAGIC = b"RINR"
VERSION = 1
GRID_VERSION = 2
"""Version of a grid-codec frame (:mod:`rinr_core.grid.format`)."""
VERSIONS = (VERSION, GRID_VERSION)
MODES = ("bs", "be", "de", "re", "qre")
"""Mode ids in the header (position = id on the wire); codecs themselves: :mod:`rinr_core.codecs`."""
ROLE_FRAME, ROLE_OBJECT_RESIDUAL, ROLE_OBJECT_DIRECT = 0, 1, 2
ROLES = (ROLE_FRAME, ROLE_OBJECT_RESIDUAL, ROLE_OBJECT_DIRECT)

_HEADER = struct.Struct("<4sBBBBHH4H")
_INR = struct.Struct("<BBHBBfBf")
_QPARAM = struct.Struct("<Bff")
_CRC = struct.Struct("<I")


@dataclass
class StoredInr:
    """One quantized SIREN as stored: its role, architecture, scale and tensors."""

    role: int
    arch: SirenArch
    bits: int
    scale: float
    tensors: list[QuantTensor]  # W0, b0, W1, b1, ... with shapes from `arch`


@dataclass
class RinrPayload:
    """Decoded content of a ``.rinr`` file."""

    mode: str
    width: int
    height: int
    box: Box
    inrs: list[StoredInr]


def _tensor_shapes(arch: SirenArch) -> list[tuple[int, ...]]:
    return [s for o, i in arch.layer_shapes for s in ((o, i), (o,))]


def pack(payload: RinrPayload) -> bytes:
    """Serialize a payload to ``.rinr`` bytes."""
    parts = [
        _HEADER.pack(MAGIC, VERSION, MODES.index(payload.mode), 0, len(payload.inrs),
                     payload.width, payload.height, *payload.box)
    ]
    for inr in payload.inrs:
        a = inr.arch
        parts.append(_INR.pack(inr.role, a.depth, a.width, a.in_features, a.out_features,
                               a.w0, inr.bits, inr.scale))
        shapes = _tensor_shapes(a)
        if [t.shape for t in inr.tensors] != shapes:
            raise MalformedPayloadError(f"tensor shapes do not match architecture {a}")
        parts.extend(_QPARAM.pack(t.bits, t.lo, t.step) for t in inr.tensors)
        parts.extend(pack_bits(t.codes, t.bits) for t in inr.tensors)
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


class Reader:
    """Bounds-checked reader: running past the end raises TruncatedPayloadError."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TruncatedPayloadError(
                f".rinr payload is truncated: needs at least {self.pos + n} bytes, has "
                f"{len(self.data)}; re-fetch or re-encode the frame"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.take(fmt.size))


def _parse(body: bytes) -> RinrPayload:
    """Parse everything but the checksum; raises on structural problems."""
    r = Reader(body)
    _, _, mode_i, _, n_inrs, width, height, bx, by, bw, bh = r.unpack(_HEADER)
    if mode_i >= len(MODES):
        raise MalformedPayloadError(f"unknown mode index {mode_i} in .rinr header")
    if width < 1 or height < 1 or bw < 1 or bh < 1 or bx + bw > width or by + bh > height:
        raise MalformedPayloadError(f"inconsistent frame {width}x{height} / box {(bx, by, bw, bh)}")
    inrs = []
    for _ in range(n_inrs):
        role, depth, w, fin, fout, w0, bits, scale = r.unpack(_INR)
        if role not in ROLES or not (2 <= bits <= 16) or depth < 1 or w < 1 or fin != 2 or fout != 3:
            raise MalformedPayloadError(
                f"invalid INR record (role {role}, {depth}x{w}, in {fin}, out {fout}, bits {bits})"
            )
        try:
            arch = SirenArch(depth, w, fin, fout, w0)
        except ValueError as exc:
            raise MalformedPayloadError(f"invalid INR architecture: {exc}") from exc
        shapes = _tensor_shapes(arch)
        qparams = [r.unpack(_QPARAM) for _ in shapes]
        tensors = []
        for shape, (tbits, lo, step) in zip(shapes, qparams, strict=True):
            if not (2 <= tbits <= 16):
                raise MalformedPayloadError(f"invalid tensor bit width {tbits}")
            n = int(np.prod(shape))
            codes = unpack_bits(r.take(packed_size(n, tbits)), n, tbits)
            tensors.append(QuantTensor(codes, lo, step, shape, tbits))
        inrs.append(StoredInr(role, arch, bits, scale, tensors))
    if r.pos != len(body):
        raise MalformedPayloadError(f"{len(body) - r.pos} unexpected bytes after the last INR")
    return RinrPayload(MODES[mode_i], width, height, (bx, by, bw, bh), inrs)


def payload_version(data: bytes) -> int:
    """The container version of ``.rinr`` bytes (1 or 2), after checking magic and length.

    Raises
    ------
    NotARinrFileError, TruncatedPayloadError, UnsupportedVersionError
    """
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(data):
            raise TruncatedPayloadError(f".rinr payload is truncated to {len(data)} bytes")
        raise NotARinrFileError("not a .rinr payload (bad magic number); was it encoded by rinr?")
    if len(data) <= len(MAGIC) + _CRC.size:
        raise TruncatedPayloadError(f".rinr payload is truncated to {len(data)} bytes")
    version = data[len(MAGIC)]
    if version not in VERSIONS:
        raise UnsupportedVersionError(
            f".rinr container version {version} is not supported (this build reads versions "
            f"{', '.join(map(str, VERSIONS))}); upgrade rinr or re-encode the frame"
        )
    return version


def unpack(data: bytes) -> RinrPayload:
    """Parse and verify version-1 ``.rinr`` bytes (SIREN INRs).

    Raises
    ------
    NotARinrFileError, UnsupportedVersionError, TruncatedPayloadError,
    ChecksumMismatchError, MalformedPayloadError
        A version-2 payload raises :class:`UnsupportedVersionError` here: read it with
        :func:`check` / :func:`rinr_core.decoding.decode`.
    """
    data = bytes(data)
    version = payload_version(data)
    if version != VERSION:
        raise UnsupportedVersionError(
            f"this .rinr is a version-{version} (grid codec) payload, not version {VERSION} "
            "(SIREN INRs); decode it with rinr_core.decoding.decode"
        )
    if len(data) < _HEADER.size + _CRC.size:
        raise TruncatedPayloadError(f".rinr payload is truncated to {len(data)} bytes")
    body, (crc,) = data[: -_CRC.size], _CRC.unpack(data[-_CRC.size :])
    if zlib.crc32(body) != crc:
        try:
            _parse(body)
        except TruncatedPayloadError:
            raise
        except Exception:  # noqa: BLE001 - any structural failure under a bad CRC means corruption
            pass
        raise ChecksumMismatchError(
            ".rinr checksum mismatch: the payload was corrupted or tampered with; re-fetch it"
        )
    return _parse(body)


def check(data: bytes) -> None:
    """Verify ``.rinr`` bytes of either version (magic, version, checksum, structure).

    Raises
    ------
    PayloadError
        The bytes are foreign, from an unknown version, cut off, corrupted or inconsistent.
    """
    if payload_version(data) == VERSION:
        unpack(data)
    else:
        from rinr_core.grid.format import unpack_frame

        unpack_frame(data)


def payload_box(data: bytes) -> Box:
    """The object box a ``.rinr`` payload of either version carries (as encoded)."""
    if payload_version(data) == VERSION:
        return unpack(data).box
    from rinr_core.grid.format import unpack_frame

    return unpack_frame(data).box
