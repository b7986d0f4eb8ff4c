"""Batched SIREN fitting: batching and padding do not change results; early stop works."""

import torch

from rinr_core.fitting import FitSettings, fit_sirens
from rinr_core.siren import SirenArch, grid_coords, init_siren


def _targets(batch: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(-1, 1, n)
    freq = torch.rand(batch, 1, 3, generator=g) * 3 + 1
    return torch.sin(freq * x[None, :, None] * 3.0) * 0.8


def test_fitting_reduces_error():
    arch = SirenArch(2, 16)
    coords = grid_coords(8, 8)
    target = _targets(1, 64)
    init = init_siren(arch, 1, generator=torch.Generator().manual_seed(0))  # seeded: not flaky
    report = fit_sirens(init, coords, target, FitSettings(steps=150, lr=1e-3))
    start = fit_sirens(init, coords, target, FitSettings(steps=0, lr=1e-3))
    assert report.psnr[0] > start.psnr[0] + 8  # about +10 dB for every seed tried


def test_batched_fit_matches_separate_fits():
    arch = SirenArch(2, 12)
    coords = grid_coords(6, 6)
    targets = _targets(3, 36)
    init = init_siren(arch, 3, generator=torch.Generator().manual_seed(1))
    settings = FitSettings(steps=60, lr=1e-3)
    together = fit_sirens(init, coords, targets, settings)
    for i in range(3):
        alone = fit_sirens(init.select(i), coords, targets[i : i + 1], settings)
        for a, b in zip(alone.params.tensors(), together.params.select(i).tensors(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_padding_with_mask_does_not_change_the_fit():
    arch = SirenArch(2, 10)
    coords = grid_coords(5, 5)
    target = _targets(1, 25)
    init = init_siren(arch, 1, generator=torch.Generator().manual_seed(2))
    settings = FitSettings(steps=40, lr=1e-3)
    plain = fit_sirens(init, coords, target, settings)
    padded_coords = torch.cat([coords, torch.full((7, 2), 0.3)])[None]
    padded_target = torch.cat([target, torch.full((1, 7, 3), 5.0)], dim=1)
    mask = torch.tensor([[True] * 25 + [False] * 7])
    padded = fit_sirens(init, padded_coords, padded_target, settings, mask=mask)
    for a, b in zip(plain.params.tensors(), padded.params.tensors(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_target_psnr_stops_each_network_early_and_freezes_it():
    arch = SirenArch(2, 16)
    coords = grid_coords(8, 8)
    easy = torch.full((1, 64, 3), 0.2)
    hard = _targets(1, 64, seed=3)
    targets = torch.cat([easy, hard])
    settings = FitSettings(steps=300, lr=1e-3, target_psnr=30.0, check_every=5)
    report = fit_sirens(init_siren(arch, 2), coords, targets, settings)
    assert report.steps_run[0] < report.steps_run[1] <= 300
    assert report.steps_run[0] < 300
    assert report.psnr[0] >= 30.0 - 0.5


def test_quantization_aware_phase_improves_8bit_quality():
    arch = SirenArch(3, 24)
    coords = grid_coords(12, 12)
    target = _targets(1, 144, seed=4)
    init = init_siren(arch, 1, generator=torch.Generator().manual_seed(5))
    base = FitSettings(steps=200, lr=1e-3, bits=4)
    without = fit_sirens(init, coords, target, base)
    with_qat = fit_sirens(init, coords, target, FitSettings(steps=200, lr=1e-3, bits=4, qat_steps=60))
    # `psnr` is of stored (rounded) weights when QAT ran; measure the float-fit ones after rounding
    from rinr_core.quantize import fake_quantize
    from rinr_core.siren import siren_forward

    rounded = [(fake_quantize(w, 4), fake_quantize(b, 4)) for w, b in without.params.layers]
    mse = ((siren_forward(without.params, coords, rounded) - target) ** 2).mean()
    psnr_without = float(-10 * torch.log10(mse))
    assert with_qat.psnr[0] > psnr_without + 1.0
