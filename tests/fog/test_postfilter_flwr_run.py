"""``post-filter = "lut"`` through a real ``flwr run .``: every frame, and the LUT once per node.

A private local SuperLink with 3 SuperNodes, 2 rounds of residual-INR frames (48x32, no YOLO
training). The assertions read the run's report: what each node was delivered, what the
fog says it sent, and the byte ledger of the first broadcast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.store import NodeStore
from fog.launch import LocalSuperLink
from fog.report import load_report
from rinr_core.lut import unpack
from rinr_runtime.records import KIND_RLUT

PROJECT_DIR = Path(__file__).resolve().parents[2]
NODES = ("p0", "p1", "p2")


@pytest.mark.slow
def test_post_filter_reaches_every_node_once_through_flwr_run(tiny_config: dict,
                                                              tmp_path: Path) -> None:
    # Prepare: 3 nodes, 2 rounds of 2 new frames each, a post-filter of 20 steps
    run_dir = tmp_path / "flwr-run"
    overrides = {**tiny_config, "node-wait-s": 60.0, "post-filter": "lut",
                 "post-filter-steps": 20, "run-dir": str(run_dir), "cache-dir": ""}

    # Execute
    with LocalSuperLink(PROJECT_DIR, flwr_home=tmp_path / "flwr", echo=lambda line: None) as link:
        result = link.run(overrides, run_dir, num_nodes=3, timeout=300)

    # Assert: the run completed and every frame reached every other node exactly once
    assert result.ok, (result.status, result.details, result.log_path.read_text()[-3000:])
    report = load_report(run_dir / "report.json")
    assert report["summary"]["status"] == "completed" and report["summary"]["errors"] == []
    frames = report["frames"]
    assert len(frames) == 3 * 4 - 3  # 4 per node, every 4th held back for validation
    pairs = [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
             for fid in ids]
    expected = {(node, fid) for fid, f in frames.items() for node in NODES if node != f["owner"]}
    assert len(pairs) == len(set(pairs)) and set(pairs) == expected
    assert all(not r["broken"] for r in report["rounds"])

    # Assert: one post-filter, trained in round 1 with a gain, sent to each node exactly once
    post = report["postfilter"]
    versions = [t["id"] for t in post["trainings"] if t["id"]]
    assert len(versions) >= 1 and post["trainings"][0]["round"] == 1
    assert post["trainings"][0]["gain_db"] > 0
    assert post["sent"] == {node: dict.fromkeys(versions, 1) for node in NODES}
    lut_bytes = post["trainings"][0]["bytes"]
    assert 0 < lut_bytes <= 64 * 1024
    # the ledger counts it once: each node's round-1 broadcast is its frames plus exactly the
    # LUT's bytes, round 2's only its frames
    down = {(e["round"], e["node"]): e["payload_bytes"] for e in report["ledger"]
            if e["phase"] == "broadcast" and e["direction"] == "down"}
    assert len(versions) == 1  # tiny generated frames: no drift, no second post-filter
    for round_no, r in enumerate(report["rounds"], start=1):
        for node in NODES:
            extra = down[(round_no, node)] - r["delivered_bytes"][node]
            assert extra == (lut_bytes if round_no == 1 else 0), (round_no, node, extra)

    # Assert: each SuperNode's store holds that one post-filter, intact
    stores = sorted((tmp_path / "edge").glob("run-*/node-p*"))
    assert [s.name for s in stores] == [f"node-{n}" for n in NODES]
    for root in stores:
        store = NodeStore(root)
        luts = [item for item in store.items() if item.kind == KIND_RLUT]
        assert [item.frame_id for item in luts] == versions
        assert unpack(store.read(luts[0])).meta["codec"] == "qre"
