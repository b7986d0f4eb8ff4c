"""``codec = "grid"`` in the Flower runtime: per-node grid streams that grow by updates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.node import EdgeNode
from rinr_core.codecs import get_container, get_runtime_codec
from rinr_core.grid.stream_format import is_stream, unpack_stream
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import KIND_RINRS, content_to_deliveries

NODES = ("p0", "p1", "p2")


def test_grid_frames_reach_every_other_node_exactly_once_as_stream_frames(tiny_config,
                                                                           run_fog) -> None:
    # Prepare: three rounds, so streams are sent whole once and then grow by updates
    run_config = {**tiny_config, "codec": "grid", "num-server-rounds": 3, "frames-per-node": 7,
                  "frames-per-round": 2, "val-every": 4, "inr-steps": 20, "nerv-preset": "quick"}
    assert get_runtime_codec("grid").name == "grid-stream"

    # Execute
    grid, report = run_fog(run_config)

    # Assert: every frame reached every other node exactly once
    assert report["summary"]["status"] == "completed" and report["summary"]["errors"] == []
    pairs = [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
             for fid in ids]
    expected = {(node, fid) for fid, f in report["frames"].items() for node in NODES
                if node != f["owner"]}
    assert len(pairs) == len(set(pairs)) and set(pairs) == expected
    sent = [(int(m.content.config_records["round"]["round"]), d) for m in grid.sent
            if m.metadata.message_type == "query.broadcast"
            for d in content_to_deliveries(m.content)]
    assert {d.kind for _, d in sent} == {KIND_RINRS}
    assert all(not d.update for r, d in sent if r == 1) and any(d.update for r, d in sent if r > 1)
    # each node holds the others' grid streams, merged, byte for byte alike
    folders = {n: Path(tiny_config["edge-dir"]) / "run-1" / f"node-{n}" / "items" for n in NODES}
    files = {n: {p.stem: p.read_bytes() for p in f.glob("*.rinrs")} for n, f in folders.items()}
    for owner in NODES:
        copies = [data for n, held in files.items() for sid, data in held.items()
                  if sid.startswith(owner)]
        assert len(copies) == 2 and copies[0] == copies[1]
        assert is_stream(copies[0]) and not unpack_stream(copies[0]).is_update
    # what p1 trains on is the streams decoded, the same as decoding them here
    config = RuntimeConfig.from_run_config(run_config)
    node = EdgeNode(config, "p1", 1, 3, folders["p1"].parent)
    decoded = node.decode_received()
    assert not decoded.broken
    assert len(decoded.frames) == sum(len(r["delivered"]["p1"]) for r in report["rounds"])
    streams = get_container(KIND_RINRS)
    assert streams.decode_frames is not None
    p0 = next(data for sid, data in files["p1"].items() if sid.startswith("p0"))
    images = streams.decode_frames(p0, None, "cpu")
    by_id = {f.name: f for f in decoded.frames}
    p0_ids = [fid for fid, f in report["frames"].items() if f["owner"] == "p0"]
    assert all(np.array_equal(by_id[fid].image, images[k]) for k, fid in enumerate(p0_ids))
