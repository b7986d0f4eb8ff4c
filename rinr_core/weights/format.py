"""The weight message: a self-describing, versioned, CRC-checked binary list of tensors.

Layout (little-endian)::

    magic      4s   b"RNWT"
    version    u8   1
    codec      u8   id of the weight codec that chose the methods (rinr_core.weights.base)
    flags      u8   bit 0: the tensors are a delta against ``base``; bit 1: no tensors, the
                    receiver keeps ``base`` (it already holds these weights)
    reserved   u8   0
    length     u32  bytes of the whole message, checksum included
    count      u32  number of tensors
    base       16s  id of the weights a delta applies to (zeros for full weights)
    result     16s  id of the weights the receiver holds after decoding (rinr_core.weights.delta)
    per tensor:
      method   u8   tensor method id        bits  u8   bit width (0: float or constant)
      ndim     u8   number of axes          pad   u8   0
      shape    u32 x ndim
      size     u32  bytes of the method's payload
    payloads, one after another
    crc32      u32  of every byte before it

A message cut short raises :class:`~rinr_core.errors.TruncatedPayloadError`, a changed byte
:class:`~rinr_core.errors.ChecksumMismatchError`, a newer version or an unknown codec or
method :class:`~rinr_core.errors.UnsupportedVersionError`, anything else that does not add
up :class:`~rinr_core.errors.MalformedPayloadError`; all are
:class:`~rinr_core.errors.PayloadError` s.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from rinr_core.errors import (
    ChecksumMismatchError,
    MalformedPayloadError,
    NotARinrFileError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.weights.base import EncodedTensor, get_method, weight_codec_by_id

MAGIC = b"RNWT"
VERSION = 1
ID_BYTES = 16
NO_ID = bytes(ID_BYTES)
DELTA, KEEP = 1, 2
"""Header flags."""
_HEAD = struct.Struct(f"<4sBBBBII{ID_BYTES}s{ID_BYTES}s")
_TENSOR = struct.Struct("<BBBB")
_U32 = struct.Struct("<I")
_CRC = struct.Struct("<I")
MAX_NDIM = 8


@dataclass(frozen=True)
class WeightMessage:
    """A parsed weight message (see the module docstring)."""

    codec_id: int
    flags: int
    base_id: bytes
    result_id: bytes
    tensors: list[EncodedTensor]

    @property
    def delta(self) -> bool:
        """Whether the tensors are added to the base."""
        return bool(self.flags & DELTA)

    @property
    def keep(self) -> bool:
        """Whether the receiver keeps its base (no tensors)."""
        return bool(self.flags & KEEP)


def pack_message(message: WeightMessage) -> bytes:
    """The bytes of ``message``."""
    parts = []
    for t in message.tensors:
        if len(t.shape) > MAX_NDIM:
            raise MalformedPayloadError(f"tensor of {len(t.shape)} axes; at most {MAX_NDIM}")
        parts.append(_TENSOR.pack(t.method, t.bits, len(t.shape), 0)
                     + struct.pack(f"<{len(t.shape)}I", *t.shape) + _U32.pack(len(t.data)))
    body_size = _HEAD.size + sum(map(len, parts)) + sum(len(t.data) for t in message.tensors)
    head = _HEAD.pack(MAGIC, VERSION, message.codec_id, message.flags, 0,
                      body_size + _CRC.size, len(message.tensors), message.base_id,
                      message.result_id)
    body = b"".join([head, *parts, *(t.data for t in message.tensors)])
    return body + _CRC.pack(zlib.crc32(body))


def read_header(data: bytes) -> tuple[int, int, bytes, bytes]:
    """``(codec id, flags, base id, result id)`` of a message, after checking it whole.

    Raises
    ------
    PayloadError
        See the module docstring.
    """
    return _check(bytes(data))[1:]


def _check(data: bytes) -> tuple[int, int, int, bytes, bytes]:
    """Verify magic, version, length and CRC; ``(count, codec, flags, base, result)``."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(data):
            raise TruncatedPayloadError(f"weight message is truncated to {len(data)} bytes; "
                                        "the sender must send it again")
        raise NotARinrFileError("not a weight message (bad magic number); was it encoded by "
                                "rinr.weights?")
    if len(data) <= len(MAGIC):
        raise TruncatedPayloadError(f"weight message is truncated to {len(data)} bytes")
    if data[len(MAGIC)] != VERSION:
        raise UnsupportedVersionError(f"weight message version {data[len(MAGIC)]}; this build "
                                      f"reads version {VERSION}: upgrade rinr on this node")
    if len(data) < _HEAD.size + _CRC.size:
        raise TruncatedPayloadError(f"weight message is truncated to {len(data)} bytes")
    _, _, codec_id, flags, reserved, length, count, base, result = _HEAD.unpack_from(data)
    if len(data) < length:
        raise TruncatedPayloadError(f"weight message is truncated: {len(data)} of {length} "
                                    "bytes; the sender must send it again")
    if len(data) > length:
        raise MalformedPayloadError(f"weight message has {len(data) - length} bytes after its "
                                    "end; re-send it")
    (crc,) = _CRC.unpack_from(data, length - _CRC.size)
    if zlib.crc32(data[: length - _CRC.size]) != crc:
        raise ChecksumMismatchError("weight message checksum mismatch: it was corrupted in "
                                    "transfer or on disk; the sender must send it again")
    if reserved or flags & ~(DELTA | KEEP) or (flags & KEEP and count):
        raise MalformedPayloadError(f"weight message header has flags {flags}, reserved "
                                    f"{reserved}, {count} tensors; re-send it")
    weight_codec_by_id(codec_id)  # an unknown codec: written by a newer rinr
    return count, codec_id, flags, base, result


def unpack_message(data: bytes) -> WeightMessage:
    """Parse and verify a weight message (tensors not decoded yet).

    Raises
    ------
    PayloadError
        See the module docstring.
    """
    data = bytes(data)
    count, codec_id, flags, base, result = _check(data)
    end = len(data) - _CRC.size
    pos = _HEAD.size
    heads: list[tuple[int, int, tuple[int, ...], int]] = []

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > end:
            raise MalformedPayloadError("weight message's tensor table runs past its end")
        pos += n
        return data[pos - n : pos]

    for _ in range(count):
        method, bits, ndim, pad = _TENSOR.unpack(take(_TENSOR.size))
        if pad or ndim > MAX_NDIM:
            raise MalformedPayloadError(f"weight tensor entry has {ndim} axes, pad {pad}")
        shape = struct.unpack(f"<{ndim}I", take(4 * ndim))
        (size,) = _U32.unpack(take(_U32.size))
        get_method(method)  # an unknown method: written by a newer rinr
        heads.append((method, bits, tuple(int(s) for s in shape), size))
    tensors = []
    for method, bits, shape, size in heads:
        payload = take(size)
        tensors.append(EncodedTensor(method, bits, shape, payload, 0.0))
    if pos != end:
        raise MalformedPayloadError(f"weight message has {end - pos} unexplained bytes")
    return WeightMessage(codec_id, flags, base, result, tensors)


def tensor_bounds(tensors: Sequence[EncodedTensor]) -> list[float]:
    """The error bound each stored tensor promises, read from its payload."""
    return [get_method(t.method).bound(t.data, t.shape, t.bits) for t in tensors]
