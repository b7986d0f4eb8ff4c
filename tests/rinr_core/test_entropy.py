"""Entropy coding of quantized weights: exact round trips, real savings, damage detected."""

import numpy as np
import pytest
import torch

from rinr_core.entropy import (
    GAUSSIAN,
    LAPLACE,
    code_range,
    coding_stats,
    decode_blocks,
    delta_range,
    encode_blocks,
    encode_tensors,
    model_table,
)
from rinr_core.errors import ConfigError, MalformedPayloadError
from rinr_core.quantize import packed_size, quantize_tensor


def _laplace_codes(n: int, bits: int, scale: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = 2 ** (bits - 1)
    return np.clip(np.round(rng.laplace(centre, scale, n)), 0, 2**bits - 1).astype(np.int64)


@pytest.mark.parametrize("bits", [4, 8, 12, 16])
def test_round_trip_is_exact_for_every_kind_of_block(bits):
    rng = np.random.default_rng(bits)
    low, high = code_range(bits)
    blocks = [
        _laplace_codes(3000, bits, 2 ** (bits - 4)),  # peaked: a parametric model
        rng.integers(low, high + 1, 500),  # uniform: stored raw
        np.full(40, high),  # constant, at the edge of the range
        np.zeros(0, dtype=np.int64),  # empty tensor
        np.round(rng.normal(high / 3, high / 20, 777)).astype(np.int64).clip(low, high),
    ]
    section = encode_blocks(blocks, low, high)
    decoded = decode_blocks(section, [b.size for b in blocks], low, high)
    for got, want in zip(decoded, blocks, strict=True):
        np.testing.assert_array_equal(got, want)


def test_signed_differences_round_trip_and_cost_little_when_mostly_zero():
    rng = np.random.default_rng(1)
    delta = np.round(rng.laplace(0, 0.6, 20000)).astype(np.int64)
    delta[rng.random(delta.size) < 0.5] = 0
    low, high = delta_range(8)
    section = encode_blocks([delta], low, high)
    np.testing.assert_array_equal(decode_blocks(section, [delta.size], low, high)[0], delta)
    assert 8 * len(section) / delta.size < 2.0  # vs 9 bits raw


def test_peaked_weights_cost_clearly_fewer_bits_than_packing():
    codes = _laplace_codes(50000, 8, 6.0)
    stats = coding_stats(encode_blocks([codes], *code_range(8)), [codes.size], 8)
    assert stats.raw_bytes == packed_size(codes.size, 8)
    assert stats.bits_per_symbol < 5.5 < stats.raw_bits_per_symbol


def test_uniform_codes_are_never_much_larger_than_packing():
    codes = np.random.default_rng(2).integers(0, 256, 10000)
    section = encode_blocks([codes, codes[:10]], *code_range(8))
    assert len(section) <= packed_size(10010, 8) + 2 + 4  # method bytes + empty word count


def test_quantized_tensors_round_trip_through_encode_tensors():
    gen = torch.Generator().manual_seed(0)
    tensors = [quantize_tensor(torch.randn(64, 32, generator=gen), 8), quantize_tensor(torch.randn(64, generator=gen), 8)]
    section = encode_tensors(tensors)
    decoded = decode_blocks(section, [t.codes.size for t in tensors], *code_range(8))
    for got, t in zip(decoded, tensors, strict=True):
        np.testing.assert_array_equal(got, t.codes)
    assert len(section) < packed_size(64 * 33, 8)  # Gaussian weights compress


def test_tables_follow_the_model_and_use_no_transcendental_functions_at_decode():
    ratio = 0.8
    lap = model_table(LAPLACE, 5, ratio, 0, 15)
    gau = model_table(GAUSSIAN, 5, ratio, 0, 15)
    k = np.arange(16)
    np.testing.assert_allclose(lap, ratio ** np.abs(k - 5), rtol=1e-12)
    np.testing.assert_allclose(gau, ratio ** ((k - 5) ** 2), rtol=1e-12)


def test_symbols_outside_the_range_are_rejected():
    with pytest.raises(ConfigError, match="outside"):
        encode_blocks([np.array([0, 256])], *code_range(8))
    with pytest.raises(ConfigError, match="low < high"):
        encode_blocks([np.array([0])], 3, 3)
    with pytest.raises(ConfigError, match="bit width"):
        encode_tensors([quantize_tensor(torch.ones(3), 8), quantize_tensor(torch.ones(3), 16)])


@pytest.fixture
def section() -> tuple[bytes, list[int]]:
    blocks = [_laplace_codes(2000, 8, 4.0), np.random.default_rng(3).integers(0, 256, 100)]
    return encode_blocks(blocks, *code_range(8)), [b.size for b in blocks]


@pytest.mark.parametrize("cut", [1, 5, 20, -1])
def test_short_section_is_malformed(section, cut):
    data, sizes = section
    with pytest.raises(MalformedPayloadError):
        decode_blocks(data[:cut], sizes, *code_range(8))


def test_extra_bytes_wrong_sizes_and_unknown_method_are_malformed(section):
    data, sizes = section
    with pytest.raises(MalformedPayloadError, match="unexpected bytes"):
        decode_blocks(data + b"\0", sizes, *code_range(8))
    with pytest.raises(MalformedPayloadError):
        decode_blocks(data, [sizes[0] - 7, sizes[1]], *code_range(8))
    with pytest.raises(MalformedPayloadError, match="method"):
        decode_blocks(bytes([9]) + data[1:], sizes, *code_range(8))
