"""The ``.rinrs`` container: the sequence data model, packing, parsing and merging updates.

Layout (little-endian, version 1)::

    magic "RINS" 4s, version u8, codec u8 (0 nerv, 1 res-nerv), flags u8 (bit 0: update),
    first_version u8, n_versions u8, width u16, height u16, index_scale f32,
    base_crc u32 (update: checksum of the base payload it applies to; else 0), n_frames u32,
    NeRV arch: pe_levels u8, pe_base f32, stem_hidden u16, base_channels u16, activation u8,
               kernel u8, n_blocks u8, n_blocks x (stride u8, width u16)
    n_versions x version: parent u8 (255: none), storage u8 (0 codes, 1 differences to the
               parent's codes), bits u8, per tensor (lo f32, step f32), section u32 + bytes
    n_frames x frame: index u32, version u8, box 4 x u16, has_object u8
               [object: depth u8, width u16, w0 f32, bits u8, scale f32,
                per tensor (lo f32, step f32), section u32 + bytes]
    crc32 u32 of every byte before it

Sections are entropy-coded blocks (one per tensor). Frame ``i`` of a version is rendered at
time ``index / index_scale``. Damaged payloads raise the same :class:`PayloadError` subclasses
as ``.rinr`` ones.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rinr_core.container import ROLE_OBJECT_RESIDUAL, Reader, StoredInr
from rinr_core.entropy import (
    code_range,
    decode_blocks,
    delta_range,
    encode_blocks,
    encode_tensors,
)
from rinr_core.errors import (
    ChecksumMismatchError,
    ConfigError,
    MalformedPayloadError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.frames import Box
from rinr_core.nerv import ACTIVATIONS, NervArch
from rinr_core.quantize import QuantTensor, check_bits
from rinr_core.siren import SirenArch

MAGIC = b"RINS"
VERSION = 1
STREAM_CODEC_IDS = ("nerv", "res-nerv")
"""Codec ids in the header (position = id on the wire); codecs themselves: :mod:`rinr_core.codecs`."""
FLAG_UPDATE = 1
NO_PARENT = 255
STORE_CODES, STORE_DELTA = 0, 1
MAX_SYMBOLS = 2**26  # per section: guards decoders against absurd sizes in damaged headers

_HEADER = struct.Struct("<4sBBBBBHHfII")
_ARCH = struct.Struct("<BfHHBBB")
_BLOCK = struct.Struct("<BH")
_VERSION = struct.Struct("<BBB")
_FRAME = struct.Struct("<IB4HB")
_OBJECT = struct.Struct("<BHfBf")
_QPARAM = struct.Struct("<ff")
_LEN = struct.Struct("<I")
_CRC = struct.Struct("<I")


# --- data model -----------------------------------------------------------------------------


@dataclass
class NervVersion:
    """One stored NeRV: quantized tensors (absolute codes), and how they are shipped."""

    bits: int
    tensors: list[QuantTensor]
    parent: int | None = None  # version id whose codes a delta is taken against
    delta: bool = False  # stored as code differences to the parent


@dataclass
class SequenceFrame:
    """One frame of a sequence: its index, NeRV version, box and (res-nerv) object INR."""

    index: int
    version: int
    box: Box
    obj: StoredInr | None = None


@dataclass
class SequencePayload:
    """Decoded content of a ``.rinrs`` file (an update when ``base_crc`` is set)."""

    codec: str
    width: int
    height: int
    arch: NervArch
    index_scale: float
    versions: list[NervVersion]
    frames: list[SequenceFrame]
    first_version: int = 0  # id of versions[0] (an update continues its base's numbering)
    base_crc: int | None = None

    @property
    def is_update(self) -> bool:
        return self.base_crc is not None


def _version_table(payload: SequencePayload, base: SequencePayload | None) -> dict[int, NervVersion]:
    """Every version id reachable from ``payload`` (its own, plus its base's for an update)."""
    table = {} if base is None else {base.first_version + i: v for i, v in enumerate(base.versions)}
    table.update({payload.first_version + i: v for i, v in enumerate(payload.versions)})
    return table


# --- packing --------------------------------------------------------------------------------


def _section(data: bytes) -> bytes:
    return _LEN.pack(len(data)) + data


def _qparams(tensors: Sequence[QuantTensor]) -> bytes:
    return b"".join(_QPARAM.pack(t.lo, t.step) for t in tensors)


def version_section(version: NervVersion, parent: NervVersion | None) -> bytes:
    """The entropy-coded codes of a version: absolute, or differences to ``parent``'s codes."""
    if not version.delta:
        return encode_tensors(version.tensors)
    if parent is None or parent.bits != version.bits:
        raise MalformedPayloadError("a delta-coded NeRV version needs a parent of the same bit width")
    blocks = [t.codes.astype(np.int64) - p.codes.astype(np.int64)
              for t, p in zip(version.tensors, parent.tensors, strict=True)]
    return encode_blocks(blocks, *delta_range(version.bits))


def _pack_version(version: NervVersion, parent: NervVersion | None) -> bytes:
    parent_id = NO_PARENT if version.parent is None else version.parent
    storage = STORE_DELTA if version.delta else STORE_CODES
    return (_VERSION.pack(parent_id, storage, version.bits) + _qparams(version.tensors)
            + _section(version_section(version, parent)))


def _pack_frame(frame: SequenceFrame) -> bytes:
    """The bytes one frame adds to the container (its share that is not amortized)."""
    obj = frame.obj
    out = _FRAME.pack(frame.index, frame.version, *frame.box, 0 if obj is None else 1)
    if obj is None:
        return out
    a = obj.arch
    return (out + _OBJECT.pack(a.depth, a.width, a.w0, obj.bits, obj.scale) + _qparams(obj.tensors)
            + _section(encode_tensors(obj.tensors)))


def _pack_header(p: SequencePayload) -> bytes:
    a = p.arch
    head = _HEADER.pack(MAGIC, VERSION, STREAM_CODEC_IDS.index(p.codec), FLAG_UPDATE if p.is_update else 0,
                        p.first_version, len(p.versions), p.width, p.height, p.index_scale,
                        p.base_crc or 0, len(p.frames))
    arch = _ARCH.pack(a.pe_levels, a.pe_base, a.stem_hidden, a.base_channels, ACTIVATIONS.index(a.activation),
                      a.kernel, len(a.strides))
    return head + arch + b"".join(_BLOCK.pack(s, w) for s, w in zip(a.strides, a.widths, strict=True))


def pack_sequence(payload: SequencePayload, base: SequencePayload | None = None) -> bytes:
    """Serialize a sequence payload to ``.rinrs`` bytes (``base``: the payload an update extends)."""
    if payload.first_version + len(payload.versions) > NO_PARENT:
        raise ConfigError(f"a .rinrs holds at most {NO_PARENT} NeRV versions; re-encode the sequence")
    table = _version_table(payload, base)
    parts = [_pack_header(payload)]
    for v in payload.versions:
        parts.append(_pack_version(v, None if v.parent is None else table.get(v.parent)))
    parts.extend(_pack_frame(f) for f in payload.frames)
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


# --- parsing --------------------------------------------------------------------------------


def _read_tensors(r: Reader, shapes: Sequence[tuple[int, ...]], bits: int, low: int, high: int
                  ) -> tuple[list[tuple[float, float]], list[np.ndarray]]:
    qparams = [r.unpack(_QPARAM) for _ in shapes]
    sizes = [math.prod(s) for s in shapes]
    if sum(sizes) > MAX_SYMBOLS:
        raise MalformedPayloadError(f"a section claims {sum(sizes)} weights (more than {MAX_SYMBOLS})")
    (length,) = r.unpack(_LEN)
    return qparams, decode_blocks(r.take(length), sizes, low, high)


def _tensors(qparams: Sequence[tuple[float, float]], codes: Sequence[np.ndarray],
             shapes: Sequence[tuple[int, ...]], bits: int) -> list[QuantTensor]:
    return [QuantTensor(c.astype(np.uint32), lo, step, tuple(s), bits)
            for (lo, step), c, s in zip(qparams, codes, shapes, strict=True)]


def _read_arch(r: Reader) -> NervArch:
    levels, base, hidden, channels, act, kernel, n_blocks = r.unpack(_ARCH)
    blocks = [r.unpack(_BLOCK) for _ in range(n_blocks)]
    if act >= len(ACTIVATIONS):
        raise MalformedPayloadError(f"unknown NeRV activation index {act}")
    try:
        return NervArch(levels, base, hidden, channels, tuple(s for s, _ in blocks), tuple(w for _, w in blocks),
                        ACTIVATIONS[act], kernel)
    except ConfigError as exc:
        raise MalformedPayloadError(f"invalid NeRV architecture in .rinrs header: {exc}") from exc


def _read_version(r: Reader, shapes: list[tuple[int, ...]], table: dict[int, NervVersion]) -> NervVersion:
    parent_id, storage, bits = r.unpack(_VERSION)
    if storage not in (STORE_CODES, STORE_DELTA) or not 2 <= bits <= 16:
        raise MalformedPayloadError(f"invalid NeRV version record (storage {storage}, bits {bits})")
    parent = None if parent_id == NO_PARENT else table.get(parent_id)
    if parent_id != NO_PARENT and parent is None:
        raise MalformedPayloadError(f"NeRV version refers to a missing parent version {parent_id}")
    if storage == STORE_DELTA and (parent is None or parent.bits != bits):
        raise MalformedPayloadError("a delta-coded NeRV version needs a parent of the same bit width")
    qparams, symbols = _read_tensors(r, shapes, bits, *(delta_range(bits) if storage == STORE_DELTA
                                                           else code_range(bits)))
    if storage == STORE_DELTA:
        symbols = [s + p.codes.astype(np.int64) for s, p in zip(symbols, parent.tensors, strict=True)]  # type: ignore[union-attr]
        if any(s.size and (int(s.min()) < 0 or int(s.max()) >= 2**bits) for s in symbols):
            raise MalformedPayloadError("delta-coded NeRV codes fall outside their bit width")
    return NervVersion(bits, _tensors(qparams, symbols, shapes, bits),
                       None if parent_id == NO_PARENT else parent_id, storage == STORE_DELTA)


def _read_object(r: Reader) -> StoredInr:
    depth, width, w0, bits, scale = r.unpack(_OBJECT)
    try:
        arch = SirenArch(depth, width, 2, 3, w0)
        check_bits(bits)
    except ConfigError as exc:
        raise MalformedPayloadError(f"invalid object INR record: {exc}") from exc
    shapes = [s for o, i in arch.layer_shapes for s in ((o, i), (o,))]
    qparams, codes = _read_tensors(r, shapes, bits, *code_range(bits))
    return StoredInr(ROLE_OBJECT_RESIDUAL, arch, bits, scale, _tensors(qparams, codes, shapes, bits))


def _parse(body: bytes, base: SequencePayload | None) -> SequencePayload:
    r = Reader(body)
    _, _, codec_i, flags, first, n_versions, width, height, index_scale, base_crc, n_frames = r.unpack(_HEADER)
    if codec_i >= len(STREAM_CODEC_IDS) or flags & ~FLAG_UPDATE or width < 1 or height < 1 or not index_scale > 0:
        raise MalformedPayloadError(f"inconsistent .rinrs header (codec {codec_i}, flags {flags}, "
                                    f"{width}x{height}, index scale {index_scale})")
    arch = _read_arch(r)
    if arch.num_params(height, width) > MAX_SYMBOLS:
        raise MalformedPayloadError(f"the NeRV claims {arch.num_params(height, width)} weights (too many)")
    update = bool(flags & FLAG_UPDATE)
    if update and base is None:
        raise PayloadError("this .rinrs is an update to an earlier payload: merge it into its base with "
                           "rinr_core.sequence.apply_update(base, update) and decode the result")
    payload = SequencePayload(STREAM_CODEC_IDS[codec_i], width, height, arch, index_scale, [], [], first,
                              base_crc if update else None)
    table = _version_table(payload, base if update else None)
    shapes = arch.tensor_shapes(height, width)
    for k in range(n_versions):
        version = _read_version(r, shapes, table)
        payload.versions.append(version)
        table[first + k] = version
    for _ in range(n_frames):
        index, version_id, bx, by, bw, bh, has_obj = r.unpack(_FRAME)
        if version_id not in table or bw < 1 or bh < 1 or bx + bw > width or by + bh > height or has_obj > 1:
            raise MalformedPayloadError(f"inconsistent frame record (index {index}, version {version_id}, "
                                        f"box {(bx, by, bw, bh)} in {width}x{height})")
        payload.frames.append(SequenceFrame(index, version_id, (bx, by, bw, bh), _read_object(r) if has_obj else None))
    if r.pos != len(body):
        raise MalformedPayloadError(f"{len(body) - r.pos} unexpected bytes after the last frame")
    return payload


def _parse_reporting_truncation(body: bytes, base: SequencePayload | None) -> SequencePayload:
    try:
        return _parse(body, base)
    except TruncatedPayloadError:
        raise TruncatedPayloadError(f".rinrs payload is truncated ({len(body) + _CRC.size} bytes); "
                                    f"re-fetch it or re-encode the sequence") from None


def unpack_sequence(data: bytes, base: SequencePayload | None = None) -> SequencePayload:
    """Parse and verify ``.rinrs`` bytes (an update needs the parsed ``base`` it extends).

    Raises
    ------
    NotARinrFileError, UnsupportedVersionError, TruncatedPayloadError,
    ChecksumMismatchError, MalformedPayloadError
        The bytes are foreign, from another container version, cut off, corrupted, or
        inconsistent.
    PayloadError
        The payload is an update and no ``base`` was given.
    """
    data = bytes(data)
    if data[: len(MAGIC)] != MAGIC:
        if len(data) < len(MAGIC) and MAGIC.startswith(data):
            raise TruncatedPayloadError(f".rinrs payload is truncated to {len(data)} bytes")
        raise NotARinrFileError("not a .rinrs payload (bad magic number); was it written by rinr encode-seq?")
    if len(data) < _HEADER.size + _CRC.size:
        raise TruncatedPayloadError(f".rinrs payload is truncated to {len(data)} bytes")
    if data[len(MAGIC)] != VERSION:
        raise UnsupportedVersionError(f".rinrs container version {data[len(MAGIC)]} is not supported (this build "
                                      f"reads version {VERSION}); upgrade rinr or re-encode the sequence")
    body = data[: -_CRC.size]
    if not checksum_ok(data):
        try:
            _parse_reporting_truncation(body, base)
        except TruncatedPayloadError:
            raise
        except Exception:  # noqa: BLE001 - any structural failure under a bad CRC means corruption
            pass
        raise ChecksumMismatchError(".rinrs checksum mismatch: the payload was corrupted or tampered with; re-fetch it")
    return _parse_reporting_truncation(body, base)


def checksum_ok(data: bytes) -> bool:
    """Whether ``.rinrs`` bytes end with the CRC32 of everything before them (nothing parsed)."""
    data = bytes(data)
    return len(data) > _CRC.size and zlib.crc32(data[: -_CRC.size]) == payload_crc(data)


def payload_crc(data: bytes) -> int:
    """The checksum stored at the end of ``.rinrs`` bytes (identifies a base for its updates)."""
    return _CRC.unpack(bytes(data[-_CRC.size :]))[0]


# --- merging --------------------------------------------------------------------------------


def apply_update(base: bytes, update: bytes) -> bytes:
    """Merge an update (from :func:`~rinr_core.sequence.update_sequence`) into its base ``.rinrs``: a full payload.

    Raises
    ------
    PayloadError
        The update was made for another base (or either payload is damaged).
    """
    parsed_base = unpack_sequence(base)
    if parsed_base.is_update:
        raise PayloadError("the base given to apply_update is itself an update; merge that one first")
    parsed = unpack_sequence(update, parsed_base)
    if not parsed.is_update:
        raise PayloadError("apply_update needs an update payload (from update_sequence), got a full .rinrs")
    if parsed.base_crc != payload_crc(base) or parsed.first_version != len(parsed_base.versions):
        raise PayloadError("this update was made for another base payload (checksum differs); apply it to the "
                           ".rinrs it was encoded against")
    merged = SequencePayload(parsed_base.codec, parsed_base.width, parsed_base.height, parsed_base.arch,
                             parsed_base.index_scale, parsed_base.versions + parsed.versions,
                             parsed_base.frames + parsed.frames)
    return pack_sequence(merged)
