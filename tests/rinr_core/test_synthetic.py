"""Tests for rinr_core.synthetic: determinism, exact boxes, variety, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rinr_core.errors import ConfigError
from rinr_core.synthetic import (
    OPTICS_SIGMA,
    _background,
    _lens_blur,
    _make_scene,
    generate_partition,
    generate_sequence,
    partition_seed,
)


def test_same_seed_same_frames_and_prefix_property() -> None:
    # Execute
    a = generate_sequence(12, seed=5)
    b = generate_sequence(12, seed=5)
    shorter = generate_sequence(4, seed=5)

    # Assert
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
        assert x.box == y.box and x.name == y.name
    for x, y in zip(a[:4], shorter, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
    assert a[3].name == "syn5_0003" and a[3].meta == {"index": 3, "seed": 5}


def test_frames_have_requested_size_label_and_plausible_object_area() -> None:
    # Execute
    frames = generate_sequence(60, width=120, height=80, seed=2, label="drone")

    # Assert
    assert all(f.image.shape == (80, 120, 3) and f.image.dtype == np.uint8 for f in frames)
    assert {f.label for f in frames} == {"drone"}
    areas = [f.box[2] * f.box[3] / (120 * 80) for f in frames]
    assert 0.015 <= min(areas) and max(areas) <= 0.11


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_box_is_the_exact_object_bounding_box(seed: int) -> None:
    # Prepare: the noiseless background the generator drew the object on, through the lens
    width, height, index = 160, 96, 7
    frame = generate_sequence(index + 1, width=width, height=height, seed=seed)[index]
    background = _lens_blur(_background(_make_scene(seed, width, height), index), OPTICS_SIGMA)
    diff = np.abs(frame.image.astype(float) - background).max(axis=2)
    x, y, w, h = frame.box

    # Execute: where the frame departs from the background by more than sensor noise
    changed = diff > 12

    # Assert: no change outside the box but the lens blur's one-pixel halo, a change on each
    # of the box's four edges, and the object clearly differs from the background inside it
    outside = changed.copy()
    outside[max(0, y - 1) : y + h + 1, max(0, x - 1) : x + w + 1] = False
    assert not outside.any()
    assert changed[y, x : x + w].any() and changed[y + h - 1, x : x + w].any()
    assert changed[y : y + h, x].any() and changed[y : y + h, x + w - 1].any()
    assert changed[y : y + h, x : x + w].mean() > 0.5


def test_object_moves_smoothly_and_changes_size() -> None:
    # Execute
    frames = generate_sequence(100, seed=9)

    # Assert: small steps between frames, but real motion and size change overall
    centres = np.array([(x + w / 2, y + h / 2) for x, y, w, h in (f.box for f in frames)])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    areas = np.array([f.box[2] * f.box[3] for f in frames])
    assert steps.max() < 8
    assert np.ptp(centres[:, 0]) > 15 or np.ptp(centres[:, 1]) > 10
    assert areas.max() > 1.2 * areas.min()


def test_background_pans_and_is_not_flat() -> None:
    # Prepare
    scene = _make_scene(4, 160, 96)

    # Execute
    first, later = _background(scene, 0), _background(scene, 30)

    # Assert: textured (not a flat gradient) and it changes as the camera pans
    assert np.abs(np.diff(first, axis=1)).mean() > 0.5
    assert np.abs(first - later).mean() > 1.0


def test_different_seeds_give_different_scenes() -> None:
    # Execute
    firsts = [generate_sequence(1, seed=s)[0] for s in range(4)]

    # Assert: mean colours and boxes differ between every pair
    for i in range(4):
        for j in range(i + 1, 4):
            a, b = firsts[i], firsts[j]
            assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 10
            assert a.box != b.box


def test_partitions_get_their_own_scenes() -> None:
    # Execute
    node0 = generate_partition(0, 2, width=64, height=48)
    node1 = generate_partition(1, 2, width=64, height=48)
    node0_again = generate_partition(0, 2, width=64, height=48)
    node0_other_run = generate_partition(0, 2, width=64, height=48, seed=1)

    # Assert
    np.testing.assert_array_equal(node0[0].image, node0_again[0].image)
    assert not np.array_equal(node0[0].image, node1[0].image)
    assert not np.array_equal(node0[0].image, node0_other_run[0].image)
    assert node0[0].name == f"syn{partition_seed(0)}_0000"


def test_invalid_arguments_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        generate_sequence(-1)
    with pytest.raises(ConfigError):
        generate_sequence(2, width=8)
    with pytest.raises(ConfigError):
        generate_partition(-1, 2)
    assert generate_sequence(0) == []


def test_small_frames_still_hold_a_valid_object() -> None:
    frames = generate_sequence(20, width=16, height=16, seed=3)
    assert all(f.box[2] >= 1 and f.box[3] >= 1 for f in frames)


def test_generation_is_fast() -> None:
    # Execute
    start = time.perf_counter()
    generate_sequence(100)
    elapsed = time.perf_counter() - start

    # Assert: generous bound for a busy shared CPU (about 0.3 s when idle)
    assert elapsed < 3.0
