"""``bench/accuracy.py``: held-out frames never trained on, spread and parity from real numbers."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import accuracy  # noqa: E402
from paper_sweep import bytes_at_parity  # noqa: E402

from rinr_core.errors import ConfigError  # noqa: E402


def test_split_holds_out_forty_camera_jpegs_never_trained_on(seq_dir: Callable[[str], Path]) -> None:
    # Prepare: the minimum, 40 held-out frames of a real sequence, small frames
    seq_dir("vot_bag")
    config = accuracy.AccuracyConfig(sequences=("vot_bag",), max_side=64)

    # Execute
    split = accuracy.split_sequence("vot_bag", config)

    # Assert: 40 + 40 distinct frames spread over the whole sequence, none in both splits
    assert len(split.train) == 40 and len(split.val) == 40
    assert not {f.name for f in split.train} & {f.name for f in split.val}
    names = sorted(f.name for f in split.train + split.val)
    assert names[0] <= "00000002.jpg" and names[-1] >= "00000150.jpg"
    assert split.size == (64, 48) and all(b > 0 for b in split.jpeg_bytes)


def _runs(setting: str, map50_95: list[float], reference: bool = False) -> list[dict]:
    keys = [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    return [{"sequence": s, "seed": seed, "setting": setting, "reference": reference,
             "map50": m + 0.3, "map50_95": m, "train_s": 10.0}
            for (s, seed), m in zip(keys, map50_95, strict=True)]


def test_spread_pairs_each_run_with_its_jpeg_run_and_parity_picks_the_smallest() -> None:
    # Prepare: a JPEG reference, a small codec setting 3 points below it, a larger one at parity
    settings = [accuracy.CodecSetting("jpeg", label="JPEG"), accuracy.CodecSetting("qre"),
                accuracy.CodecSetting("qre", {"background_bits": 4}, "qre small")]
    runs = (_runs("JPEG", [0.50, 0.60, 0.40, 0.50], reference=True)
            + _runs("qre", [0.50, 0.61, 0.39, 0.50])
            + _runs("qre small", [0.47, 0.57, 0.37, 0.47]))
    encodes = [{"sequence": s, "setting": name, "bytes_per_frame": size, "psnr_full": None}
               for s in "ab" for name, size in (("JPEG", 1000.0), ("qre", 3000.0),
                                                ("qre small", 1500.0))]

    # Execute
    summary = accuracy.summarize(runs, encodes, settings)
    parity = {p["codec"]: p for p in bytes_at_parity(summary)}

    # Assert: paired differences in points, sample std, and the smallest setting at parity
    by_name = {s["setting"]: s for s in summary}
    assert by_name["qre"]["delta_map50_95"]["mean"] == pytest.approx(0.0)
    assert by_name["qre"]["delta_map50_95"]["std"] == pytest.approx(0.8165, abs=1e-3)
    assert by_name["qre small"]["delta_map50_95"]["mean"] == pytest.approx(-3.0)
    assert by_name["JPEG"]["map50_95"]["min"] == 0.40 and by_name["JPEG"]["map50_95"]["n"] == 4
    assert parity["qre"]["setting"] == "qre" and parity["qre"]["bytes_per_frame"] == 3000.0
    assert not by_name["qre small"]["within_target"] and by_name["qre"]["within_target"]


def test_codec_options_are_checked_by_name() -> None:
    assert accuracy.parse_settings("jpeg,qre:background_bits=6")[1].options == {"background_bits": 6}
    # a bare default row keeps its options: the grid stream at its targets and its own steps
    grid = accuracy.parse_settings("jpeg,grid-stream")[1]
    assert grid == accuracy.GRID_STREAM and grid.options["target_object_db"] == 35.0
    assert accuracy.codec_options(grid, accuracy.FULL).steps == 1200
    assert accuracy.codec_options(accuracy.parse_settings("qre")[0], accuracy.FULL).steps == 150
    with pytest.raises(ConfigError, match="CodecOptions"):
        accuracy.parse_settings("qre:bits=6")
