"""``aggregation = "fedprox"`` through a real ``flwr run .`` (private local SuperLink, 2 nodes).

Two rounds: round 1 makes the first global model (a plain FedAvg, nothing to stay close to
yet); round 2 sends it with Flower's FedProx config, and both edges train with the proximal
term. JPEG relay and tiny frames keep it to about a minute on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fog.launch import LocalSuperLink
from fog.report import load_report

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_fedprox_runs_through_flwr_run(tmp_path: Path) -> None:
    # Prepare
    run_dir = tmp_path / "run"
    overrides = {
        "num-server-rounds": 2, "min-nodes": 2, "node-wait-s": 60.0, "codec": "jpeg",
        "aggregation": "fedprox", "proximal-mu": 0.1, "frame-width": 48, "frame-height": 32,
        "frames-per-node": 4, "val-every": 4, "epochs": 1, "imgsz": 64, "batch": 4,
        "run-dir": str(run_dir), "cache-dir": "", "edge-dir": str(tmp_path / "edge"),
    }

    # Execute
    with LocalSuperLink(PROJECT_DIR, flwr_home=tmp_path / "flwr", echo=lambda line: None) as link:
        result = link.run(overrides, run_dir, num_nodes=2, timeout=600)

    # Assert
    assert result.ok, (result.status, result.details, result.log_path.read_text()[-3000:])
    assert "[rinr] run status: completed " in result.log_path.read_text()  # what run.sh reads
    report = load_report(run_dir / "report.json")
    assert report["summary"]["status"] == "completed" and report["summary"]["errors"] == []
    first, second = report["rounds"]
    assert sorted(second["train"]) == ["p0", "p1"]
    assert all(m["trained"] == 1 and m["proximal_mu"] == 0.0 for m in first["train"].values())
    assert all(m["trained"] == 1 and m["proximal_mu"] == pytest.approx(0.1)
               for m in second["train"].values())
    train_down = {e["round"]: e["payload_bytes"] for e in report["ledger"]
                  if e["phase"] == "train" and e["direction"] == "down"}
    assert train_down[1] == 0 and train_down[2] > 1_000_000  # the global model, from round 2
    assert {"train", "evaluate"} <= set(second["aggregate"])
    assert sorted(report["summary"]["global_map"]) == ["p0", "p1"]
