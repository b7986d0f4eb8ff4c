"""``codec = "grid"`` through a real ``flwr run .``: every frame delivered exactly once.

A private local SuperLink with 3 SuperNodes, 2 rounds of tiny generated frames (48x32, no YOLO
training, a short grid fit). Round 1 sends each node's grid stream whole, round 2 its frames as
an update; the assertions read the run's report and the SuperNodes' stores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.store import NodeStore
from rinr_core.grid.stream import decode_stream
from rinr_core.grid.stream_format import is_stream, unpack_stream
from rinr_runtime.records import KIND_RINRS

NODES = ("p0", "p1", "p2")


@pytest.mark.slow
def test_grid_frames_reach_every_other_node_exactly_once_through_flwr_run(
        tiny_config: dict, tmp_path: Path, flwr_run, exactly_once) -> None:
    # Prepare: 3 nodes, 2 rounds of 2 new frames each, grid streams with a 20-step fit
    overrides = {**tiny_config, "codec": "grid", "inr-steps": 20,
                 "nerv-preset": "quick"}

    # Execute
    report = flwr_run(overrides, nodes=3, timeout=400)

    # Assert: the run completed (checked by flwr_run), every frame reached every other node once
    frames = report["frames"]
    assert len(frames) == 3 * 4 - 3  # 4 per node, every 4th held back for validation
    assert exactly_once(report, NODES)

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
