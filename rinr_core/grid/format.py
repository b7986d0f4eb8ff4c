"""The ``.rinr`` container, version 2: one frame coded by the grid codec.

Layout (little-endian)::

    magic "RINR" 4s, version u8 (2), flags u8 (bit 0: 16-bit box fields),
    width u16, height u16, box 4 x (u8 | u16),
    architecture (GridArch.pack: 5 + layers bytes),
    latent range u8 (latents lie in [-range, range]),
    network record: weight range u16, per tensor (step exponent u8, Laplace index u8),
    ANS words: count (LEB128) + u32 x count -- the network codes, then the latents,
    crc32 u32 of every byte before it

About 30 bytes of header and checksum for the 7-level frame architecture; everything else is
entropy-coded. Damage raises the same :class:`~rinr_core.errors.PayloadError` subclasses as
a version-1 file (:mod:`rinr_core.container` reads the magic and the version first).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from rinr_core.container import MAGIC, Reader
from rinr_core.errors import MalformedPayloadError
from rinr_core.frames import Box
from rinr_core.grid.arch import GridArch
from rinr_core.grid.records import (
    NetRecord,
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

VERSION = 2
FLAG_WIDE_BOX = 1
_HEADER = struct.Struct("<4sBBHH")


@dataclass
class GridFrame:
    """Content of a version-2 ``.rinr`` file (the words are decoded by :mod:`rinr_core.grid.decode`)."""

    width: int
    height: int
    box: Box
    arch: GridArch
    latent_limit: int
    net: NetRecord
    words: np.ndarray


def pack_frame(frame: GridFrame) -> bytes:
    """Serialize a grid frame to ``.rinr`` version-2 bytes."""
    wide = wide_box(frame.width, frame.height)
    body = b"".join([
        _HEADER.pack(MAGIC, VERSION, FLAG_WIDE_BOX if wide else 0, frame.width, frame.height),
        pack_box(frame.box, wide), frame.arch.pack(), bytes([frame.latent_limit]),
        pack_net(frame.net), pack_words(frame.words),
    ])
    return seal(body)


def _parse(body: bytes) -> GridFrame:
    reader = Reader(body)
    _, _, flags, width, height = reader.unpack(_HEADER)
    if flags & ~FLAG_WIDE_BOX or width < 1 or height < 1:
        raise MalformedPayloadError(f"inconsistent .rinr v2 header (flags {flags}, {width}x{height})")
    box = read_box(reader, bool(flags & FLAG_WIDE_BOX), width, height)
    arch, reader.pos = GridArch.parse(body, reader.pos)
    limit = reader.take(1)[0]
    if limit < 1:
        raise MalformedPayloadError("the latent range of a .rinr v2 payload must be at least 1")
    net = read_net(reader, arch)
    words = read_words(reader)
    if reader.pos != len(body):
        raise MalformedPayloadError(f"{len(body) - reader.pos} unexpected bytes after the data")
    return GridFrame(width, height, box, arch, limit, net, words)


def unpack_frame(data: bytes) -> GridFrame:
    """Parse and verify ``.rinr`` version-2 bytes (magic and version already checked).

    Raises
    ------
    TruncatedPayloadError, ChecksumMismatchError, MalformedPayloadError
    """
    return open_sealed(data, _parse, ".rinr v2 payload")
