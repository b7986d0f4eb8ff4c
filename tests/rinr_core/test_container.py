"""The .rinr container: exact round trips and a specific error for every kind of damage."""

import struct

import numpy as np
import pytest
import torch

from rinr_core.container import (
    MAGIC,
    ROLE_FRAME,
    ROLE_OBJECT_RESIDUAL,
    RinrPayload,
    StoredInr,
    pack,
    unpack,
)
from rinr_core.errors import (
    ChecksumMismatchError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.quantize import quantize_tensor
from rinr_core.siren import SirenArch, init_siren


def _stored(arch: SirenArch, role: int, bits: int, scale: float = 1.0) -> StoredInr:
    params = init_siren(arch, 1, generator=torch.Generator().manual_seed(bits))
    return StoredInr(role, arch, bits, scale, [quantize_tensor(t[0], bits) for t in params.tensors()])


@pytest.fixture
def payload_bytes() -> bytes:
    payload = RinrPayload("qre", 40, 30, (5, 6, 10, 8),
                          [_stored(SirenArch(3, 12), ROLE_FRAME, 8), _stored(SirenArch(2, 6), ROLE_OBJECT_RESIDUAL, 16, 0.25)])
    return pack(payload)


def test_round_trip_is_exact(payload_bytes):
    parsed = unpack(payload_bytes)
    assert (parsed.mode, parsed.width, parsed.height, parsed.box) == ("qre", 40, 30, (5, 6, 10, 8))
    assert [i.bits for i in parsed.inrs] == [8, 16]
    assert parsed.inrs[1].scale == pytest.approx(0.25)
    assert pack(parsed) == payload_bytes


def test_size_is_header_plus_packed_weights(payload_bytes):
    arch_bg, arch_obj = SirenArch(3, 12), SirenArch(2, 6)
    weights = arch_bg.num_params + 2 * arch_obj.num_params  # 8-bit + 16-bit
    overhead = len(payload_bytes) - weights
    assert 0 < overhead < 200  # header, per-tensor ranges, checksum


@pytest.mark.parametrize("cut", [0, 3, 10, 30, -40, -5, -1])
def test_truncated_payload_raises_truncated(payload_bytes, cut):
    with pytest.raises(TruncatedPayloadError):
        unpack(payload_bytes[:cut] if cut else b"")


def test_every_single_bit_flip_is_detected(payload_bytes):
    rng = np.random.default_rng(0)
    positions = rng.choice(len(payload_bytes) * 8, size=300, replace=False)
    for pos in positions:
        damaged = bytearray(payload_bytes)
        damaged[pos // 8] ^= 1 << (pos % 8)
        with pytest.raises(PayloadError):
            unpack(bytes(damaged))


def test_flipped_weight_byte_is_a_checksum_mismatch(payload_bytes):
    damaged = bytearray(payload_bytes)
    damaged[len(damaged) // 2] ^= 0x40
    with pytest.raises(ChecksumMismatchError, match="corrupted or tampered"):
        unpack(bytes(damaged))


def test_future_version_is_refused_with_advice(payload_bytes):
    damaged = bytearray(payload_bytes)
    damaged[len(MAGIC)] = 9
    with pytest.raises(UnsupportedVersionError, match="version 9"):
        unpack(bytes(damaged))


def test_foreign_bytes_are_not_a_rinr_file():
    with pytest.raises(NotARinrFileError):
        unpack(b"\xff\xd8\xff\xe0" + b"\x00" * 64)


def test_trailing_garbage_is_refused(payload_bytes):
    with pytest.raises(PayloadError):
        unpack(payload_bytes + struct.pack("<I", 7))
