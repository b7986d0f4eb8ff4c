"""`make demo` pieces that run without a simulation: settings, overrides, the comparison table."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from fog.demo import (
    DEMO_CONFIG,
    build_overrides,
    check_targets,
    compare,
    echo_progress,
    format_targets,
)
from rinr_runtime.config import DEFAULTS, RuntimeConfig


def _args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"nodes": 3, "rounds": 2, "set": [], **values})


def test_demo_overrides_are_valid_run_config(tmp_path: Path) -> None:
    # Execute
    overrides = build_overrides(_args(set=["epochs=1", 'data=""', "train=false"]), "jpeg",
                                tmp_path / "run")

    # Assert
    assert set(overrides) <= set(DEFAULTS) and set(DEMO_CONFIG) <= set(overrides)
    config = RuntimeConfig.from_run_config(overrides)
    assert (config.codec, config.epochs, config.train, config.min_nodes) == ("jpeg", 1, False, 3)
    assert Path(config.run_dir) == tmp_path / "run" and Path(config.cache_dir).is_absolute()


def test_unknown_set_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--set"):
        build_overrides(_args(set=["rounds=3"]), "jpeg", tmp_path)


def test_compare_lists_each_codec(tmp_path: Path) -> None:
    # Prepare
    def summary(total: int, psnr: float | None, map50: float) -> dict:
        return {"summary": {
            "total_bytes": total, "bytes_by_phase": {"broadcast": {"down": total // 2, "up": 0}},
            "mean_psnr": {"psnr_object": psnr, "psnr_background": psnr},
            "map": {"p0": {"1": {"map50": 0.0}, "2": {"map50": map50}}}, "global_map": {}}}

    # Execute
    table = compare({"residual-inr": summary(100_000, 30.5, 0.25),
                     "jpeg": summary(400_000, None, 0.5)})

    # Assert
    rows = table.splitlines()
    assert rows[1].split() == ["residual-inr", "100.00", "kB", "50.00", "kB", "30.5/30.5", "0.250"]
    assert rows[2].split()[-2:] == ["lossless", "0.500"]


def test_progress_lines_lose_colours_and_ray_prefixes(capsys) -> None:
    echo_progress("\x1b[36m(ClientAppActor pid=1)\x1b[0m \x1b[92mINFO \x1b[0m: [rinr] p0 round 1: x\n")
    assert capsys.readouterr().out == "  [rinr] p0 round 1: x\n"


def _report(total: int, obj: float | None, bg: float | None, finals: dict[str, float],
            estimate: float | None = None) -> dict:
    return {"summary": {
        "total_bytes": total, "total_ratio_vs_jpeg": estimate,
        "mean_psnr": {"psnr_object": obj, "psnr_background": bg},
        "map": {n: {"1": {"map50": 0.0}, "2": {"map50": v}} for n, v in finals.items()},
        "global_map": {}}}


def test_targets_compare_the_relay_run_with_the_codec_run() -> None:
    codec = _report(100_000, 35.4, 30.2, {"p0": 0.5, "p1": 0.31})
    relay = _report(250_000, None, None, {"p0": 0.6, "p1": 0.6})

    rows = check_targets(codec, relay)

    assert [met for _, _, met in rows] == [True, True, True, True]
    assert rows[0][1].startswith("2.50x (JPEG relay run")
    lines = format_targets(rows).splitlines()
    assert len(lines) == 4 and all(line.endswith("met") for line in lines)


def test_a_target_missed_on_one_node_is_missed() -> None:
    codec = _report(100_000, 34.9, 31.0, {"p0": 0.9, "p1": 0.29}, estimate=1.5)

    rows = check_targets(codec, None)  # no relay run: the codec run's own estimate

    assert [met for _, _, met in rows] == [False, False, True, False]
    assert "estimated" in rows[0][1]
    assert format_targets(rows).count("MISSED") == 3
