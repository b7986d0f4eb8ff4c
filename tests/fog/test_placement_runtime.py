"""Placement in the runtime: ``auto`` decides from the run's own sizes, and the model's bytes
match the bytes the run really moved (within 5%)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.client_app import app as client_app
from fog.local_grid import LocalGrid
from fog.placement import shared_frames_per_device
from fog.report import report_plan_inputs
from fog.server_app import report_path
from fog.simulation import run_inprocess
from rinr_core.errors import ConfigError
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.planning import estimate

TOLERANCE = 0.05
ENVELOPE_JITTER = 100
"""Bytes per node a ledger cell may differ by without a payload (metric values, ids)."""



@pytest.fixture
def training_config(tiny_config: dict, tiny_detector: str) -> dict:
    """One round of ``placement = auto`` with YOLO training on the tiny detector.

    8 frames per node, every 4th held out: 6 frames shared per node and a held-out frame on
    every node in round 1 (a node without one does not train, which the model does not count).
    """
    return {**tiny_config, "num-server-rounds": 1, "frames-per-round": 0, "frames-per-node": 8,
            "val-every": 4, "codec": "jpeg", "placement": "auto", "train": True,
            "model": tiny_detector, "epochs": 1, "imgsz": 32, "batch": 6}


def _run(run_fog, config: dict, nodes: int) -> dict:
    grid = LocalGrid(client_app, nodes, {**config, "min-nodes": nodes})
    _, report = run_fog({**config, "min-nodes": nodes}, grid=grid)
    return report


def _assert_model_matches_the_run(report: dict) -> None:
    """The placement model, fed the sizes the run measured, predicts what the run moved."""
    summary = report["summary"]
    inputs = report_plan_inputs(report)
    assert inputs is not None
    chosen, codec = summary["placement"]["chosen"], summary["codec"]
    predicted = estimate(inputs, codec, chosen)
    for phase, by_direction in summary["bytes_by_phase"].items():
        for direction, measured in by_direction.items():
            allowed = TOLERANCE * measured + ENVELOPE_JITTER * inputs.devices
            assert abs(predicted.ledger[phase][direction] - measured) <= allowed, (phase, direction)
    assert predicted.total_bytes == pytest.approx(summary["total_bytes"], rel=TOLERANCE)
    assert summary["placement"]["predicted_total_bytes"] == round(predicted.total_bytes)
    relay = estimate(inputs, "jpeg", chosen).total_bytes
    assert relay == pytest.approx(summary["jpeg_relay_total_bytes"], rel=TOLERANCE)


def test_auto_trains_at_the_edges_with_few_devices_and_small_frames(training_config, run_fog):
    # Prepare: 3 nodes, 48x32 frames (about 1 kB each)

    # Execute
    report = _run(run_fog, training_config, nodes=3)

    # Assert
    summary = report["summary"]
    placement = summary["placement"]
    assert (placement["requested"], placement["chosen"], placement["round"]) == ("auto", "edge", 1)
    assert placement["reason"].startswith("the placement model chose edge: at 3 device(s)")
    advice = report["placement"]["advice"]
    assert advice["edge"]["total_bytes"] < advice["fog"]["total_bytes"]
    assert summary["delivered_frames"] == 3 * 12
    assert all(m["trained"] == 1 for m in report["rounds"][0]["train"].values())
    assert "evaluate" not in {e["phase"] for e in report["ledger"]}
    markdown = (Path(training_config["run-dir"]) / "report.md").read_text()
    assert "## Placement" in markdown and "Placement edge (requested auto)" in markdown
    _assert_model_matches_the_run(report)


@pytest.mark.parametrize(
    ("nodes", "width", "height"),
    [(6, 160, 96), (3, 320, 192)],
    ids=["many-devices", "big-frames"],
)
def test_auto_trains_at_the_fog_with_many_devices_or_big_frames(training_config, run_fog,
                                                                 nodes, width, height):
    # Prepare: JPEGs at quality 100 (14 kB at 160x96, 47 kB at 320x192)
    config = {**training_config, "frame-width": width, "frame-height": height,
              "jpeg-quality": 100}

    # Execute
    report = _run(run_fog, config, nodes=nodes)

    # Assert
    placement = report["summary"]["placement"]
    assert (placement["requested"], placement["chosen"]) == ("auto", "fog")
    advice = report["placement"]["advice"]
    assert advice["fog"]["total_bytes"] < advice["edge"]["total_bytes"]
    phases = {e["phase"] for e in report["ledger"]}
    assert phases == {"collect", "evaluate"}  # nothing broadcast: only weights went down
    first = report["rounds"][0]
    assert first["train"]["fog"]["num_train"] == nodes * 6
    assert sorted(first["evaluate"]) == [f"p{i}" for i in range(nodes)]
    assert all(f["kind"] == "jpeg" for f in report["frames"].values())  # no INR encoding
    _assert_model_matches_the_run(report)


@pytest.mark.slow
def test_model_bytes_match_a_simulation_run_within_5_percent(tmp_path: Path) -> None:
    # Prepare: a real Flower simulation (Ray), 4 nodes, 2 rounds of new frames, Residual-INR
    overrides = {
        "num-server-rounds": 2, "min-nodes": 4, "frame-width": 64, "frame-height": 48,
        "frames-per-node": 6, "frames-per-round": 3, "val-every": 3, "inr-steps": 5,
        "codec": "residual-inr", "placement": "edge", "train": False,
        "run-dir": str(tmp_path / "run"), "cache-dir": str(tmp_path / "cache"),
        "edge-dir": str(tmp_path / "edge"),
    }

    # Execute
    context = run_inprocess(overrides, num_nodes=4)

    # Assert: the inputs are what the run measured ...
    report = json.loads(report_path(context).read_text())
    assert report["summary"]["status"] == "completed" and report["summary"]["errors"] == []
    inputs = report_plan_inputs(report)
    frames = report["frames"]
    assert (inputs.devices, inputs.frames_per_device, inputs.frames_per_round) == (4, 4.0, 2.0)
    round_one = {fid for ids in report["rounds"][0]["delivered"].values() for fid in ids}
    assert len(round_one) == 4 * 2
    assert inputs.payload("jpeg") == pytest.approx(
        sum(frames[fid]["jpeg_bytes"] for fid in round_one) / len(round_one))
    sizes = [f["bytes"] for f in frames.values()]
    assert min(sizes) == max(sizes) == inputs.payload("residual-inr")  # exact, box tier only
    # ... the configured placement ran, with the model's advice beside it ...
    placement = report["summary"]["placement"]
    assert (placement["requested"], placement["chosen"]) == ("edge", "edge")
    assert placement["reason"].startswith("set in the run config; the placement model would "
                                          "choose fog")  # no training: no weights to send
    # ... and the bytes predicted from the measured sizes are the bytes moved
    _assert_model_matches_the_run(report)


def test_auto_is_a_placement_and_others_are_refused() -> None:
    assert RuntimeConfig.from_run_config({"placement": "auto"}).placement == "auto"
    with pytest.raises(ConfigError, match="placement: edge\\|fog\\|auto"):
        RuntimeConfig.from_run_config({"placement": "cloud"})


def test_frames_per_device_counts_the_frames_captured_by_the_last_round() -> None:
    # Prepare
    spread = RuntimeConfig.from_run_config(
        {"frames-per-node": 12, "frames-per-round": 4, "val-every": 5, "num-server-rounds": 2})
    at_once = RuntimeConfig.from_run_config({"frames-per-round": 0})

    # Execute / Assert: 8 frames captured by round 2, one of them held out
    assert shared_frames_per_device(spread, round_one=4.0) == 7.0
    assert shared_frames_per_device(at_once, round_one=9.5) == 9.5
