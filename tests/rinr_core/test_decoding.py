"""Grouped decoding: same pixels as one by one, original order, mixed architectures and sizes."""

import numpy as np
import pytest

from rinr_core.codec import CodecSettings, encode_frames
from rinr_core.decoding import decode, decode_many
from rinr_core.errors import ChecksumMismatchError
from rinr_core.synthetic import generate_sequence


@pytest.fixture(scope="module")
def payloads() -> list[bytes]:
    small = generate_sequence(5, width=48, height=32, seed=1)
    large = generate_sequence(4, width=64, height=40, seed=2)
    qre = encode_frames(small + large, CodecSettings(mode="qre", steps=15, device="cpu"))
    bs = encode_frames(small[:2], CodecSettings(mode="bs", steps=15, device="cpu"))
    de = encode_frames(large[:2], CodecSettings(mode="de", steps=15, device="cpu"))
    mixed = [r.payload for r in qre + bs + de]
    return mixed[::2] + mixed[1::2]  # interleave sizes, modes and architectures


@pytest.mark.parametrize("memory_mb", [None, 0.05, 64])
def test_grouped_decode_equals_one_by_one(payloads, memory_mb):
    grouped = decode_many(payloads, "cpu", memory_mb=memory_mb)
    for payload, image in zip(payloads, grouped, strict=True):
        np.testing.assert_array_equal(image, decode(payload, "cpu"))


def test_grouped_decode_keeps_input_order_and_shapes(payloads):
    images = decode_many(payloads, "cpu")
    assert len(images) == len(payloads)
    assert {im.shape for im in images} == {(32, 48, 3), (40, 64, 3)}
    assert all(im.dtype == np.uint8 for im in images)


def test_a_broken_payload_in_a_group_is_reported(payloads):
    broken = bytearray(payloads[3])
    broken[40] ^= 0xFF
    with pytest.raises(ChecksumMismatchError):
        decode_many([*payloads[:3], bytes(broken)])


def test_cuda_grouped_decode_agrees_with_the_cpu_within_one_level(payloads, cuda_device):
    # float32 on both, TF32 off: the GPU's sums differ from the CPU's only by rounding order,
    # so a pixel may land one 8-bit level apart, no more
    on_gpu = decode_many(payloads, cuda_device)
    for payload, image in zip(payloads, on_gpu, strict=True):
        diff = np.abs(image.astype(int) - decode(payload, "cpu").astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    for payload, image in zip(payloads, on_gpu, strict=True):
        np.testing.assert_array_equal(image, decode(payload, cuda_device))  # grouped == single
