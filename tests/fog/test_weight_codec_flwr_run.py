"""``aggregation = "fedavg"`` with ``weight-codec = "sgq"`` through a real ``flwr run .``.

A private local SuperLink with 2 nodes, 2 rounds of real YOLOv8n training on tiny frames
(JPEG relay). Round 1's uploads are deltas against the initial model both sides build;
the fog's evaluate messages are deltas too, and round 2's train message only says "keep".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fog.launch import LocalSuperLink
from fog.report import load_report

PROJECT_DIR = Path(__file__).resolve().parents[2]
FP32_BYTES = 12_090_168  # one float32 copy of yolov8n.yaml's weights (one class)


@pytest.mark.slow
def test_fedavg_with_sgq_weights_runs_through_flwr_run(tmp_path: Path) -> None:
    # Prepare
    run_dir = tmp_path / "run"
    overrides = {
        "num-server-rounds": 2, "min-nodes": 2, "node-wait-s": 60.0, "codec": "jpeg",
        "aggregation": "fedavg", "weight-codec": "sgq", "weight-bits": 4,
        "frame-width": 48, "frame-height": 32, "frames-per-node": 4, "val-every": 4,
        "epochs": 1, "imgsz": 64, "batch": 4, "run-dir": str(run_dir), "cache-dir": "",
        "edge-dir": str(tmp_path / "edge"),
    }

    # Execute
    with LocalSuperLink(PROJECT_DIR, flwr_home=tmp_path / "flwr", echo=lambda line: None) as link:
        result = link.run(overrides, run_dir, num_nodes=2, timeout=600)

    # Assert: the run completes, both rounds trained and were evaluated
    assert result.ok, (result.status, result.details, result.log_path.read_text()[-3000:])
    report = load_report(run_dir / "report.json")
    assert report["summary"]["status"] == "completed" and report["summary"]["errors"] == []
    first, second = report["rounds"]
    assert all(m["trained"] == 1 for r in (first, second) for m in r["train"].values())
    assert {"train", "evaluate"} <= set(second["aggregate"])
    # every weight message is compressed: at least 6x below float32 even for full weights
    rows = [e for e in report["ledger"] if e["phase"] in ("train", "evaluate")
            and e["payload_bytes"] > 0]
    assert len(rows) == 10 and all(e["payload_bytes"] * 6 < FP32_BYTES for e in rows)
    train_down = {e["round"]: e["payload_bytes"] for e in report["ledger"]
                  if e["phase"] == "train" and e["direction"] == "down"}
    assert train_down[1] == 0 and 0 < train_down[2] < 200  # a keep message
