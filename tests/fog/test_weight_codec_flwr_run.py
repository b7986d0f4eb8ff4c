"""``aggregation = "fedavg"`` with ``weight-codec = "sgq"`` through a real ``flwr run .``.

A private local SuperLink with 2 nodes and 1 round of real YOLOv8 training (a tiny YOLOv8
model YAML written here, 1/16 of YOLOv8's width, so the round takes seconds) on two 48x32
frames a node (JPEG relay): each node's upload is a compressed delta against the initial
model both sides build from the YAML, the fog averages the decoded updates, and its evaluate
messages are compressed deltas against what each node holds. The ledger counts every one of
those messages at its compressed size. Keep messages and resyncs are checked on a LocalGrid
(``test_weight_codec_runtime``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fog.launch import LocalSuperLink
from fog.report import load_report
from rinr_runtime.weight_link import initial_model

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _tiny_model_yaml(folder: Path) -> Path:
    """YOLOv8's architecture at depth 0.33 and width 1/16 (yolov8n: 1/4), one file."""
    import ultralytics

    source = Path(ultralytics.__file__).parent / "cfg" / "models" / "v8" / "yolov8.yaml"
    spec = yaml.safe_load(source.read_text())
    spec.pop("scales")
    spec.update(depth_multiple=0.33, width_multiple=0.0625)
    path = folder / "tiny-yolov8.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.slow
def test_fedavg_with_sgq_weights_runs_through_flwr_run(tmp_path: Path) -> None:
    # Prepare
    model = _tiny_model_yaml(tmp_path)
    weights, _ = initial_model(str(model), ["object"])
    fp32_bytes = sum(w.nbytes for w in weights)
    run_dir = tmp_path / "run"
    overrides = {
        "num-server-rounds": 1, "min-nodes": 2, "node-wait-s": 60.0, "codec": "jpeg",
        "aggregation": "fedavg", "weight-codec": "sgq", "weight-bits": 4,
        "model": str(model), "frame-width": 48, "frame-height": 32, "frames-per-node": 2,
        "val-every": 2, "epochs": 1, "imgsz": 64, "batch": 2, "run-dir": str(run_dir),
        "cache-dir": "", "edge-dir": str(tmp_path / "edge"),
    }

    # Execute
    with LocalSuperLink(PROJECT_DIR, flwr_home=tmp_path / "flwr", echo=lambda line: None) as link:
        result = link.run(overrides, run_dir, num_nodes=2, timeout=600)

    # Assert: the run completes; both nodes trained, the fog aggregated and evaluated
    assert result.ok, (result.status, result.details, result.log_path.read_text()[-3000:])
    report = load_report(run_dir / "report.json")
    assert report["summary"]["status"] == "completed" and report["summary"]["errors"] == []
    (only,) = report["rounds"]
    assert sorted(only["train"]) == ["p0", "p1"]
    assert all(m["trained"] == 1 for m in only["train"].values())
    assert {"train", "evaluate"} <= set(only["aggregate"])
    # the ledger counts 2 uploads and 2 evaluate messages, each an sgq message at least 6x
    # below float32 (the train message sends nothing: both sides build the initial model)
    rows = {(e["phase"], e["direction"], e["node"]): e["payload_bytes"]
            for e in report["ledger"] if e["phase"] in ("train", "evaluate")}
    carrying = {k: v for k, v in rows.items() if v > 0}
    assert sorted(carrying) == [("evaluate", "down", "p0"), ("evaluate", "down", "p1"),
                                ("train", "up", "p0"), ("train", "up", "p1")], rows
    assert all(0 < size * 6 < fp32_bytes for size in carrying.values()), (carrying, fp32_bytes)
