"""SIREN shapes and batching; quantization error bounds and bit packing."""

import numpy as np
import pytest
import torch

from rinr_core.errors import ConfigError
from rinr_core.quantize import fake_quantize, pack_bits, packed_size, quantize_tensor, unpack_bits
from rinr_core.siren import SirenArch, SirenParams, grid_coords, init_siren, siren_forward


def test_paper_background_costs_about_7200_macs_per_pixel():
    arch = SirenArch(10, 28)
    assert arch.macs_per_sample == 2 * 28 + 9 * 28 * 28 + 28 * 3 == 7196
    assert arch.num_params == sum(o * i + o for o, i in arch.layer_shapes)


def test_batched_forward_equals_one_by_one():
    arch = SirenArch(3, 16)
    params = init_siren(arch, 4, generator=torch.Generator().manual_seed(0))
    coords = grid_coords(8, 12)
    batched = siren_forward(params, coords)
    singles = torch.cat([siren_forward(params.select(i), coords) for i in range(4)])
    assert batched.shape == (4, 96, 3)
    torch.testing.assert_close(batched, singles)


def test_cat_rejects_mixed_architectures():
    a, b = init_siren(SirenArch(2, 8), 1), init_siren(SirenArch(2, 9), 1)
    with pytest.raises(ConfigError):
        SirenParams.cat([a, b])


def test_grid_coords_are_pixel_centres_in_unit_square():
    c = grid_coords(2, 4)
    assert c.shape == (8, 2)
    assert torch.allclose(c[0], torch.tensor([-0.75, -0.5]))
    assert torch.allclose(c[-1], torch.tensor([0.75, 0.5]))


@pytest.mark.parametrize("bits", [2, 5, 8, 11, 16])
def test_quantization_error_is_at_most_half_a_step(bits):
    t = torch.randn(37, 19) * 0.3
    q = quantize_tensor(t, bits)
    err = np.abs(q.dequantize() - t.numpy())
    assert err.max() <= q.step / 2 + 1e-6
    assert q.codes.max() < 2**bits
    assert q.step == pytest.approx((t.max() - t.min()).item() / (2**bits - 1), rel=1e-5)


def test_fake_quantize_matches_real_quantization_and_passes_gradient():
    t = (torch.randn(1, 10, 6) * 0.2).requires_grad_(True)
    fq = fake_quantize(t, 8)
    real = quantize_tensor(t[0].detach(), 8).dequantize()
    np.testing.assert_allclose(fq[0].detach().numpy(), real, atol=1e-6)
    fq.sum().backward()
    assert torch.all(t.grad == 1)


@pytest.mark.parametrize("bits", [3, 7, 8, 12, 16])
def test_pack_unpack_round_trip(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 2**bits, size=101, dtype=np.uint32)
    data = pack_bits(codes, bits)
    assert len(data) == packed_size(101, bits)
    np.testing.assert_array_equal(unpack_bits(data, 101, bits), codes)


def test_invalid_bit_width_is_a_config_error():
    with pytest.raises(ConfigError, match="bit width"):
        quantize_tensor(torch.zeros(3), 1)
    with pytest.raises(ConfigError, match="bit width"):
        pack_bits(np.zeros(3, dtype=np.uint32), 17)
