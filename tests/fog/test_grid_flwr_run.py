"""``codec = "grid"`` through a real ``flwr run .``: every frame delivered exactly once.

A private local SuperLink with 3 SuperNodes, 2 rounds of tiny generated frames (48x32, no YOLO
training, a short grid fit). Round 1 sends each node's grid stream whole, round 2 its frames as
an update; the assertions read the run's report and the SuperNodes' stores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.store import NodeStore
from fog.launch import LocalSuperLink
from fog.report import load_report
from rinr_core.grid.stream import decode_stream
from rinr_core.grid.stream_format import is_stream, unpack_stream
from rinr_runtime.records import KIND_RINRS

PROJECT_DIR = Path(__file__).resolve().parents[2]
NODES = ("p0", "p1", "p2")


@pytest.mark.slow
def test_grid_frames_reach_every_other_node_exactly_once_through_flwr_run(tiny_config: dict,
                                                                          tmp_path: Path) -> None:
    # Prepare: 3 nodes, 2 rounds of 2 new frames each, grid streams with a 20-step fit
    run_dir = tmp_path / "flwr-run"
    overrides = {**tiny_config, "node-wait-s": 60.0, "codec": "grid", "inr-steps": 20,
                 "nerv-preset": "quick", "run-dir": str(run_dir), "cache-dir": ""}

    # Execute
    with LocalSuperLink(PROJECT_DIR, flwr_home=tmp_path / "flwr", echo=lambda line: None) as link:
        result = link.run(overrides, run_dir, num_nodes=3, timeout=400)

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

    # Assert: each SuperNode holds the two other nodes' grid streams, whole (updates merged in),
    # with every delivered frame decodable from them
    stores = sorted((tmp_path / "edge").glob("run-*/node-p*"))
    assert [s.name for s in stores] == [f"node-{n}" for n in NODES]
    for root in stores:
        store = NodeStore(root)
        items = store.items()
        assert {item.kind for item in items} == {KIND_RINRS}
        streams = {item.stream for item in items}
        assert len(streams) == 2
        for stream in streams:
            data = store.stream_path(stream).read_bytes()
            assert is_stream(data) and not unpack_stream(data).is_update
            held = sorted(item.index for item in items if item.stream == stream)
            images = decode_stream(data, held, "cpu")
            assert all(image.shape == (32, 48, 3) for image in images)
