"""``post-filter = "lut"`` through a real ``flwr run .``: every frame, and the LUT once per node.

A private local SuperLink with 3 SuperNodes, 2 rounds of residual-INR frames (48x32, no YOLO
training). The assertions read the run's report: what each node was delivered, what the
fog says it sent, and the byte ledger of the first broadcast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.store import NodeStore
from rinr_core.lut import unpack
from rinr_runtime.records import KIND_RLUT

NODES = ("p0", "p1", "p2")


@pytest.mark.slow
def test_post_filter_reaches_every_node_once_through_flwr_run(
        tiny_config: dict, tmp_path: Path, flwr_run, exactly_once) -> None:
    # Prepare: 3 nodes, 2 rounds of 2 new frames each, a post-filter of 20 steps
    overrides = {**tiny_config, "post-filter": "lut",
                 "post-filter-steps": 20}

    # Execute
    report = flwr_run(overrides, nodes=3, timeout=300)

    # Assert: the run completed (checked by flwr_run), every frame reached every other node once
    frames = report["frames"]
    assert len(frames) == 3 * 4 - 3  # 4 per node, every 4th held back for validation
    assert exactly_once(report, NODES)

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
