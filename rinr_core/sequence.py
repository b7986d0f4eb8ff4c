"""Res-NeRV: a video sequence as one NeRV background plus per-frame object residual INRs.

Encoding (:func:`encode_sequence`):

1. one NeRV (:mod:`rinr_core.nerv`) is fitted to every frame of the sequence, quantized
   (8 bits or fewer, with a short quantization-aware phase) and entropy-coded
   (:mod:`rinr_core.entropy`); its size is the preset's, or scaled to the frame count and
   size (``nerv_bpp``, preset ``compact``), optionally grown until a background PSNR target
   is met (``background_db``);
2. codec ``res-nerv`` then fits, for every frame, an object residual SIREN to
   ``original - background`` inside the box, where the background is the NeRV **as the decoder
   renders it** (from the stored weights). The residual INRs are fitted in ``chains``
   contiguous runs of the sequence advancing in lockstep: one batch per position, each frame
   warm-started from the previous frame of its run; with ``object_db``, objects that decode
   below it are refitted with larger tiers. Codec ``nerv`` stops after step 1.

New frames (:func:`update_sequence`) fine-tune the latest NeRV on the new frames only, with
its weights kept on the earlier quantization grid; the new *version* is shipped as code
differences to its parent or as absolute codes, whichever is smaller, with the new frames'
boxes and object INRs. Earlier frames keep the version they were encoded against, so their
object residuals stay valid. :func:`apply_update` merges an update into its base payload.

The ``.rinrs`` container (little-endian, version 1)::

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
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from rinr_core.codec import (
    CodecSettings,
    FitJob,
    fit_settings_for,
    run_fit_jobs,
    store_inr,
    to_float_tensor,
)
from rinr_core.container import ROLE_OBJECT_RESIDUAL, Reader, StoredInr
from rinr_core.decoding import (
    add_object_inrs,
    pick_device,
    stored_to_params,
    to_uint8,
)
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
from rinr_core.fitting import FitSettings
from rinr_core.frames import Box, Frame
from rinr_core.images import resize_frame
from rinr_core.metrics import bits_per_pixel, frame_psnrs
from rinr_core.nerv import (
    ACTIVATIONS,
    DEFAULT_NERV_PRESET,
    Grid,
    Nerv,
    NervArch,
    NervPreset,
    arch_for_weights,
    build_nerv,
    fit_nerv,
    frame_times,
    get_nerv_preset,
    load_quantized,
    quantize_nerv,
    render,
)
from rinr_core.presets import DEFAULT_PRESET, get_preset
from rinr_core.quantize import QuantTensor, check_bits
from rinr_core.siren import SirenArch, SirenParams, grid_coords

MAGIC = b"RINS"
VERSION = 1
CODECS = ("nerv", "res-nerv")
UPDATE_SCOPES = ("stem", "all")
FLAG_UPDATE = 1
NO_PARENT = 255
STORE_CODES, STORE_DELTA = 0, 1
CODED_BITS_SAVED = 1.2  # entropy coding's saving per stored NeRV weight, in bits (estimate for nerv_bpp)
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
    head = _HEADER.pack(MAGIC, VERSION, CODECS.index(p.codec), FLAG_UPDATE if p.is_update else 0,
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
    if codec_i >= len(CODECS) or flags & ~FLAG_UPDATE or width < 1 or height < 1 or not index_scale > 0:
        raise MalformedPayloadError(f"inconsistent .rinrs header (codec {codec_i}, flags {flags}, "
                                    f"{width}x{height}, index scale {index_scale})")
    arch = _read_arch(r)
    if arch.num_params(height, width) > MAX_SYMBOLS:
        raise MalformedPayloadError(f"the NeRV claims {arch.num_params(height, width)} weights (too many)")
    update = bool(flags & FLAG_UPDATE)
    if update and base is None:
        raise PayloadError("this .rinrs is an update to an earlier payload: merge it into its base with "
                           "rinr_core.sequence.apply_update(base, update) and decode the result")
    payload = SequencePayload(CODECS[codec_i], width, height, arch, index_scale, [], [], first,
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


# --- rendering ------------------------------------------------------------------------------


def _render_backgrounds(payload: SequencePayload, frames: Sequence[SequenceFrame], table: dict[int, NervVersion],
                        device: torch.device) -> list[torch.Tensor]:
    """NeRV renderings ``[H, W, 3]`` of ``frames``, batched per version."""
    out: list[torch.Tensor | None] = [None] * len(frames)
    by_version: dict[int, list[int]] = defaultdict(list)
    for k, f in enumerate(frames):
        by_version[f.version].append(k)
    for version_id, members in by_version.items():
        model = load_quantized(Nerv(payload.arch, payload.height, payload.width).to(device), table[version_id].tensors)
        times = frame_times([frames[k].index for k in members], payload.index_scale, device)
        for k, image in zip(members, render(model, times), strict=True):
            out[k] = image
    return out  # type: ignore[return-value]


def _add_objects(images: list[torch.Tensor], boxes: Sequence[Box], inrs: Sequence[StoredInr | None],
                 device: torch.device, memory_mb: float = 64) -> None:
    """Add every object residual INR to its image inside its box (grouped by architecture)."""
    present = [k for k, inr in enumerate(inrs) if inr is not None]
    add_object_inrs([images[k] for k in present], [boxes[k] for k in present],
                    [inrs[k] for k in present], device, memory_mb=memory_mb)  # type: ignore[misc]


def render_sequence(payload: SequencePayload, indices: Sequence[int] | None = None,
                    device: str | torch.device | None = None, *, base: SequencePayload | None = None
                    ) -> list[torch.Tensor]:
    """Float reconstructions ``[H, W, 3]`` (unclamped) of frames ``indices`` (default: all, in order)."""
    dev = pick_device(device)
    by_index = {f.index: f for f in payload.frames}
    if indices is None:
        chosen = list(payload.frames)
    else:
        missing = [i for i in indices if i not in by_index]
        if missing:
            held = sorted(by_index)
            raise ConfigError(f"frame index(es) {missing} are not in this .rinrs (it holds "
                              f"{held[0] if held else '-'}..{held[-1] if held else '-'}, {len(held)} frames)")
        chosen = [by_index[i] for i in indices]
    table = _version_table(payload, base)
    images = _render_backgrounds(payload, chosen, table, dev)
    _add_objects(images, [f.box for f in chosen], [f.obj for f in chosen], dev)
    return images


def decode_sequence(payload: bytes, indices: Sequence[int] | None = None,
                    device: str | torch.device | None = None) -> list[np.ndarray]:
    """Decode frames of a ``.rinrs`` payload to ``uint8`` HxWx3 images (GPU when present).

    ``indices`` are frame indices as stored (``0..N-1`` for a fresh encode, continuing for
    updates); ``None`` decodes every frame, batched. Raises the payload's :class:`PayloadError`.
    """
    return [to_uint8(img) for img in render_sequence(unpack_sequence(payload), indices, device)]


def frame_boxes(payload: bytes) -> dict[int, Box]:
    """``{frame index: object box}`` of a ``.rinrs`` payload, in stored order (labels for training)."""
    return {f.index: f.box for f in unpack_sequence(payload).frames}


# --- encoding -------------------------------------------------------------------------------


@dataclass
class SequenceSettings:
    """What to encode and how; ``None`` fields take the preset's value.

    Parameters
    ----------
    codec
        ``res-nerv`` (NeRV background + object residual INRs) or ``nerv`` (NeRV only).
    nerv_preset
        Name in :data:`rinr_core.nerv.NERV_PRESETS`.
    arch
        A NeRV architecture to use instead of the preset's (the recipe stays the preset's).
    nerv_bpp
        Size the NeRV from the sequence: the architecture (``arch`` or the preset's) is scaled
        (:func:`rinr_core.nerv.arch_for_weights`) to about ``nerv_bpp`` stored bits per pixel of
        every frame (see :meth:`arch_for`). ``None``: the preset's ``bpp`` (``compact``: 0.3;
        ``fast``, ``paper``: none, the architecture as is).
    epochs, lr, nerv_bits, qat_epochs
        Override the NeRV preset's training recipe and stored bit width.
    update_epochs
        Fine-tuning epochs for new frames (default: half of ``epochs``).
    update_scope
        What fine-tuning for new frames may change: ``stem`` (the MLP from the time to the
        feature map; the convolutions stay, and their unchanged codes cost almost nothing) or
        ``all``. On Crossing at 160x107 (20 new frames after 100), ``stem`` shipped a 25 KB
        NeRV difference for 32.1 dB on the new frames' background, ``all`` 66 KB for 34.4 dB.
    object_preset, object_steps, object_bits
        SIREN preset for the object INR tiers (:mod:`rinr_core.presets`), its step budget for a
        cold object INR (warm-started ones get a quarter) and the stored bit width. The default
        is 10 bits (not QRE's 16): on 100 frames of Crossing at 160x107 with one NeRV, objects
        reached 39.6 dB at 16 bits, 38.7-40.3 dB at 10 bits (two runs) for 14% fewer bytes per
        frame, and 34.9 dB at 8 bits.
    background_db, max_nerv_bpp
        Background PSNR target: when the NeRV is sized in bits per pixel (``nerv_bpp`` or the
        preset's ``bpp``) and some frame's background (outside its box, as stored) falls short,
        the NeRV is fitted again from scratch with 1.6 times the bits per pixel, as long as that
        stays within ``max_nerv_bpp``; the last fit is kept. ``None``: one fit.
    object_arch
        One SIREN shape for every object INR instead of the object preset's tiers by box area.
    object_db
        Object PSNR target: a frame whose decoded object falls short gets its object INR refitted
        (cold) with the next larger of the object preset's tiers, until it reaches the target or
        the tiers run out (then the best try is kept). ``None``: one fit per frame.
    chains
        Object INRs are fitted in this many contiguous runs of the sequence at once (the batch
        size); each frame of a run is warm-started from the previous one.
    warm_start
        Warm-start object INRs along their run (else every one starts cold).
    max_side
        Resize frames so the longer side is at most this many pixels.
    device
        ``cpu``, ``cuda``, ... (default: ``cuda`` when available).
    """

    codec: str = "res-nerv"
    nerv_preset: str = DEFAULT_NERV_PRESET
    arch: NervArch | None = None
    nerv_bpp: float | None = None
    background_db: float | None = None
    max_nerv_bpp: float = 0.8
    epochs: int | None = None
    lr: float | None = None
    nerv_bits: int | None = None
    qat_epochs: int | None = None
    update_epochs: int | None = None
    update_scope: str = "stem"
    object_preset: str = DEFAULT_PRESET
    object_steps: int | None = None
    object_bits: int | None = 10
    object_arch: SirenArch | None = None
    object_db: float | None = None
    chains: int = 8
    warm_start: bool = True
    max_side: int | None = None
    device: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.codec = self.codec.lower()
        if self.codec not in CODECS:
            raise ConfigError(f"unknown sequence codec {self.codec!r}; choose one of {', '.join(CODECS)}")
        if self.update_scope not in UPDATE_SCOPES:
            raise ConfigError(f"unknown update scope {self.update_scope!r}; choose one of {', '.join(UPDATE_SCOPES)}")
        if self.chains < 1:
            raise ConfigError(f"chains must be at least 1, got {self.chains}")
        if self.max_side is not None and self.max_side < 8:
            raise ConfigError(f"max_side must be at least 8 pixels, got {self.max_side}")
        if (self.nerv_bpp is not None and not self.nerv_bpp > 0) or not self.max_nerv_bpp > 0:
            raise ConfigError(f"nerv_bpp and max_nerv_bpp must be positive, got {self.nerv_bpp}, {self.max_nerv_bpp}")
        self.resolve()
        get_preset(self.object_preset)

    def resolve(self) -> NervPreset:
        """The NeRV preset with this call's overrides applied."""
        preset = get_nerv_preset(self.nerv_preset).with_overrides(
            epochs=self.epochs, lr=self.lr, bits=self.nerv_bits, qat_epochs=self.qat_epochs)
        return preset if self.arch is None else replace(preset, arch=self.arch)

    def arch_for(self, frames: int, height: int, width: int, bpp: float | None = None) -> NervArch:
        """The NeRV architecture for ``frames`` frames of ``width x height``: the resolved one,
        scaled to ``bpp`` (default: ``nerv_bpp``, else the preset's ``bpp``) when that is set.

        The weight budget is ``bpp * width * height * frames / (bits - 1.2)``: on 120-frame
        sequences at 160 px, entropy coding stored 8-, 6-, 5- and 4-bit weights in about 6.8-7.1,
        4.8, 3.8 and 2.8 bits.
        """
        preset = self.resolve()
        bpp = bpp if bpp is not None else self.sizing_bpp()
        if bpp is None:
            return preset.arch
        coded_bits = max(preset.training.bits - CODED_BITS_SAVED, 1.0)
        return arch_for_weights(preset.arch, height, width, int(bpp * width * height * frames / coded_bits))

    def sizing_bpp(self) -> float | None:
        """Bits per pixel per frame the NeRV is sized to (``nerv_bpp``, else the preset's), or None."""
        return self.nerv_bpp if self.nerv_bpp is not None else self.resolve().bpp

    def object_codec(self) -> CodecSettings:
        """The image-codec settings the object residual INRs are fitted with (QRE recipe)."""
        return CodecSettings(mode="qre", preset=self.object_preset, steps=self.object_steps,
                             object_bits=self.object_bits, device=self.device, seed=self.seed)


@dataclass
class SequenceResult:
    """An encoded sequence: the payload, the frames as encoded, per-frame metrics, a summary.

    ``background`` is the fitted NeRV with the stored (dequantized) weights; pass it to another
    :func:`encode_sequence` call to reuse it (e.g. to compare ``nerv`` and ``res-nerv``).
    """

    payload: bytes
    frames: list[Frame]
    metrics: list[dict]
    summary: dict = field(default_factory=dict)
    background: Nerv | None = None


@dataclass
class UpdateResult:
    """New frames appended to a sequence: the update to ship, the merged payload, metrics.

    ``storage`` says how the new NeRV version was shipped (``delta`` or ``codes``), with the
    size of both options in ``summary``.
    """

    payload: bytes
    merged: bytes
    frames: list[Frame]
    metrics: list[dict]
    storage: str
    summary: dict = field(default_factory=dict)


def _prepare(frames: Sequence[Frame], max_side: int | None, size: tuple[int, int] | None = None) -> list[Frame]:
    out = [resize_frame(f, max_side) for f in frames]
    if not out:
        raise ConfigError("a sequence needs at least one frame")
    sizes = {(f.width, f.height) for f in out} | ({size} if size else set())
    if len(sizes) != 1:
        raise ConfigError(f"all frames of a sequence must have one size, got {sorted(sizes)}; "
                          f"resize them (max_side) to a common size first")
    return out


def _object_jobs(frames: Sequence[Frame], backgrounds: Sequence[torch.Tensor], positions: Sequence[int],
                 inits: Sequence[SirenParams | None], preset_arch: Callable[[int], SirenArch],
                 device: torch.device) -> list[FitJob]:
    jobs = []
    for k, init in zip(positions, inits, strict=True):
        f, x, y, w, h = frames[k], *frames[k].box
        crop = to_float_tensor(f.image[y : y + h, x : x + w], device).reshape(-1, 3)
        residual = crop - backgrounds[k][y : y + h, x : x + w].reshape(-1, 3)
        q = float(np.float32(max(float(residual.abs().max()), 1.0 / 255)))
        arch = preset_arch(w * h)
        init = init if init is not None and init.arch.key == arch.key else None
        jobs.append(FitJob(arch, grid_coords(h, w, device), residual / q, q, init))
    return jobs


def fit_object_residuals(frames: Sequence[Frame], backgrounds: Sequence[torch.Tensor], settings: SequenceSettings,
                         *, first_init: SirenParams | None = None) -> tuple[list[StoredInr], list[dict]]:
    """Object residual INRs of ``frames`` against float ``backgrounds`` ``[H, W, 3]`` as decoded.

    The frames are split into ``settings.chains`` contiguous runs fitted in lockstep (one
    batch per position); each frame starts from the previous frame's INR of its run when the
    architecture matches (``first_init`` seeds the first run, e.g. the last frame of a base).
    """
    codec = settings.object_codec()
    preset = codec.resolve()
    device = pick_device(settings.device)
    role, mode = ROLE_OBJECT_RESIDUAL, "qre"
    fits: tuple[FitSettings, FitSettings] = (fit_settings_for(preset, role, mode, codec, False),
                                             fit_settings_for(preset, role, mode, codec, True))
    n = len(frames)
    run = -(-n // min(settings.chains, n))
    starts = list(range(0, n, run))
    fitted: list[SirenParams | None] = [None] * n
    stored: list[StoredInr | None] = [None] * n
    extra: list[dict] = [{} for _ in range(n)]
    for p in range(run):
        positions = [s + p for s in starts if s + p < n]
        if p == 0:
            inits = [first_init if s == 0 else None for s in starts]
        else:
            inits = [fitted[k - 1] for k in positions]
        if not settings.warm_start:
            inits = [None] * len(positions)
        arch_of = preset.object_arch if settings.object_arch is None else (lambda _area: settings.object_arch)
        jobs = _object_jobs(frames, backgrounds, positions, inits, arch_of, device)  # type: ignore[arg-type]
        for k, job, (params, steps) in zip(positions, jobs, run_fit_jobs(jobs, *fits, codec.seed + 1), strict=True):
            fitted[k] = params
            stored[k] = store_inr(params, role, fits[0].bits, job.scale)  # type: ignore[arg-type]
            extra[k] = {"steps_object": steps, "warm_object": job.init is not None, "object_refits": 0}
    if settings.object_db is not None:
        _refit_short_objects(frames, backgrounds, stored, extra, settings, fits, device)  # type: ignore[arg-type]
    return stored, extra  # type: ignore[return-value]


def _object_psnrs(frames: Sequence[Frame], backgrounds: Sequence[torch.Tensor], positions: Sequence[int],
                  inrs: Sequence[StoredInr], device: torch.device) -> list[float]:
    """Object PSNR of ``frames[k]`` as decoded: its background plus ``inrs``, rounded to ``uint8``."""
    images = [backgrounds[k].clone() for k in positions]
    _add_objects(images, [frames[k].box for k in positions], inrs, device)
    return [frame_psnrs(frames[k].image, to_uint8(image), frames[k].box)["psnr_object"]
            for k, image in zip(positions, images, strict=True)]


def _refit_short_objects(frames: Sequence[Frame], backgrounds: Sequence[torch.Tensor], stored: list[StoredInr],
                         extra: list[dict], settings: SequenceSettings, fits: tuple[FitSettings, FitSettings],
                         device: torch.device) -> None:
    """Refit objects below ``settings.object_db`` with ever larger tiers (in place); keep the best try."""
    tiers = sorted({arch for _, arch in settings.object_codec().resolve().object_tiers}, key=lambda a: a.num_params)
    positions = list(range(len(frames)))
    best = dict(zip(positions, _object_psnrs(frames, backgrounds, positions, stored, device), strict=True))
    pending = [k for k in positions if best[k] < settings.object_db]  # type: ignore[operator]
    tried = {k: stored[k].arch.num_params for k in pending}
    while pending:
        groups: dict[tuple, tuple[SirenArch, list[int]]] = {}
        for k in pending:
            bigger = [a for a in tiers if a.num_params > tried[k]]
            if bigger:
                groups.setdefault(bigger[0].key, (bigger[0], []))[1].append(k)
                tried[k] = bigger[0].num_params
        pending = []
        for arch, members in groups.values():
            jobs = _object_jobs(frames, backgrounds, members, [None] * len(members), lambda _area, a=arch: a, device)
            fitted = run_fit_jobs(jobs, *fits, settings.seed + 1)
            tries = [store_inr(params, ROLE_OBJECT_RESIDUAL, fits[0].bits, job.scale)
                     for job, (params, _) in zip(jobs, fitted, strict=True)]
            for k, inr, value, (_, steps) in zip(members, tries, _object_psnrs(frames, backgrounds, members, tries,
                                                                                device), fitted, strict=True):
                extra[k]["steps_object"] += steps
                extra[k]["object_refits"] += 1
                if value > best[k]:
                    best[k], stored[k] = value, inr
                if value < settings.object_db:  # type: ignore[operator]
                    pending.append(k)


NERV_GROWTH = 1.6  # bits-per-pixel factor between NeRV fits when the background target is missed


def _background_psnrs(model: Nerv, frames: Sequence[Frame], times: torch.Tensor, bits: int,
                      device: torch.device) -> list[float]:
    """Background PSNR (outside the box) of every frame as the stored NeRV renders it."""
    tensors = quantize_nerv(model, bits)
    stored = _stored_model(model.arch, model.height, model.width, tensors, device)
    return [frame_psnrs(f.image, to_uint8(image), f.box)["psnr_background"]
            for f, image in zip(frames, render(stored, times), strict=True)]


def _fit_background(frames: Sequence[Frame], settings: SequenceSettings, times: torch.Tensor,
                    device: torch.device) -> tuple[Nerv, float, list[float]]:
    """Fit a NeRV to ``frames``, larger while ``settings.background_db`` is missed (see there).

    Returns the kept network, its fit PSNR and the bits per pixel of every fit (empty: not sized).
    """
    training = settings.resolve().training
    height, width = frames[0].height, frames[0].width
    images = np.stack([f.image for f in frames])
    bpp, tries = settings.sizing_bpp(), []
    while True:
        model = build_nerv(settings.arch_for(len(frames), height, width, bpp), height, width, seed=settings.seed,
                           device=device)
        psnr = fit_nerv(model, images, times, training, seed=settings.seed).psnr
        if bpp is None:
            return model, psnr, tries
        tries.append(bpp)
        grown = bpp * NERV_GROWTH
        if settings.background_db is None or grown > settings.max_nerv_bpp * (1 + 1e-9):
            return model, psnr, tries
        psnrs = _background_psnrs(model, frames, times, training.bits, device)
        if min((v for v in psnrs if not math.isnan(v)), default=math.inf) >= settings.background_db:
            return model, psnr, tries  # (NaN: the box covers the whole frame)
        bpp = grown


def _grid(version: NervVersion) -> Grid:
    return [(t.lo, t.step) for t in version.tensors]


def _stored_model(arch: NervArch, height: int, width: int, tensors: Sequence[QuantTensor],
                  device: torch.device) -> Nerv:
    return load_quantized(Nerv(arch, height, width).to(device), tensors)


def _macs_per_pixel(payload: SequencePayload, frame: SequenceFrame) -> float:
    macs = payload.arch.macs_per_pixel(payload.height, payload.width)
    if frame.obj is not None:
        macs += frame.obj.arch.macs_per_sample * frame.box[2] * frame.box[3] / (payload.width * payload.height)
    return macs


def _inr_names(frame: SequenceFrame, bits: int) -> list[str]:
    names = [f"nerv:v{frame.version}@{bits}b"]
    if frame.obj is not None:
        names.append(f"object-residual:{frame.obj.arch}@{frame.obj.bits}b")
    return names


def _measure(data: bytes, frames: Sequence[Frame], device: torch.device, base: SequencePayload | None) -> list[dict]:
    """Per-frame metrics of the frames in ``data``, measured on pixels decoded from it.

    ``bytes`` is the frame's own record plus an equal share of everything else in ``data``.
    """
    parsed = unpack_sequence(data, base)
    table = _version_table(parsed, base)
    decoded = [to_uint8(img) for img in render_sequence(parsed, None, device, base=base)]
    own = [len(_pack_frame(f)) for f in parsed.frames]
    shared = (len(data) - sum(own)) / len(parsed.frames)
    out = []
    for f, sf, image, size in zip(frames, parsed.frames, decoded, own, strict=True):
        amortized = shared + size
        out.append({
            "frame": f.name, "index": sf.index, "mode": parsed.codec, "width": f.width, "height": f.height,
            "bytes": amortized, "bpp": bits_per_pixel(amortized, f.width, f.height),
            **frame_psnrs(f.image, image, f.box),
            "macs_per_pixel": _macs_per_pixel(parsed, sf),
            "inrs": _inr_names(sf, table[sf.version].bits),
        })
    return out


def arch_label(arch: NervArch) -> str:
    """A NeRV architecture in one short line (for summaries and reports)."""
    return (f"stem {2 * arch.pe_levels}->{arch.stem_hidden}->{arch.base_channels} ch, strides "
            f"{','.join(map(str, arch.strides))}, widths {','.join(map(str, arch.widths))}")


def _nerv_summary(version: NervVersion, section: bytes, report_seconds: float, psnr: float) -> dict:
    count = sum(t.codes.size for t in version.tensors)
    return {"nerv_weights": count, "nerv_bytes": len(section),
            "nerv_bits_per_weight": 8.0 * len(section) / count, "nerv_raw_bits_per_weight": float(version.bits),
            "nerv_fit_seconds": report_seconds, "nerv_fit_psnr": psnr}


def encode_sequence(frames: Sequence[Frame], settings: SequenceSettings | None = None, *,
                    background: Nerv | None = None) -> SequenceResult:
    """Encode a video sequence (frames with one box each, one size) to ``.rinrs`` bytes.

    Parameters
    ----------
    frames
        The frames in temporal order; frame ``i`` gets index ``i``.
    settings
        Codec, NeRV preset and recipe, object INR recipe (default :class:`SequenceSettings`).
    background
        An already fitted NeRV for these frames (e.g. ``result.background`` of an earlier call):
        it is quantized and used as is instead of fitting a new one.

    Returns
    -------
    SequenceResult
        ``metrics`` has one dict per frame with the ``.rinr`` metric keys (``bytes`` amortized
        per frame, ``psnr_full``, ``psnr_object``, ``psnr_background``, ``mode``, ``width``,
        ``height``, ``macs_per_pixel``, ...), measured on frames decoded from the payload.
    """
    settings = settings or SequenceSettings()
    preset = settings.resolve()
    device = pick_device(settings.device)
    frames = _prepare(frames, settings.max_side)
    height, width = frames[0].height, frames[0].width
    index_scale = float(np.float32(len(frames)))
    times = frame_times(range(len(frames)), index_scale, device)
    start = time.perf_counter()
    fit_psnr = float("nan")
    bpp_tries: list[float] = []
    if background is None:
        background, fit_psnr, bpp_tries = _fit_background(frames, settings, times, device)
    elif (background.height, background.width) != (height, width):
        raise ConfigError(f"the given NeRV renders {background.width}x{background.height} frames, "
                          f"the sequence has {width}x{height}; fit a new one (background=None)")
    fit_seconds = time.perf_counter() - start
    arch = background.arch
    version = NervVersion(preset.training.bits, quantize_nerv(background, preset.training.bits))
    stored = _stored_model(arch, height, width, version.tensors, device)
    seq_frames = [SequenceFrame(i, 0, f.box) for i, f in enumerate(frames)]
    extra: list[dict] = [{} for _ in frames]
    start = time.perf_counter()
    if settings.codec == "res-nerv":
        objects, extra = fit_object_residuals(frames, list(render(stored, times)), settings)
        for sf, obj in zip(seq_frames, objects, strict=True):
            sf.obj = obj
    object_seconds = time.perf_counter() - start
    payload = SequencePayload(settings.codec, width, height, arch, index_scale, [version], seq_frames)
    data = pack_sequence(payload)
    metrics = _measure(data, frames, device, None)
    for m, e in zip(metrics, extra, strict=True):
        m.update(e)
    summary = {"codec": settings.codec, "nerv_preset": settings.nerv_preset, "frames": len(frames),
               "nerv_arch": arch_label(arch), "nerv_bpp_tries": ",".join(f"{b:.3g}" for b in bpp_tries),
               "total_bytes": len(data), **_nerv_summary(version, encode_tensors(version.tensors), fit_seconds, fit_psnr),
               "object_fit_seconds": object_seconds}
    return SequenceResult(data, frames, metrics, summary, stored)


def _finetune(base: SequencePayload, parent_id: int, frames: Sequence[Frame], indices: Sequence[int],
              settings: SequenceSettings, device: torch.device) -> tuple[NervVersion, NervVersion, dict]:
    """Fine-tune the parent version on new frames; the new version stored both ways, and sizes."""
    parent = base.versions[parent_id - base.first_version]
    preset = settings.resolve()
    training = preset.training
    epochs = settings.update_epochs if settings.update_epochs is not None else max(1, training.epochs // 2)
    training = replace(training, epochs=epochs, bits=parent.bits)
    model = _stored_model(base.arch, base.height, base.width, parent.tensors, device)
    for name, p in model.named_parameters():
        p.requires_grad_(settings.update_scope == "all" or name.startswith("stem."))
    times = frame_times(indices, base.index_scale, device)
    start = time.perf_counter()
    report = fit_nerv(model, np.stack([f.image for f in frames]), times, training, grid=_grid(parent),
                      seed=settings.seed, warmup=False)
    tensors = quantize_nerv(model, parent.bits, grid=_grid(parent))
    as_delta = NervVersion(parent.bits, tensors, parent_id, delta=True)
    as_codes = NervVersion(parent.bits, tensors, parent_id, delta=False)
    sizes = {"delta_bytes": len(version_section(as_delta, parent)),
             "codes_bytes": len(version_section(as_codes, parent)),
             "nerv_fit_seconds": time.perf_counter() - start, "nerv_fit_psnr": report.psnr}
    return as_delta, as_codes, sizes


def update_sequence(base: bytes, frames: Sequence[Frame], settings: SequenceSettings | None = None) -> UpdateResult:
    """Append new frames to an encoded sequence; ship only what changed.

    The latest NeRV version of ``base`` is fine-tuned on the new frames (``settings.update_scope``
    says which layers may change; weights stay on the parent's quantization grid) and becomes
    a new version, shipped as code differences to
    the parent or as plain codes, whichever is smaller; the new frames get object residual
    INRs (``res-nerv``) against it. The codec and NeRV architecture are the base's.

    Returns
    -------
    UpdateResult
        ``payload`` is the update (apply it with :func:`apply_update`), ``merged`` the full
        ``.rinrs`` with every frame; ``metrics`` are those of the new frames.
    """
    settings = settings or SequenceSettings()
    device = pick_device(settings.device)
    parsed = unpack_sequence(base)
    if parsed.is_update:
        raise ConfigError("the base of an update must be a full .rinrs, not another update; merge it first")
    frames = _prepare(frames, settings.max_side, (parsed.width, parsed.height))
    parent_id = parsed.first_version + len(parsed.versions) - 1
    start_index = max(f.index for f in parsed.frames) + 1
    indices = list(range(start_index, start_index + len(frames)))
    as_delta, as_codes, sizes = _finetune(parsed, parent_id, frames, indices, settings, device)
    version = as_delta if sizes["delta_bytes"] < sizes["codes_bytes"] else as_codes
    new_id = parsed.first_version + len(parsed.versions)
    seq_frames = [SequenceFrame(i, new_id, f.box) for i, f in zip(indices, frames, strict=True)]
    extra: list[dict] = [{} for _ in frames]
    if parsed.codec == "res-nerv":
        model = _stored_model(parsed.arch, parsed.height, parsed.width, version.tensors, device)
        last = max(parsed.frames, key=lambda f: f.index).obj
        first_init = None if last is None else stored_to_params([last], device)
        objects, extra = fit_object_residuals(frames, list(render(model, frame_times(indices, parsed.index_scale,
                                                                                      device))),
                                              settings, first_init=first_init)
        for sf, obj in zip(seq_frames, objects, strict=True):
            sf.obj = obj
    update = SequencePayload(parsed.codec, parsed.width, parsed.height, parsed.arch, parsed.index_scale, [version],
                             seq_frames, new_id, payload_crc(base))
    data = pack_sequence(update, parsed)
    metrics = _measure(data, frames, device, parsed)
    for m, e in zip(metrics, extra, strict=True):
        m.update(e)
    storage = "delta" if version.delta else "codes"
    summary = {"frames": len(frames), "update_bytes": len(data), "storage": storage, **sizes}
    return UpdateResult(data, apply_update(base, data), frames, metrics, storage, summary)


def apply_update(base: bytes, update: bytes) -> bytes:
    """Merge an update (from :func:`update_sequence`) into its base ``.rinrs``: a full payload.

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
