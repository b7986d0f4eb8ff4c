"""One real Flower simulation (Ray, 3 virtual nodes): upload, encode, broadcast, train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fog.server_app import report_path
from fog.simulation import run_inprocess


@pytest.mark.slow
def test_simulation_delivers_every_frame_once_and_trains(tmp_path: Path) -> None:
    # Prepare
    overrides = {
        "num-server-rounds": 1, "min-nodes": 3, "frame-width": 48, "frame-height": 32,
        "frames-per-node": 4, "val-every": 4, "inr-steps": 30, "epochs": 1, "imgsz": 64,
        "batch": 4, "run-dir": str(tmp_path / "run"), "cache-dir": str(tmp_path / "cache"),
        "edge-dir": str(tmp_path / "edge"),
    }

    # Execute
    context = run_inprocess(overrides, num_nodes=3)

    # Assert
    report = json.loads(report_path(context).read_text())
    summary = report["summary"]
    nodes = ["p0", "p1", "p2"]
    assert summary["status"] == "completed" and summary["errors"] == []
    assert summary["frames_per_node"] == {
        n: {"collected": 3, "encoded": 3, "received": 6} for n in nodes}
    pairs = [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
             for fid in ids]
    assert len(pairs) == len(set(pairs)) == 18
    assert set(pairs) == {(n, fid) for fid, f in report["frames"].items() for n in nodes
                          if n != f["owner"]}
    train = report["rounds"][0]["train"]
    assert sorted(train) == nodes
    assert all(m["trained"] == 1 and m["num_train"] == 9 and m["num_val"] == 1
               for m in train.values())
    assert all(0.0 <= m["map50"] <= 1.0 for m in train.values())
    assert {"collect", "broadcast", "train"} <= {e["phase"] for e in report["ledger"]}
