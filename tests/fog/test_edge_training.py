"""``edge-training = "forward-gradient"`` in the runtime: the edges train with forward gradients.

A LocalGrid run of 3 nodes and one real ``flwr run`` of 3 with a tiny detector: every
node's train reply says which trainer ran, with what, and its measured peak memory, and the
run report keeps it per node.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fog.launch import LocalSuperLink
from fog.report import load_report

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def fg_config(tiny_config: dict, tiny_detector: str) -> dict:
    """One round of JPEG relay and forward-gradient training (8-bit) of the tiny detector."""
    return {**tiny_config, "num-server-rounds": 1, "frames-per-round": 0, "frames-per-node": 8,
            "val-every": 4, "codec": "jpeg", "train": True, "model": tiny_detector, "epochs": 1,
            "imgsz": 32, "batch": 6, "edge-training": "forward-gradient", "fg-directions": 2,
            "fg-bits": 8, "trainable": "head"}


def _assert_forward_gradient_trained(train: dict, nodes: list[str], bits: int) -> None:
    assert sorted(train) == nodes
    for metrics in train.values():
        assert metrics["trained"] == 1 and metrics["forward_gradient"] == 1
        assert metrics["fg_bits"] == bits and metrics["fg_directions"] == 2
        assert metrics["steps"] >= 1 and metrics["trainable_params"] > 0
        assert metrics["peak_mem_mb"] > metrics["resident_mem_mb"] > 0


def test_edges_train_with_forward_gradients_and_report_memory(fg_config, run_fog) -> None:
    # Execute
    _, report = run_fog(fg_config)

    # Assert
    assert report["summary"]["status"] == "completed", report["summary"]["errors"]
    _assert_forward_gradient_trained(report["rounds"][0]["train"], ["p0", "p1", "p2"], bits=8)


def test_backprop_is_the_default_and_reports_memory_too(fg_config, run_fog) -> None:
    config = {k: v for k, v in fg_config.items() if not k.startswith(("edge-", "fg-"))}
    _, report = run_fog(config)
    assert report["summary"]["status"] == "completed", report["summary"]["errors"]
    for metrics in report["rounds"][0]["train"].values():
        assert metrics["forward_gradient"] == 0 and metrics["peak_mem_mb"] > 0


@pytest.mark.slow
def test_forward_gradients_through_flwr_run(fg_config: dict, tmp_path: Path) -> None:
    # Prepare: a private local SuperLink, 3 nodes, 16-bit forward gradients
    run_dir = tmp_path / "flwr-run"
    overrides = {**fg_config, "min-nodes": 3, "node-wait-s": 60.0, "fg-bits": 16,
                 "run-dir": str(run_dir), "cache-dir": ""}

    # Execute
    with LocalSuperLink(PROJECT_DIR, flwr_home=tmp_path / "flwr", echo=lambda line: None) as link:
        result = link.run(overrides, run_dir, num_nodes=3, timeout=600)

    # Assert
    assert result.ok, (result.status, result.details, result.log_path.read_text()[-3000:])
    report = load_report(run_dir / "report.json")
    assert report["summary"]["status"] == "completed" and report["summary"]["errors"] == []
    _assert_forward_gradient_trained(report["rounds"][0]["train"], ["p0", "p1", "p2"], bits=16)
