"""The grid stream format: a camera's frames as latents, networks sent once.

Layout (little-endian, version 1)::

    magic "RIGS" 4s, version u8 (1), flags u8 (bit 0: update, bit 1: 16-bit boxes),
    width u16, height u16, first_index u32, first_net u8, n_nets u8, n_frames u32,
    base_crc u32 (the checksum of the stream an update extends; 0 in a base),
    start weights: background u8, object u8 (``round(8 log2 lambda)``: the encoder's hint
               for the next segment; decoders ignore them),
    architecture (GridArch.pack),
    n_nets x network: weight range u16, per tensor (step exponent u8, Laplace index u8),
               ANS words (count LEB128 + u32 x count)
    n_frames x frame: flags u8 (bit 0: coded against the previous frame), network u8,
               box 4 x (u8 | u16), motion dx i8, dy i8 (quarter pixels), latent range u8,
               skip probability u8 (1/256; 0: no skip blocks, :mod:`rinr_core.grid.skip`),
               ANS words (count LEB128 + u32 x count): the skip flags, then the latents
    crc32 u32 of every byte before it

A *base* holds frames ``0..n-1`` and at least one network; an *update* continues the
indices and network ids of the stream it was made for (``base_crc``) and holds its new
frames (and new networks, if any). :func:`merge` appends an update to its base; only a whole
stream decodes, because a frame's latents are coded against the previous frame's. Every
frame has its own ANS stream, so merging never re-codes anything.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from rinr_core.container import Reader
from rinr_core.errors import (
    MalformedPayloadError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.frames import Box
from rinr_core.grid.arch import GridArch
from rinr_core.grid.records import (
    NetRecord,
    checksum_ok,
    crc_of,
    open_sealed,
    pack_box,
    pack_net,
    pack_words,
    read_box,
    read_net,
    read_words,
    seal,
    wide_box,
)

MAGIC = b"RIGS"
VERSION = 1
FLAG_UPDATE, FLAG_WIDE_BOX = 1, 2
FRAME_INTER = 1
_HEADER = struct.Struct("<4sBBHHIBBIIBB")
_FRAME_HEAD = struct.Struct("<BB")
_MOTION = struct.Struct("<bbBB")


@dataclass
class StreamNet:
    """One stored network version: its record and the ANS words of its codes."""

    record: NetRecord
    words: np.ndarray


@dataclass
class StreamFrame:
    """One frame: index, network, box, motion against the previous frame, latents' words."""

    index: int
    net: int
    box: Box
    shift: tuple[int, int]
    inter: bool
    latent_limit: int
    words: np.ndarray
    skip: int = 0


@dataclass
class GridStream:
    """Content of a grid stream payload (an update when ``base_crc`` is set)."""

    width: int
    height: int
    arch: GridArch
    nets: list[StreamNet]
    frames: list[StreamFrame]
    first_index: int = 0
    first_net: int = 0
    base_crc: int | None = None
    hint: tuple[float, float] = (1.0, 1.0)

    @property
    def is_update(self) -> bool:
        return self.base_crc is not None


def _lambda_code(value: float) -> int:
    return int(np.clip(round(8 * math.log2(max(value, 1.0))), 0, 255))


def pack_frame_record(frame: StreamFrame, wide: bool) -> bytes:
    """The bytes one frame adds to a stream (its record and its latents)."""
    return (_FRAME_HEAD.pack(FRAME_INTER if frame.inter else 0, frame.net) + pack_box(frame.box, wide)
            + _MOTION.pack(*frame.shift, frame.latent_limit, frame.skip) + pack_words(frame.words))


def pack_stream(stream: GridStream) -> bytes:
    """Serialize a grid stream (base or update)."""
    wide = wide_box(stream.width, stream.height)
    flags = (FLAG_UPDATE if stream.is_update else 0) | (FLAG_WIDE_BOX if wide else 0)
    if stream.first_net + len(stream.nets) > 255:
        raise PayloadError("a grid stream holds at most 255 network versions; start a new stream")
    head = _HEADER.pack(MAGIC, VERSION, flags, stream.width, stream.height, stream.first_index,
                        stream.first_net, len(stream.nets), len(stream.frames),
                        stream.base_crc or 0, *(_lambda_code(v) for v in stream.hint))
    parts = [head, stream.arch.pack()]
    parts += [pack_net(n.record) + pack_words(n.words) for n in stream.nets]
    parts += [pack_frame_record(f, wide) for f in stream.frames]
    return seal(b"".join(parts))


def _parse(body: bytes) -> GridStream:
    reader = Reader(body)
    (_, _, flags, width, height, first_index, first_net, n_nets, n_frames, base_crc,
     hint_bg, hint_obj) = reader.unpack(_HEADER)
    update = bool(flags & FLAG_UPDATE)
    if flags & ~(FLAG_UPDATE | FLAG_WIDE_BOX) or width < 1 or height < 1 or (
            not update and (first_index or first_net or not n_nets)):
        raise MalformedPayloadError(f"inconsistent grid stream header (flags {flags}, "
                                    f"{width}x{height}, first frame {first_index}, {n_nets} nets)")
    arch, reader.pos = GridArch.parse(body, reader.pos)
    nets = [StreamNet(read_net(reader, arch), read_words(reader)) for _ in range(n_nets)]
    wide = bool(flags & FLAG_WIDE_BOX)
    frames = []
    for k in range(n_frames):
        inter, net = reader.unpack(_FRAME_HEAD)
        box = read_box(reader, wide, width, height)
        dx, dy, limit, skip = reader.unpack(_MOTION)
        words = read_words(reader)
        if inter & ~FRAME_INTER or net >= first_net + n_nets or (not update and not net < n_nets) \
                or limit < 1 or (not update and k == 0 and inter) or (skip and not inter):
            raise MalformedPayloadError(f"inconsistent record of frame {first_index + k} in the "
                                        "grid stream")
        frames.append(StreamFrame(first_index + k, net, box, (dx, dy), bool(inter), limit, words,
                                  skip))
    if reader.pos != len(body):
        raise MalformedPayloadError(f"{len(body) - reader.pos} unexpected bytes after the last frame")
    hint = (2.0 ** (hint_bg / 8), 2.0 ** (hint_obj / 8))
    return GridStream(width, height, arch, nets, frames, first_index, first_net,
                      base_crc if update else None, hint)


def unpack_stream(data: bytes) -> GridStream:
    """Parse and verify grid stream bytes (a base or an update).

    Raises
    ------
    NotARinrFileError, UnsupportedVersionError, TruncatedPayloadError,
    ChecksumMismatchError, MalformedPayloadError
    """
    data = bytes(data)
    if data[: len(MAGIC)] != MAGIC:
        if len(data) < len(MAGIC) and MAGIC.startswith(data):
            raise TruncatedPayloadError(f"grid stream is truncated to {len(data)} bytes")
        raise NotARinrFileError("not a grid stream (bad magic number); was it written by "
                                "rinr encode-seq --codec grid?")
    if len(data) < _HEADER.size + 4:
        raise TruncatedPayloadError(f"grid stream is truncated to {len(data)} bytes; re-fetch it")
    if data[len(MAGIC)] != VERSION:
        raise UnsupportedVersionError(f"grid stream version {data[len(MAGIC)]} is not supported "
                                      f"(this build reads version {VERSION}); upgrade rinr or "
                                      "re-encode the stream")
    return open_sealed(data, _parse, "grid stream")


def is_stream(data: bytes) -> bool:
    """Whether bytes start like a grid stream."""
    return bytes(data[: len(MAGIC)]) == MAGIC


def stream_checksum_ok(data: bytes) -> bool:
    """Whether grid stream bytes are intact (magic and CRC; nothing parsed)."""
    return is_stream(data) and checksum_ok(data)


def merge(base: bytes, update: bytes) -> bytes:
    """Append an update to the stream it was made for: one whole stream.

    Raises
    ------
    PayloadError
        Either payload is damaged, ``base`` is itself an update, ``update`` is not one, or
        the update was made for another stream.
    """
    parsed_base = unpack_stream(base)
    if parsed_base.is_update:
        raise PayloadError("the base given to merge is itself an update; merge that one first")
    parsed = unpack_stream(update)
    if not parsed.is_update:
        raise PayloadError("merge needs an update (from update_stream), got a whole grid stream")
    next_index = parsed_base.first_index + len(parsed_base.frames)
    if (parsed.base_crc != crc_of(base) or parsed.first_index != next_index
            or parsed.first_net != len(parsed_base.nets) or parsed.arch != parsed_base.arch
            or (parsed.width, parsed.height) != (parsed_base.width, parsed_base.height)):
        raise PayloadError("this update was made for another grid stream (checksum or frame "
                           "numbering differs); apply it to the stream it was encoded against")
    merged = GridStream(parsed_base.width, parsed_base.height, parsed_base.arch,
                        parsed_base.nets + parsed.nets, parsed_base.frames + parsed.frames,
                        hint=parsed.hint)
    return pack_stream(merged)
