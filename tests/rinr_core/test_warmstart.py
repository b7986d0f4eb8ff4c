"""Warm start: motion estimation, shifted networks, and fewer steps to the cold quality."""

import numpy as np
import torch

from rinr_core.codec import CodecSettings, encode_frames
from rinr_core.siren import SirenArch, grid_coords, init_siren, siren_forward
from rinr_core.speed import steps_to_cold_quality
from rinr_core.synthetic import generate_sequence
from rinr_core.warmstart import WarmState, estimate_shift, shift_network


def test_estimate_shift_finds_a_known_translation():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(48, 64, 3)).astype(np.uint8)
    moved = np.roll(base, shift=(3, -5), axis=(0, 1))
    dx, dy = estimate_shift(base, moved)
    assert abs(dx + 5) < 0.3 and abs(dy - 3) < 0.3
    assert estimate_shift(base, base[:40]) == (0, 0)


def test_shift_network_moves_the_rendered_image():
    params = init_siren(SirenArch(3, 16), 1, generator=torch.Generator().manual_seed(0))
    h, w = 20, 30
    coords = grid_coords(h, w)
    before = siren_forward(params, coords).reshape(h, w, 3)
    after = siren_forward(shift_network(params, 4, 2, w, h), coords).reshape(h, w, 3)
    torch.testing.assert_close(after[2:, 4:], before[:-2, :-4], rtol=1e-4, atol=1e-4)


def test_warm_state_is_only_used_for_matching_frames():
    state = WarmState()
    img = np.zeros((16, 24, 3), dtype=np.uint8)
    params = init_siren(SirenArch(2, 8), 1)
    state.remember("a", img, params, None)
    assert state.background_init("a", img, SirenArch(2, 8)) is not None
    assert state.background_init("b", img, SirenArch(2, 8)) is None  # other sequence
    assert state.background_init("a", img, SirenArch(2, 9)) is None  # other architecture
    assert state.background_init("a", img[:8], SirenArch(2, 8)) is None  # other size


def test_warm_encode_marks_frames_and_keeps_quality_with_a_quarter_of_the_steps():
    frames = generate_sequence(3, width=96, height=64, seed=8)
    cold = encode_frames(frames, CodecSettings(mode="qre", steps=200))
    warm = encode_frames(frames, CodecSettings(mode="qre", steps=200, warm_start=True))
    assert [r.metrics["warm_background"] for r in warm] == [False, True, True]
    assert all(r.metrics["steps_background"] == 50 for r in warm[1:])
    cold_bg = np.mean([r.metrics["psnr_background"] for r in cold[1:]])
    warm_bg = np.mean([r.metrics["psnr_background"] for r in warm[1:]])
    assert warm_bg > cold_bg - 1.5


def test_warm_state_carries_across_calls():
    frames = generate_sequence(2, width=40, height=24, seed=6)
    state = WarmState()
    settings = CodecSettings(mode="be", steps=40, warm_start=True)
    first = encode_frames(frames[:1], settings, warm_state=state)
    second = encode_frames(frames[1:], settings, warm_state=state)
    assert not first[0].metrics["warm_background"]
    assert second[0].metrics["warm_background"]


def test_warm_start_reaches_cold_quality_in_a_fraction_of_the_steps():
    frames = generate_sequence(3, width=96, height=64, seed=8)
    result = steps_to_cold_quality(frames, CodecSettings(steps=300))
    assert result["warm_reached"] == 2
    assert result["warm_over_cold_steps"] < 0.35
