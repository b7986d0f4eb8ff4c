"""The NeRV model: the paper's shapes, cropping, fitting, quantization and SSIM."""

import numpy as np
import pytest
import torch

from rinr_core.errors import ConfigError
from rinr_core.nerv import (
    NERV_PRESETS,
    NervArch,
    NervTraining,
    arch_for_weights,
    build_nerv,
    fit_nerv,
    frame_times,
    get_nerv_preset,
    load_quantized,
    positional_encoding,
    quantize_nerv,
    render,
    ssim,
)
from rinr_core.synthetic import generate_sequence

TINY = NervArch(pe_levels=16, stem_hidden=32, base_channels=8, strides=(2, 2, 2), widths=(16, 12, 8))


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return np.stack([f.image for f in generate_sequence(8, width=48, height=32, seed=5)])


def test_paper_preset_has_the_issue_shapes_at_640x360():
    preset = get_nerv_preset("paper")
    arch, training = preset.arch, preset.training
    shapes = arch.tensor_shapes(360, 640)
    assert shapes[0] == (256, 80) and shapes[2] == (2304, 256)  # stem 80 -> 256 -> 2304
    assert arch.base_grid(360, 640) == (9, 16) and arch.base_channels == 16  # 16 x 9 x 16
    assert arch.strides == (5, 2, 2, 2) and set(arch.widths) == {96} and arch.activation == "silu"
    assert (training.l1_weight, training.ssim_weight, training.lr, training.betas) == (0.7, 0.3, 5e-4, (0.5, 0.999))
    assert training.warmup_fraction > 0
    model = build_nerv(arch, 360, 640)
    assert [tuple(p.shape) for p in model.parameters()] == shapes
    assert arch.num_params(360, 640) == sum(p.numel() for p in model.parameters())


def test_output_is_cropped_to_the_frame_and_in_unit_range():
    model = build_nerv(TINY, 30, 45)  # not a multiple of the total stride 8
    with torch.no_grad():
        out = model(frame_times([0, 1, 2], 3))
    assert out.shape == (3, 3, 30, 45)
    assert float(out.min()) > 0 and float(out.max()) < 1


def test_macs_per_pixel_counts_every_layer():
    arch = NervArch(pe_levels=2, stem_hidden=4, base_channels=2, strides=(2,), widths=(3,), kernel=3)
    # stem 4*4 + 4*(2*2*2) ; conv 2x2 px * 2 in * 12 out * 9 ; head 4x4 px * 3 in * 3 out
    expected = (4 * 4 + 4 * 8 + 4 * 2 * 12 * 9 + 16 * 3 * 3) / (4 * 4)
    assert arch.macs_per_pixel(4, 4) == pytest.approx(expected)


def test_positional_encoding_separates_neighbouring_frames():
    pe = positional_encoding(frame_times(range(100), 100), 40, 1.25)
    assert pe.shape == (100, 80)
    nearest = torch.cdist(pe, pe) + torch.eye(100) * 1e9
    assert float(nearest.min()) > 0.5


def test_ssim_is_one_for_identical_images_and_drops_with_noise():
    img = torch.rand(2, 3, 24, 20, generator=torch.Generator().manual_seed(0))
    noisy = (img + 0.2 * torch.randn(img.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert ssim(img, img).tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert float(ssim(img, noisy).max()) < 0.9


def test_fitting_learns_the_frames(frames):
    model = build_nerv(TINY, 32, 48)
    times = frame_times(range(len(frames)), len(frames))
    targets = torch.from_numpy(frames).float() / 255
    before = float(((render(model, times) - targets) ** 2).mean())
    report = fit_nerv(model, frames, times, NervTraining(epochs=30, lr=5e-3, batch_size=4))
    after = float(((render(model, times) - targets) ** 2).mean())
    assert report.steps == 30 * 2
    assert after < before / 3
    assert report.history[-1] < report.history[0]
    assert report.psnr == pytest.approx(-10 * np.log10(after), abs=1.0)


def test_stored_weights_render_close_to_the_float_network(frames):
    model = build_nerv(TINY, 32, 48)
    times = frame_times(range(len(frames)), len(frames))
    fit_nerv(model, frames, times, NervTraining(epochs=10, lr=5e-3, batch_size=4, qat_epochs=2))
    tensors = quantize_nerv(model, 8)
    stored = load_quantized(build_nerv(TINY, 32, 48, seed=9), tensors)
    gap = float((render(stored, times) - render(model, times)).abs().mean())
    assert 0 < gap < 0.01
    assert all(t.bits == 8 and int(t.codes.max()) <= 255 for t in tensors)


def test_quantizing_on_a_fixed_grid_keeps_that_grid_and_clamps():
    model = build_nerv(TINY, 16, 16)
    grid = [(-0.01, 0.0001)] * len(list(model.parameters()))
    tensors = quantize_nerv(model, 8, grid=grid)
    assert all((t.lo, t.step) == (-0.01, 0.0001) for t in tensors)
    assert max(int(t.codes.max()) for t in tensors) == 255  # weights beyond the grid clamp


def test_bad_configurations_are_config_errors():
    with pytest.raises(ConfigError, match="preset"):
        get_nerv_preset("huge")
    with pytest.raises(ConfigError, match="width per stride"):
        NervArch(strides=(2, 2), widths=(8,))
    with pytest.raises(ConfigError, match="activation"):
        NervArch(activation="tanh")
    with pytest.raises(ConfigError, match="epochs"):
        NervTraining(epochs=-1, lr=1e-3)
    with pytest.raises(ConfigError, match="bit width"):
        NervTraining(epochs=1, lr=1e-3, bits=1)
    assert set(NERV_PRESETS) >= {"paper", "fast"}


def test_scaling_an_arch_changes_its_widths_and_fits_a_weight_budget():
    doubled = TINY.scaled(2)
    assert (doubled.stem_hidden, doubled.base_channels, doubled.widths) == (64, 16, (32, 24, 16))
    assert doubled.strides == TINY.strides and doubled.pe_levels == TINY.pe_levels
    for budget in (3_000, 20_000, 80_000):
        arch = arch_for_weights(TINY, 32, 48, budget)
        assert arch.strides == TINY.strides
        assert 0.8 * budget < arch.num_params(32, 48) <= budget
    with pytest.raises(ConfigError, match="fits"):
        arch_for_weights(TINY, 32, 48, 10)


def test_only_the_compact_preset_is_sized_to_the_sequence():
    assert get_nerv_preset("compact").bpp > 0 and get_nerv_preset("compact").training.bits < 8
    assert get_nerv_preset("fast").bpp is None and get_nerv_preset("paper").bpp is None
